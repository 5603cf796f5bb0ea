/**
 * `GET /metrics` in the Prometheus text format (version 0.0.4), exposed by prom-client: this
 * process's default metrics, its event-loop delay over a rolling window, and the tasks this
 * gateway has seen per model; then, unless `?scope=gateway`, the cluster at scrape time: queue
 * depth and ready replicas per model, and every replica's own registry (per-stage histograms,
 * batching, failures; lib/metrics/replica-metrics.ts), each fetched from its node with the
 * replica's `metrics` action and merged. One scrape of any gateway sees the whole cluster.
 *
 * Event-loop delay comes from `perf_hooks.monitorEventLoopDelay` and is reported over a rolling
 * window (default the last 5 s), not "since the last scrape": several scrapers (Prometheus, the
 * benchmark, a person with curl) then read the same numbers and never disturb each other. The
 * monitor is folded into one-second slices (its percentiles on a fixed grid, then reset); the
 * window's quantiles are computed over the slices' pooled samples. Known limits, documented in
 * docs/benchmarks.md: Node's values include the sampling interval (an idle loop reads ≈ 10 ms
 * at the 10 ms resolution), and a reset drops the one interval in progress, so one sample per
 * second is not recorded.
 */
import { monitorEventLoopDelay, IntervalHistogram } from "node:perf_hooks";
import { Registry, Counter, Gauge, AggregatorRegistry, collectDefaultMetrics, type MetricObjectWithValues, type MetricValue } from "prom-client";
import { METRIC_PREFIX } from "../metrics/replica-metrics.ts";

export interface EventLoopOptions {
  /** Sampling interval of the monitor, ms (Node's default is 10). */
  resolutionMs?: number;
  /** Length of one slice, ms. */
  sliceMs?: number;
  /** Slices in the rolling window. */
  windowSlices?: number;
}

/** Percentiles read from each slice: the midpoints of 1 % bands up to 98 %, then of 0.1 % bands
 * (the tail is where the interest is). WEIGHTS[i] is the share of samples GRID[i] stands for. */
const GRID = [...Array.from({ length: 98 }, (_, i) => i + 0.5), ...Array.from({ length: 20 }, (_, i) => 98.05 + i * 0.1)];
const WEIGHTS = GRID.map((_, i) => (i < 98 ? 0.01 : 0.001));

interface Slice {
  count: number;
  max: number;
  /** Value (ns) at each GRID percentile. */
  values: number[];
}

