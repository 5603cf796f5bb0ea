/**
 * TaskStore on Redis (cluster mode): one hash per task, expiring `ttlMs` after its last change.
 * Completion is a Lua script so that the first result wins even when two replicas finish the
 * same (reclaimed) task.
 */
import { Redis } from "ioredis";
import type { TaskRecord, TaskStore, TaskTimings, TaskError } from "./task-store.ts";
import { DEFAULT_RESULT_TTL_MS } from "./task-store.ts";
import type { ModelUpdate } from "../config/model-settings.ts";

const JSON_FIELDS = ["error", "result", "timings"] as const;

// KEYS[1] task key; ARGV: ttl, then field/value pairs. Writes only while the task is not final.
const FINISH_ONCE = `
local state = redis.call('HGET', KEYS[1], 'state')
if not state or state == 'succeeded' or state == 'failed' then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`;

export class RedisTaskStore implements TaskStore {
  constructor(private readonly redis: Redis, private readonly prefix: string, private readonly ttlMs = DEFAULT_RESULT_TTL_MS) {}

  private key = (id: string) => `${this.prefix}task:${id}`;
  private updateKey = (model: string) => `${this.prefix}model-update:${model}`;

  async create(record: TaskRecord): Promise<void> {
    await this.redis.multi().hset(this.key(record.id), flatten(record)).pexpire(this.key(record.id), this.ttlMs).exec();
  }

  async get(id: string): Promise<TaskRecord | undefined> {
    const h = await this.redis.hgetall(this.key(id));
    return h.id ? unflatten(h) : undefined;
  }

  async markRunning(id: string, attempt: number): Promise<void> {
    await this.finishOnce(id, { state: "running", attempts: attempt, updated_at: Date.now() });
  }

  async complete(id: string, result: Record<string, unknown>, timings: TaskTimings): Promise<boolean> {
    return this.finishOnce(id, { state: "succeeded", result, timings, updated_at: Date.now() });
  }

  async fail(id: string, error: TaskError, timings?: TaskTimings): Promise<void> {
    await this.finishOnce(id, { state: "failed", error, ...(timings ? { timings } : {}), updated_at: Date.now() });
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

  private async finishOnce(id: string, fields: Partial<TaskRecord>): Promise<boolean> {
    const args = Object.entries(flatten(fields)).flat();
    const written = await this.redis.eval(FINISH_ONCE, 1, this.key(id), String(this.ttlMs), ...args);
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
