/**
 * A model replica's Prometheus metrics, observed where the work happens: per task, the stage
 * timings the task's own `timings` report (lib/orchestration/execute.ts StageTimings, plus the
 * queue wait and total lib/orchestration/deliveries.ts adds); failures and retries by type; and,
 * read at scrape time, the batcher's counters and gauges. One registry per replica (model
 * service), labelled with the model and the Moleculer node id, so that the gateway can merge the
 * snapshots of every replica in the cluster without two replicas' series ever colliding
 * (lib/gateway/metrics.ts). Every name starts with METRIC_PREFIX.
 */
import { Registry, Histogram, Counter, Gauge, type MetricObjectWithValues, type MetricValue } from "prom-client";
import type { TaskRequest } from "../request/request.ts";

/** The one prefix of the server's own metric names (prom-client's process_* and nodejs_* keep theirs). */
export const METRIC_PREFIX = "square_";

/** Stages of a task, in the order they happen; each is a `timings` field (`<stage>_ms`, queue wait is `queue_ms`). */
export const STAGES = ["queue_wait", "tokenize", "batch_wait", "inference", "postprocess", "explain", "total"] as const;
export type Stage = (typeof STAGES)[number];

/** Which `timings` field each stage reads. batch_wait is part of inference (the task waited for its batch to start). */
export const STAGE_FIELD: Readonly<Record<Stage, string>> = Object.freeze({
  queue_wait: "queue_ms",
  tokenize: "tokenize_ms",
  batch_wait: "batch_wait_ms",
  inference: "inference_ms",
  postprocess: "postprocess_ms",
  explain: "explain_ms",
  total: "total_ms",
});

/**
 * Bucket bounds (seconds): 0.25 ms to 5 min, about ×2–2.5 apart. Tokenization and batch waits
 * live at the bottom, inference in the middle, queue waits and explanations (integrated
 * gradients, attacks) at the top.
 */
export const STAGE_BUCKETS_S = [0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/** How a task reached the replica: from the model's work queue (REST, `submit`), or a direct Moleculer call (streams included). */
export type TaskPath = "queued" | "direct";

/** What the replica reads at scrape time (the model's batcher, its task counts). */
export interface ReplicaSources {
  batcher: { stats: { batches: number; items: number; tokens: number; paddedTokens: number }; waitingItems: number; runningBatches: number };
  /** Tasks running on this replica now. */
  running(): number;
}

export interface ReplicaLabels {
  model: string;
  node: string;
  device: string;
}

const p = (name: string) => `${METRIC_PREFIX}${name}`;

export class ReplicaMetrics {
  readonly registry = new Registry();
  private readonly stages: Histogram<"stage" | "path">;
  private readonly failures: Counter<"type" | "path">;
  private readonly retries: Counter<string>;

  constructor(labels: ReplicaLabels, sources: ReplicaSources) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ model: labels.model, node: labels.node });
    this.stages = new Histogram({
      name: p("task_stage_seconds"),
      help: "Time a task spent in each stage, as its own `timings` report it (queue_wait: enqueued to picked up; batch_wait is part of inference; explain: request add-ons, observed only for tasks that ask for one; total: enqueued to result)",
      labelNames: ["stage", "path"],
      buckets: STAGE_BUCKETS_S,
      registers,
    });
    this.failures = new Counter({ name: p("task_failures_total"), help: "Tasks that ended Failed on this replica, by error type (invalid_request: a client mistake found by the model; internal: gave up after retries; worker_crashed: poison task)", labelNames: ["type", "path"], registers });
    this.retries = new Counter({ name: p("task_retries_total"), help: "Queue deliveries that failed with a server error and were left for another attempt", registers });
    new Gauge({ name: p("replica_info"), help: "One per ready replica: its model, node and device", labelNames: ["device"], registers }).set({ device: labels.device }, 1);
    new Gauge({ name: p("replica_running_tasks"), help: "Tasks running on this replica now", registers, collect() { this.set(sources.running()); } });
    new Gauge({ name: p("batcher_waiting_items"), help: "Items waiting in this replica's batcher for a batch", registers, collect() { this.set(sources.batcher.waitingItems); } });
    new Gauge({ name: p("batcher_running_batches"), help: "Batches running on this replica now", registers, collect() { this.set(sources.batcher.runningBatches); } });
    const stats = () => sources.batcher.stats;
    monotonic(registers, "batches_total", "Batches run by this replica's batcher since it started (warm-up included)", () => stats().batches);
    monotonic(registers, "batch_items_total", "Items in those batches; batch_items_total / batches_total is the mean batch size", () => stats().items);
    monotonic(registers, "batch_tokens_total", "Real tokens in those batches", () => stats().tokens);
    monotonic(registers, "batch_padded_tokens_total", "Tokens after padding each batch to its longest item; batch_tokens_total / batch_padded_tokens_total is the padding efficiency", () => stats().paddedTokens);
    new Gauge({
      name: p("batch_padding_efficiency"),
      help: "Real tokens / padded tokens over every batch since the replica started (1 = no padding), as GET /{model}/stats reports it",
      registers,
      collect() {
        const s = stats();
        this.set(s.paddedTokens ? s.tokens / s.paddedTokens : 1);
      },
    });
  }

  /** A task's timings (milliseconds, the fields of STAGE_FIELD): one observation per stage present. */
  observeTask(path: TaskPath, timings: Readonly<Record<string, unknown>>, request?: TaskRequest): void {
    // The add-on stage is observed for requests with passes of their own (explanations, attacks), not for adapter choices.
    const addOns = request ? Object.keys(request.explain_kwargs ?? {}).length > 0 || Object.keys(request.attack_kwargs ?? {}).length > 0 : true;
    for (const stage of STAGES) {
      if (stage === "explain" && !addOns) continue;
      const ms = timings[STAGE_FIELD[stage]];
      if (typeof ms === "number" && Number.isFinite(ms)) this.stages.observe({ stage, path }, Math.max(0, ms) / 1000);
    }
  }

  noteFailure(path: TaskPath, type: string): void {
    this.failures.inc({ type, path });
  }

  noteRetry(): void {
    this.retries.inc();
  }

  /** Every metric with its labels, for the gateway to merge (prom-client's JSON form; travels over the transporter). */
  snapshot(): Promise<MetricObjectWithValues<MetricValue<string>>[]> {
    return this.registry.getMetricsAsJSON();
  }

  clear(): void {
    this.registry.clear();
  }
}

/**
 * A counter read from a count that only grows (the batcher's stats): incremented by the
 * difference at each scrape, so it stays a Prometheus counter. Should the count ever go down (a
 * new batcher), its new value is added, so the counter still never decreases.
 */
function monotonic(registers: Registry[], name: string, help: string, read: () => number): void {
  let seen = 0;
  new Counter({
    name: p(name),
    help,
    registers,
    collect() {
      const now = read();
      if (now < seen) seen = 0;
      if (now > seen) this.inc(now - seen);
      seen = now;
    },
  });
}
