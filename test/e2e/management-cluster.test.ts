/**
 * Run-time model management across real processes, real NATS and real Redis (issue #15): a
 * gateway+scheduler node and two managed model nodes sharing a models root. Deploy at run time
 * and get results; scale to two replicas and see both work; SIGKILL the node that runs the model
 * and see it placed on the other with every accepted task finished; remove after drain (404);
 * redeploy the same id. Prints the time from a deploy call to its first result, and from a
 * node's death to its model serving again elsewhere.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { startServer, clusterEnv, killAll, Proc } from "../helpers/processes.ts";
import { httpClient, Client } from "../helpers/http.ts";
import { fixturePath } from "../helpers/fixtures.ts";
import { makeModelsRoot } from "../helpers/management.ts";
import { decodeNpy } from "../helpers/embedded.ts";
import { ModelRuntime } from "../../lib/model/runtime.ts";
import { withModelDefaults } from "../../lib/config/model-settings.ts";
import { executeTask } from "../../lib/orchestration/execute.ts";
import { withDefaults } from "../../lib/request/request.ts";

const env = clusterEnv({ SQUARE_VISIBILITY_TIMEOUT: "2", SQUARE_AGENT_LEASE: "1.5" });
let root: string;
let api: Client;
let mm: Client;
let reference: ModelRuntime;
const nodes = new Map<string, Proc>();
const SST = "/sst/sequence-classification";
const textOf = (i: number) => `film ${i} was ${["great", "bad", "boring", "fun"][i % 4]}`;
const expected = new Map<string, number[]>();

const send = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(mm.base + path, { method, headers: body === undefined ? {} : { "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
};

async function until<T>(what: string, probe: () => Promise<T | undefined>, tries = 600): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`never: ${what}`);
}

async function expectedLogits(text: string): Promise<number[]> {
  if (!expected.has(text)) {
    const { result } = await executeTask("sequence-classification", withDefaults({ input: [text] }), reference, { plaintext: true });
    expected.set(text, (result.model_outputs as { logits: number[][] }).logits[0]);
  }
  return expected.get(text)!;
}

async function submitMany(count: number, offset: number): Promise<{ id: string; text: string }[]> {
  return Promise.all(Array.from({ length: count }, async (_, k) => {
    const text = textOf(offset + k);
    const r = await api.post(SST, { input: [text] });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return { id: r.body.task_id as string, text };
  }));
}

async function assertAllCorrect(tasks: { id: string; text: string }[]): Promise<void> {
  for (const t of tasks) {
    const r = await api.result(t.id, 60_000);
    assert.equal(r.status, 200, `${t.id}: ${JSON.stringify(r.body)}`);
    const got = decodeNpy(r.body.result.model_outputs.logits).values;
    const want = await expectedLogits(t.text);
    got.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-5, `${t.text}: ${got} vs ${want}`));
  }
}

/** square_model_client's wait: polls /api/main/task_result until 200. */
const finished = async (taskId: string) => {
  const r = await api.result(taskId, 60_000);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.result;
};

const health = async () => (await send("GET", "/sst/health")).body as { replicas_ready: number; ready: { node: string }[]; placed_on: string[] };

before(async () => {
  reference = await ModelRuntime.load(withModelDefaults({ id: "ref", path: await fixturePath("bert-tiny-sst") }), { kind: "cpu", id: 0 });
  root = await makeModelsRoot();
  // The gateway has no models root: it asks a model node to check deploy folders.
  const gateway = await startServer("gateway", ["--roles", "gateway,scheduler", "--port", "0"], env);
  api = httpClient(`http://127.0.0.1:${gateway.port}/api/main`);
  mm = httpClient(`http://127.0.0.1:${gateway.port}/api/models`);
  for (const name of ["node-a", "node-b"]) {
    const p = await startServer(name, ["--roles", "models", "--models-root", root], env);
    nodes.set(p.nodeId!, p);
  }
  await until("both model nodes advertised", async () => ((await send("GET", "/placement")).body.nodes.length === 2 ? true : undefined));
  // A deploy's folder check goes to a node that both the store (its lease) and the gateway's
  // Moleculer registry know; until discovery catches up it answers 503 "retry when one is".
  await until("a model node checks deploy folders", async () => ((await send("POST", "/deploy", { identifier: "esc", model_path: "outside" })).status === 503 ? undefined : true));
});

after(async () => {
  await killAll();
  await reference?.close();
});

