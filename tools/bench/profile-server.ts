/**
 * `npm run profile-server`: where the embedded server's main thread spends its time under load.
 * Starts the server with `node --cpu-prof` on a bench model, runs the benchmark's closed loop,
 * stops the server (the profile is written on exit) and prints how busy the main thread was, its
 * busy milliseconds per request, and the functions and files with the most self time.
 *
 * It also splits the main thread's busy time by owner (stage of the request path), walking each
 * sample's stack up to the first frame of this project's code: the gateway (HTTP routes,
 * validation, auth), the scheduler, the model actor (tokenization, batching, the task pipelines,
 * result rendering) and the task store/queue; frames of no project file above them (HTTP parsing
 * and writing, Moleculer's dispatch, timers, GC) are "framework".
 *
 * Flags: --model tiny|minilm (default minilm), --tokens N (16), --concurrency N (64), --items-per-request N (1),
 * --duration S (8), --post-wait S (clients POST with ?wait=S instead of POST + long-poll; default 0), --out DIR (where the .cpuprofile files go; default a temp folder).
 */
import { mkdtemp, readdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { benchModelDir, isBenchModel } from "./fixtures.ts";
import { benchInputs } from "./inputs.ts";
import { startServer } from "./processes.ts";
import { closedLoop, serverSender } from "./load.ts";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function flag(argv: string[], name: string, fallback: string): string {
  const i = argv.indexOf(name);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback;
}

/** Self time (µs) per key, from a V8 CPU profile. */
function selfTime(profile: CpuProfile, keyOf: (n: ProfileNode) => string): Map<string, number> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const totals = new Map<string, number>();
  profile.samples.forEach((id, k) => {
    const key = keyOf(byId.get(id)!);
    totals.set(key, (totals.get(key) ?? 0) + profile.timeDeltas[k]);
  });
  return totals;
}

/** The stage a project file belongs to, by its path under dist/ (or the sources). */
const OWNERS: [RegExp, string][] = [
  [/\/services\/(api\.service|management)|\/lib\/(gateway|auth|validation|request)\//, "gateway"],
  [/\/services\/scheduler\.service/, "scheduler"],
  [/\/lib\/(store|queue)\//, "task store and queue"],
  [/\/services\/model|\/lib\/(orchestration|tasks|batching|model|onnx|tokenization|encoding|explain|addons|attacks|generation|metrics)\//, "model actor"],
];
const ownerOfUrl = (url: string) => OWNERS.find(([re]) => re.test(url))?.[1];

/** Busy time (µs) per owner: each sample goes to the first project frame on its stack (see the header). */
function timeByOwner(profile: CpuProfile): Map<string, number> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const owners = new Map<number, string>();
  const ownerOf = (id: number): string => {
    const known = owners.get(id);
    if (known) return known;
    const n = byId.get(id)!;
    const up = parent.get(id);
    const owner = ownerOfUrl(n.callFrame.url) ?? (up === undefined ? "framework (HTTP, Moleculer, timers, GC)" : ownerOf(up));
    owners.set(id, owner);
    return owner;
  };
  const totals = new Map<string, number>();
  // From the first request on (start-up's module loading, model loads and warm-up are not the
  // request path): the first sample inside request validation, which only requests run.
  const inRequest = (id: number): boolean => {
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) if (byId.get(at)!.callFrame.url.includes("/lib/validation/")) return true;
    return false;
  };
  const first = profile.samples.findIndex(inRequest);
  profile.samples.forEach((id, k) => {
    if (k < first || byId.get(id)!.callFrame.functionName === "(idle)") return;
    const owner = ownerOf(id);
    totals.set(owner, (totals.get(owner) ?? 0) + profile.timeDeltas[k]);
  });
  return totals;
}

const file = (n: ProfileNode) => n.callFrame.url.split("/").pop() || `(${n.callFrame.functionName || "native"})`;
const fn = (n: ProfileNode) => `${n.callFrame.functionName || "(anonymous)"} ${file(n)}`;

function top(totals: Map<string, number>, all: number, count: number): string[] {
  return [...totals].sort((a, b) => b[1] - a[1]).slice(0, count).map(([k, v]) => `${((100 * v) / all).toFixed(1).padStart(5)} %  ${k}`);
}

async function main(argv: string[]): Promise<void> {
  const model = flag(argv, "--model", "minilm");
  if (!isBenchModel(model)) throw new Error(`--model: unknown model "${model}" (tiny, minilm)`);
  const out = argv.includes("--out") ? flag(argv, "--out", "") : await mkdtemp(join(tmpdir(), "square-profile-"));
  const concurrency = Number(flag(argv, "--concurrency", "64"));
  const dir = await benchModelDir(model, (m) => process.stderr.write(`${m}\n`));
  const inputs = await benchInputs(dir, Number(flag(argv, "--tokens", "16")));
  const server = await startServer([{ id: "m", path: dir, settings: {} }], [], ["--cpu-prof", `--cpu-prof-dir=${out}`]);
  const itemsPerRequest = Number(flag(argv, "--items-per-request", "1"));
  const send = serverSender(`http://127.0.0.1:${server.port}/api/main`, "m", inputs.texts, itemsPerRequest, Number(flag(argv, "--post-wait", "0")));
  let answered = 0; // every request of the run (warm-up and drain too), as the profile covers them all
  const counted: typeof send = async (i, agent) => {
    await send(i, agent);
    answered++;
  };
  const point = await closedLoop(counted, itemsPerRequest, {
    concurrency,
    warmupS: 1,
    durationS: Number(flag(argv, "--duration", "8")),
  });
  await server.stop();
  // The main thread's profile is the first one the process wrote (worker threads get .002, .003, ...).
  const main = (await readdir(out)).filter((f) => f.includes(`.${server.child.pid}.0.`))[0];
  const profile = JSON.parse(await readFile(join(out, main), "utf8")) as CpuProfile;
  const byFunction = selfTime(profile, fn);
  const all = [...byFunction.values()].reduce((a, b) => a + b, 0);
  const idle = selfTime(profile, (n) => (n.callFrame.functionName === "(idle)" ? "idle" : "busy")).get("idle") ?? 0;
  console.log(`${model}, ${inputs.targetTokens} tokens, c=${concurrency}: ${point.items_per_s} items/s in the measuring window; ${answered} requests answered in the whole run`);
  console.log(`main thread busy ${((100 * (all - idle)) / all).toFixed(1)} % of ${(all / 1e6).toFixed(1)} s (start-up included): ${((all - idle) / 1000 / answered).toFixed(2)} ms per request`);
  const owners = [...timeByOwner(profile)].sort((a, b) => b[1] - a[1]);
  console.log(`\nmain-thread busy time by owner (${itemsPerRequest} item(s) per request):`);
  for (const [owner, us] of owners) console.log(`  ${owner.padEnd(42)} ${(us / 1000 / answered).toFixed(3).padStart(8)} ms per request  ${(us / answered / itemsPerRequest).toFixed(1).padStart(8)} µs per item`);
  console.log("\nself time by function:\n" + top(byFunction, all, 15).join("\n"));
  console.log("\nself time by file:\n" + top(selfTime(profile, file), all, 12).join("\n"));
  console.log(`\nprofiles: ${out}`);
}

main(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
