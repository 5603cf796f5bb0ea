import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryTaskStore } from "../../lib/store/memory-store.ts";
import { MemoryWorkQueue } from "../../lib/queue/memory-queue.ts";
import type { QueueEntry } from "../../lib/queue/work-queue.ts";
import { withDefaults } from "../../lib/request/request.ts";

const record = (id: string, now: number) => ({ id, model: "m", task: "embedding" as const, state: "queued" as const, created_at: now, updated_at: now, attempts: 0 });

test("memory store: lifecycle, first completion wins, expiry after the TTL", async () => {
  let now = 1000;
  const store = new MemoryTaskStore(500, () => now);
  await store.create(record("a", now));
  await store.markRunning("a", 1);
  assert.equal((await store.get("a"))?.state, "running");
  assert.equal(await store.complete("a", { x: 1 }, { inference_ms: 2 }), true);
  assert.equal(await store.complete("a", { x: 2 }, {}), false);
  await store.fail("a", { type: "internal", message: "late" });
  const done = await store.get("a");
  assert.equal(done?.state, "succeeded");
  assert.deepEqual(done?.result, { x: 1 });
  now += 499;
  assert.ok(await store.get("a"));
  now += 2;
  assert.equal(await store.get("a"), undefined);
  await store.close();
});

test("memory store: model updates merge and persist", async () => {
  const store = new MemoryTaskStore();
  await store.saveModelUpdate("m", { batch_size: 4 });
  assert.deepEqual(await store.saveModelUpdate("m", { max_input: 9 }), { batch_size: 4, max_input: 9 });
  assert.deepEqual(await store.getModelUpdate("m"), { batch_size: 4, max_input: 9 });
  assert.deepEqual(await store.getModelUpdate("other"), {});
  await store.close();
});

const entry = (taskId: string, model = "m"): QueueEntry => ({ taskId, model, task: "embedding", request: withDefaults({ input: ["x"] }), enqueuedAt: 0 });

test("memory queue: FIFO per model, bounded concurrency, redelivery after a throw", async () => {
  const q = new MemoryWorkQueue();
  const seen: string[] = [];
  let running = 0;
  let maxRunning = 0;
  let failedOnce = false;
  const done = new Promise<void>((resolve) => {
    q.consume("m", "c1", async ({ entry: e, attempt }) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await new Promise((r) => setTimeout(r, 5));
      running--;
      if (e.taskId === "t2" && !failedOnce) {
        failedOnce = true;
        throw new Error("crash");
      }
      seen.push(`${e.taskId}@${attempt}`);
      if (seen.length === 4) resolve();
    }, { concurrency: 2 });
  });
  for (const id of ["t1", "t2", "t3", "t4"]) await q.enqueue(entry(id));
  await q.enqueue(entry("other", "n"));
  await done;
  await new Promise((r) => setImmediate(r)); // the last handler's acknowledgement settles
  assert.equal(maxRunning, 2);
  assert.deepEqual(seen.sort(), ["t1@1", "t2@2", "t3@1", "t4@1"]);
  assert.equal(await q.depth("m"), 0);
  assert.equal(await q.depth("n"), 1, "another model's entry waits for its own consumer");
});

test("memory queue: stop() waits for deliveries in flight and takes no more", async () => {
  const q = new MemoryWorkQueue();
  const handled: string[] = [];
  const consumer = q.consume("m", "c", async ({ entry: e }) => {
    await new Promise((r) => setTimeout(r, 20));
    handled.push(e.taskId);
  }, { concurrency: 1 });
  await q.enqueue(entry("a"));
  await q.enqueue(entry("b"));
  await new Promise((r) => setTimeout(r, 5));
  await consumer.stop();
  assert.deepEqual(handled, ["a"]);
  assert.equal(await q.depth("m"), 1);
});
