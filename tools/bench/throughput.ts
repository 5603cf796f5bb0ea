/**
 * Issue #5's comparison, per model and input length, on the same inputs:
 *   (a) the ceiling: ONNX Runtime alone on pre-tokenized batches, best batch size;
 *   (b) this server over HTTP (embedded mode), closed loop at each concurrency;
 *   (c) the naive transformers.js peer, same loads.
 * Also the gateway's event-loop delay under load (from its /metrics) and each process's peak RSS.
 */
import { BENCH_MODELS, benchModelDir, BENCH_DIR, BenchModelKey } from "./fixtures.ts";
import { benchInputs, BenchInputs } from "./inputs.ts";
import { measureCeiling, CeilingResult } from "./ceiling.ts";
import { closedLoop, serverSender, peerSender, heartbeatSender, LoadPoint, SendOne } from "./load.ts";
import { startServer, startPeer, Running } from "./processes.ts";
import { requestJson, keepAliveAgent } from "./http.ts";
import { cpuSnapshot, otherLoadCores, processCores } from "./machine.ts";
import { parsePrometheusText } from "../../lib/gateway/metrics.ts";
import { round } from "./stats.ts";
import type { BenchSuite, SuiteContext, SuiteResult } from "./suite.ts";
import type { Section, TargetCheck } from "./report.ts";

export interface ServerPoint extends LoadPoint, CpuUse {
  /** Gateway event-loop delay over the last 5 s of the window (from /metrics), ms. */
  event_loop_p99_ms: number;
  event_loop_max_ms: number;
  /** Items per forward pass during the point (from /stats), when the server reports it. */
  mean_batch_items?: number;
}

export type PeerPoint = LoadPoint & CpuUse;

export interface LengthResult {
  tokens: number;
  mean_tokens: number;
  ceiling: CeilingResult;
  server: ServerPoint[];
  peer: PeerPoint[];
}

export interface ModelResult {
  model: string;
  /** One `GET /health/heartbeat` round trip at c = 1 (p50, ms): the HTTP floor of this client and gateway. */
  http_floor_p50_ms: number;
  lengths: LengthResult[];
  server_peak_rss_mib: number;
  peer_peak_rss_mib?: number;
}

const gatewayBase = (s: Running) => `http://127.0.0.1:${s.port}/api/main`;

async function eventLoopDelay(server: Running): Promise<{ p99: number; max: number }> {
  const agent = keepAliveAgent();
  try {
    const r = await requestJson(agent, "GET", `${gatewayBase(server)}/metrics`);
    const samples = parsePrometheusText(String(r.body));
    const q = (quantile: string) => samples.find((s) => s.name === "square_event_loop_delay_seconds" && s.labels.quantile === quantile)?.value ?? NaN;
    return { p99: round(q("0.99") * 1000), max: round(q("1") * 1000) };
  } finally {
    agent.destroy();
  }
}

/** Forward passes and items so far on the model's replicas (0s if the server does not say). */
async function batchCounters(server: Running, modelId: string): Promise<{ batches: number; items: number }> {
  const agent = keepAliveAgent();
  try {
    const r = await requestJson(agent, "GET", `${gatewayBase(server)}/${modelId}/stats`);
    let batches = 0;
    let items = 0;
    for (const rep of (r.body?.replicas ?? []) as { batching?: { batches?: number; mean_batch_items?: number } }[]) {
      batches += rep.batching?.batches ?? 0;
      items += (rep.batching?.batches ?? 0) * (rep.batching?.mean_batch_items ?? 0);
    }
    return { batches, items };
  } finally {
    agent.destroy();
  }
}

export interface CpuUse {
  /** Cores used by the benchmark's own client process and by the process under test. */
  client_cores: number;
  target_cores: number;
  /** Cores kept busy by everything else on the machine (other agents' work). */
  other_load_cores: number;
}

/** Waits (up to a minute) until the target has nothing left from the previous point, so
 * requests abandoned at a drain cap do not run into the next point. */