export interface DelaySummary {
  /** Samples in the window. */
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export class EventLoopDelay {
  readonly resolutionMs: number;
  readonly windowMs: number;
  private readonly monitor: IntervalHistogram;
  private readonly slices: Slice[] = [];
  private readonly windowSlices: number;
  private readonly timer: NodeJS.Timeout;
  private samplesTotal = 0;
  private maxEver = 0;

  constructor({ resolutionMs = 10, sliceMs = 1000, windowSlices = 5 }: EventLoopOptions = {}) {
    this.resolutionMs = resolutionMs;
    this.windowSlices = windowSlices;
    this.windowMs = sliceMs * windowSlices;
    this.monitor = monitorEventLoopDelay({ resolution: resolutionMs });
    this.monitor.enable();
    this.timer = setInterval(() => this.rotate(), sliceMs);
    this.timer.unref(); // metrics must never keep a stopping process alive
  }

  /** Moves the monitor's samples into a new slice, drops the oldest beyond the window, resets the monitor. */
  rotate(): void {
    const slice = this.readMonitor();
    this.slices.push(slice);
    this.samplesTotal += slice.count;
    this.maxEver = Math.max(this.maxEver, slice.max);
    if (this.slices.length > this.windowSlices) this.slices.shift();
    this.monitor.reset();
  }

  private readMonitor(): Slice {
    const count = this.monitor.count;
    return count > 0 ? { count, max: this.monitor.max, values: GRID.map((p) => this.monitor.percentile(p)) } : { count: 0, max: 0, values: [] };
  }

  /** Quantiles (seconds) over the window's completed slices plus the slice in progress. */
  summary(): DelaySummary {
    const slices = [...this.slices, this.readMonitor()];
    const pooled: { value: number; weight: number }[] = [];
    for (const s of slices) s.values.forEach((value, i) => pooled.push({ value, weight: s.count * WEIGHTS[i] }));
    pooled.sort((a, b) => a.value - b.value);
    const total = pooled.reduce((sum, x) => sum + x.weight, 0);
    const quantile = (q: number): number => {
      if (!pooled.length) return 0;
      let seen = 0;
      for (const x of pooled) {
        seen += x.weight;
        if (seen >= q * total - 1e-9) return x.value / 1e9;
      }
      return pooled[pooled.length - 1].value / 1e9;
    };
    return { count: Math.round(total), p50: quantile(0.5), p90: quantile(0.9), p99: quantile(0.99), max: Math.max(0, ...slices.map((s) => s.max)) / 1e9 };
  }

  /** Samples recorded since start, and the largest delay ever seen (seconds). */
  totals(): { samples: number; maxSeconds: number } {
    const current = this.readMonitor();
    return { samples: this.samplesTotal + current.count, maxSeconds: Math.max(this.maxEver, current.max) / 1e9 };
  }

  stop(): void {
    clearInterval(this.timer);
    this.monitor.disable();
  }
}

/**
 * The gateway's metrics in a prom-client registry of its own (several nodes may share a process
 * in tests): prom-client's default process metrics (memory, CPU, handles, GC, its own
 * event-loop lag), the rolling-window event-loop quantiles above, and task counters.
 * `task.finished` is broadcast, so finished tasks include those queued through other gateways.
 */
export class GatewayMetrics {
  readonly eventLoop: EventLoopDelay;
  readonly registry = new Registry();
  private readonly submitted: Counter<"model">;
  private readonly finished: Counter<"model" | "state">;
  private readonly clusterRegistry = new Registry();
  private readonly queueDepth: Gauge<"model">;
  private readonly replicasReady: Gauge<"model">;
  private readonly scrapeErrors: Counter<"model">;
  private readonly storeErrors: Counter<string>;

  constructor(options: EventLoopOptions = {}) {
    this.eventLoop = new EventLoopDelay(options);
    collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    const loop = this.eventLoop;
    const windowS = String(loop.windowMs / 1000);
    new Gauge({
      name: "square_event_loop_delay_seconds",
      help: `Event-loop delay quantiles over the last ${windowS} s (monitorEventLoopDelay, resolution ${loop.resolutionMs} ms; values include the sampling interval)`,
      labelNames: ["quantile", "window_seconds"],
      registers,
      collect() {
        const d = loop.summary();
        for (const [quantile, value] of [["0.5", d.p50], ["0.9", d.p90], ["0.99", d.p99], ["1", d.max]] as const) this.set({ quantile, window_seconds: windowS }, value);
      },
    });
    new Gauge({
      name: "square_event_loop_delay_window_samples",
      help: "Event-loop delay samples in the window",
      labelNames: ["window_seconds"],
      registers,
      collect() {
        this.set({ window_seconds: windowS }, loop.summary().count);
      },
    });
    new Gauge({
      name: "square_event_loop_delay_max_seconds",
      help: "Largest event-loop delay since the process started",
      registers,
      collect() {
        this.set(loop.totals().maxSeconds);
      },
    });
    // A gauge set to a count that only grows: prom-client counters are only incremented.
    new Gauge({
      name: "square_event_loop_delay_samples_total",
      help: "Event-loop delay samples since the process started (monotonic)",
      registers,
      collect() {
        this.set(loop.totals().samples);
      },
    });
    this.submitted = new Counter({ name: "square_tasks_submitted_total", help: "Tasks queued through this gateway", labelNames: ["model"], registers });
    this.finished = new Counter({ name: "square_tasks_finished_total", help: "Task ends this gateway was notified of (task.finished), by model and state", labelNames: ["model", "state"], registers });
    // Read from the cluster at scrape time: in a registry of their own, left out of `?scope=gateway`.
    const cluster = [this.clusterRegistry];
    this.queueDepth = new Gauge({ name: `${METRIC_PREFIX}queue_depth`, help: "Tasks in the model's work queue, waiting or running (read from the queue at scrape time; absent while the store is unreachable)", labelNames: ["model"], registers: cluster });
    this.replicasReady = new Gauge({ name: `${METRIC_PREFIX}replicas_ready`, help: "Replicas of the model registered and ready in the cluster (as GET /models lists them)", labelNames: ["model"], registers: cluster });
    this.scrapeErrors = new Counter({ name: `${METRIC_PREFIX}metrics_replica_errors_total`, help: "Replicas that did not answer this gateway's metrics collection (their series are missing from that scrape)", labelNames: ["model"], registers });
    this.storeErrors = new Counter({ name: `${METRIC_PREFIX}metrics_store_errors_total`, help: "Queue-depth reads that failed during a scrape (store unreachable)", registers });
  }

