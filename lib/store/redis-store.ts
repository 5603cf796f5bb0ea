/**
 * TaskStore on Redis (cluster mode): one hash per task, expiring `ttlMs` after its last change.
 * Completion is a Lua script so that the first result wins even when two replicas finish the
 * same (reclaimed) task. A submit is one script too (`admit`): the admission checks, the record
 * and the queue entry in one atomic round trip.
 */
import { Redis } from "ioredis";
import type { TaskRecord, TaskStore, TaskTimings, TaskError, Admission, Refusal } from "./task-store.ts";
import type { DeliveryReceipt } from "../base/delivery-receipt.ts";
import { DEFAULT_RESULT_TTL_MS } from "./task-store.ts";
import type { ModelUpdate } from "../config/model-settings.ts";
import { redisKeys, redisScript, QUEUE_GROUP, ScriptCall } from "../base/redis-keys.ts";

const JSON_FIELDS = ["error", "result", "timings"] as const;

// KEYS[1] task key; ARGV: ttl, then field/value pairs. Writes only while the task is not final.
const FINISH_ONCE = `
local state = redis.call('HGET', KEYS[1], 'state')
if not state or state == 'succeeded' or state == 'failed' then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`;

// KEYS: task key, the model's queue stream, its attempts hash; ARGV: ttl, entry id, then
// field/value pairs. FINISH_ONCE, then the delivery's acknowledgement (as RedisWorkQueue's own:
// XACK, XDEL, its attempt counters dropped) in the same step, whether or not the write won.
const FINISH_AND_ACK = `
local written = 0
local state = redis.call('HGET', KEYS[1], 'state')
if state and state ~= 'succeeded' and state ~= 'failed' then
  redis.call('HSET', KEYS[1], unpack(ARGV, 3))
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  written = 1
end
redis.call('XACK', KEYS[2], '${QUEUE_GROUP}', ARGV[2])
redis.call('XDEL', KEYS[2], ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[2], ARGV[2] .. ':threw')
return written`;

// KEYS: deployments hash, removed-models set, the model's queue stream, the task key.
// ARGV: model id, max queue ('' = none), ttl, the entry's JSON, then the record's field/value pairs.
// The admission rules (lib/orchestration/intake.ts), checked and acted on atomically: a model being
// removed takes nothing new; a removed one (not deployed since) is unknown; a full queue refuses.
// Nothing is written unless everything is: a record never exists without its queue entry.
const ADMIT = `
local deployment = redis.call('HGET', KEYS[1], ARGV[1])
if deployment then
  local ok, d = pcall(cjson.decode, deployment)
  if ok and type(d) == 'table' and d.state == 'removing' then return {'removing'} end
elseif redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then
  return {'removed'}
end
if ARGV[2] ~= '' then
  local depth = redis.call('XLEN', KEYS[3])
  if depth >= tonumber(ARGV[2]) then return {'full', depth} end
end
redis.call('HSET', KEYS[4], unpack(ARGV, 5))
redis.call('PEXPIRE', KEYS[4], ARGV[3])
redis.call('XADD', KEYS[3], '*', 'entry', ARGV[4])
return {'ok'}`;

export class RedisTaskStore implements TaskStore {
  private readonly keys: ReturnType<typeof redisKeys>;
  private readonly scripts: { finishOnce: ScriptCall; finishAndAck: ScriptCall; admit: ScriptCall };

  constructor(private readonly redis: Redis, private readonly prefix: string, private readonly ttlMs = DEFAULT_RESULT_TTL_MS) {
    this.keys = redisKeys(prefix);
    this.scripts = {
      finishOnce: redisScript(redis, "squareFinishOnce", 1, FINISH_ONCE),
      finishAndAck: redisScript(redis, "squareFinishAndAck", 3, FINISH_AND_ACK),
      admit: redisScript(redis, "squareAdmit", 4, ADMIT),
    };
  }

  private key = (id: string) => this.keys.task(id);
  private updateKey = (model: string) => `${this.prefix}model-update:${model}`;

  async create(record: TaskRecord): Promise<void> {
    await this.redis.multi().hset(this.key(record.id), flatten(record)).pexpire(this.key(record.id), this.ttlMs).exec();
  }