async function waitIdle(what: string, busy: () => Promise<number>, ctx: SuiteContext): Promise<void> {
  const started = Date.now();
  let left = await busy();
  if (left > 0) ctx.log(`  waiting for ${what} to finish ${left} abandoned request(s)`);
  while (left > 0 && Date.now() - started < 60_000) {
    await new Promise((r) => setTimeout(r, 200));
    left = await busy();
  }
}

/** Tasks queued on the server and not yet finished, from its /metrics counters. */
async function serverBacklog(server: Running, modelId: string): Promise<number> {
  const agent = keepAliveAgent();
  try {
    const samples = parsePrometheusText(String((await requestJson(agent, "GET", `${gatewayBase(server)}/metrics`)).body));
    const sum = (name: string) => samples.filter((s) => s.name === name && s.labels.model === modelId).reduce((a, s) => a + s.value, 0);
    return sum("square_tasks_submitted_total") - sum("square_tasks_finished_total");
  } finally {
    agent.destroy();
  }
}

async function peerBacklog(peer: Running): Promise<number> {
  const agent = keepAliveAgent();
  try {
    return (await requestJson(agent, "GET", `http://127.0.0.1:${peer.port}/inflight`)).body.inflight as number;
  } finally {
    agent.destroy();
  }
}

/** One load point with the CPU use of client, target and everything else measured around it. */
async function withCpuUse<T>(ctx: SuiteContext, targetPid: number, run: () => Promise<T>): Promise<T & CpuUse> {
  const pids = [process.pid, targetPid];
  const before = cpuSnapshot(pids);
  const result = await run();
  const after = cpuSnapshot(pids);
  const [client, target] = processCores(before, after, ctx.machine.cpus);
  return { ...result, client_cores: client, target_cores: target, other_load_cores: otherLoadCores(before, after, ctx.machine.cpus) };
}

async function serverPoints(ctx: SuiteContext, server: Running, modelId: string, inputs: BenchInputs): Promise<ServerPoint[]> {
  const { options } = ctx;
  const points: ServerPoint[] = [];
  const send: SendOne = serverSender(gatewayBase(server), modelId, inputs.texts, options.itemsPerRequest, options.postWaitS);
  for (const concurrency of options.concurrency) {
    let loop = { p99: NaN, max: NaN };
    const countersBefore = await batchCounters(server, modelId);
    const point = await withCpuUse(ctx, server.child.pid!, () =>
      closedLoop(send, options.itemsPerRequest, { concurrency, warmupS: options.warmupS, durationS: options.durationS, atWindowEnd: async () => void (loop = await eventLoopDelay(server)) }),
    );
    const countersAfter = await batchCounters(server, modelId);
    if (point.abandoned) await waitIdle("the server", () => serverBacklog(server, modelId), ctx);
    const batches = countersAfter.batches - countersBefore.batches;
    points.push({ ...point, event_loop_p99_ms: loop.p99, event_loop_max_ms: loop.max, ...(batches > 0 ? { mean_batch_items: round((countersAfter.items - countersBefore.items) / batches, 1) } : {}) });
    ctx.log(`  server c=${concurrency}: ${point.items_per_s} items/s, p50 ${point.p50_ms} ms, p99 ${point.p99_ms} ms, loop p99 ${loop.p99} ms${point.errors ? `, ${point.errors} errors (${point.first_error})` : ""}`);
  }
  return points;
}

async function peerPoints(ctx: SuiteContext, peer: Running, model: string, inputs: BenchInputs): Promise<PeerPoint[]> {
  const { options } = ctx;
  const points: PeerPoint[] = [];
  const send = peerSender(`http://127.0.0.1:${peer.port}`, model, inputs.texts, options.itemsPerRequest);
  for (const concurrency of options.concurrency) {
    const point = await withCpuUse(ctx, peer.child.pid!, () => closedLoop(send, options.itemsPerRequest, { concurrency, warmupS: options.warmupS, durationS: options.durationS }));
    points.push(point);
    if (point.abandoned) await waitIdle("the peer", () => peerBacklog(peer), ctx);
    ctx.log(`  peer c=${concurrency}: ${point.items_per_s} items/s, p50 ${point.p50_ms} ms, p99 ${point.p99_ms} ms${point.errors ? `, ${point.errors} errors (${point.first_error})` : ""}`);
  }
  return points;
}

