/**
 * Admitting a task (lib/orchestration/intake.ts), on the in-memory backends and on Redis (one Lua script):
 * the same refusals (a model being removed, a removed one, a full queue) with nothing written, and
 * on Redis the record and its queue entry written together, in one round trip.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { admitTask, IntakeBackends } from "../../lib/orchestration/intake.ts";
import { MemoryTaskStore } from "../../lib/store/memory-store.ts";
import { MemoryWorkQueue } from "../../lib/queue/memory-queue.ts";
import { MemoryDeploymentStore } from "../../lib/store/memory-deployments.ts";
import { RedisTaskStore } from "../../lib/store/redis-store.ts";
import { RedisWorkQueue } from "../../lib/queue/redis-queue.ts";
import { RedisDeploymentStore } from "../../lib/store/redis-deployments.ts";
import { redisKeys, QUEUE_GROUP } from "../../lib/base/redis-keys.ts";
import type { Deployment } from "../../lib/store/deployment-store.ts";
import type { TaskRecord } from "../../lib/store/task-store.ts";
import type { QueueEntry } from "../../lib/queue/work-queue.ts";
import { withDefaults } from "../../lib/request/request.ts";
import { scratchRedis } from "../helpers/services.ts";

const { prefix, redis } = scratchRedis();

const task = (model: string): { record: TaskRecord; entry: QueueEntry } => {
  const id = randomUUID();
  return {
    record: { id, model, task: "embedding", state: "queued", created_at: 1, updated_at: 1, attempts: 0, owner: "alice" },
    entry: { taskId: id, model, task: "embedding", request: withDefaults({ input: ["x"] }), enqueuedAt: 1 },
  };
};

const deployment = (id: string, state: Deployment["state"]): Deployment => ({
  id, folder: id, model_name: id, model_type: "onnx", model_class: "x", options: {} as Deployment["options"], device: "cpu",
  replicas: 1, adapters: [], bytes: 1, state, source: "api", created_at: 1, updated_at: 1,
});

const memory = (): IntakeBackends => ({ store: new MemoryTaskStore(), queue: new MemoryWorkQueue(), deployments: new MemoryDeploymentStore() });
const onRedis = (tag: string): IntakeBackends & { store: RedisTaskStore; queue: RedisWorkQueue } => {
  const p = `${prefix}${tag}:`;
  return { store: new RedisTaskStore(redis, p, 60_000), queue: new RedisWorkQueue(redis, p), deployments: new RedisDeploymentStore(redis, p) };
};

for (const [name, make] of [["memory", memory], ["redis", () => onRedis(randomUUID().slice(0, 6))]] as const) {
  test(`${name}: a submit creates the record and enqueues its entry`, async () => {
    const b = make();
    const { record, entry } = task("m");
    assert.equal(await admitTask(b, record, entry, { maxQueue: 5 }), undefined);
    assert.deepEqual(await b.store.get(record.id), record);
    assert.equal(await b.queue.depth("m"), 1);
  });

  test(`${name}: a model being removed, a removed model and a full queue are refused, and nothing is written`, async () => {
    const b = make();
    await b.deployments.create(deployment("going", "removing"));
    await b.deployments.create(deployment("gone", "active"));
    await b.deployments.delete("gone");
    await b.deployments.create(deployment("live", "active"));
    for (const [model, reason] of [["going", "removing"], ["gone", "removed"]] as const) {
      const { record, entry } = task(model);
      assert.deepEqual(await admitTask(b, record, entry, {}), { reason });
      assert.equal(await b.store.get(record.id), undefined);
      assert.equal(await b.queue.depth(model), 0);
    }
    // An active deployment, or a model management never saw (a models file node), takes tasks up to max_queue.
    for (const model of ["live", "configured"]) {
      for (let i = 0; i < 2; i++) assert.equal(await admitTask(b, task(model).record, task(model).entry, { maxQueue: 2 }), undefined);
      const { record, entry } = task(model);
      assert.deepEqual(await admitTask(b, record, entry, { maxQueue: 2 }), { reason: "full", depth: 2 });
      assert.equal(await b.store.get(record.id), undefined);
      assert.equal(await b.queue.depth(model), 2);
    }
    // Deployed again after the removal: accepted.
    await b.deployments.create(deployment("gone", "active"));
    assert.equal(await admitTask(b, task("gone").record, task("gone").entry), undefined);
  });
}

test("redis: a submit is one round trip (one script), its record expires with the result TTL, and its entry is the stream's", async () => {
  const b = onRedis("trips");
  const { record, entry } = task("m/x");
  const sent: string[] = [];
  const spy = redis.sendCommand.bind(redis);
  redis.sendCommand = ((command: { name: string }) => {
    sent.push(command.name);
    return spy(command as never);
  }) as typeof redis.sendCommand;
  try {
    assert.equal(await admitTask(b, record, entry, { maxQueue: 10 }), undefined);
  } finally {
    redis.sendCommand = spy;
  }
  assert.ok(["evalsha", "evalsha,eval"].includes(sent.join()), `commands sent: ${sent}`);
  const ttl = await redis.pttl(`${prefix}trips:task:${record.id}`);
  assert.ok(ttl > 50_000 && ttl <= 60_000, `ttl ${ttl}`);
  const [[, fields]] = (await redis.xrange(b.queue.streamKey("m/x"), "-", "+")) as [string, string[]][];
  assert.deepEqual(JSON.parse(fields[1]), entry);
});

test("the task store's scripts name the queue's keys as the queue does (the two folders do not import each other)", async () => {
  const b = onRedis("names");
  const keys = redisKeys(`${prefix}names:`);
  assert.equal(keys.queue("m/x"), b.queue.streamKey("m/x"));
  // Through the real thing: an entry admitted by the store's script is delivered by the queue, and
  // the final write's acknowledgement (the store's script) leaves no pending entry and no counters.
  const { record, entry } = task("m/x");
  assert.equal(await admitTask(b, record, entry), undefined);
  await new Promise<void>((resolve) => {
    const c = b.queue.consume("m/x", "c1", async (d) => {
      assert.equal(d.markedRunning, true);
      assert.equal((await b.store.get(record.id))?.state, "running", "the queue's claim found the store's record");
      await b.store.complete(record.id, { ok: 1 }, {}, d.receipt);
      setTimeout(() => void c.stop().then(resolve), 20);
    }, { concurrency: 1 });
  });
  assert.equal(await b.queue.depth("m/x"), 0);
  assert.equal(await redis.xpending(keys.queue("m/x"), QUEUE_GROUP).then((p) => (p as [number])[0]), 0);
  assert.equal(await redis.exists(keys.attempts("m/x")), 0);
  await b.queue.close();
});
