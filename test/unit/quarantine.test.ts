/**
 * Poison tasks (SPEC §12): the quarantine gate, and the Redis queue's crash count against the
 * real Redis on 127.0.0.1:6379. A crashed delivery is simulated the way Redis sees one: an
 * entry read and counted by a consumer that never acknowledged it and stopped renewing it.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { Quarantine } from "../../lib/queue/quarantine.ts";
import { RedisWorkQueue } from "../../lib/queue/redis-queue.ts";
import { handleDelivery, CRASHED_MESSAGE } from "../../lib/orchestration/deliveries.ts";
import { MemoryTaskStore } from "../../lib/store/memory-store.ts";
import { withDefaults } from "../../lib/request/request.ts";
import type { Delivery, QueueEntry } from "../../lib/queue/work-queue.ts";
import type { ModelRuntime } from "../../lib/model/runtime.ts";
import { TEST_REDIS_URL } from "../helpers/services.ts";

const tick = () => new Promise((r) => setImmediate(r));

test("quarantine: ordinary deliveries share the gate; a suspect waits for all of them and runs alone", async () => {
  const gate = new Quarantine();
  const releaseA = await gate.enterShared();
  const releaseB = await gate.enterShared();
  assert.deepEqual(gate.busy, { shared: 2, alone: false });
  let suspectIn = false;
  const suspect = gate.enterAlone().then((release) => ((suspectIn = true), release));
  let lateIn = false;
  const late = gate.enterShared().then((release) => ((lateIn = true), release));
  await tick();
  assert.equal(suspectIn, false, "the suspect waits while two deliveries run");
  releaseA();
  await tick();
  assert.equal(suspectIn, false, "and while one still runs");
  assert.equal(lateIn, false, "a delivery arriving after the suspect waits behind it");
  releaseB();
  const releaseSuspect = await suspect;
  assert.deepEqual(gate.busy, { shared: 0, alone: true });
  await tick();
  assert.equal(lateIn, false, "nothing runs beside the suspect");
  releaseSuspect();
  (await late)();
  assert.equal(lateIn, true);
  assert.deepEqual(gate.busy, { shared: 0, alone: false });
});

test("quarantine: two suspects never run together", async () => {
  const gate = new Quarantine();
  const first = await gate.enterAlone();
  let secondIn = false;
  const second = gate.enterAlone().then((release) => ((secondIn = true), release));
  await tick();
  assert.equal(secondIn, false);
  first();
  (await second)();
  assert.equal(secondIn, true);
});

const entry = (taskId: string, model: string): QueueEntry => ({ taskId, model, task: "embedding", request: withDefaults({ input: ["x"] }), enqueuedAt: Date.now() });

let redis: Redis;
const prefix = `square-test:${randomUUID()}:`;
before(() => {
  redis = new Redis(TEST_REDIS_URL);
});
after(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

/** Leaves `taskId` pending under a dead consumer, counted as started `started` times and thrown `threw` times. */
async function strand(queue: RedisWorkQueue, model: string, taskId: string, started: number, threw: number): Promise<void> {
  await queue.enqueue(entry(taskId, model));
  const key = queue.streamKey(model);
  await redis.xgroup("CREATE", key, "replicas", "0", "MKSTREAM").catch(() => undefined);
  const read = (await redis.xreadgroup("GROUP", "replicas", "dead", "COUNT", 1, "STREAMS", key, ">")) as [string, [string, string[]][]][];
  const id = read[0][1][0][0];
  if (started) await redis.hset(`${prefix}attempts:${model}`, id, started);
  if (threw) await redis.hset(`${prefix}attempts:${model}`, `${id}:threw`, threw);
}

test("redis queue: a delivery that died with its process comes back as a suspect, running with nothing else in the process", async () => {
  const queue = new RedisWorkQueue(redis, prefix, { visibilityMs: 300, blockMs: 50 });
  await strand(queue, "m/poison", "suspect", 1, 0);
  await strand(queue, "m/poison", "failed-once", 1, 1); // its handler threw: not a crash
  // Each run is an interval of a shared event counter: runs that overlap in time overlap here.
  let clock = 0;
  const runs: { taskId: string; attempt: number; crashes: number; from: number; to: number }[] = [];
  const handler = async ({ entry: e, attempt, crashes }: Delivery) => {
    const run = { taskId: e.taskId, attempt, crashes, from: clock++, to: Infinity };
    runs.push(run);
    await new Promise((r) => setTimeout(r, 150));
    run.to = clock++;
  };
  // A second model's consumer in the same process has ordinary work all along.
  const other = queue.consume("m/innocent", "p1", handler, { concurrency: 4 });
  const poison = queue.consume("m/poison", "p1", handler, { concurrency: 4 });
  for (let i = 0; i < 30; i++) {
    await queue.enqueue(entry(`innocent-${i}`, "m/innocent"));
    await new Promise((r) => setTimeout(r, 50));
  }
  for (let i = 0; i < 100 && runs.filter((r) => r.to !== Infinity).length < 32; i++) await new Promise((r) => setTimeout(r, 50));
  await Promise.all([other.stop(), poison.stop()]);
  await queue.close();

  const suspect = runs.find((r) => r.taskId === "suspect")!;
  assert.deepEqual([suspect.attempt, suspect.crashes], [2, 1]);
  const beside = runs.filter((r) => r !== suspect && r.from < suspect.to && suspect.from < r.to);
  assert.deepEqual(beside.map((r) => r.taskId), [], "nothing ran while the suspect ran");
  assert.ok(runs.some((r) => r.to < suspect.from) && runs.some((r) => r.from > suspect.to), "innocent work ran before and after it");
  const failedOnce = runs.find((r) => r.taskId === "failed-once")!;
  assert.deepEqual([failedOnce.attempt, failedOnce.crashes], [2, 0], "a delivery that threw is retried as an ordinary one");
  assert.equal(runs.filter((r) => r.taskId.startsWith("innocent")).length, 30, "every innocent ran");
  assert.ok(runs.filter((r) => r.taskId.startsWith("innocent")).some((r) => runs.some((o) => o !== r && o.from < r.to && r.from < o.to)), "ordinary runs do overlap each other");
  assert.equal(await queue.depth("m/poison"), 0);
});

test("deliveries: after two process deaths the task fails naming the cause, without running", async () => {
  const store = new MemoryTaskStore();
  const now = Date.now();
  await store.create({ id: "p", model: "m", task: "embedding", state: "queued", created_at: now, updated_at: now, attempts: 0 });
  const runtime = {} as ModelRuntime; // never touched: the task must not run
  const outcome = await handleDelivery({ entry: entry("p", "m"), attempt: 3, crashes: 2 }, runtime, store);
  assert.deepEqual(outcome, { taskId: "p", state: "failed" });
  const record = await store.get("p");
  assert.equal(record?.state, "failed");
  assert.deepEqual(record?.error, { type: "worker_crashed", message: CRASHED_MESSAGE });
  assert.match(CRASHED_MESSAGE, /crashed the model worker 2 times/);
});