async function benchModel(ctx: SuiteContext, key: BenchModelKey): Promise<ModelResult> {
  const { options } = ctx;
  const name = BENCH_MODELS[key].name;
  const dir = await benchModelDir(key, ctx.log);
  const lengths: LengthResult[] = [];
  for (const tokens of options.lengths) {
    const inputs = await benchInputs(dir, tokens);
    ctx.log(`${name}, ${tokens} tokens (mean ${inputs.meanTokens.toFixed(1)}): ceiling sweep`);
    const ceiling = await measureCeiling(dir, inputs.encoded, { batchSizes: options.ceilingBatches, secondsPerPoint: options.ceilingSeconds, intraOpThreads: options.ceilingThreads }, ctx.log);
    ctx.log(`  ceiling best: batch ${ceiling.best.batch_size}, ${ceiling.best.items_per_s} items/s; batch 1 p50 ${ceiling.batch1_p50_ms} ms`);
    lengths.push({ tokens, mean_tokens: round(inputs.meanTokens, 1), ceiling, server: [], peer: [] });
  }
  const server = await startServer([{ id: name, path: dir, settings: options.serverSettings }]);
  let serverRss: number;
  let httpFloor: number;
  try {
    httpFloor = (await closedLoop(heartbeatSender(gatewayBase(server)), 1, { concurrency: 1, warmupS: 0.2, durationS: 1 })).p50_ms;
    ctx.log(`${name}: HTTP floor (heartbeat round trip) p50 ${httpFloor} ms`);
    for (const l of lengths) {
      ctx.log(`${name}, ${l.tokens} tokens: server`);
      l.server = await serverPoints(ctx, server, name, await benchInputs(dir, l.tokens));
    }
    serverRss = await server.peakRssMiB();
  } finally {
    await server.stop();
  }
  let peerRss: number | undefined;
  if (options.peer) {
    const peer = await startPeer(BENCH_DIR, [name], options.peerThreads);
    try {
      for (const l of lengths) {
        ctx.log(`${name}, ${l.tokens} tokens: transformers.js peer`);
        l.peer = await peerPoints(ctx, peer, name, await benchInputs(dir, l.tokens));
      }
      peerRss = await peer.peakRssMiB();
    } finally {
      await peer.stop();
    }
  }
  return { model: name, http_floor_p50_ms: httpFloor, lengths, server_peak_rss_mib: serverRss, ...(peerRss !== undefined ? { peer_peak_rss_mib: peerRss } : {}) };
}

