/**
 * Cluster mode with real processes, real NATS and real Redis (SPEC §1, §4, §10, §15): discovery,
 * large results, update, Moleculer clients, a SIGKILLed replica, a drained replica, a restarted gateway.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { startServer, spawnProcess, clusterEnv, killAll, Proc } from "../helpers/processes.ts";
import { httpClient, Client } from "../helpers/http.ts";
import { writeModelsFile, fixturePath } from "../helpers/fixtures.ts";
import { decodeNpy } from "../helpers/embedded.ts";
import { ModelRuntime } from "../../lib/model/runtime.ts";
import { withModelDefaults } from "../../lib/config/model-settings.ts";
import { executeTask } from "../../lib/orchestration/execute.ts";
import { withDefaults } from "../../lib/request/request.ts";

const env = clusterEnv({ SQUARE_VISIBILITY_TIMEOUT: "2" });
let modelsFile: string;
let gateway: Proc;
let api: Client;
const replicas: Proc[] = [];
let reference: ModelRuntime;

const SST = "/bert-tiny-sst/sequence-classification";
const textOf = (i: number) => `movie number ${i} was ${["great", "bad", "boring", "fun"][i % 4]}`;
const expected = new Map<string, number[]>();

async function expectedLogits(text: string): Promise<number[]> {
  if (!expected.has(text)) {
    const { result } = await executeTask("sequence-classification", withDefaults({ input: [text] }), reference, { plaintext: true });
    expected.set(text, (result.model_outputs as { logits: number[][] }).logits[0]);
  }
  return expected.get(text)!;
}

const startReplica = async (name: string) => {
  const p = await startServer(name, ["--roles", "models", "--models", modelsFile], env);
  replicas.push(p);
  return p;
};

async function waitForReplicas(model: string, count: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const models = (await api.get("/models")).body as { id: string; replicas_ready: number }[];
    if (models.find((m) => m.id === model)?.replicas_ready === count) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${model} never had ${count} replicas`);
}

/** Submits `count` tasks, returns their ids with the text each classified. */
async function submitMany(count: number, offset = 0): Promise<{ id: string; text: string }[]> {
  const out: { id: string; text: string }[] = [];
  for (let start = 0; start < count; start += 25) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(25, count - start) }, async (_, k) => {
        const text = textOf(offset + start + k);
        const r = await api.post(SST, { input: [text] });
        assert.equal(r.status, 200, JSON.stringify(r.body));
        return { id: r.body.task_id as string, text };
      }),
    );
    out.push(...batch);
  }
  return out;
}

