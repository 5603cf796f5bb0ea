/**
 * Measures an embedded node's start-up time and one request's latency (POST → polled result)
 * on the demo models. Prints a table and JSON. Usage: node --import tsx tools/latency.ts [N]
 */
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startNode } from "../lib/node.ts";
import { resolveSettings } from "../lib/config/settings.ts";

const N = Number(process.argv[2] ?? 50);
const demoDir = await mkdtemp(join(tmpdir(), "square-latency-"));

const t0 = performance.now();
const node = await startNode(resolveSettings(["--port", "0", "--demo-dir", demoDir, "--log-level", "error"], {}));
const startupColdMs = performance.now() - t0; // includes building the demo models
const base = `http://127.0.0.1:${node.port}/api/main`;

async function once(path: string, body: unknown): Promise<number> {
  const started = performance.now();
  const res = await fetch(base + path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const { task_id } = (await res.json()) as { task_id: string };
  for (;;) {
    const r = await fetch(`${base}/task_result/${task_id}`);
    await r.arrayBuffer();
    if (r.status !== 202) return performance.now() - started;
    await new Promise((resolve) => setImmediate(resolve)); // poll as fast as possible: measures the server, not a client interval
  }
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
const rows: Record<string, { p50_ms: number; p99_ms: number }> = {};
for (const [name, path, body] of [
  ["sequence-classification, 1 item", "/bert-tiny-sst/sequence-classification", { input: ["a great movie with a thin plot"] }],
  ["embedding mean, 1 item", "/bert-tiny-base/embedding", { input: ["a great movie with a thin plot"] }],
] as const) {
  await once(path, body);
  const xs: number[] = [];
  for (let i = 0; i < N; i++) xs.push(await once(path, body));
  rows[name] = { p50_ms: +pct(xs, 50).toFixed(2), p99_ms: +pct(xs, 99).toFixed(2) };
}
await node.stop();
console.log(`start-up (cold, building demo models): ${startupColdMs.toFixed(0)} ms`);
console.table(rows);
console.log(JSON.stringify({ startup_cold_ms: Math.round(startupColdMs), requests: N, latency: rows }));
process.exit(0);
