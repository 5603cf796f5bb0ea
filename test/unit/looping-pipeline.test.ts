/**
 * The pipeline shape with more than one step (lib/tasks/types.ts), on the fake backend and run
 * by the orchestration code that runs every task (lib/orchestration/execute.ts runPipeline): a
 * toy "count up until the stop token" generator. Each step forwards only the rows still running;
 * rows finish at different steps; waiting prompts join between steps while at most `max_active`
 * rows run, as generation's continuous batching will.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { runPipeline } from "../../lib/orchestration/execute.ts";
import { withDefaults } from "../../lib/request/request.ts";
import { parsed, type TaskPipeline } from "../../lib/tasks/types.ts";
import { checkTaskKwargs } from "../../lib/tasks/common-checks.ts";
import type { NdArray } from "../../lib/tensor.ts";
import { ndarray } from "../../lib/tensor.ts";
import { FakeBackend, fakeModel, idsSequence } from "../helpers/fake-backend.ts";

interface CountOptions {
  stop: number;
  maxActive: number;
}

interface Row {
  ids: number[];
  done: boolean;
  steps: number;
}

interface CountState {
  rows: Row[];
  /** Indices of rows that may take part in the next step, and of rows waiting to join. */
  active: number[];
  waiting: number[];
  maxActive: number;
  stop: number;
}

const argmaxLast = (logits: NdArray): number => {
  const [tokens, vocab] = logits.shape;
  const last = (logits.data as Float32Array).subarray((tokens - 1) * vocab, tokens * vocab);
  return last.indexOf(Math.max(...last));
};

const countUp: TaskPipeline<CountOptions, CountState> = {
  name: "generation",
  accepts: ["single"],
  parse: (request) =>
    parsed(checkTaskKwargs(request, { stop: "integer", max_active: "integer" }), () => ({
      stop: (request.task_kwargs.stop as number | undefined) ?? 9,
      maxActive: (request.task_kwargs.max_active as number | undefined) ?? 8,
    })),
  async start(request, options) {
    const rows = (request.input as string[]).map((text) => ({ ids: text.split(" ").map(Number), done: false, steps: 0 }));
    const indices = rows.map((_, i) => i);
    return { rows, active: indices.slice(0, options.maxActive), waiting: indices.slice(options.maxActive), maxActive: options.maxActive, stop: options.stop };
  },
  next(state) {
    // Finished rows leave; waiting prompts join up to the limit (between steps, never inside one).
    state.active = state.active.filter((i) => !state.rows[i].done);
    while (state.active.length < state.maxActive && state.waiting.length) state.active.push(state.waiting.shift()!);
    if (state.active.length === 0) return undefined;
    return { sequences: state.active.map((i) => idsSequence(state.rows[i].ids)), outputs: ["logits"] };
  },
  absorb(state, items) {
    state.active.forEach((i, k) => {
      const row = state.rows[i];
      const token = argmaxLast((items[k] as Record<string, NdArray>).logits);
      row.ids.push(token);
      row.steps++;
      row.done = token === state.stop;
    });
  },
  finish(state) {
    return { fields: { sequences: state.rows.map((r) => r.ids), steps: state.rows.map((r) => r.steps) }, arrays: { lengths: ndarray("int64", [state.rows.length], BigInt64Array.from(state.rows.map((r) => BigInt(r.ids.length)))) } };
  },
};

const VOCAB = 16;

test("a looping pipeline: rows finish at different steps and only running rows are forwarded", async () => {
  const backend = new FakeBackend(VOCAB, (id) => (id + 1) % VOCAB);
  const request = withDefaults({ input: ["5", "8", "2 3"], task_kwargs: { stop: 9 } });
  const { result, timings } = await runPipeline(countUp, request, fakeModel(backend), { plaintext: true });
  assert.deepEqual(result.sequences, [[5, 6, 7, 8, 9], [8, 9], [2, 3, 4, 5, 6, 7, 8, 9]]);
  assert.deepEqual(result.steps, [4, 1, 6]);
  assert.deepEqual(backend.runs.map((rows) => rows.length), [3, 2, 2, 2, 1, 1], "each step forwards the rows still running");
  assert.deepEqual(result.model_outputs, { lengths: [5, 2, 8] });
  assert.equal(result.model_output_is_encoded, false);
  assert.equal("attributions" in result, false, "a task without add-on fields gets none");
  assert.ok(timings.inference_ms >= 0 && timings.batch_wait_ms >= 0);
});

test("a looping pipeline: waiting prompts join between steps as running rows finish", async () => {
  const backend = new FakeBackend(VOCAB, (id) => (id + 1) % VOCAB);
  const request = withDefaults({ input: ["5", "8", "7"], task_kwargs: { stop: 9, max_active: 2 } });
  const { result } = await runPipeline(countUp, request, fakeModel(backend), { plaintext: true });
  assert.deepEqual(result.sequences, [[5, 6, 7, 8, 9], [8, 9], [7, 8, 9]]);
  // Step 1: rows 5 and 8; row 8 finishes and prompt 7 joins; step 3 finishes it; step 4 finishes row 5.
  assert.deepEqual(backend.runs, [[[5], [8]], [[5, 6], [7]], [[5, 6, 7], [7, 8]], [[5, 6, 7, 8]]]);
});

test("a looping pipeline's options are parsed once into a typed object; bad ones are 422 problems", async () => {
  const backend = new FakeBackend(VOCAB, (id) => (id + 1) % VOCAB);
  await assert.rejects(runPipeline(countUp, withDefaults({ input: ["1"], task_kwargs: { stop: "nine" } }), fakeModel(backend), { plaintext: true }), (err: { type?: string; data?: { field: string; message: string }[] }) => {
    assert.equal(err.type, "invalid_request");
    assert.deepEqual(err.data, [{ field: "task_kwargs.stop", message: "must be an integer" }]);
    return true;
  });
  assert.equal(backend.runs.length, 0, "nothing ran");
});
