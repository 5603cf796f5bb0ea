/**
 * Closed-loop load: `concurrency` workers, each sending one request and waiting for its result
 * before sending the next. The window opens once the warm-up time has passed AND every worker
 * has had a result (so at high concurrency the queue has reached its steady length). Latencies
 * are those of the requests that end inside the window (each worker's first request excluded,
 * so every measured request was sent in the steady state; at high concurrency one latency can
 * be longer than the window); throughput is completions inside the window over its length.
 * A server that starves some requests would keep the warm-up open forever, so it is capped,
 * and so is the final drain (requests still running then are abandoned, not counted).
 */
import type http from "node:http";
import { requestJson, keepAliveAgent } from "./http.ts";
import { percentile, round } from "./stats.ts";

/** Sends request number `i` and resolves when its result is in hand (throws on a failed one). */
export type SendOne = (i: number, agent: http.Agent) => Promise<void>;

export interface LoadPoint {
  concurrency: number;
  /** Time until the window opened (the warm-up). */
  warmup_s: number;
  requests: number;
  items_per_s: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
  /** Workers without a single result by the end of the warm-up cap (the target starves requests). */
  starved_workers: number;
  /** Requests still running when the drain cap ran out (the target may still be working on them). */
  abandoned: number;
  first_error?: string;
}

const WARMUP_CAP_MS = 30_000;
const DRAIN_CAP_MS = 20_000;

export interface LoadOptions {
  concurrency: number;
  warmupS: number;
  durationS: number;
  /** Runs while the load is still on, just before the window closes (e.g. scrape /metrics). */
  atWindowEnd?: () => Promise<void>;
}

export async function closedLoop(send: SendOne, itemsPerRequest: number, options: LoadOptions): Promise<LoadPoint> {
  const agent = keepAliveAgent();
  const startedAt = performance.now();
  let windowStart = Infinity;
  let windowEnd = Infinity;
  let warmedWorkers = 0;
  const latencies: number[] = [];
  let completed = 0;
  let errors = 0;
  let firstError: string | undefined;
  let next = 0;
  let stop = false;
  let running = 0;
  const worker = async () => {
    running++;
    let warmed = false;
    while (!stop) {
      const t0 = performance.now();
      try {
        await send(next++, agent);
      } catch (err) {
        if (stop) break; // aborted by the drain cap
        errors++;
        firstError ??= (err as Error).message;
        await new Promise((resolve) => setTimeout(resolve, 10)); // a failing target must not turn this into a spin
        continue;
      }
      const t1 = performance.now();
      if (t1 > windowStart && t1 <= windowEnd) {
        completed++;
        if (warmed) latencies.push(t1 - t0);
      }
      if (!warmed) {
        warmed = true;
        warmedWorkers++;
      }
    }
    running--;
  };
  const workers = Array.from({ length: options.concurrency }, worker);
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
  await sleep(options.warmupS * 1000);
  // Every worker has a result, or the cap has passed (a starved or always-failing worker never warms).
  while (warmedWorkers < options.concurrency && performance.now() - startedAt < WARMUP_CAP_MS) await sleep(20);
  const starved = options.concurrency - warmedWorkers;
  windowStart = performance.now();
  windowEnd = windowStart + options.durationS * 1000;
  await sleep(windowEnd - performance.now() - 300);
  await options.atWindowEnd?.();
  await sleep(windowEnd - performance.now());
  stop = true;
  await Promise.race([Promise.all(workers), sleep(DRAIN_CAP_MS)]);
  const abandoned = running;
  agent.destroy(); // aborts whatever is still running; those workers end with an (uncounted) error
  return {
    concurrency: options.concurrency,
    warmup_s: round((windowStart - startedAt) / 1000, 1),
    requests: latencies.length,
    items_per_s: round((completed * itemsPerRequest) / options.durationS, 1),
    p50_ms: round(percentile(latencies, 50)),
    p99_ms: round(percentile(latencies, 99)),
    errors,
    starved_workers: starved,
    abandoned,
    ...(firstError ? { first_error: firstError } : {}),
  };
}

/** This server: POST the task, then long-poll `task_result` until it leaves Processing. */
export function serverSender(base: string, modelId: string, texts: readonly string[], itemsPerRequest: number, postWaitS = 0): SendOne {
  const post = `${base}/${modelId}/sequence-classification${postWaitS > 0 ? `?wait=${postWaitS}` : ""}`;
  return async (i, agent) => {
    const input = Array.from({ length: itemsPerRequest }, (_, k) => texts[(i * itemsPerRequest + k) % texts.length]);
    const queued = await requestJson(agent, "POST", post, { input });
    if (queued.status === 200 && postWaitS > 0 && queued.body.status === "Finished") return;
    if (queued.status !== 200 && queued.status !== 202) throw new Error(`POST ${queued.status}: ${JSON.stringify(queued.body).slice(0, 200)}`);
    for (;;) {
      const r = await requestJson(agent, "GET", `${base}/task_result/${queued.body.task_id}?wait=30`);
      if (r.status === 202) continue;
      if (r.status !== 200) throw new Error(`task_result ${r.status}: ${JSON.stringify(r.body).slice(0, 200)}`);
      return;
    }
  };
}

/** The naive peer: one POST answers with the result. */
export function peerSender(base: string, model: string, texts: readonly string[], itemsPerRequest: number): SendOne {
  return async (i, agent) => {
    const input = Array.from({ length: itemsPerRequest }, (_, k) => texts[(i * itemsPerRequest + k) % texts.length]);
    const r = await requestJson(agent, "POST", `${base}/${model}/sequence-classification`, { input });
    if (r.status !== 200) throw new Error(`peer ${r.status}: ${JSON.stringify(r.body).slice(0, 200)}`);
  };
}

/** The gateway's heartbeat: the round trip of this client and the HTTP layer alone. */
export function heartbeatSender(base: string): SendOne {
  return async (_i, agent) => {
    const r = await requestJson(agent, "GET", `${base}/health/heartbeat`);
    if (r.status !== 200) throw new Error(`heartbeat ${r.status}`);
  };
}
