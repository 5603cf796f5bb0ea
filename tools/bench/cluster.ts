/**
 * The cluster path against embedded mode (issue #17 target 5): `npm run bench:cluster`.
 *
 * 1. Round trips per task: a gateway+scheduler process and a model node with 2 replicas of the
 *    tiny bench model (replicas_per_device 2: two child processes, workers 1, intra_op_threads 1),
 *    over real NATS and Redis. `--count-tasks` tasks, one at a time (POST, then long-poll GET),
 *    while a Redis MONITOR connection records every command of this run's connections and a NATS
 *    client subscribed to `MOL-<namespace>.>` counts every Moleculer packet. The same idle time
 *    is recorded first and subtracted (blocking reads, claim renewals, heartbeats), so the table
 *    is what one task adds. A MULTI…EXEC block is one round trip; commands a Lua script runs are not.
 * 2. Tasks/s and p50/p99 latency, closed loop (tools/bench/load.ts), at each `--concurrency`, for
 *    embedded mode (one process, in-memory store: one replica, workers 2, intra_op_threads 1, the
 *    same two inference threads) and the cluster above, with the tiny and MiniLM models.
 *
 * Every run has its own Redis key prefix and Moleculer namespace; its keys are deleted after.
 *   npm run bench:cluster -- [--models tiny,minilm] [--concurrency 16,64] [--duration 4] [--warmup 1]
 *                            [--count-tasks 100] [--no-load] [--no-count]
 */
import { spawn, ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Redis } from "ioredis";
import { connect as natsConnect, type NatsConnection } from "nats";
import { benchModelDir, BenchModelKey, isBenchModel } from "./fixtures.ts";
import { benchInputs } from "./inputs.ts";
import { closedLoop, serverSender, LoadPoint } from "./load.ts";
import { requestJson, keepAliveAgent } from "./http.ts";
import { freePort, startServer, stopper, writeModelsFile, Running } from "./processes.ts";

export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
export const NATS_URL = process.env.TRANSPORTER ?? "nats://127.0.0.1:4222";
const BIN = resolve("bin/square-inference.js");

/** One cluster run's private namespace and key prefix. */
export interface ClusterRun {
  namespace: string;
  prefix: string;
  env: Record<string, string>;
}

export function newRun(tag: string): ClusterRun {
  const id = randomUUID().slice(0, 8);
  const namespace = `bench-${tag}-${id}`;
  const prefix = `bench:${tag}:${id}:`;
  return { namespace, prefix, env: { MOLECULER_NAMESPACE: namespace, SQUARE_KEY_PREFIX: prefix, TRANSPORTER: NATS_URL, REDIS_URL, LOG_LEVEL: "warn" } };
}

export interface Node {
  name: string;
  child: ChildProcess;
  port?: number;
  stop(): Promise<void>;
}

/** Starts `square-inference serve` with `args` in the run's cluster; resolves once it logs that it is ready. */
export function startNode(run: ClusterRun, name: string, args: string[], extraEnv: Record<string, string> = {}, bin = BIN): Promise<Node> {
  const child = spawn(process.execPath, [bin, "serve", "--node-id", `${name}-${randomUUID().slice(0, 4)}`, ...args], {
    env: { ...process.env, ...run.env, LOG_LEVEL: "info", ...extraEnv },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const log: string[] = [];
  // A benchmark that dies leaves no server behind.
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  child.once("exit", () => process.off("exit", killOnExit));
  const node: Node = { name, child, stop: stopper(child, 10_000) };
  return new Promise((resolveNode, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} not ready in 120 s:\n${log.slice(-20).join("")}`)), 120_000);
    const onData = (b: Buffer) => {
      const text = b.toString();
      log.push(text);
      if (log.length > 200) log.shift();
      const m = /node \S+ ready(?: on http:\/\/[^:]+:(\d+))?/.exec(text);
      if (m) {
        if (m[1]) node.port = Number(m[1]);
        clearTimeout(timer);
        resolveNode(node);
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} during start-up:\n${log.slice(-20).join("")}`));
    });
  });
}

