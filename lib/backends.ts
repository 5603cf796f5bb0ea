/**
 * The task store and work queue a node uses. Without a Redis URL both live in this process and
 * are shared by every service of the broker (embedded mode); with one, every node of the
 * cluster shares them through Redis (keys under `prefix`).
 */
import { Redis } from "ioredis";
import type { TaskStore } from "./store/task-store.ts";
import type { WorkQueue } from "./queue/work-queue.ts";
import { MemoryTaskStore } from "./store/memory-store.ts";
import { MemoryWorkQueue } from "./queue/memory-queue.ts";
import { RedisTaskStore } from "./store/redis-store.ts";
import { RedisWorkQueue } from "./queue/redis-queue.ts";
import type { DeploymentStore } from "./store/deployment-store.ts";
import { MemoryDeploymentStore } from "./store/memory-deployments.ts";
import { RedisDeploymentStore } from "./store/redis-deployments.ts";
import { connectWithRetry, redisAddress } from "./store/redis-connect.ts";

export interface Backends {
  store: TaskStore;
  queue: WorkQueue;
  /** Run-time model management's desired state (issue #15). */
  deployments: DeploymentStore;
  kind: "memory" | "redis";
  close(): Promise<void>;
}

export interface BackendOptions {
  redis?: string;
  resultTtlMs: number;
  /** Key prefix in Redis; distinct per deployment (and per test run). */
  keyPrefix?: string;
  visibilityMs?: number;
  /** Told about connection trouble the backends recover from. */
  warn?: (message: string) => void;
  /** How long the first connection to Redis is retried (ms) before the start fails; 0 or undefined: for ever. */
  redisConnectTimeoutMs?: number;
  /** Told when the first connection succeeds after failed attempts. */
  info?: (message: string) => void;
}

export async function openBackends(options: BackendOptions): Promise<Backends> {
  if (!options.redis) {
    const store = new MemoryTaskStore(options.resultTtlMs);
    const queue = new MemoryWorkQueue();
    return { store, queue, deployments: new MemoryDeploymentStore(), kind: "memory", close: async () => { await queue.close(); await store.close(); } };
  }
  const prefix = options.keyPrefix ?? "square:";
  // Redis may come up after this node (containers started together): retried with backoff, not fatal.
  const url = options.redis;
  const redis = await connectWithRetry(() => new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 2, enableOfflineQueue: false }), redisAddress(url), { timeoutMs: options.redisConnectTimeoutMs, log: options.warn, connected: options.info });
  const store = new RedisTaskStore(redis, prefix, options.resultTtlMs);
  const queue = new RedisWorkQueue(redis, prefix, { visibilityMs: options.visibilityMs ?? 10_000, blockMs: 1000 });
  queue.onError = (err) => options.warn?.(`work queue: ${err.message}; retrying`);
  redis.on("error", (err: Error) => options.warn?.(`redis: ${err.message}`));
  return {
    store,
    queue,
    deployments: new RedisDeploymentStore(redis, prefix),
    kind: "redis",
    close: async () => {
      await queue.close();
      redis.disconnect();
    },
  };
}
