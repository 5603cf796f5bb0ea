/**
 * `npm run bench:rss`: resident memory of `square-inference serve` on the twelve demo models,
 * run from the compiled JavaScript (dist/, production) and from the TypeScript sources through
 * tsx (SQUARE_FROM_SOURCE=1), after one classification. Sums VmRSS over the server process and
 * its children. Prints a JSON line per layout.
 */
import { readFile, readdir } from "node:fs/promises";
import { serveDemoModels } from "./processes.ts";

async function rssKb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0);
}

/** The process and its descendants, from /proc/<pid>/task/<tid>/children. */
async function tree(pid: number): Promise<number[]> {
  const tasks = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
  const children = (await Promise.all(tasks.map((t) => readFile(`/proc/${pid}/task/${t}/children`, "utf8").catch(() => "")))).join(" ").split(/\s+/).filter(Boolean).map(Number);
  return [pid, ...(await Promise.all(children.map(tree))).flat()];
}

async function measure(layout: "compiled" | "source"): Promise<Record<string, unknown>> {
  const env = { ...process.env, SQUARE_FROM_SOURCE: layout === "source" ? "1" : "", LOG_LEVEL: "info" };
  const { child, port } = await serveDemoModels(env, 120_000);
  try {
    const base = `http://127.0.0.1:${port}/api/main`;
    const { task_id } = (await (await fetch(`${base}/bert-tiny-sst/sequence-classification`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ input: ["a great movie"] }) })).json()) as { task_id: string };
    await fetch(`${base}/task_result/${task_id}?wait=10`);
    await new Promise((r) => setTimeout(r, 2000)); // let start-up garbage settle
    const pids = await tree(child.pid!);
    const perProcess = await Promise.all(pids.map(rssKb));
    return { layout, processes: pids.length, rss_mib: Math.round(perProcess.reduce((a, b) => a + b, 0) / 1024) };
  } finally {
    child.kill("SIGKILL");
  }
}

for (const layout of ["compiled", "source"] as const) console.log(JSON.stringify(await measure(layout)));