  /**
   * The cluster's metrics as this gateway sees them at scrape time: per deployed model its queue
   * depth and ready replicas, and every replica's own registry (lib/metrics/replica-metrics.ts),
   * fetched over the transporter and merged. Replica series carry a `node` label, so two
   * replicas never collide; a replica that does not answer is counted and left out.
   */
  async collectCluster(cluster: ClusterSources): Promise<ReplicaSnapshot[]> {
    this.queueDepth.reset();
    this.replicasReady.reset();
    const snapshots = await Promise.all(
      cluster.models.map(async (model) => {
        this.replicasReady.set({ model: model.id }, model.nodes.length);
        const [depth, ...replicas] = await Promise.allSettled([cluster.queueDepth(model.id), ...model.nodes.map((node) => cluster.replicaSnapshot(model.id, node))]);
        if (depth.status === "fulfilled") this.queueDepth.set({ model: model.id }, depth.value);
        else this.storeErrors.inc();
        return replicas.flatMap((r) => {
          if (r.status === "fulfilled") return [r.value as ReplicaSnapshot];
          this.scrapeErrors.inc({ model: model.id });
          return [];
        });
      }),
    );
    return snapshots.flat();
  }

  noteSubmitted(model: string): void {
    this.submitted.inc({ model });
  }

  noteFinished(model: string | undefined, state: string | undefined): void {
    if (model) this.finished.inc({ model, state: state ?? "unknown" });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /**
   * The Prometheus text exposition of this gateway's metrics; with `replicas` (what collectCluster
   * returned), also the cluster's gauges and the replicas' snapshots merged.
   */
  async render(replicas?: ReplicaSnapshot[]): Promise<string> {
    const own = await this.registry.metrics();
    if (!replicas) return own;
    const parts = [own, await this.clusterRegistry.metrics()];
    if (replicas.length) parts.push(await AggregatorRegistry.aggregate(replicas).metrics());
    return parts.filter((x) => x.trim()).join("\n");
  }

  stop(): void {
    this.eventLoop.stop();
    this.registry.clear();
    this.clusterRegistry.clear();
  }
}

/** One replica's registry in prom-client's JSON form (ReplicaMetrics.snapshot). */
export type ReplicaSnapshot = MetricObjectWithValues<MetricValue<string>>[];

/** What the gateway reads at scrape time: the deployed models and their replicas' nodes, the queue, the replicas' snapshots. */
export interface ClusterSources {
  models: { id: string; nodes: string[] }[];
  queueDepth(model: string): Promise<number>;
  replicaSnapshot(model: string, node: string): Promise<ReplicaSnapshot>;
}

/** Parses the text format back into samples (for the benchmark and tests): name → labels → value. */
export function parsePrometheusText(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  const samples: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2].replace(/\\n/g, "\n").replace(/\\(["\\])/g, "$1");
    // Prometheus reads values with Go's ParseFloat: NaN and Inf in any letter case (prom-client writes "Nan").
    const special = m[3].toLowerCase();
    const value = special === "nan" ? NaN : special === "+inf" || special === "inf" ? Infinity : special === "-inf" ? -Infinity : Number(m[3]);
    if (Number.isNaN(value) && special !== "nan") throw new Error(`bad value in: ${line}`);
    samples.push({ name: m[1], labels, value });
  }
  return samples;
}
