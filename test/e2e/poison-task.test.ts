/**
 * A poison task in a cluster (SPEC §12), with real processes, NATS and Redis: a task whose run
 * kills its replica process (the fault-injection failpoint aborts the process the way a native
 * panic does) is retried alone, fails after its second crash naming the cause, and every
 * innocent task submitted around it finishes with correct values.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { startServer, clusterEnv, killAll, Proc } from "../helpers/processes.ts";
import { httpClient, Client } from "../helpers/http.ts";
import { writeModelsFile, fixturePath } from "../helpers/fixtures.ts";
import { decodeNpy } from "../helpers/embedded.ts";
import { ModelRuntime } from "../../lib/model/runtime.ts";
import { withModelDefaults } from "../../lib/config/model-settings.ts";
import { executeTask } from "../../lib/orchestration/execute.ts";
import { withDefaults } from "../../lib/request/request.ts";

const MARKER = "poison-pill-7f3a";
const env = clusterEnv({ SQUARE_VISIBILITY_TIMEOUT: "2", SQUARE_FAULT_ABORT_ON: MARKER });
const SST = "/bert-tiny-sst/sequence-classification";
let api: Client;
let reference: ModelRuntime;
const replicas: Proc[] = [];

before(async () => {
  reference = await ModelRuntime.load(withModelDefaults({ id: "ref", path: await fixturePath("bert-tiny-sst") }), { kind: "cpu", id: 0 });
  const modelsFile = await writeModelsFile([{ id: "bert-tiny-sst", path: "bert-tiny-sst", batch_size: 8 }]);
  const gateway = await startServer("gateway", ["--roles", "gateway,scheduler", "--port", "0"], env);
  api = httpClient(`http://127.0.0.1:${gateway.port}/api/main`);
  replicas.push(...(await Promise.all(["a", "b", "c"].map((n) => startServer(`replica-${n}`, ["--roles", "models", "--models", modelsFile], env)))));
  for (let i = 0; i < 300; i++) {
    const models = (await api.get("/models")).body as { id: string; replicas_ready: number }[];
    if (models.find((m) => m.id === "bert-tiny-sst")?.replicas_ready === 3) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("three replicas never became ready");
});

after(async () => {
  await killAll();
  await reference?.close();
});

async function expectedLogits(text: string): Promise<number[]> {
  const { result } = await executeTask("sequence-classification", withDefaults({ input: [text] }), reference, { plaintext: true });
  return (result.model_outputs as { logits: number[][] }).logits[0];
}

const submit = async (text: string): Promise<string> => {
  const r = await api.post(SST, { input: [text] });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.task_id as string;
};

test("a task that kills its replica fails after two crashes; the innocent tasks around it all finish correctly", async () => {
  // Innocent work flows all along, so both crashes happen with other tasks in flight in the cluster.
  const innocents: { id: string; text: string }[] = [];
  let flowing = true;
  const submitter = async (lane: number) => {
    for (let i = 0; flowing; i++) {
      const text = `innocent review ${lane}-${i} was ${["fine", "awful", "dull", "lovely"][i % 4]} and ${"rather long ".repeat(20)}`;
      const r = await api.post(SST, { input: Array.from({ length: 16 }, () => text) });
      // A full queue answers 429 (SPEC §11), as it may while two of three replicas are down:
      // a well-behaved client waits as Retry-After says and sends again; nothing was accepted.
      if (r.status === 429) {
        assert.match(r.body.error.message, /tasks queued \(limit \d+\); retry later/);
        await new Promise((res) => setTimeout(res, 1000 * Number(r.headers.get("retry-after") ?? 1)));
        continue;
      }
      assert.equal(r.status, 200, JSON.stringify(r.body));
      innocents.push({ id: r.body.task_id, text });
    }
  };
  const flow = Promise.all([0, 1, 2, 3, 4, 5].map(submitter));
  while (innocents.length < 20) await new Promise((r) => setTimeout(r, 10));
  const poison = await submit(`a review with a ${MARKER} inside`);
  const failed = await api.result(poison, 60_000);
  flowing = false;
  await flow;

  assert.equal(failed.status, 500, JSON.stringify(failed.body));
  assert.equal(failed.body.status, "Failed");
  assert.equal(failed.body.error.type, "worker_crashed");
  assert.match(failed.body.error.message, /crashed the model worker 2 times/);

  const redis = new Redis(env.REDIS_URL);
  let retried = 0;
  try {
    for (const { id, text } of innocents) {
      const r = await api.result(id, 60_000);
      assert.equal(r.status, 200, `${text}: ${JSON.stringify(r.body)}`);
      const got = decodeNpy(r.body.result.model_outputs.logits);
      assert.equal(got.shape[0], 16);
      const want = await expectedLogits(text);
      got.values.slice(0, want.length).forEach((v, k) => assert.ok(Math.abs(v - want[k]) < 1e-5, `${text}: ${got.values} vs ${want}`));
      if (Number(await redis.hget(`${env.SQUARE_KEY_PREFIX}task:${id}`, "attempts")) > 1) retried++;
    }
  } finally {
    redis.disconnect();
  }
  console.log(`# ${innocents.length} innocent tasks finished; ${retried} of them were in flight in a process the poison killed`);
  assert.ok(retried > 0, "the first crash took innocent tasks down with it (the scenario this test is about)");

  const dead = replicas.filter((p) => p.child.exitCode !== null || p.child.signalCode !== null);
  assert.equal(dead.length, 2, `exactly two replica deaths: ${replicas.map((p) => `${p.name}=${p.child.signalCode ?? p.child.exitCode}`).join(", ")}`);
  assert.ok(dead.every((p) => p.child.signalCode === "SIGABRT"), "each died of the abort");
  const alive = await submit("still serving after the poison");
  const done = await api.result(alive, 30_000);
  assert.equal(done.status, 200, JSON.stringify(done.body));
});