test("deploy at run time, then results; path escapes are refused by the node that checks the folder", async () => {
  assert.equal((await send("POST", "/deploy", { identifier: "esc", model_path: "../x" })).status, 422);
  const outside = await send("POST", "/deploy", { identifier: "esc", model_path: "outside" });
  assert.equal(outside.status, 422);
  assert.match(outside.body.error.message, /resolves outside the models root/);

  const t0 = performance.now();
  const r = await send("POST", "/deploy", { identifier: "sst", model_name: "bert-tiny-sst", model_type: "onnx" });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  const result = await finished(r.body.task_id);
  const tReady = performance.now();
  assert.equal(result.replicas, 1);
  const [first] = await submitMany(1, 0);
  await assertAllCorrect([first]);
  const tFirst = performance.now();
  console.log(`# deploy call → deploy task Finished: ${(tReady - t0).toFixed(0)} ms; → first result: ${(tFirst - t0).toFixed(0)} ms`);
  const models = (await api.get("/models")).body;
  assert.equal(models[0].id, "sst");
  assert.equal(models[0].placement.replicas_wanted, 1);
  assert.match(models[0].placement.decisions.at(-1).message, /placed an actor of sst on node-/);
});

test("scale to two replicas: both nodes run it and both do work", async () => {
  const r = await send("PATCH", "/sst/add_worker/1", "sst");
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal((await finished(r.body.task_id)).replicas, 2);
  assert.deepEqual((await health()).ready.map((x) => x.node).sort(), [...nodes.keys()].sort());
  await until("the gateway sees two replicas", async () => ((await api.get("/models")).body[0].replicas_ready === 2 ? true : undefined));
  const tasks = await submitMany(100, 100);
  await assertAllCorrect(tasks);
  const stats = (await api.get("/sst/stats")).body;
  const completed = stats.replicas.map((x: { completed: number }) => x.completed);
  assert.equal(completed.length, 2);
  assert.ok(completed.every((c: number) => c > 0), `work split ${completed}`);
});

test("SIGKILL the node that runs the model: it is placed on the other node and every accepted task finishes", async () => {
  const down = await send("DELETE", "/sst/remove_worker/1", "sst");
  assert.equal(down.status, 200, JSON.stringify(down.body));
  assert.equal((await finished(down.body.task_id)).replicas, 1);
  const [host] = (await health()).ready.map((x) => x.node);
  const victim = nodes.get(host)!;
  const survivor = [...nodes.keys()].find((n) => n !== host)!;
  const redis = new Redis(env.REDIS_URL);
  try {
    const submitting = submitMany(150, 1000);
    const stream = `${env.SQUARE_KEY_PREFIX}queue:sst`;
    let stranded = 0;
    for (let i = 0; i < 4000 && stranded === 0; i++) {
      const pending = (await redis.xpending(stream, "replicas")) as [number, string, string, [string, string][] | null];
      stranded = Number((pending[3] ?? []).find(([consumer]) => consumer === `${host}:cpu`)?.[1] ?? 0);
    }
    assert.ok(stranded > 0, "the victim had work in flight");
    await victim.kill("SIGKILL");
    const killedAt = performance.now();
    nodes.delete(host);
    const serving = await until("sst ready on the survivor", async () => {
      const h = await health();
      return h.ready.length === 1 && h.ready[0].node === survivor ? h : undefined;
    }, 2000);
    const servingAt = performance.now();
    assert.deepEqual(serving.placed_on, [survivor]);
    const tasks = await submitting;
    await assertAllCorrect(tasks);
    console.log(`# SIGKILL of ${host} → sst ready on ${survivor}: ${(servingAt - killedAt).toFixed(0)} ms (agent lease 1.5 s); ${stranded} stranded task(s); all 150 finished ${(performance.now() - killedAt).toFixed(0)} ms after the kill (visibility timeout 2 s)`);
    const left = (await redis.xpending(stream, "replicas")) as [number, ...unknown[]];
    assert.equal(left[0], 0, "nothing left pending");
    const decisions = (await send("GET", "/placement")).body.decisions.map((d: { message: string }) => d.message);
    assert.ok(decisions.includes(`node ${host} is gone; its actor of sst is placed again`), decisions.join("\n"));
  } finally {
    redis.disconnect();
  }
});

test("remove drains accepted tasks, then the model is 404; the same id deploys again", async () => {
  const tasks = await submitMany(60, 2000);
  const removed = await send("DELETE", "/remove/sst", "sst");
  assert.equal(removed.status, 200, JSON.stringify(removed.body));
  const refused = await api.post(SST, { input: ["too late"] });
  assert.equal(refused.status, 404, JSON.stringify(refused.body));
  assert.equal((await finished(removed.body.task_id)).message, "removed sst");
  await assertAllCorrect(tasks);
  const gone = await api.post(SST, { input: ["after"] });
  assert.equal(gone.status, 404);
  assert.match(gone.body.error.message, /model sst is not deployed/);
  assert.deepEqual((await send("GET", "/deployed-models")).body, []);

  const again = await send("POST", "/deploy", { identifier: "sst", model_path: "nested/sst", replicas: 1 });
  assert.equal(again.status, 202, JSON.stringify(again.body));
  assert.equal((await finished(again.body.task_id)).replicas, 1);
  await assertAllCorrect(await submitMany(5, 3000));
});