  /** The admission checks, the record and its queue entry in one script: one round trip, atomic. */
  async admit(record: TaskRecord, entryJson: string, admission: Admission): Promise<Refusal | undefined> {
    const keys = [this.keys.deployments, this.keys.removedModels, this.keys.queue(record.model), this.key(record.id)];
    const args = [record.model, admission.maxQueue === undefined ? "" : String(admission.maxQueue), String(this.ttlMs), entryJson, ...Object.entries(flatten(record)).flat()];
    const [verdict, depth] = (await this.scripts.admit(...keys, ...args)) as [string, number?];
    if (verdict === "ok") return undefined;
    if (verdict === "full") return { reason: "full", depth: Number(depth) };
    return { reason: verdict as "removing" | "removed" };
  }

  async get(id: string): Promise<TaskRecord | undefined> {
    const h = await this.redis.hgetall(this.key(id));
    return h.id ? unflatten(h) : undefined;
  }

  async markRunning(id: string, attempt: number): Promise<void> {
    await this.finishOnce(id, { state: "running", attempts: attempt, updated_at: Date.now() });
  }

  async complete(id: string, result: Record<string, unknown>, timings: TaskTimings, receipt?: DeliveryReceipt): Promise<boolean> {
    return this.finishOnce(id, { state: "succeeded", result, timings, updated_at: Date.now() }, receipt);
  }

  async fail(id: string, error: TaskError, timings?: TaskTimings, receipt?: DeliveryReceipt): Promise<void> {
    await this.finishOnce(id, { state: "failed", error, ...(timings ? { timings } : {}), updated_at: Date.now() }, receipt);
  }

  async saveModelUpdate(model: string, update: ModelUpdate): Promise<ModelUpdate> {
    const entries = Object.entries(update).flatMap(([k, v]) => [k, JSON.stringify(v)]);
    if (entries.length) await this.redis.hset(this.updateKey(model), ...entries);
    return this.getModelUpdate(model);
  }

  /** As stored: a value that is not JSON (a hand edit) comes back as its text, for the reader's checks to refuse. */
  async getModelUpdate(model: string): Promise<ModelUpdate> {
    const h = await this.redis.hgetall(this.updateKey(model));
    return Object.fromEntries(Object.entries(h).map(([k, v]) => [k, parseOrText(v)])) as ModelUpdate;
  }

  async registerModel(model: string): Promise<void> {
    await this.redis.sadd(`${this.prefix}models`, model);
  }

  async isKnownModel(model: string): Promise<boolean> {
    return (await this.redis.sismember(`${this.prefix}models`, model)) === 1;
  }

  async forgetModel(model: string): Promise<void> {
    await this.redis.multi().srem(`${this.prefix}models`, model).del(this.updateKey(model)).exec();
  }

  async close(): Promise<void> {
    /* the connection belongs to the caller (backends.ts) */
  }

  private async finishOnce(id: string, fields: Partial<TaskRecord>, receipt?: DeliveryReceipt): Promise<boolean> {
    const args = Object.entries(flatten(fields)).flat();
    if (!receipt) return (await this.scripts.finishOnce(this.key(id), String(this.ttlMs), ...args)) === 1;
    const written = await this.scripts.finishAndAck(this.key(id), this.keys.queue(receipt.model), this.keys.attempts(receipt.model), String(this.ttlMs), receipt.entryId, ...args);
    receipt.acked = true;
    return written === 1;
  }
}

function flatten(record: Partial<TaskRecord>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(record)) {
    if (v === undefined) continue;
    out[k] = (JSON_FIELDS as readonly string[]).includes(k) ? JSON.stringify(v) : String(v);
  }
  return out;
}

function unflatten(h: Record<string, string>): TaskRecord {
  const record: Record<string, unknown> = {
    id: h.id,
    model: h.model,
    task: h.task,
    state: h.state,
    created_at: Number(h.created_at),
    updated_at: Number(h.updated_at),
    attempts: Number(h.attempts),
  };
  if (h.owner !== undefined) record.owner = h.owner;
  for (const k of JSON_FIELDS) if (h[k] !== undefined) record[k] = JSON.parse(h[k]);
  return record as unknown as TaskRecord;
}

function parseOrText(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}
