/**
 * `npm run bench:largest`: the largest requests the default limits allow (lib/config/limits.ts),
 * sent to the embedded server again and again while a light client polls the heartbeat. Prints,
 * per shape, the gateway's event-loop delay (the worst 5-s window p99 read from GET /metrics, and
 * the largest single delay), the heartbeat's latency, the server's RSS growth, and how long the
 * requests took. Target (issue #10): event-loop p99 < 50 ms under the largest allowed request.
 *
 * Flags: --duration S (per shape, default 8), --shapes a,b (default all), --server-flags "..."
 * (extra `serve` flags, e.g. other limits), --out DIR (JSON and Markdown; default bench/results).
 */
import { access } from "node:fs/promises";
import http from "node:http";
import { join, resolve } from "node:path";
import { DEMO_FIXTURES, writeFixture } from "../../lib/fixtures/index.ts";
import { DEFAULT_LIMITS } from "../../lib/config/limits.ts";
import { parsePrometheusText } from "../../lib/gateway/metrics.ts";
import { describeMachine } from "./machine.ts";
import { keepAliveAgent, requestJson } from "./http.ts";
import { startServer, Running } from "./processes.ts";
import { percentile, round } from "./stats.ts";
import { sectionText, writeReport, Section } from "./report.ts";

const L = DEFAULT_LIMITS;
const TARGET_P99_MS = 50;
const METRICS_WINDOW_MS = 5000;
const STALL_MS = 1000;

/** Deterministic letters (no BPE merge helps a random string: the tokenizer's worst case per character). */
function letters(n: number, seed: number): string {
  let x = seed >>> 0;
  let out = "";
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    out += String.fromCharCode(97 + (x % 26));
  }
  return out;
}

const WORDS = "the children played in a garden while their parents talked about weather and football results today".split(" ");
/** Ordinary prose of exactly n characters. */
const prose = (n: number, offset = 0): string => {
  let out = "";
  for (let i = offset; out.length < n; i++) out += WORDS[i % WORDS.length] + " ";
  return out.slice(0, n);
};

interface Shape {
  name: string;
  model: string;
  route: string;
  note: string;
  body: () => Record<string, unknown>;
}

const perItem = Math.floor(L.maxRequestChars / L.maxRequestItems);
const qaItems = Math.floor(L.maxRequestChars / L.maxItemChars);
const QUESTION = "what did the children play?";
/** The fixture models' maximum length; preprocessed rows are padded beyond it to reach the position bound. */
const TINY_LENGTH = 128;
const preRow = Math.floor(L.maxRequestTokens / L.maxRequestItems);

