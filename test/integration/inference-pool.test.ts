/**
 * The node-wide inference pool (lib/onnx/inference-pool.ts) with real ONNX Runtime sessions: the
 * sessions of several models share a thread and answer exactly as when alone; a pool thread that
 * dies rejects the runs of every session it hosted with WorkerDiedError and all of them re-open on
 * its replacement; releasing one model's runner leaves the others working; twenty runners still
 * use only the pool's threads. Each test makes its own pool (the process's pool is untouched).
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { OnnxRunner, WorkerDiedError, type RunResult } from "../../lib/onnx/runner.ts";
import { InferencePool } from "../../lib/onnx/inference-pool.ts";
import { EXIT_NOW } from "../../lib/onnx/worker-protocol.ts";
import { ndarray, type NdArray } from "../../lib/tensor.ts";
import { fixturePath } from "../helpers/fixtures.ts";
import { join } from "node:path";

const MODELS = ["bert-tiny-sst", "roberta-tiny-sst", "distilbert-tiny-ner", "bert-tiny-qa"];

const open: OnnxRunner[] = [];
after(async () => {
  await Promise.all(open.map((r) => r.close()));
});

async function runnerOf(pool: InferencePool, name: string, workers = 1): Promise<OnnxRunner> {
  const runner = await OnnxRunner.open({ modelPath: join(await fixturePath(name), "model.onnx"), device: { kind: "cpu", id: 0 }, disableGpu: false, workers, intraOpThreads: 1, pool });
  open.push(runner);
  return runner;
}

/** Two rows of eight tokens for every input the graph has (ids, mask, token types). */
function feedsFor(runner: OnnxRunner, seed: number): Record<string, NdArray> {
  const feeds: Record<string, NdArray> = {};
  for (const input of runner.inputs) {
    const values = Array.from({ length: 16 }, (_, i) => (input.name === "attention_mask" ? (i % 8 < 6 ? 1n : 0n) : input.name === "token_type_ids" ? 0n : BigInt(5 + ((i * 7 + seed) % 90))));
    feeds[input.name] = ndarray("int64", [2, 8], BigInt64Array.from(values));
  }
  return feeds;
}

const values = (r: RunResult) => Object.fromEntries(Object.entries(r.outputs).map(([k, v]) => [k, Array.from(v.data as Float32Array)]));

test("sessions of four models on one thread give the same outputs as each alone", async () => {
  const alone = await Promise.all(MODELS.map(async (name, k) => {
    const runner = await runnerOf(new InferencePool(1), name);
    return values(await runner.run(feedsFor(runner, k)));
  }));
  const shared = new InferencePool(1);
  const runners = await Promise.all(MODELS.map((name) => runnerOf(shared, name)));
  assert.equal(shared.threads.length, 1);
  assert.deepEqual(shared.sessionsPerThread, [4]);
  // Interleaved, concurrently: every model's runs queue on the one thread.
  const together = await Promise.all(runners.map((r, k) => r.run(feedsFor(r, k))));
  together.forEach((r, k) => assert.deepEqual(values(r), alone[k], MODELS[k]));
  assert.ok(Object.keys(alone[0]).includes("logits"));
});

test("a pool thread that dies rejects the runs of every session it hosted; all re-open and answer again", async () => {
  const pool = new InferencePool(1);
  const runners = await Promise.all(MODELS.slice(0, 3).map((name) => runnerOf(pool, name)));
  const expected = await Promise.all(runners.map(async (r, k) => values(await r.run(feedsFor(r, k)))));
  const [thread] = pool.threads;
  assert.ok(runners.every((r) => r.threads[0] === thread));
  thread.postMessage(EXIT_NOW); // the thread takes this first and exits holding the runs below
  const inFlight = runners.map((r, k) => r.run(feedsFor(r, k)));
  for (const run of inFlight) await assert.rejects(run, (err: Error) => err instanceof WorkerDiedError && /inference worker died/.test(err.message));
  assert.deepEqual(runners.map((r) => r.replacedWorkers), [1, 1, 1]);
  const again = await Promise.all(runners.map((r, k) => r.run(feedsFor(r, k)))); // each waits for its session's re-open
  again.forEach((r, k) => assert.deepEqual(values(r), expected[k]));
  assert.equal(pool.threads.length, 1);
  assert.notEqual(pool.threads[0], thread);
  assert.ok(runners.every((r) => r.threads.length === 1 && r.threads[0] === pool.threads[0]));
  assert.deepEqual(pool.sessionsPerThread, [3]);
});

test("closing one model's runner releases only its session; the others keep answering", async () => {
  const pool = new InferencePool(1);
  const [a, b, c] = await Promise.all(MODELS.slice(0, 3).map((name) => runnerOf(pool, name)));
  const expectedB = values(await b.run(feedsFor(b, 1)));
  const expectedC = values(await c.run(feedsFor(c, 2)));
  const running = a.run(feedsFor(a, 0)); // close waits for it
  await a.close();
  assert.ok(values(await running).logits.length > 0);
  await assert.rejects(a.run(feedsFor(a, 0)), WorkerDiedError);
  assert.deepEqual(pool.sessionsPerThread, [2]);
  assert.deepEqual(values(await b.run(feedsFor(b, 1))), expectedB);
  assert.deepEqual(values(await c.run(feedsFor(c, 2))), expectedC);
  assert.equal(pool.threads.length, 1);
});

test("twenty runners share the pool's two threads, ten sessions each", async () => {
  const pool = new InferencePool(2);
  const runners = await Promise.all(Array.from({ length: 20 }, (_, k) => runnerOf(pool, MODELS[k % MODELS.length])));
  assert.equal(pool.threads.length, 2);
  assert.deepEqual(pool.sessionsPerThread, [10, 10]);
  const results = await Promise.all(runners.map((r, k) => r.run(feedsFor(r, k % MODELS.length))));
  assert.deepEqual(values(results[4]), values(results[0])); // the same model and feeds on the other thread
  assert.notEqual(runners[0].threads[0], runners[1].threads[0]);
  await Promise.all(runners.map((r) => r.close()));
  assert.deepEqual(pool.sessionsPerThread, [0, 0]);
  assert.equal(pool.threads.length, 2); // threads stay for the next models
});

test("workers: N opens N sessions on N distinct threads; an unconfigured pool grows to the largest workers", async () => {
  const pool = new InferencePool();
  assert.equal(pool.size, 2);
  const runner = await runnerOf(pool, "bert-tiny-sst", 3);
  assert.equal(pool.size, 3);
  assert.equal(new Set(runner.threads).size, 3);
  // Three runs at once go to the three threads, not queued on one.
  const feeds = feedsFor(runner, 0);
  const runs = [runner.run(feeds), runner.run(feeds), runner.run(feeds)];
  const loads = (pool as unknown as { slots: { pending: Map<number, unknown> }[] }).slots.map((s) => s.pending.size);
  assert.deepEqual(loads, [1, 1, 1]);
  const [first, ...rest] = await Promise.all(runs);
  for (const r of rest) assert.deepEqual(values(r), values(first));
  const capped = await runnerOf(new InferencePool(2), "bert-tiny-sst", 4);
  assert.equal(capped.threads.length, 2); // at most the configured size
});