function sections(results: ModelResult[], options: SuiteContext["options"]): Section[] {
  const ceilingRows = results.flatMap((m) =>
    m.lengths.flatMap((l) => l.ceiling.points.map((p) => [m.model, l.mean_tokens, p.batch_size === l.ceiling.best.batch_size ? `${p.batch_size} (best)` : String(p.batch_size), p.items_per_s, p.run_p50_ms])),
  );
  const serverRows = results.flatMap((m) =>
    m.lengths.flatMap((l) =>
      l.server.map((p) => {
        const peer = l.peer.find((q) => q.concurrency === p.concurrency);
        return [m.model, l.mean_tokens, p.concurrency, p.items_per_s, round(p.items_per_s / l.ceiling.best.items_per_s), peer ? round(p.items_per_s / peer.items_per_s, 1) : "–", p.p50_ms, p.p99_ms, p.mean_batch_items ?? "–", p.event_loop_p99_ms, p.errors, p.starved_workers, p.target_cores, p.client_cores, p.other_load_cores];
      }),
    ),
  );
  const peerRows = results.flatMap((m) => m.lengths.flatMap((l) => l.peer.map((p) => [m.model, l.mean_tokens, p.concurrency, p.items_per_s, p.p50_ms, p.p99_ms, p.errors, p.starved_workers, p.target_cores, p.client_cores, p.other_load_cores])));
  const rssRows = results.flatMap((m) => [["server (embedded)", m.model, m.server_peak_rss_mib], ...(m.peer_peak_rss_mib !== undefined ? [["transformers.js peer", m.model, m.peer_peak_rss_mib]] : [])]);
  return [
    {
      id: "ceiling",
      title: "(a) Ceiling: ONNX Runtime session.run on pre-tokenized batches",
      columns: ["model", "tokens", "batch", "items/s", "run p50 ms"],
      rows: ceilingRows,
      notes: [`intra-op threads ${options.ceilingThreads}; one session on the main thread; batches padded to their longest item`],
    },
    {
      id: "server",
      title: "(b) This server over HTTP, embedded mode, closed loop",
      columns: ["model", "tokens", "conc", "items/s", "× ceiling", "× peer", "p50 ms", "p99 ms", "items/batch", "loop p99 ms", "errors", "starved", "server cpu", "client cpu", "other cpu"],
      rows: serverRows,
      notes: [
        `HTTP floor (one GET /health/heartbeat round trip at c = 1, p50): ${results.map((m) => `${m.model} ${m.http_floor_p50_ms} ms`).join(", ")}; a c = 1 request makes at least two round trips (POST, GET)`,
        `latency: POST to result (${options.postWaitS > 0 ? `POST ?wait=${options.postWaitS}: the result in the POST's answer` : "long-poll task_result?wait=30"}) of the requests ending in the window; ${options.itemsPerRequest} item(s) per request`,
        "starved: clients still without a first result when the 30 s warm-up cap ran out",
        "loop p99: the gateway's event-loop delay p99 over the last 5 s of the point, from /metrics (includes the 10 ms sampling interval)",
        "server / client / other cpu: cores used by the server process, by the benchmark's client process, and by everything else on the machine (other agents) during the point",
      ],
    },
    { id: "peer", title: "(c) Naive peer: transformers.js pipeline per request", columns: ["model", "tokens", "conc", "items/s", "p50 ms", "p99 ms", "errors", "starved", "peer cpu", "client cpu", "other cpu"], rows: peerRows },
    { id: "rss", title: "Peak RSS (VmHWM) per process, MiB", columns: ["process", "model", "MiB"], rows: [...rssRows, ["benchmark client + ceiling", "all", Math.round(process.resourceUsage().maxRSS / 1024)]] },
  ];
}

function targets(results: ModelResult[]): TargetCheck[] {
  const checks: TargetCheck[] = [];
  for (const m of results) {
    for (const l of m.lengths) {
      const at = (points: LoadPoint[], c: number) => points.find((p) => p.concurrency === c);
      const s64 = at(l.server, 64);
      const s1 = at(l.server, 1);
      const p64 = at(l.peer, 64);
      const where = `${m.model}, ${l.mean_tokens} tokens`;
      if (s64 && m.model === BENCH_MODELS.minilm.name) {
        const ratio = round(s64.items_per_s / l.ceiling.best.items_per_s);
        checks.push({ name: `(b) c=64 / (a) best, ${where}`, value: ratio, target: "≥ 0.85", met: ratio >= 0.85 });
      }
      if (s64 && p64) {
        const ratio = round(s64.items_per_s / p64.items_per_s);
        checks.push({ name: `(b) c=64 / (c) c=64, ${where}`, value: ratio, target: "≥ 3", met: ratio >= 3 });
      }
      if (s1) {
        const added = round(s1.p50_ms - l.ceiling.batch1_p50_ms);
        checks.push({ name: `(b) c=1 p50 − (a) batch-1 p50, ${where} (ms)`, value: added, target: "≤ 3 ms", met: added <= 3 });
      }
    }
  }
  const loaded = results.flatMap((m) => m.lengths.flatMap((l) => l.server.filter((p) => p.concurrency > 1)));
  if (loaded.length) {
    const worst = Math.max(...loaded.map((p) => p.event_loop_p99_ms));
    checks.push({ name: "gateway event-loop p99 under load, worst point with conc > 1 (ms)", value: worst, target: "< 50 ms", met: worst < 50 });
  }
  return checks;
}

export const throughputSuite: BenchSuite = {
  name: "throughput",
  async run(ctx: SuiteContext): Promise<SuiteResult> {
    const results: ModelResult[] = [];
    for (const key of ctx.options.models) results.push(await benchModel(ctx, key));
    return { sections: sections(results, ctx.options), targets: targets(results), data: results };
  },
};