const SHAPES: readonly Shape[] = [
  { name: "word-roberta", model: "roberta-sst", route: "sequence-classification", note: `one ${L.maxItemChars}-character single word (byte-level BPE)`, body: () => ({ input: [letters(L.maxItemChars, 1)] }) },
  { name: "word-cjk-roberta", model: "roberta-sst", route: "sequence-classification", note: `one ${L.maxItemChars}-character CJK run (one pre-token, 3 bytes per character)`, body: () => ({ input: ["\u4e2d\u6587".repeat(L.maxItemChars / 2)] }) },
  { name: "word-bert", model: "bert-sst", route: "sequence-classification", note: `one ${L.maxItemChars}-character single word (WordPiece)`, body: () => ({ input: [letters(L.maxItemChars, 2)] }) },
  { name: "items-roberta", model: "roberta-sst", route: "sequence-classification", note: `${L.maxRequestItems} items × ${perItem} characters of prose`, body: () => ({ input: Array.from({ length: L.maxRequestItems }, (_, i) => prose(perItem, i)) }) },
  { name: "items-bert", model: "bert-sst", route: "sequence-classification", note: `${L.maxRequestItems} items × ${perItem} characters of prose`, body: () => ({ input: Array.from({ length: L.maxRequestItems }, (_, i) => prose(perItem, i)) }) },
  { name: "items-ner", model: "bert-ner", route: "token-classification", note: `${L.maxRequestItems} items × ${perItem} characters, token classification (the largest results)`, body: () => ({ input: Array.from({ length: L.maxRequestItems }, (_, i) => prose(perItem, i)), task_kwargs: { aggregation: "simple" } }) },
  { name: "qa-context", model: "bert-qa", route: "question-answering", note: `one QA item, ${L.maxItemChars - QUESTION.length}-character context`, body: () => ({ input: [[QUESTION, prose(L.maxItemChars - QUESTION.length)]] }) },
  { name: "qa-request", model: "roberta-qa", route: "question-answering", note: `${qaItems} QA items of maximal context (${L.maxRequestChars} characters)`, body: () => ({ input: Array.from({ length: qaItems }, (_, i) => [QUESTION, prose(L.maxItemChars - QUESTION.length, i)]) }) },
  {
    name: "preprocessed",
    model: "bert-sst",
    route: "sequence-classification",
    note: `${L.maxRequestItems} preprocessed rows × ${preRow} positions${preRow > TINY_LENGTH ? ` (${TINY_LENGTH} tokens, the tiny model's length, then padding)` : ""}: ${L.maxRequestTokens} in all`,
    body: () => {
      const real = Math.min(preRow, TINY_LENGTH);
      const row = (r: number) => Array.from({ length: preRow }, (_, t) => (t === 0 ? 2 : t === real - 1 ? 3 : t < real ? 5 + ((r * 31 + t * 7) % 90) : 0));
      const mask = Array.from({ length: preRow }, (_, t) => (t < real ? 1 : 0));
      return { is_preprocessed: true, input: { input_ids: Array.from({ length: L.maxRequestItems }, (_, r) => row(r)), attention_mask: Array.from({ length: L.maxRequestItems }, () => mask), token_type_ids: Array.from({ length: L.maxRequestItems }, () => new Array(preRow).fill(0)) } };
    },
  },
];

const MODELS = { "roberta-sst": "roberta-tiny-sst", "bert-sst": "bert-tiny-sst", "bert-ner": "bert-tiny-ner", "bert-qa": "bert-tiny-qa", "roberta-qa": "roberta-tiny-qa" } as const;

async function fixtureDir(log: (m: string) => void): Promise<string> {
  const dir = resolve(process.env.SQUARE_FIXTURE_DIR ?? ".cache/fixtures");
  for (const name of Object.values(MODELS)) {
    if (await access(join(dir, name, "model.onnx")).then(() => true, () => false)) continue;
    log(`building ${name}`);
    await writeFixture(dir, DEMO_FIXTURES.find((s) => s.name === name)!);
  }
  return dir;
}

const vmRss = async (pid: number): Promise<number> => {
  const { readFile } = await import("node:fs/promises");
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(await readFile(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN) / 1024;
};

/** Runs `tick` every `ms` until `stop()` (sequentially: a slow tick delays the next, never piles up). */
function every(ms: number, tick: () => Promise<void>): { stop: () => Promise<void> } {
  let running = true;
  const loop = (async () => {
    while (running) {
      const t0 = performance.now();
      await tick().catch(() => undefined);
      await new Promise((r) => setTimeout(r, Math.max(0, ms - (performance.now() - t0))));
    }
  })();
  return { stop: async () => ((running = false), await loop) };
}

async function measure(server: Running, shape: Shape, durationS: number) {
  const base = `http://127.0.0.1:${server.port}/api/main`;
  const agent = keepAliveAgent();
  const payload = shape.body();
  const bytes = Buffer.byteLength(JSON.stringify(payload));
  const rssBefore = await vmRss(server.child.pid!);
  let rssPeak = rssBefore;
  const heartbeats: number[] = [];
  const windows: { p99: number; max: number }[] = [];
  const rss = every(100, async () => void (rssPeak = Math.max(rssPeak, await vmRss(server.child.pid!))));
  let heartbeatErrors = 0;
  const heart = every(20, async () => {
    const t0 = performance.now();
    // A heartbeat that fails (e.g. a socket reset after a stall) waited too: its time counts.
    await requestJson(agent, "GET", `${base}/health/heartbeat`).catch(() => heartbeatErrors++);
    heartbeats.push(performance.now() - t0);
  });
  // Scrapes on fresh connections: a kept-alive socket can be reset by the server right after a stall.
  const scrapeAgent = new http.Agent({ keepAlive: false });
  const readMetrics = async () => {
    const samples = parsePrometheusText((await requestJson(scrapeAgent, "GET", `${base}/metrics`)).body as string);
    const q = (quantile: string) => samples.find((x) => x.name === "square_event_loop_delay_seconds" && x.labels.quantile === quantile)?.value ?? NaN;
    const maxEver = samples.find((x) => x.name === "square_event_loop_delay_max_seconds")?.value ?? NaN;
    windows.push({ p99: q("0.99") * 1000, max: q("1") * 1000 });
    return maxEver * 1000;
  };
  const maxBefore = await readMetrics();
  windows.length = 0;
  const scrape = every(1000, async () => void (await readMetrics()));
  const posts: number[] = [];
  const totals: number[] = [];
  const failures: string[] = [];
  let timings: Record<string, number> = {};
  let resultBytes = 0;
  const started = performance.now();
  while (performance.now() - started < durationS * 1000 || totals.length + failures.length === 0) {
    const t0 = performance.now();
    const queued = await requestJson(agent, "POST", `${base}/${shape.model}/${shape.route}`, payload);
    posts.push(performance.now() - t0);
    if (queued.status !== 200) {
      failures.push(`POST ${queued.status}: ${JSON.stringify(queued.body).slice(0, 160)}`);
      break;
    }
    let r;
    do r = await requestJson(agent, "GET", `${base}/task_result/${queued.body.task_id}?wait=30`);
    while (r.status === 202);
    if (r.status === 200) {
      totals.push(performance.now() - t0);
      timings = (r.body as { result?: { timings?: Record<string, number> } }).result?.timings ?? {};
      resultBytes = Buffer.byteLength(JSON.stringify(r.body));
    }
    else failures.push(`task ${r.status}: ${JSON.stringify(r.body).slice(0, 160)}`);
  }
  await Promise.all([heart.stop(), scrape.stop(), rss.stop()]);
  // The window still holds the end of the load; the all-time maximum catches a stall no scrape saw.
  const maxAfter = await readMetrics();
  agent.destroy();
  scrapeAgent.destroy();
  const worst = (k: "p99" | "max") => round(Math.max(...windows.map((w) => w[k])), 1);
  return {
    shape: shape.name,
    model: shape.model,
    note: shape.note,
    body_mib: round(bytes / 2 ** 20, 2),
    requests: totals.length,
    failures,
    post_ms_max: round(Math.max(...posts), 1),
    request_ms_p50: round(percentile(totals, 50), 0),
    event_loop_p99_ms: worst("p99"),
    event_loop_max_ms: round(Math.max(worst("max"), maxAfter > maxBefore ? maxAfter : 0), 1),
    heartbeat_p50_ms: round(percentile(heartbeats, 50), 1),
    heartbeat_p99_ms: round(percentile(heartbeats, 99), 1),
    heartbeat_max_ms: round(Math.max(...heartbeats), 1),
    heartbeat_errors: heartbeatErrors,
    rss_growth_mib: round(rssPeak - rssBefore, 0),
    /** The server's stage timings of the last request (SPEC §4), to see where its time went. */
    last_timings_ms: Object.fromEntries(Object.entries(timings).map(([k, v]) => [k, round(v, 0)])),
    result_mib: round(resultBytes / 2 ** 20, 2),
    // p99 is blind to a rare stall (one sample in a window); a stall of a second or more fails the target too.
    target_met: worst("p99") < TARGET_P99_MS && Math.max(worst("max"), maxAfter > maxBefore ? maxAfter : 0) < STALL_MS && failures.length === 0,
  };
}

function flag(argv: string[], name: string, fallback: string): string {
  const i = argv.indexOf(name);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback;
}

async function main(argv: string[]): Promise<void> {
  const log = (m: string) => process.stderr.write(`${m}\n`);
  const durationS = Number(flag(argv, "--duration", "8"));
  const wanted = flag(argv, "--shapes", SHAPES.map((s) => s.name).join(",")).split(",");
  const unknown = wanted.filter((w) => !SHAPES.some((s) => s.name === w));
  if (unknown.length) throw new Error(`unknown shape(s) ${unknown.join(", ")}; known: ${SHAPES.map((s) => s.name).join(", ")}`);
  const dir = await fixtureDir(log);
  const serverFlags = flag(argv, "--server-flags", "").split(" ").filter(Boolean);
  const server = await startServer(Object.entries(MODELS).map(([id, name]) => ({ id, path: join(dir, name), settings: {} })), serverFlags);
  const started = new Date();
  const results = [];
  try {
    for (const shape of SHAPES.filter((s) => wanted.includes(s.name))) {
      log(`${shape.name}: ${shape.note}`);
      results.push(await measure(server, shape, durationS));
      await new Promise((r) => setTimeout(r, METRICS_WINDOW_MS + 500)); // the next shape's windows start clean
    }
  } finally {
    await server.stop();
  }
  const section: Section = {
    id: "largest-request",
    title: `Largest allowed requests (default limits): event-loop p99 < ${TARGET_P99_MS} ms and no stall ≥ ${STALL_MS} ms`,
    columns: ["shape", "model", "body MiB", "result MiB", "requests", "request p50 ms", "loop p99 ms (worst 5 s)", "loop max ms", "heartbeat p99 ms", "heartbeat max ms", "RSS growth MiB", "met"],
    rows: results.map((r) => [r.shape, r.model, r.body_mib, r.result_mib, r.requests, r.request_ms_p50, r.event_loop_p99_ms, r.event_loop_max_ms, r.heartbeat_p99_ms, r.heartbeat_max_ms, r.rss_growth_mib, r.target_met ? "yes" : "NO"]),
    notes: [...results.map((r) => `${r.shape}: ${r.note}${r.failures.length ? `; FAILED: ${r.failures[0]}` : ""}`), `limits: ${JSON.stringify(L)}; ${durationS} s per shape, requests sent one after another`],
  };
  const path = await writeReport(
    {
      started_at: started.toISOString(),
      finished_at: new Date().toISOString(),
      duration_s: Math.round((Date.now() - started.getTime()) / 1000),
      machine: { ...describeMachine() },
      options: { duration_s: durationS, shapes: wanted, server_flags: serverFlags, limits: L },
      sections: [section],
      targets: results.map((r) => ({ name: `event-loop p99, ${r.shape}`, value: r.event_loop_p99_ms, target: `< ${TARGET_P99_MS} ms`, met: r.target_met })),
      suites: { largest_request: results },
    },
    flag(argv, "--out", "bench/results"),
  );
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n\n${sectionText(section)}\n\nresults: ${path} (and .md)\n`);
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`bench:largest: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);
