/**
 * Cluster throughput with one versus two replicas of the same model, on real NATS and Redis:
 * a gateway+scheduler process and N model processes; `TASKS` single-item requests kept
 * `CONCURRENCY` in flight (submit, then poll the result). Prints a table and JSON.
 *   node --import tsx tools/cluster-throughput.ts [TASKS=400] [CONCURRENCY=32]
 */
import { startServer, clusterEnv, killAll } from "../test/helpers/processes.ts";
import { httpClient } from "../test/helpers/http.ts";
import { writeModelsFile } from "../test/helpers/fixtures.ts";

const TASKS = Number(process.argv[2] ?? 400);
const CONCURRENCY = Number(process.argv[3] ?? 32);

async function run(replicaCount: number, model: string): Promise<{ replicas: number; tasks_per_s: number; p50_ms: number }> {
  const env = clusterEnv();
  const modelsFile = await writeModelsFile([{ id: model, path: model }]);
  const gateway = await startServer("gateway", ["--roles", "gateway,scheduler", "--port", "0"], env);
  await Promise.all(Array.from({ length: replicaCount }, (_, i) => startServer(`replica-${i}`, ["--roles", "models", "--models", modelsFile], env)));
  const api = httpClient(`http://127.0.0.1:${gateway.port}/api/main`);
  for (;;) {
    const m = (await api.get("/models")).body as { replicas_ready: number }[];
    if (m[0]?.replicas_ready === replicaCount) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const text = "the movie was a great story about a dog and a cat in a small city";
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < TASKS) {
      next++;
      const t0 = performance.now();
      const q = await api.post(`/${model}/sequence-classification`, { input: [text] });
      const r = await api.result(q.body.task_id, 60_000);
      if (r.status !== 200) throw new Error(JSON.stringify(r.body));
      latencies.push(performance.now() - t0);
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  await killAll();
  latencies.sort((a, b) => a - b);
  return { replicas: replicaCount, tasks_per_s: +(TASKS / seconds).toFixed(1), p50_ms: +latencies[Math.floor(latencies.length / 2)].toFixed(1) };
}

const rows = [await run(1, "bert-tiny-sst"), await run(2, "bert-tiny-sst")];
console.table(rows);
console.log(JSON.stringify({ tasks: TASKS, concurrency: CONCURRENCY, model: "bert-tiny-sst", results: rows }));
process.exit(0);
