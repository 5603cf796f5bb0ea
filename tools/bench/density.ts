/**
 * `npm run bench:density`: what models cost in memory and threads on one node (compiled layout,
 * docs/benchmarks.md "Density"). Prints a JSON line per measurement:
 * - `demo12`: RSS of `serve` on the twelve demo models after one classification (as bench:rss).
 * - `minilm-bare`: a bare Node process opening the MiniLM-sized bench model's ONNX Runtime session
 *   with the server's session options (ONNX Runtime's own start-up excluded: a tiny session is
 *   opened first): RSS delta per session after a 16-token run and after a 32 × 128-token batch.
 * - `minilm-server`: the same deltas per MiniLM model added to a node (a tiny model plus 0, then 2
 *   MiniLM models, each with its own id), and their ratio to the bare session's.
 * - `models50`: RSS and OS threads of a node serving 50 copies of the tiny bench model (50 ids,
 *   folders symlinked in a temporary directory), after one request to each; with the default
 *   `intra_op_threads` (2: ONNX Runtime starts one thread of its own per session) and with 1.
 * The environment passes to the servers (e.g. SQUARE_ORT_MEM_ARENA=0, SQUARE_INFERENCE_THREADS=1).
 * `--only demo12,minilm,models50` runs a subset.
 */
import { spawn } from "node:child_process";
import { mkdtemp, readFile, readdir, symlink, writeFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { benchModelDir } from "./fixtures.ts";
import { benchInputs } from "./inputs.ts";
import { startServer, serveDemoModels, type Running } from "./processes.ts";
import { keepAliveAgent, requestJson } from "./http.ts";

const log = (msg: string) => process.stderr.write(`density: ${msg}\n`);
const only = (() => {
  const k = process.argv.indexOf("--only");
  return k >= 0 ? new Set(process.argv[k + 1].split(",")) : undefined;
})();
const wanted = (name: string) => !only || only.has(name);
const mib = (kb: number) => Math.round(kb / 102.4) / 10;
const settle = () => new Promise((r) => setTimeout(r, 2000)); // let start-up garbage settle

async function status(pid: number): Promise<{ rssKb: number; threads: number }> {
  const text = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  return { rssKb: Number(/^VmRSS:\s+(\d+) kB/m.exec(text)?.[1] ?? 0), threads: Number(/^Threads:\s+(\d+)/m.exec(text)?.[1] ?? 0) };
}

/** The process and its descendants (the source layout starts tsx helpers), summed. */
async function treeStatus(pid: number): Promise<{ rssKb: number; threads: number; processes: number }> {
  const tasks = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
  const children = (await Promise.all(tasks.map((t) => readFile(`/proc/${pid}/task/${t}/children`, "utf8").catch(() => "")))).join(" ").split(/\s+/).filter(Boolean).map(Number);
  const own = await status(pid);
  const rest = await Promise.all(children.map(treeStatus));
  return rest.reduce((a, b) => ({ rssKb: a.rssKb + b.rssKb, threads: a.threads + b.threads, processes: a.processes + b.processes }), { ...own, processes: 1 });
}

/** Classifies `texts` with model `id` and waits for the result. */
async function classify(port: number, id: string, texts: string[]): Promise<void> {
  const agent = keepAliveAgent();
  try {
    const base = `http://127.0.0.1:${port}/api/main`;
    const posted = await requestJson(agent, "POST", `${base}/${id}/sequence-classification`, { input: texts });
    if (posted.status !== 200) throw new Error(`${id}: POST answered ${posted.status} ${JSON.stringify(posted.body)}`);
    for (;;) {
      const r = await requestJson(agent, "GET", `${base}/task_result/${posted.body.task_id}?wait=10`);
      if (r.status === 200) return;
      if (r.status !== 202) throw new Error(`${id}: result answered ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
    }
  } finally {
    agent.destroy();
  }
}

async function demo12(): Promise<void> {
  const { child, port } = await serveDemoModels({ ...process.env, SQUARE_FROM_SOURCE: "", LOG_LEVEL: "info" }, 180_000);
  try {
    await classify(port, "bert-tiny-sst", ["a great movie"]);
    await settle();
    const s = await treeStatus(child.pid!);
    console.log(JSON.stringify({ measure: "demo12", layout: "compiled", rss_mib: mib(s.rssKb), threads: s.threads, processes: s.processes }));
  } finally {
    child.kill("SIGKILL");
  }
}

/** A bare process: ORT started by a tiny session, then `sessions` MiniLM sessions, each run on 16 tokens, then on a big batch. */
const BARE = String.raw`
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
const [, , root, tiny, minilm, sessions] = process.argv;
const require = createRequire(root + "/");
const ort = require("onnxruntime-node");
const rss = () => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync("/proc/self/status", "utf8"))[1]);
const flag = (n) => (process.env[n] === "1" ? true : process.env[n] === "0" ? false : undefined);
const mem = {};
if (flag("SQUARE_ORT_MEM_ARENA") !== undefined) mem.enableCpuMemArena = flag("SQUARE_ORT_MEM_ARENA");
if (flag("SQUARE_ORT_MEM_PATTERN") !== undefined) mem.enableMemPattern = flag("SQUARE_ORT_MEM_PATTERN");
const options = { intraOpNumThreads: 2, interOpNumThreads: 1, graphOptimizationLevel: "all", ...mem, extra: { session: { intra_op: { allow_spinning: "0" } } }, executionProviders: ["cpu"] };
const feeds = (rows, length) => {
  const n = rows * length;
  const ids = new BigInt64Array(n).map((_, i) => BigInt(5 + (i % 700)));
  return { input_ids: new ort.Tensor("int64", ids, [rows, length]), attention_mask: new ort.Tensor("int64", new BigInt64Array(n).fill(1n), [rows, length]), token_type_ids: new ort.Tensor("int64", new BigInt64Array(n), [rows, length]) };
};
const pick = (s, f) => Object.fromEntries(s.inputNames.map((k) => [k, f[k]]));
const t = await ort.InferenceSession.create(tiny, options);
await t.run(pick(t, feeds(1, 16)));
await new Promise((r) => setTimeout(r, 500));
const base = rss();
const opened = [];
for (let k = 0; k < Number(sessions); k++) {
  const s = await ort.InferenceSession.create(minilm, options);
  await s.run(pick(s, feeds(1, 16)));
  opened.push(s);
}
await new Promise((r) => setTimeout(r, 500));
const small = rss();
for (const s of opened) await s.run(pick(s, feeds(32, 128)));
await new Promise((r) => setTimeout(r, 500));
const big = rss();
console.log(JSON.stringify({ base, small, big }));
`;

async function bareMiniLm(tiny: string, minilm: string, sessions: number): Promise<{ small: number; big: number }> {
  const dir = await mkdtemp(join(tmpdir(), "square-density-"));
  const script = join(dir, "bare.mjs");
  await writeFile(script, BARE);
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, [script, process.cwd(), join(tiny, "model.onnx"), join(minilm, "model.onnx"), String(sessions)], { stdio: ["ignore", "pipe", "inherit"] });
    let text = "";
    child.stdout.on("data", (b: Buffer) => (text += b.toString()));
    child.once("exit", (code) => (code === 0 ? resolve(text) : reject(new Error(`bare session process exited ${code}`))));
  });
  await rm(dir, { recursive: true, force: true });
  const { base, small, big } = JSON.parse(out);
  return { small: (small - base) / sessions, big: (big - base) / sessions };
}

async function serverWithMiniLm(tiny: string, minilm: string, count: number, small: string[], big: string[]): Promise<{ small: number; big: number; threads: number }> {
  const models = [{ id: "tiny", path: tiny, settings: {} }, ...Array.from({ length: count }, (_, k) => ({ id: `minilm-${k}`, path: minilm, settings: { batch_size: 32, max_batch_tokens: 8192 } }))];
  const server = await startServer(models);
  try {
    for (const m of models) await classify(server.port, m.id, small);
    await settle();
    const afterSmall = await status(server.child.pid!);
    for (const m of models.slice(1)) await classify(server.port, m.id, big);
    await settle();
    const afterBig = await status(server.child.pid!);
    return { small: afterSmall.rssKb, big: afterBig.rssKb, threads: afterBig.threads };
  } finally {
    await server.stop();
  }
}

async function minilmSection(): Promise<void> {
  const tiny = await benchModelDir("tiny", log);
  const minilm = await benchModelDir("minilm", log);
  const bare = await bareMiniLm(tiny, minilm, 2);
  console.log(JSON.stringify({ measure: "minilm-bare", per_session_mib_16_tokens: mib(bare.small), per_session_mib_after_32x128: mib(bare.big) }));
  const small = (await benchInputs(minilm, 16, 1)).texts;
  const big = (await benchInputs(minilm, 128, 32)).texts;
  const zero = await serverWithMiniLm(tiny, minilm, 0, small, big);
  const two = await serverWithMiniLm(tiny, minilm, 2, small, big);
  const perSmall = (two.small - zero.small) / 2;
  const perBig = (two.big - zero.big) / 2;
  console.log(JSON.stringify({
    measure: "minilm-server",
    node_rss_mib: { tiny_only: mib(zero.small), plus_2_minilm: mib(two.small), plus_2_minilm_after_32x128: mib(two.big) },
    per_added_model_mib_16_tokens: mib(perSmall),
    per_added_model_mib_after_32x128: mib(perBig),
    ratio_to_bare_16_tokens: Math.round((perSmall / bare.small) * 100) / 100,
    ratio_to_bare_after_32x128: Math.round((perBig / bare.big) * 100) / 100,
    threads: { tiny_only: zero.threads, plus_2_minilm: two.threads },
  }));
}

/** `settings`: each model's options (intra_op_threads 1: no ONNX Runtime intra-op thread per session). */
async function models50(settings: Record<string, number> = {}): Promise<void> {
  const tiny = await benchModelDir("tiny", log);
  const dir = await mkdtemp(join(tmpdir(), "square-density-50-"));
  let server: Running | undefined;
  try {
    const models = await Promise.all(Array.from({ length: 50 }, async (_, k) => {
      const id = `tiny-${String(k).padStart(2, "0")}`;
      await symlink(tiny, join(dir, id));
      return { id, path: join(dir, id), settings };
    }));
    const started = performance.now();
    server = await startServer(models);
    const startS = (performance.now() - started) / 1000;
    for (const m of models) await classify(server.port, m.id, ["a great movie"]);
    await settle();
    const s = await status(server.child.pid!);
    console.log(JSON.stringify({ measure: "models50", settings, rss_mib: mib(s.rssKb), threads: s.threads, start_s: Math.round(startS * 10) / 10 }));
  } finally {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

if (wanted("demo12")) await demo12();
if (wanted("minilm")) await minilmSection();
if (wanted("models50")) {
  await models50();
  await models50({ intra_op_threads: 1 });
}
