/**
 * `GET /metrics` in the Prometheus text format (version 0.0.4): this process's event-loop delay,
 * memory, and the tasks this gateway has seen per model.
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

/** Tasks this gateway queued, and task ends it was told about (`task.finished` is broadcast, so
 * ends include tasks queued through other gateways). */
export class TaskCounters {
  readonly submitted = new Map<string, number>();
  /** Key: model, then state. */
  readonly finished = new Map<string, Map<string, number>>();

  noteSubmitted(model: string): void {
    this.submitted.set(model, (this.submitted.get(model) ?? 0) + 1);
  }

  noteFinished(model: string | undefined, state: string | undefined): void {
    if (!model) return;
    const byState = this.finished.get(model) ?? new Map<string, number>();
    this.finished.set(model, byState);
    const key = state ?? "unknown";
    byState.set(key, (byState.get(key) ?? 0) + 1);
  }
}

/** The gateway's metrics: one instance per api service. */
export class GatewayMetrics {
  readonly eventLoop: EventLoopDelay;
  readonly tasks = new TaskCounters();

  constructor(options: EventLoopOptions = {}) {
    this.eventLoop = new EventLoopDelay(options);
  }

  /** The Prometheus text exposition of every metric. */
  render(): string {
    const out: string[] = [];
    const family = (name: string, type: "gauge" | "counter", help: string, samples: [Record<string, string>, number][]) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, value] of samples) out.push(`${name}${formatLabels(labels)} ${formatValue(value)}`);
    };
    const delay = this.eventLoop.summary();
    const totals = this.eventLoop.totals();
    const windowS = String(this.eventLoop.windowMs / 1000);
    family("square_event_loop_delay_seconds", "gauge", `Event-loop delay quantiles over the last ${windowS} s (monitorEventLoopDelay, resolution ${this.eventLoop.resolutionMs} ms; values include the sampling interval)`, [
      [{ quantile: "0.5", window_seconds: windowS }, delay.p50],
      [{ quantile: "0.9", window_seconds: windowS }, delay.p90],
      [{ quantile: "0.99", window_seconds: windowS }, delay.p99],
      [{ quantile: "1", window_seconds: windowS }, delay.max],
    ]);
    family("square_event_loop_delay_window_samples", "gauge", "Event-loop delay samples in the window", [[{ window_seconds: windowS }, delay.count]]);
    family("square_event_loop_delay_max_seconds", "gauge", "Largest event-loop delay since the process started", [[{}, totals.maxSeconds]]);
    family("square_event_loop_delay_samples_total", "counter", "Event-loop delay samples since the process started", [[{}, totals.samples]]);
    const mem = process.memoryUsage();
    family("process_resident_memory_bytes", "gauge", "Resident set size", [[{}, mem.rss]]);
    family("nodejs_heap_size_used_bytes", "gauge", "V8 heap in use", [[{}, mem.heapUsed]]);
    family("nodejs_heap_size_total_bytes", "gauge", "V8 heap allocated", [[{}, mem.heapTotal]]);
    family("nodejs_external_memory_bytes", "gauge", "Memory of C++ objects bound to JavaScript objects (includes tensors' buffers)", [[{}, mem.external]]);
    family("square_tasks_submitted_total", "counter", "Tasks queued through this gateway", [...this.tasks.submitted].map(([model, n]) => [{ model }, n]));
    family(
      "square_tasks_finished_total",
      "counter",
      "Task ends this gateway was notified of (task.finished), by model and state",
      [...this.tasks.finished].flatMap(([model, byState]) => [...byState].map(([state, n]): [Record<string, string>, number] => [{ model, state }, n])),
    );
    return out.join("\n") + "\n";
  }

  stop(): void {
    this.eventLoop.stop();
  }
}

const escapeLabel = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");

function formatLabels(labels: Record<string, string>): string {
  const entries = Object.entries(labels);
  return entries.length ? `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}` : "";
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "+Inf" : "-Inf";
  return String(v);
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
    const value = m[3] === "+Inf" ? Infinity : m[3] === "-Inf" ? -Infinity : Number(m[3]);
    if (Number.isNaN(value) && m[3] !== "NaN") throw new Error(`bad value in: ${line}`);
    samples.push({ name: m[1], labels, value });
  }
  return samples;
}
