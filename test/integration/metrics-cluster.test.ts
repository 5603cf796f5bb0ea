/**
 * A cluster's metrics through one gateway: a gateway+scheduler node and two model nodes on the
 * real NATS and Redis (three brokers in this process, each with its own node id). The gateway's
 * /metrics carries every replica's series, told apart by `node`; their sums are the tasks' own
 * timings; a replica that leaves takes its series with it.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { startNode, RunningNode } from "../../lib/node.ts";
import { resolveSettings } from "../../lib/config/settings.ts";
import { parsePrometheusText } from "../../lib/gateway/metrics.ts";
import { writeModelsFile } from "../helpers/fixtures.ts";
import { httpClient, Client } from "../helpers/http.ts";
import { TEST_NATS_URL, TEST_REDIS_URL } from "../helpers/services.ts";

const run = randomUUID().slice(0, 8);
const prefix = `square-test:${run}:`;
const MODEL = "bert-tiny-sst";
let gateway: RunningNode;
const replicas: RunningNode[] = [];
let api: Client;
const savedNamespace = process.env.MOLECULER_NAMESPACE;

const start = (args: string[]) =>
  startNode(resolveSettings([...args, "--transporter", TEST_NATS_URL, "--redis", TEST_REDIS_URL, "--key-prefix", prefix, "--log-level", "warn"], {}));

before(async () => {
  process.env.MOLECULER_NAMESPACE = `square-test-${run}`; // read by moleculer.config.ts when each broker is made
  const models = await writeModelsFile([{ id: MODEL, path: "bert-tiny-sst" }]);
  gateway = await start(["--roles", "gateway,scheduler", "--port", "0", "--node-id", `gw-${run}`]);
  for (const name of ["r1", "r2"]) replicas.push(await start(["--roles", "models", "--models", models, "--node-id", `${name}-${run}`]));
  api = httpClient(`http://127.0.0.1:${gateway.port}/api/main`);
  for (let i = 0; i < 100; i++) {
    const listed = (await api.get("/models")).body as { id: string; replicas_ready: number }[];
    if (listed.find((m) => m.id === MODEL)?.replicas_ready === 2) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail("the gateway never saw both replicas");
});

after(async () => {
  for (const node of [...replicas, gateway]) await node?.stop().catch(() => {});
  if (savedNamespace === undefined) delete process.env.MOLECULER_NAMESPACE;
  else process.env.MOLECULER_NAMESPACE = savedNamespace;
  const redis = new Redis(TEST_REDIS_URL);
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

async function scrape() {
  const r = await api.get("/metrics");
  assert.equal(r.status, 200);
  return parsePrometheusText(r.body as string);
}

test("one gateway's /metrics: every replica's stage histograms by node, summing to the tasks' timings; a replica that leaves takes its series", async () => {
  const N = 16;
  const queued = await Promise.all(Array.from({ length: N }, (_, i) => api.post(`/${MODEL}/sequence-classification`, { input: [`review number ${i} of a film`] })));
  const timings: Record<string, number>[] = [];
  for (const q of queued) {
    assert.equal(q.status, 200, JSON.stringify(q.body));
    const r = await api.result(q.body.task_id, 60_000);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    timings.push(r.body.result.timings);
  }
  const samples = await scrape();
  const nodes = replicas.map((r) => r.broker.nodeID);
  const of = (name: string, labels: Record<string, string>) => samples.filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  // Each replica's registry is there, labelled with its own node; nothing from the gateway's node.
  assert.deepEqual(of("square_replica_info", { model: MODEL }).map((x) => x.labels.node).sort(), [...nodes].sort());
  for (const stage of ["queue_wait", "tokenize", "inference", "total"]) {
    const counts = of("square_task_stage_seconds_count", { model: MODEL, stage, path: "queued" });
    assert.ok(counts.every((x) => nodes.includes(x.labels.node)), `${stage}: series of other nodes`);
    assert.equal(counts.reduce((a, x) => a + x.value, 0), N, `${stage}: counts over the replicas`);
    const sum = of("square_task_stage_seconds_sum", { model: MODEL, stage, path: "queued" }).reduce((a, x) => a + x.value, 0);
    const field = stage === "queue_wait" ? "queue_ms" : `${stage}_ms`;
    const expected = timings.reduce((a, t) => a + t[field], 0) / 1000;
    assert.ok(Math.abs(sum - expected) < 1e-6, `${stage}: ${sum} s over the replicas, ${expected} s in the tasks' timings`);
  }
  // Batches: each replica ran its own, and its counters are its own /stats.
  const stats = (await api.get(`/${MODEL}/stats`)).body as { replicas: { node: string; batching: { batches: number } }[] };
  for (const r of stats.replicas) assert.equal(of("square_batches_total", { model: MODEL, node: r.node })[0]?.value, r.batching.batches, r.node);
  assert.equal(of("square_replicas_ready", { model: MODEL })[0]?.value, 2);
  assert.equal(of("square_queue_depth", { model: MODEL })[0]?.value, 0);

  // One replica drains and leaves: the next scrape has only the other's series.
  await replicas.pop()!.stop();
  let after = await scrape();
  for (let i = 0; i < 50 && after.find((x) => x.name === "square_replicas_ready")?.value !== 1; i++) after = await new Promise((r) => setTimeout(r, 100)).then(scrape);
  assert.equal(after.find((x) => x.name === "square_replicas_ready" && x.labels.model === MODEL)?.value, 1);
  assert.deepEqual([...new Set(after.filter((x) => x.name.startsWith("square_task_stage_seconds")).map((x) => x.labels.node))], [nodes[0]]);
  assert.equal(after.filter((x) => x.name === "square_metrics_replica_errors_total").reduce((a, x) => a + x.value, 0), 0);
});