/** Waits until the gateway lists `count` ready replicas of `model`. */
export async function waitForReplicas(port: number, model: string, count: number, timeoutMs = 120_000): Promise<void> {
  const agent = keepAliveAgent();
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const r = await requestJson(agent, "GET", `http://127.0.0.1:${port}/api/main/models`).catch(() => undefined);
      const m = (r?.body as { id: string; replicas_ready: number }[] | undefined)?.find?.((x) => x.id === model);
      if (m && m.replicas_ready >= count) return;
      if (Date.now() > deadline) throw new Error(`${model}: ${count} replicas not ready in ${timeoutMs / 1000} s`);
      await new Promise((r2) => setTimeout(r2, 200));
    }
  } finally {
    agent.destroy();
  }
}


export async function deleteKeys(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
  } finally {
    redis.disconnect();
  }
}

/** Redis round trips and NATS packets recorded over a span, by kind. */
export interface Traffic {
  redis: Map<string, number>;
  nats: Map<string, number>;
}

/**
 * Records every Redis command of this run's connections (those that touch a key under `prefix`;
 * MULTI…EXEC blocks become one entry named by their commands) and every Moleculer packet of the
 * namespace (by packet type, the subject's second part).
 */
export async function recordTraffic(run: ClusterRun): Promise<{ start(): void; stop(): Traffic; close(): Promise<void> }> {
  // redis-cli's MONITOR: one line per command, `<time> [<db> <client address>|lua] "<arg>" ...`.
  const monitor = spawn("redis-cli", ["-u", REDIS_URL, "monitor"], { stdio: ["ignore", "pipe", "inherit"] });
  interface Source { ours: boolean; commands: string[]; block?: string[] }
  const sources = new Map<string, Source>();
  let recording = false;
  let partial = "";
  const onLine = (line: string) => {
    const m = /^\d+\.\d+ \[\d+ ([^\]]+)\] (.*)$/.exec(line);
    if (!recording || !m || m[1] === "lua") return;
    const args = [...m[2].matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((a) => a[1]);
    if (args.length === 0) return;
    let s = sources.get(m[1]);
    if (!s) sources.set(m[1], (s = { ours: false, commands: [] }));
    if (args.some((a) => a.includes(run.prefix))) s.ours = true;
    // A script is named by the keys it touches (prefix and ids left out): EVALSHA[task] is the result's write.
    const command = args[0].toUpperCase();
    const name = command === "EVAL" || command === "EVALSHA" ? `${command}[${args.slice(3, 3 + Number(args[2])).map((k) => k.slice(run.prefix.length).split(":")[0]).join(",")}]` : command;
    if (name === "MULTI") s.block = [];
    else if (name === "EXEC" && s.block) {
      s.commands.push(`MULTI[${s.block.join(",")}]`);
      s.block = undefined;
    } else if (s.block) s.block.push(name);
    else s.commands.push(name);
  };
  monitor.stdout!.on("data", (b: Buffer) => {
    const lines = (partial + b.toString()).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) onLine(line);
  });
  await new Promise<void>((resolveStarted, reject) => {
    monitor.once("error", reject);
    monitor.stdout!.once("data", () => resolveStarted()); // "OK"
  });
  const nc: NatsConnection = await natsConnect({ servers: NATS_URL.replace(/^nats:\/\//, "") });
  const nats = new Map<string, number>();
  nc.subscribe(`MOL-${run.namespace}.>`, {
    callback: (_err, msg) => {
      if (!recording) return;
      const kind = msg.subject.split(".")[1] ?? "?";
      nats.set(kind, (nats.get(kind) ?? 0) + 1);
    },
  });
  return {
    start() {
      sources.clear();
      nats.clear();
      recording = true;
    },
    stop() {
      recording = false;
      const redis = new Map<string, number>();
      for (const s of sources.values()) if (s.ours) for (const c of s.commands) redis.set(c, (redis.get(c) ?? 0) + 1);
      return { redis, nats: new Map(nats) };
    },
    async close() {
      monitor.kill();
      await nc.close();
    },
  };
}

/** `busy` minus `idle` (scaled to the same duration), per task, rounded to 0.01. */
export function perTask(busy: Map<string, number>, idle: Map<string, number>, scale: number, tasks: number): [string, number][] {
  const kinds = new Set([...busy.keys(), ...idle.keys()]);
  return [...kinds]
    .map((k): [string, number] => [k, Math.round((((busy.get(k) ?? 0) - (idle.get(k) ?? 0) * scale) / tasks) * 100) / 100])
    .filter(([, v]) => Math.abs(v) >= 0.05)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

interface Options {
  models: BenchModelKey[];
  concurrency: number[];
  durationS: number;
  warmupS: number;
  countTasks: number;
  load: boolean;
  count: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { models: ["tiny", "minilm"], concurrency: [16, 64], durationS: 4, warmupS: 1, countTasks: 100, load: true, count: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => argv[++i];
    if (a === "--models") o.models = next().split(",").map((m) => {
      if (!isBenchModel(m)) throw new Error(`unknown bench model ${m}`);
      return m;
    });
    else if (a === "--concurrency") o.concurrency = next().split(",").map(Number);
    else if (a === "--duration") o.durationS = Number(next());
    else if (a === "--warmup") o.warmupS = Number(next());
    else if (a === "--count-tasks") o.countTasks = Number(next());
    else if (a === "--no-load") o.load = false;
    else if (a === "--no-count") o.count = false;
    else throw new Error(`unknown flag ${a}`);
  }
  return o;
}

export const CLUSTER_SETTINGS = { replicas_per_device: 2, workers: 1, intra_op_threads: 1 };
export const EMBEDDED_SETTINGS = { workers: 2, intra_op_threads: 1 };

/** A gateway+scheduler process and one model node with 2 single-threaded replicas of `model`. */
export async function startCluster(run: ClusterRun, id: string, path: string, bin = BIN): Promise<{ port: number; nodes: Node[] }> {
  const nodes: Node[] = [];
  try {
    const gateway = await startNode(run, "gateway", ["--roles", "gateway,scheduler", "--port", String(await freePort())], {}, bin);
    nodes.push(gateway);
    const file = await writeModelsFile([{ id, path, settings: CLUSTER_SETTINGS }]);
    nodes.push(await startNode(run, "models", ["--roles", "models", "--models", file], {}, bin));
    await waitForReplicas(gateway.port!, id, 2);
    return { port: gateway.port!, nodes };
  } catch (err) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw err;
  }
}

async function countRoundTrips(modelKey: BenchModelKey, log: (m: string) => void, tasks: number): Promise<{ redis: [string, number][]; nats: [string, number][] }> {
  const dir = await benchModelDir(modelKey, log);
  const run = newRun("count");
  const id = `bench-${modelKey}`;
  const { port, nodes } = await startCluster(run, id, dir);
  const recorder = await recordTraffic(run);
  const agent = keepAliveAgent();
  try {
    const send = serverSender(`http://127.0.0.1:${port}/api/main`, id, ["a short text to classify"], 1);
    for (let i = 0; i < 10; i++) await send(i, agent); // warm: sessions, connections, the gateway's model update read
    await new Promise((r) => setTimeout(r, 500));
    const t0 = performance.now();
    for (let i = 0; i < tasks; i++) await send(i, agent);
    const busyMs = performance.now() - t0;
    // Recorded again over a busy span's length with no task: the background traffic to subtract.
    recorder.start();
    await new Promise((r) => setTimeout(r, busyMs));
    const idle = recorder.stop();
    recorder.start();
    const t1 = performance.now();
    for (let i = 0; i < tasks; i++) await send(i, agent);
    const busy = recorder.stop();
    const scale = (performance.now() - t1) / busyMs;
    return { redis: perTask(busy.redis, idle.redis, scale, tasks), nats: perTask(busy.nats, idle.nats, scale, tasks) };
  } finally {
    agent.destroy();
    await recorder.close();
    await Promise.all(nodes.map((n) => n.stop()));
    await deleteKeys(run.prefix);
  }
}

interface LoadRow {
  model: BenchModelKey;
  mode: "embedded" | "cluster";
  point: LoadPoint;
}

async function loadPoints(modelKey: BenchModelKey, o: Options, log: (m: string) => void): Promise<LoadRow[]> {
  const dir = await benchModelDir(modelKey, log);
  const texts = (await benchInputs(dir, 16)).texts;
  const id = `bench-${modelKey}`;
  const rows: LoadRow[] = [];
  const measure = async (mode: LoadRow["mode"], port: number) => {
    for (const c of o.concurrency) {
      const point = await closedLoop(serverSender(`http://127.0.0.1:${port}/api/main`, id, texts, 1), 1, { concurrency: c, warmupS: o.warmupS, durationS: o.durationS });
      log(`${modelKey} ${mode} c=${c}: ${point.items_per_s} tasks/s, p50 ${point.p50_ms} ms, p99 ${point.p99_ms} ms${point.errors ? `, ${point.errors} errors (${point.first_error})` : ""}`);
      rows.push({ model: modelKey, mode, point });
    }
  };
  const embedded: Running = await startServer([{ id, path: dir, settings: EMBEDDED_SETTINGS }]);
  try {
    await measure("embedded", embedded.port);
  } finally {
    await embedded.stop();
  }
  const run = newRun("load");
  const { port, nodes } = await startCluster(run, id, dir);
  try {
    await measure("cluster", port);
  } finally {
    await Promise.all(nodes.map((n) => n.stop()));
    await deleteKeys(run.prefix);
  }
  return rows;
}

export function table(columns: string[], rows: (string | number)[][]): string {
  const widths = columns.map((c, i) => Math.max(c.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells: (string | number)[]) => `| ${cells.map((c, i) => String(c).padEnd(widths[i])).join(" | ")} |`;
  return [line(columns), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.map(line)].join("\n");
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const log = (m: string) => process.stderr.write(`${m}\n`);
  if (o.count) {
    const counted = await countRoundTrips("tiny", log, o.countTasks);
    const sum = (xs: [string, number][]) => Math.round(xs.reduce((s, [, v]) => s + v, 0) * 100) / 100;
    console.log(`\nRound trips per task (one-item sequence classification, POST + long-poll GET, ${o.countTasks} tasks one at a time, idle traffic subtracted)\n`);
    console.log(table(["Redis round trip", "per task"], [...counted.redis, ["total", sum(counted.redis)]]));
    console.log();
    console.log(table(["NATS packet (MOL-<ns>.<type>)", "per task"], [...counted.nats, ["total", sum(counted.nats)]]));
  }
  if (o.load) {
    const rows: LoadRow[] = [];
    for (const m of o.models) rows.push(...(await loadPoints(m, o, log)));
    console.log(`\nTasks/s, closed loop (${o.warmupS} s warm-up, ${o.durationS} s window), one 16-token item per task; embedded: 1 replica, workers 2 × 1 thread; cluster: gateway+scheduler process, model node with 2 replicas (processes) × 1 worker × 1 thread, NATS + Redis\n`);
    console.log(table(["model", "mode", "clients", "tasks/s", "p50 ms", "p99 ms", "errors"], rows.map((r) => [r.model, r.mode, r.point.concurrency, r.point.items_per_s, r.point.p50_ms, r.point.p99_ms, r.point.errors])));
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  main().then(() => process.exit(0), (err) => {
    console.error(err);
    process.exit(1);
  });
}
