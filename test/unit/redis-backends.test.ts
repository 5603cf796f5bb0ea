/** The Redis task store and stream queue against the real Redis on 127.0.0.1:6379 (unique key prefix per run). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { RedisTaskStore } from "../../lib/store/redis-store.ts";
import { RedisWorkQueue } from "../../lib/queue/redis-queue.ts";
import { handleDelivery } from "../../lib/orchestration/deliveries.ts";
import type { LoadedModel } from "../../lib/inference/model.ts";
import { withDefaults } from "../../lib/request/request.ts";
import type { QueueEntry } from "../../lib/queue/work-queue.ts";
import { scratchRedis } from "../helpers/services.ts";

const { prefix, redis } = scratchRedis();

const record = (id: string) => ({ id, model: "m/x", task: "embedding" as const, state: "queued" as const, created_at: 1, updated_at: 1, attempts: 0 });
const entry = (taskId: string): QueueEntry => ({ taskId, model: "m/x", task: "embedding", request: withDefaults({ input: ["x"] }), enqueuedAt: Date.now() });

test("redis store: lifecycle, first completion wins, TTL set, model updates merge", async () => {
  const store = new RedisTaskStore(redis, prefix, 60_000);
  await store.create(record("a"));
  await store.markRunning("a", 2);
  assert.deepEqual((await store.get("a"))?.state, "running");
  assert.equal((await store.get("a"))?.attempts, 2);
  assert.equal(await store.complete("a", { embeddings: [[1, 2]] }, { inference_ms: 3 }), true);
  assert.equal(await store.complete("a", { embeddings: [[9]] }, {}), false);
  await store.fail("a", { type: "internal", message: "late" });
  await store.markRunning("a", 3);
  const done = await store.get("a");
  assert.equal(done?.state, "succeeded");
  assert.deepEqual(done?.result, { embeddings: [[1, 2]] });
  assert.deepEqual(done?.timings, { inference_ms: 3 });
  const ttl = await redis.pttl(`${prefix}task:a`);
  assert.ok(ttl > 50_000 && ttl <= 60_000, `ttl ${ttl}`);
  assert.equal(await store.get("missing"), undefined);
  await store.saveModelUpdate("m/x", { batch_size: 4 });
  assert.deepEqual(await store.saveModelUpdate("m/x", { return_plaintext_arrays: true }), { batch_size: 4, return_plaintext_arrays: true });
});

test("redis queue: at most `concurrency` in flight, ack removes entries", async () => {
  const queue = new RedisWorkQueue(redis, prefix, { visibilityMs: 5000, blockMs: 100 });
  let running = 0;
  let peak = 0;
  const seen: string[] = [];
  const all = new Promise<void>((resolve) => {
    const c = queue.consume("m/x", "c1", async ({ entry: e }) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 20));
      running--;
      seen.push(e.taskId);
      if (seen.length === 6) setTimeout(() => void c.stop().then(resolve), 50);
    }, { concurrency: 2 });
  });
  for (let i = 0; i < 6; i++) await queue.enqueue(entry(`t${i}`));
  await all;
  assert.equal(peak, 2);
  assert.deepEqual(seen.sort(), ["t0", "t1", "t2", "t3", "t4", "t5"]);
  assert.equal(await queue.depth("m/x"), 0);
  await queue.close();
});

test("redis queue: an entry whose consumer died is claimed by another after the visibility timeout", async () => {
  const model = "m/crash";
  const queue = new RedisWorkQueue(redis, prefix, { visibilityMs: 300, blockMs: 100 });
  await queue.enqueue({ ...entry("dies"), model });
  // A consumer that read the entry and then died: it is pending, owned by "doomed", never acknowledged.
  const key = queue.streamKey(model);
  await redis.xgroup("CREATE", key, "replicas", "0", "MKSTREAM");
  const read = (await redis.xreadgroup("GROUP", "replicas", "doomed", "COUNT", 1, "STREAMS", key, ">")) as [string, [string, string[]][]][];
  assert.equal(read[0][1].length, 1);
  await redis.hincrby(`${prefix}attempts:${model}`, read[0][1][0][0], 1); // the dead consumer's delivery counted
  const started = Date.now();
  const delivery = await new Promise<{ attempt: number; taskId: string }>((resolve) => {
    const rescuer = queue.consume(model, "rescuer", async ({ attempt, entry: e }) => {
      resolve({ attempt, taskId: e.taskId });
      void rescuer.stop();
    }, { concurrency: 1 });
  });
  assert.deepEqual(delivery, { attempt: 2, taskId: "dies" }, "the second delivery knows it is the second attempt");
  assert.ok(Date.now() - started >= 250, "not claimed before the visibility timeout");
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(await queue.depth(model), 0, "acknowledged and removed after the rescue");
  await queue.close();
});

test("redis queue: a running delivery is kept alive past the visibility timeout, not stolen", async () => {
  const model = "m/slow";
  // The run lasts three visibility timeouts; the keep-alive renews every third of one, so only
  // an event loop stalled for a whole second could let the thief in.
  const queue = new RedisWorkQueue(redis, prefix, { visibilityMs: 1500, blockMs: 50 });
  const deliveries: string[] = [];
  const both = new Promise<void>((resolve) => {
    const slow = queue.consume(model, "slow", async ({ entry: e }) => {
      deliveries.push(`slow:${e.taskId}`);
      await new Promise((r) => setTimeout(r, 4500));
      void slow.stop().then(resolve);
    }, { concurrency: 1 });
  });
  await queue.enqueue({ ...entry("long"), model });
  await new Promise((r) => setTimeout(r, 100));
  const thief = queue.consume(model, "thief", async ({ entry: e }) => void deliveries.push(`thief:${e.taskId}`), { concurrency: 1 });
  await both;
  await thief.stop();
  assert.deepEqual(deliveries, ["slow:long"]);
  await queue.close();
});

test("redis queue: one script counts a delivery and marks its record running; the result's write acknowledges the entry", async () => {
  const model = "m/receipt";
  const store = new RedisTaskStore(redis, prefix, 60_000);
  const queue = new RedisWorkQueue(redis, prefix, { visibilityMs: 5000, blockMs: 50 });
  await store.create({ ...record("r1"), model });
  await queue.enqueue({ ...entry("r1"), model });
  const seen = await new Promise<{ state?: string; attempts?: number; markedRunning?: boolean; acked: boolean }>((resolve, reject) => {
    const c = queue.consume(model, "c1", async (delivery) => {
      try {
        const r = await store.get("r1");
        assert.ok(delivery.receipt && !delivery.receipt.acked);
        assert.equal(await store.complete("r1", { ok: true }, { total_ms: 1 }, delivery.receipt), true);
        resolve({ state: r?.state, attempts: r?.attempts, markedRunning: delivery.markedRunning, acked: delivery.receipt.acked });
      } catch (err) {
        reject(err);
      }
      void c.stop();
    }, { concurrency: 1 });
  });
  assert.deepEqual(seen, { state: "running", attempts: 1, markedRunning: true, acked: true });
  assert.equal((await store.get("r1"))?.state, "succeeded");
  assert.equal(await queue.depth(model), 0, "acknowledged and deleted with the result's write");
  assert.equal(await redis.xpending(queue.streamKey(model), "replicas").then((p) => (p as [number])[0]), 0);
  assert.equal(await redis.exists(`${prefix}attempts:${model}`), 0, "no attempt counters left");
  await queue.close();
});

test("redis queue: a result written with the receipt when the task is already final still acknowledges, and a later throw is not counted as a crash", async () => {
  const model = "m/final";
  const store = new RedisTaskStore(redis, prefix, 60_000);
  const queue = new RedisWorkQueue(redis, prefix, { visibilityMs: 5000, blockMs: 50 });
  await store.create({ ...record("f1"), model });
  await store.complete("f1", { first: true }, {});
  await queue.enqueue({ ...entry("f1"), model });
  await new Promise<void>((resolve) => {
    const c = queue.consume(model, "c1", async (delivery) => {
      const won = await store.complete("f1", { second: true }, {}, delivery.receipt);
      assert.equal(won, false);
      setTimeout(() => void c.stop().then(resolve), 50);
      throw new Error("after the acknowledgement");
    }, { concurrency: 1 });
  });
  assert.deepEqual((await store.get("f1"))?.result, { first: true });
  assert.equal(await queue.depth(model), 0);
  assert.equal(await redis.exists(`${prefix}attempts:${model}`), 0);
  await queue.close();
});

test("redis queue + handleDelivery: a suspect (its earlier delivery died) is not marked running by the claim, runs alone, and is given up after its second crash", async () => {
  const model = "m/suspect";
  const store = new RedisTaskStore(redis, prefix, 60_000);
  const queue = new RedisWorkQueue(redis, prefix, { visibilityMs: 200, blockMs: 50 });
  await store.create({ ...record("s1"), model });
  await queue.enqueue({ ...entry("s1"), model });
  const key = queue.streamKey(model);
  await redis.xgroup("CREATE", key, "replicas", "0", "MKSTREAM");
  const read = (await redis.xreadgroup("GROUP", "replicas", "doomed", "COUNT", 1, "STREAMS", key, ">")) as [string, [string, string[]][]][];
  await redis.hincrby(`${prefix}attempts:${model}`, read[0][1][0][0], 2); // two deliveries died running it
  const outcome = await new Promise<{ crashes: number; markedRunning?: boolean; state: string }>((resolve) => {
    const c = queue.consume(model, "rescuer", async (delivery) => {
      const done = await handleDelivery(delivery, {} as LoadedModel, store);
      resolve({ crashes: delivery.crashes, markedRunning: delivery.markedRunning, state: done.state });
      void c.stop();
    }, { concurrency: 1 });
  });
  assert.deepEqual(outcome, { crashes: 2, markedRunning: false, state: "failed" });
  assert.equal((await store.get("s1"))?.error?.type, "worker_crashed");
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(await queue.depth(model), 0);
  await queue.close();
});