async function assertAllCorrect(tasks: { id: string; text: string }[], timeoutMs = 30_000): Promise<void> {
  for (const t of tasks) {
    const r = await api.result(t.id, timeoutMs);
    assert.equal(r.status, 200, `${t.id}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.status, "Finished");
    const got = decodeNpy(r.body.result.model_outputs.logits).values;
    const want = await expectedLogits(t.text);
    got.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-5, `${t.text}: ${got} vs ${want}`));
  }
}

before(async () => {
  reference = await ModelRuntime.load(withModelDefaults({ id: "ref", path: await fixturePath("bert-tiny-sst") }), { kind: "cpu", id: 0 });
  modelsFile = await writeModelsFile([
    { id: "bert-tiny-sst", path: "bert-tiny-sst" },
    { id: "bert-tiny-base", path: "bert-tiny-base", max_input: 1024 },
  ]);
  gateway = await startServer("gateway", ["--roles", "gateway,scheduler", "--port", "0"], env);
  api = httpClient(`http://127.0.0.1:${gateway.port}/api/main`);
  await Promise.all([startReplica("replica-a"), startReplica("replica-b")]);
  await waitForReplicas("bert-tiny-sst", 2);
});

after(async () => {
  await killAll();
  await reference?.close();
});

test("discovery: 200 tasks through the gateway all finish correctly, and both replicas did work", async () => {
  const tasks = await submitMany(200);
  await assertAllCorrect(tasks);
  const stats = (await api.get("/bert-tiny-sst/stats")).body;
  assert.equal(stats.replicas.length, 2);
  const completed = stats.replicas.map((r: { completed: number }) => r.completed);
  assert.equal(completed.reduce((a: number, b: number) => a + b, 0), 200);
  assert.ok(completed.every((c: number) => c > 0), `work split ${completed}`);
  const models = (await api.get("/models")).body;
  const sst = models.find((m: { id: string }) => m.id === "bert-tiny-sst");
  assert.deepEqual(sst.replicas.map((r: { device: string }) => r.device), ["cpu", "cpu"]);
  assert.equal(new Set(sst.replicas.map((r: { node: string }) => r.node)).size, 2);
});

test("a result over 2 MB travels through Redis, not through NATS", async () => {
  const text = Array.from({ length: 100 }, (_, i) => ["the", "cat", "sat", "on", "mat"][i % 5]).join(" ");
  const r = await api.post("/bert-tiny-base/embedding", { input: new Array(150).fill(text), task_kwargs: { embedding_mode: "token" } });
  assert.equal(r.status, 200);
  const done = await api.result(r.body.task_id, 30_000);
  assert.equal(done.status, 200);
  assert.ok(JSON.stringify(done.body).length > 2 * 1024 * 1024, "result is over 2 MB");
  assert.deepEqual(decodeNpy(done.body.result.model_outputs.embeddings).shape, [150, 102, 32]);
});

test("explanations across processes: the gateway asks a replica over NATS, the replica builds its gradient graph, results equal in-process ones", async () => {
  const body = { input: ["a great movie", "the children played in the garden"], explain_kwargs: { method: "integrated_grads", steps: 4, top_k: 2 } };
  const r = await api.post("/bert-tiny-sst/sequence-classification", body);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const done = await api.result(r.body.task_id, 30_000);
  assert.equal(done.status, 200, JSON.stringify(done.body));
  const local = await executeTask("sequence-classification", withDefaults(body as never), reference);
  const [remote] = done.body.result.attributions;
  const [mine] = local.result.attributions as typeof done.body.result.attributions;
  assert.deepEqual(remote.topk_context_idx, mine.topk_context_idx);
  remote.context_tokens.forEach((words: [number, string, number][], i: number) =>
    words.forEach(([idx, word, score], k) => {
      assert.deepEqual([idx, word], mine.context_tokens[i][k].slice(0, 2));
      assert.ok(Math.abs(score - mine.context_tokens[i][k][2]) < 1e-6, `item ${i} ${word}: ${score} vs ${mine.context_tokens[i][k][2]}`);
    }),
  );
});

test("update reaches every replica at once, persists, and a replica started later applies it", async () => {
  const r = await api.post("/bert-tiny-sst/update", { batch_size: 7 });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(r.body.replicas.map((x: { batch_size: number }) => x.batch_size), [7, 7]);
  const late = await startReplica("replica-late");
  await waitForReplicas("bert-tiny-sst", 3);
  const stats = (await api.get("/bert-tiny-sst/stats")).body;
  assert.deepEqual(stats.replicas.map((x: { batch_size: number }) => x.batch_size), [7, 7, 7]);
  assert.equal(stats.batch_size, 7);
  await late.kill("SIGTERM");
  replicas.splice(replicas.indexOf(late), 1);
  await waitForReplicas("bert-tiny-sst", 2);
});

test("another Moleculer node discovers the models and calls them over NATS, directly and queued", async () => {
  const example = fileURLToPath(new URL("../../examples/client-node.ts", import.meta.url));
  const client = spawnProcess("client", process.execPath, ["--import", "tsx", example, "bert-tiny-sst", "a great movie"], env);
  assert.equal(await client.exited, 0, client.log.join("\n"));
  const out = JSON.parse(client.log.find((l) => l.startsWith("{"))!);
  assert.deepEqual(out.models, ["bert-tiny-base", "bert-tiny-sst"]);
  assert.deepEqual(out.tasks, ["sequence-classification"]);
  const want = await expectedLogits("a great movie");
  out.direct.model_outputs.logits[0].forEach((v: number, i: number) => assert.ok(Math.abs(v - want[i]) < 1e-5));
  assert.equal(out.direct.model_output_is_encoded, false, "direct calls return plain arrays");
  assert.equal(out.queued.state, "succeeded");
  assert.deepEqual(decodeNpy(out.queued.result.model_outputs.logits).shape, [1, 3]);
});

test("crash: SIGKILL a replica with 200 tasks in flight; every task still finishes, correctly", async () => {
  const victim = replicas[0];
  const redis = new Redis(env.REDIS_URL);
  try {
    const submitting = submitMany(200, 1000);
    // Kill only once the victim holds unacknowledged entries, so the crash really strands work.
    const stream = `${env.SQUARE_KEY_PREFIX}queue:bert-tiny-sst`;
    let stranded = 0;
    for (let i = 0; i < 2000 && stranded === 0; i++) {
      const pending = (await redis.xpending(stream, "replicas")) as [number, string, string, [string, string][] | null];
      stranded = Number((pending[3] ?? []).find(([consumer]) => consumer === `${victim.nodeId}:cpu`)?.[1] ?? 0);
    }
    assert.ok(stranded > 0, "the victim had work in flight");
    await victim.kill("SIGKILL");
    const killedAt = Date.now();
    replicas.splice(0, 1);
    const tasks = await submitting;
    await assertAllCorrect(tasks);
    console.log(`# ${stranded} stranded task(s); all 200 tasks finished ${Date.now() - killedAt} ms after the SIGKILL (visibility timeout 2 s)`);
    const left = (await redis.xpending(stream, "replicas")) as [number, ...unknown[]];
    assert.equal(left[0], 0, "nothing left pending");
  } finally {
    redis.disconnect();
  }
});

test("drain: SIGTERM a replica under load; it finishes its work, exits cleanly, nothing is lost", async () => {
  await startReplica("replica-c");
  await waitForReplicas("bert-tiny-sst", 2);
  const tasks = await submitMany(200, 2000);
  const draining = replicas.find((p) => p.name === "replica-c")!;
  const code = await draining.kill("SIGTERM");
  assert.equal(code, 0, draining.log.slice(-20).join("\n"));
  assert.ok(draining.log.some((l) => /SIGTERM: draining/.test(l)));
  await assertAllCorrect(tasks);
});

test("restart: task ids returned before a gateway restart still resolve after it", async () => {
  const tasks = await submitMany(20, 3000);
  await assertAllCorrect(tasks);
  await gateway.kill("SIGTERM");
  gateway = await startServer("gateway-2", ["--roles", "gateway,scheduler", "--port", "0"], env);
  api = httpClient(`http://127.0.0.1:${gateway.port}/api/main`);
  await assertAllCorrect(tasks);
  // An update made before this gateway started still bounds validation (read from the store).
  assert.equal((await api.post("/bert-tiny-sst/update", { max_input: 3 })).status, 200);
  await gateway.kill("SIGTERM");
  gateway = await startServer("gateway-3", ["--roles", "gateway,scheduler", "--port", "0"], env);
  api = httpClient(`http://127.0.0.1:${gateway.port}/api/main`);
  const tooMany = await api.post(SST, { input: ["a", "b", "c", "d"] });
  assert.equal(tooMany.status, 422);
  assert.match(tooMany.body.error.message, /at most 3/);
});
