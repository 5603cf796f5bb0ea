/**
 * The Redis keys of the task store, the deployment store and the work queue, in one place: their
 * scripts touch each other's keys (a submit writes the task record and the queue entry in one
 * script, a task's final write acknowledges its queue entry, a delivery's start marks the record
 * running). Here in lib/base because lib/store and lib/queue do not import each other.
 */
export const redisKeys = (prefix: string) => ({
  /** One hash per task (TaskRecord, JSON fields as text). */
  task: (id: string) => `${prefix}task:${id}`,
  /** Deployment records (JSON per model id). */
  deployments: `${prefix}deployments`,
  /** Model ids removed through management and not deployed since. */
  removedModels: `${prefix}removed-models`,
  /** A model's work queue: a stream read by the consumer group QUEUE_GROUP. */
  queue: (model: string) => `${prefix}queue:${model}`,
  /** Per queue entry: deliveries started (`<entry id>`) and deliveries whose handler threw (`<entry id>:threw`). */
  attempts: (model: string) => `${prefix}attempts:${model}`,
});

/** The consumer group of every model's queue: the model's replicas. */
export const QUEUE_GROUP = "replicas";

/** A Lua script registered on a client (ioredis sends EVALSHA, and the text once on NOSCRIPT); called with its keys, then its arguments. */
export type ScriptCall = (...keysAndArgs: string[]) => Promise<unknown>;

export function redisScript(redis: { defineCommand(name: string, d: { numberOfKeys: number; lua: string }): void }, name: string, numberOfKeys: number, lua: string): ScriptCall {
  const client = redis as unknown as Record<string, ScriptCall>;
  if (typeof client[name] !== "function") redis.defineCommand(name, { numberOfKeys, lua });
  return (...keysAndArgs) => client[name](...keysAndArgs);
}
