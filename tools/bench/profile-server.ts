/**
 * `npm run profile-server`: where the embedded server's main thread spends its time under load.
 * Starts the server with `node --cpu-prof` on a bench model, runs the benchmark's closed loop,
 * stops the server (the profile is written on exit) and prints how busy the main thread was, its
 * busy milliseconds per request, and the functions and files with the most self time.
 *
 * Flags: --model tiny|minilm (default minilm), --tokens N (16), --concurrency N (64),
 * --duration S (8), --out DIR (where the .cpuprofile files go; default a temp folder).
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
  const send = serverSender(`http://127.0.0.1:${server.port}/api/main`, "m", inputs.texts, 1);
  let answered = 0; // every request of the run (warm-up and drain too), as the profile covers them all
  const counted: typeof send = async (i, agent) => {
    await send(i, agent);
    answered++;
  };
  const point = await closedLoop(counted, 1, {
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
  console.log("\nself time by function:\n" + top(byFunction, all, 15).join("\n"));
  console.log("\nself time by file:\n" + top(selfTime(profile, file), all, 12).join("\n"));
  console.log(`\nprofiles: ${out}`);
}

main(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
