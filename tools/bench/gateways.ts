/**
 * Several gateways behind one address (issue #17 target 4): `npm run bench:gateways`.
 *
 * 1 and then 2 gateway processes (roles gateway,scheduler) on the same port with `--reuse-port`
 * (the kernel spreads the client's connections over them), a separate model node serving the
 * tiny bench model (so the gateways, not inference, are the bottleneck), NATS and Redis. A closed
 * loop (tools/bench/load.ts) at `--concurrency` clients: tasks (POST, then long-poll GET) and the
 * bare heartbeat (the HTTP layer alone). The gateways' CPU time (utime + stime from
 * /proc/<pid>/stat, all their threads) over the middle of the window, divided by the requests
 * answered meanwhile, is the per-request cost; a task is two requests. The load generator's own
 * CPU and the whole machine's busy time over the same span say what bounds the result.
 *   npm run bench:gateways -- [--concurrency 64] [--duration 4] [--warmup 1]
 */
import { execFileSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import { cpus } from "node:os";
import { pathToFileURL } from "node:url";
import { benchModelDir } from "./fixtures.ts";
import { benchInputs } from "./inputs.ts";
import { closedLoop, serverSender, heartbeatSender, SendOne, LoadPoint } from "./load.ts";
import { freePort, writeModelsFile } from "./processes.ts";
import { newRun, startNode, waitForReplicas, deleteKeys, table, Node } from "./cluster.ts";
import { round } from "./stats.ts";

const TICKS = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;

/** Busy CPU seconds of the whole machine so far (every core; /proc/stat: all but idle and iowait). */
async function machineBusySeconds(): Promise<number> {
  const [cpu] = (await readFile("/proc/stat", "utf8")).split("\n");
  const t = cpu.trim().split(/\s+/).slice(1).map(Number);
  return (t.reduce((a, b) => a + b, 0) - t[3] - t[4]) / TICKS;
}

/** CPU seconds a process has used so far, every thread included. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS; // utime, stime (fields 14 and 15)
}

interface Row {
  gateways: number;
  load: "task" | "heartbeat";
  point: LoadPoint;
  requestsPerS: number;
  /** Gateway CPU per HTTP request (all gateways together), ms. */
  cpuMsPerRequest: number;
  /** Each gateway's share of the CPU over the span (1 = one core). */
  cores: number[];
  /** The load generator's (this process) and the whole machine's, in cores. */
  clientCores: number;
  machineCores: number;
}

async function measure(gateways: Node[], load: Row["load"], send: SendOne, requestsPerSend: number, concurrency: number, warmupS: number, durationS: number): Promise<Row> {
  let done = 0;
  const counted: SendOne = async (i, agent) => {
    await send(i, agent);
    done++;
  };
  const pids = gateways.map((g) => g.child.pid!);
  let from: { t: number; done: number; cpu: number[]; client: number; machine: number } | undefined;
  let to: typeof from;
  const snapshot = async () => {
    const { user, system } = process.cpuUsage();
    return { t: performance.now(), done, cpu: await Promise.all(pids.map(cpuSeconds)), client: (user + system) / 1e6, machine: await machineBusySeconds() };
  };
  const timer = setTimeout(() => void snapshot().then((s) => (from = s)), (warmupS + 0.5) * 1000);
  const point = await closedLoop(counted, 1, { concurrency, warmupS, durationS, atWindowEnd: async () => void (to = await snapshot()) });
  clearTimeout(timer);
  if (!from || !to) throw new Error("CPU snapshots missing");
  const requests = (to.done - from.done) * requestsPerSend;
  const seconds = (to.t - from.t) / 1000;
  const cpu = to.cpu.map((c, i) => c - from!.cpu[i]);
  return {
    gateways: gateways.length,
    load,
    point,
    requestsPerS: round((point.items_per_s * requestsPerSend), 0),
    cpuMsPerRequest: round((cpu.reduce((a, b) => a + b, 0) * 1000) / requests, 3),
    cores: cpu.map((c) => round(c / seconds, 2)),
    clientCores: round((to.client - from.client) / seconds, 2),
    machineCores: round((to.machine - from.machine) / seconds, 2),
  };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const flag = (name: string, fallback: number) => (argv.includes(name) ? Number(argv[argv.indexOf(name) + 1]) : fallback);
  const concurrency = flag("--concurrency", 64);
  const durationS = flag("--duration", 4);
  const warmupS = flag("--warmup", 1);
  const log = (m: string) => process.stderr.write(`${m}\n`);
  const dir = await benchModelDir("tiny", log);
  const texts = (await benchInputs(dir, 16)).texts;
  const id = "bench-tiny";
  const rows: Row[] = [];
  for (const count of [1, 2]) {
    const run = newRun("gw");
    const port = await freePort();
    const nodes: Node[] = [];
    try {
      const gateways = await Promise.all(Array.from({ length: count }, (_, i) => startNode(run, `gateway${i}`, ["--roles", "gateway,scheduler", "--port", String(port), "--reuse-port", "true"])));
      nodes.push(...gateways);
      // Two replica processes of one thread each: the tiny model's inference is not the limit.
      const file = await writeModelsFile([{ id, path: dir, settings: { replicas_per_device: 2, workers: 1, intra_op_threads: 1 } }]);
      nodes.push(await startNode(run, "models", ["--roles", "models", "--models", file]));
      await waitForReplicas(port, id, 2);
      const base = `http://127.0.0.1:${port}/api/main`;
      for (const [load, send, perSend] of [["task", serverSender(base, id, texts, 1), 2], ["heartbeat", heartbeatSender(base), 1]] as const) {
        const row = await measure(gateways, load, send, perSend, concurrency, warmupS, durationS);
        log(`${count} gateway(s), ${load}: ${row.requestsPerS} requests/s, p50 ${row.point.p50_ms} ms, p99 ${row.point.p99_ms} ms, gateway CPU ${row.cpuMsPerRequest} ms/request, cores ${row.cores.join(" + ")}, client ${row.clientCores}, machine ${row.machineCores}${row.point.errors ? `, ${row.point.errors} errors (${row.point.first_error})` : ""}`);
        rows.push(row);
      }
    } finally {
      await Promise.all(nodes.map((n) => n.stop()));
      await deleteKeys(run.prefix);
    }
  }
  console.log(`\nGateways behind one port (--reuse-port), ${concurrency} clients, closed loop (${warmupS} s warm-up, ${durationS} s window); tiny model on a separate node (2 replica processes × 1 thread); task = POST + long-poll GET (2 requests)\n`);
  console.log(table(["gateways", "load", "requests/s", "tasks/s", "p50 ms", "p99 ms", "gateway CPU ms/request", "gateway cores used", "client cores", "machine busy cores", "errors"], rows.map((r) => [r.gateways, r.load, r.requestsPerS, r.load === "task" ? r.point.items_per_s : "", r.point.p50_ms, r.point.p99_ms, r.cpuMsPerRequest, r.cores.join(" + "), r.clientCores, r.machineCores, r.point.errors])));
  console.log(`\nThe machine has ${cpus().length} cores, shared by the load generator, the gateways, the model node, Redis and NATS (and anything else running).`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  main().then(() => process.exit(0), (err) => {
    console.error(err);
    process.exit(1);
  });
}
