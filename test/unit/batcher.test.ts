/** The cross-request batcher and its batch selection, driven by a fake model whose runs we control. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { selectBatch, pickAnchor, Waiting } from "../../lib/batching/select.ts";
import { Batcher, BatcherSettings } from "../../lib/batching/batcher.ts";

const item = (seq: number, length: number, extra: Partial<Waiting> = {}): Waiting => ({ seq, length, key: "", priority: "interactive", arrivedAt: 0, ...extra });
const limits = { maxItems: 3, maxTokens: 1000, backgroundAgingMs: 500 };
const seqs = (ws: Waiting[]) => ws.map((w) => w.seq);

test("selection: the oldest item anchors the batch, the closest lengths join it, up to maxItems", () => {
  const waiting = [item(0, 50), item(1, 5), item(2, 48), item(3, 52), item(4, 60)];
  const { batch, full } = selectBatch(waiting, 0, limits);
  assert.deepEqual(seqs(batch), [0, 2, 3]);
  assert.equal(full, true);
});

test("selection: the padded-token budget (longest × items) cuts the batch; a shorter item further down still fits", () => {
  const waiting = [item(0, 10), item(1, 14), item(2, 4)];
  // 10 alone = 10; +14 → 14×2 = 28 > 25 skipped; +4 → 10×2 = 20 fits
  const { batch, full } = selectBatch(waiting, 0, { ...limits, maxTokens: 25 });
  assert.deepEqual(seqs(batch), [0, 2]);
  assert.equal(full, true);
  const alone = selectBatch([item(0, 50)], 0, { ...limits, maxTokens: 10 });
  assert.deepEqual(seqs(alone.batch), [0], "an item over the budget still runs, alone");
  assert.equal(alone.full, true);
  assert.equal(selectBatch([item(0, 5), item(1, 5)], 0, limits).full, false, "room left and nothing skipped: not full");
});

test("selection: different keys and priorities never share a batch; background yields until it has aged", () => {
  const waiting = [item(0, 5, { priority: "background" }), item(1, 5, { key: "attentions" }), item(2, 5), item(3, 5, { priority: "background" })];
  assert.equal(pickAnchor(waiting, 100, 500)?.seq, 1, "the oldest interactive item goes first");
  assert.deepEqual(seqs(selectBatch(waiting, 100, limits).batch), [1], "its key has no company");
  assert.equal(pickAnchor(waiting, 600, 500)?.seq, 0, "after 500 ms the background item competes on age");
  assert.deepEqual(seqs(selectBatch(waiting, 600, limits).batch), [0, 3]);
});

/** A fake model: each run waits until the test releases it; outputs are the inputs doubled. */
function fakeModel() {
  const runs: { inputs: number[]; release: (fail?: Error) => void }[] = [];
  const run = (inputs: number[]) =>
    new Promise<{ outputs: number[]; runMs: number }>((resolve, reject) => {
      runs.push({ inputs, release: (fail) => (fail ? reject(fail) : resolve({ outputs: inputs.map((x) => x * 2), runMs: 1 })) });
    });
  return { runs, run };
}

const settings = (over: Partial<BatcherSettings> = {}) => (): BatcherSettings => ({ maxItems: 4, maxTokens: 1000, maxWaitMs: 20, parallel: 1, backgroundAgingMs: 500, ...over });
const tick = () => new Promise((r) => setImmediate(r));
const items = (...xs: number[]) => xs.map((x) => ({ input: x, length: x }));

test("batcher: an idle replica runs the first item at once; items arriving meanwhile share the next batch", async () => {
  const model = fakeModel();
  const batcher = new Batcher(model.run, settings());
  const first = batcher.submit(items(1), "");
  assert.equal(model.runs.length, 1, "no waiting when idle");
  const second = batcher.submit(items(2, 3), "");
  const third = batcher.submit(items(4), "");
  await tick();
  assert.equal(model.runs.length, 1, "a partial batch waits while the only worker is busy");
  model.runs[0].release();
  assert.deepEqual((await first).map((r) => r.value), [2]);
  await tick();
  assert.deepEqual(model.runs[1].inputs, [2, 3, 4], "two requests' items in one batch");
  model.runs[1].release();
  assert.deepEqual((await second).map((r) => r.value), [4, 6]);
  const [r4] = await third;
  assert.equal(r4.value, 8);
  assert.equal(r4.batchItems, 3);
  assert.deepEqual(batcher.stats, { batches: 2, items: 4, tokens: 10, paddedTokens: 1 + 4 * 3 });
});

