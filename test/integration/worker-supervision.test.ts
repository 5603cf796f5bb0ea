/**
 * Supervised session workers (real ONNX Runtime, the process's inference pool): a pool thread
 * that dies holding a run rejects that run with WorkerDiedError and is replaced; the next runs
 * succeed with the same numbers, directly and through a model runtime's batcher. The thread is
 * made to exit by the EXIT_NOW failpoint queued ahead of the run: terminating it from outside
 * during a native run can abort the whole process (which is also why the runner's close() waits
 * for runs in flight). Several models on one pool thread: test/integration/inference-pool.test.ts.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { OnnxRunner, WorkerDiedError, type RunResult } from "../../lib/onnx/runner.ts";
import { ModelRuntime } from "../../lib/model/runtime.ts";
import { withModelDefaults } from "../../lib/config/model-settings.ts";
import { buildFeeds } from "../../lib/batching/pad.ts";
import { fixturePath } from "../helpers/fixtures.ts";
import { EXIT_NOW } from "../../lib/onnx/worker-protocol.ts";

const open: { close(): Promise<void> }[] = [];
after(async () => {
  await Promise.all(open.map((o) => o.close()));
});

const firstLogits = (r: RunResult) => Array.from(r.outputs.logits.data as Float32Array);

test("runner: a worker that dies holding a run rejects that run with WorkerDiedError, is replaced, and later runs succeed", async () => {
  const runtime = await ModelRuntime.load(withModelDefaults({ id: "sst", path: await fixturePath("bert-tiny-sst") }), { kind: "cpu", id: 0 });
  open.push(runtime);
  const sequences = await runtime.tokenizer.encode(Array.from({ length: 64 }, (_, i) => `review ${i} ${"of a long film ".repeat(30)}`), { maxLength: 128, truncation: "longest_first", addSpecialTokens: true, stride: 0, returnOverflowing: false });
  const feeds = buildFeeds(sequences, runtime.capabilities.inputNames, runtime.padId);
  const runner = await OnnxRunner.open({ modelPath: runtime.folder.onnxPath, device: { kind: "cpu", id: 0 }, disableGpu: false, workers: 1, intraOpThreads: 1 });
  open.push(runner);
  const expected = firstLogits(await runner.run(feeds));

  const [thread] = runner.threads;
  thread.postMessage(EXIT_NOW); // the worker takes this first and exits holding the run below
  const inFlight = runner.run(feeds);
  await assert.rejects(inFlight, (err: Error) => err instanceof WorkerDiedError && /inference worker died/.test(err.message));
  assert.equal(runner.replacedWorkers, 1);
  const again = await runner.run(feeds); // waits for the replacement
  assert.deepEqual(firstLogits(again), expected);
  assert.equal(runner.threads.length, 1);
  assert.notEqual(runner.threads[0], thread);
});

test("runtime: a worker dying under a batch costs no request: the batch is retried on the replacement", async () => {
  const runtime = await ModelRuntime.load(withModelDefaults({ id: "sst", path: await fixturePath("bert-tiny-sst") }), { kind: "cpu", id: 0 });
  open.push(runtime);
  const sequences = await runtime.tokenizer.encode(["a great movie", "a dull film", "it was fine"], { maxLength: 128, truncation: "longest_first", addSpecialTokens: true, stride: 0, returnOverflowing: false });
  const before = await runtime.forward(sequences, ["logits"]);
  const runner = (runtime as unknown as { runner: OnnxRunner }).runner;
  runner.threads[0].postMessage(EXIT_NOW);
  const pending = runtime.forward(sequences, ["logits"]);
  const after = await pending;
  after.items.forEach((item, i) => assert.deepEqual(Array.from(item.logits.data as Float32Array), Array.from(before.items[i].logits.data as Float32Array)));
  assert.equal(runner.replacedWorkers, 1);
});
