/**
 * SPEC §11 cross-request batching on real ONNX Runtime: items of different requests and lengths
 * share batches, one request's items spread over several batches, and every number equals the
 * item run alone (to 1e-6), in the request's order.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { fixturePath } from "../helpers/fixtures.ts";
import { startEmbedded, decodeNpy } from "../helpers/embedded.ts";
import { ModelRuntime } from "../../lib/model/runtime.ts";
import { withModelDefaults } from "../../lib/config/model-settings.ts";
import type { NdArray } from "../../lib/tensor.ts";

const TEXTS = [
  "hi",
  "a somewhat longer sentence with more words in it than the others have",
  "medium length text here",
  "x",
  "the film was fine",
  "an entirely different sentence, with punctuation; and clauses",
  "short one",
];
const ENCODE = { maxLength: 128, truncation: "longest_first" as const, addSpecialTokens: true, stride: 0, returnOverflowing: false };

const closeTo = (a: ArrayLike<number>, b: ArrayLike<number>, what: string) => {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let k = 0; k < a.length; k++) assert.ok(Math.abs(a[k] - b[k]) <= 1e-6, `${what}[${k}]: ${a[k]} vs ${b[k]}`);
};

const runtimes: ModelRuntime[] = [];
after(async () => {
  for (const r of runtimes) await r.close();
});

test("runtime: concurrent tasks share batches (at most batch_size items) and get the numbers of running alone", async () => {
  const settings = withModelDefaults({ id: "sst", path: await fixturePath("bert-tiny-sst"), batch_size: 3 });
  const r = await ModelRuntime.load(settings, { kind: "cpu", id: 0 });
  runtimes.push(r);
  const seqs = await r.tokenizer.encode(TEXTS, ENCODE);
  const alone: NdArray[] = [];
  for (const s of seqs) alone.push((await r.forward([s])).items[0].logits);
  const before = { ...r.batcher.stats };

  // Seven "tasks" submitted together: one item each, except the fourth, which brings three.
  const tasks = [[0], [1], [2], [3, 4, 5], [6]].map((idx) => r.forward(idx.map((i) => seqs[i])));
  const results = await Promise.all(tasks);

  const batches = r.batcher.stats.batches - before.batches;
  assert.ok(batches >= 3 && batches < TEXTS.length, `${TEXTS.length} items ran in ${batches} batches of at most 3`);
  results[3].items.forEach((item, k) => closeTo(item.logits.data as Float32Array, alone[3 + k].data as Float32Array, `task 4 item ${k}`));
  [0, 1, 2].forEach((i) => closeTo(results[i].items[0].logits.data as Float32Array, alone[i].data as Float32Array, `task ${i}`));
  closeTo(results[4].items[0].logits.data as Float32Array, alone[6].data as Float32Array, "task 5");
});

test("HTTP: concurrent requests, one split over several batches, return what each item gives alone, in order", async () => {
  const s = await startEmbedded([{ id: "sst", path: "bert-tiny-sst", batch_size: 3, batch_wait_ms: 5 }]);
  try {
    const logitsOf = async (input: string[]) => {
      const q = await s.post("/sst/sequence-classification", { input });
      assert.equal(q.status, 200, JSON.stringify(q.body));
      const done = await s.result(q.body.task_id);
      assert.equal(done.status, 200, JSON.stringify(done.body));
      return done.body.result;
    };
    const alone: number[][] = [];
    for (const t of TEXTS) alone.push(decodeNpy((await logitsOf([t])).model_outputs.logits).values);

    const requests = [...TEXTS.map((t) => [t]), [...TEXTS].reverse(), TEXTS];
    const results = await Promise.all(requests.map(logitsOf));
    results.forEach((result, i) => {
      const { shape, values } = decodeNpy(result.model_outputs.logits);
      assert.deepEqual(shape, [requests[i].length, 3]);
      requests[i].forEach((text, k) => closeTo(values.slice(3 * k, 3 * k + 3), alone[TEXTS.indexOf(text)], `request ${i} item ${k}`));
      assert.equal(typeof result.timings.batch_wait_ms, "number");
    });

    const stats = await s.get("/sst/stats");
    const batching = stats.body.replicas[0].batching;
    assert.ok(batching.batches >= 7 + 2 * Math.ceil(7 / 3), `batches counted: ${JSON.stringify(batching)}`);
    assert.ok(batching.mean_batch_items <= 3, "never more than batch_size items");
    assert.ok(batching.padding_efficiency > 0 && batching.padding_efficiency <= 1);
    assert.equal(batching.max_batch_tokens, 1024, "an encoder model on CPU without max_batch_tokens gets the CPU budget");
  } finally {
    await s.stop();
  }
});

test("the padded-token budget: the model's max_batch_tokens wins; unset, 1024 for encoder models on CPU and 16384 for generative ones; a batch never exceeds it", async () => {
  const s = await startEmbedded([
    { id: "sst", path: "bert-tiny-sst", max_batch_tokens: 40, batch_size: 32, batch_wait_ms: 20 },
    { id: "gpt2", path: "gpt2-tiny" },
  ]);
  try {
    // Eight items of 8-9 tokens each: at most 4 fit in 40 padded tokens, so at least 2 batches.
    const q = await s.post("/sst/sequence-classification", { input: Array.from({ length: 8 }, (_, i) => `item number ${i} of eight`) });
    assert.equal((await s.result(q.body.task_id)).status, 200);
    const sst = (await s.get("/sst/stats")).body.replicas[0].batching;
    assert.equal(sst.max_batch_tokens, 40);
    assert.ok(sst.batches >= 2 && sst.mean_batch_items <= 4, JSON.stringify(sst));
    assert.equal((await s.get("/gpt2/stats")).body.replicas[0].batching.max_batch_tokens, 16384);
  } finally {
    await s.stop();
  }
});