test("batcher: one task's items spread over several batches come back whole and in order", async () => {
  const model = fakeModel();
  const batcher = new Batcher(model.run, settings({ maxItems: 2 }));
  const busy = batcher.submit(items(100), "");
  const big = batcher.submit(items(9, 1, 7, 3, 5), "");
  model.runs[0].release();
  await busy;
  for (let i = 1; i < 4; i++) {
    await tick();
    model.runs[i].release();
  }
  const all = model.runs.slice(1).map((r) => r.inputs);
  assert.deepEqual(all.flat().sort((a, b) => a - b), [1, 3, 5, 7, 9]);
  assert.ok(all.every((b) => b.length <= 2), `batches ${JSON.stringify(all)}`);
  assert.deepEqual((await big).map((r) => r.value), [18, 2, 14, 6, 10]);
});

test("batcher: with a worker free, a partial batch waits at most maxWaitMs for company", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  let now = 0;
  const advance = (ms: number) => {
    now += ms;
    t.mock.timers.tick(ms);
  };
  const model = fakeModel();
  const batcher = new Batcher(model.run, settings({ parallel: 2, maxWaitMs: 30 }), () => now);
  const a = batcher.submit(items(1), "");
  const b = batcher.submit(items(2), "");
  assert.equal(model.runs.length, 1);
  advance(10);
  const c = batcher.submit(items(3), "");
  advance(19);
  assert.equal(model.runs.length, 1, "29 ms after the first waiting item: still waiting for company");
  advance(1);
  assert.deepEqual(model.runs[1]?.inputs, [2, 3], "at 30 ms the free worker takes what is there");
  model.runs.forEach((r) => r.release());
  await Promise.all([a, b, c]);
});

test("batcher: a full batch is prepared ahead while every worker is busy", async () => {
  const model = fakeModel();
  const batcher = new Batcher(model.run, settings({ maxItems: 2 }));
  const a = batcher.submit(items(1), "");
  const b = batcher.submit(items(2, 3), "");
  assert.equal(model.runs.length, 2, "the full batch went ahead to the busy worker's queue");
  assert.equal(batcher.runningBatches, 2);
  const c = batcher.submit(items(4, 5), "");
  assert.equal(model.runs.length, 2, "no more than one batch ahead");
  model.runs[0].release();
  await a;
  model.runs[1].release();
  await b;
  await tick();
  model.runs[2].release();
  assert.deepEqual((await c).map((r) => r.value), [8, 10]);
});

test("batcher: a failing batch is retried item by item, so only the bad item fails", async () => {
  const bad = 13;
  const ran: number[][] = [];
  const run = async (inputs: number[]) => {
    ran.push(inputs);
    if (inputs.includes(bad)) throw new Error("bad item");
    return { outputs: inputs.map((x) => x * 2), runMs: 0 };
  };
  const batcher = new Batcher(run, settings({ maxWaitMs: 0 }));
  const hold = batcher.submit(items(1), ""); // occupies the worker so the next three share one batch
  const good = batcher.submit(items(2, 3), "");
  const poisoned = batcher.submit(items(bad), "");
  await hold;
  assert.deepEqual((await good).map((r) => r.value), [4, 6]);
  await assert.rejects(poisoned, /bad item/);
  assert.deepEqual(ran, [[1], [2, 3, bad], [2], [3], [bad]]);
});

test("batcher: settings are read live, so an update of batch_size applies to the next batch", async () => {
  const model = fakeModel();
  const live = { maxItems: 8, maxTokens: 1000, maxWaitMs: 0, parallel: 1, backgroundAgingMs: 500 };
  const batcher = new Batcher(model.run, () => live);
  const hold = batcher.submit(items(1), "");
  const rest = batcher.submit(items(2, 2, 2, 2), ""); // not a full batch of 8: waits for the worker
  live.maxItems = 1;
  model.runs[0].release();
  await hold;
  for (let i = 1; i <= 4; i++) {
    await tick();
    assert.equal(model.runs[i].inputs.length, 1);
    model.runs[i].release();
  }
  assert.equal((await rest).length, 4);
});
