/** replicas_per_device > 1 (and several devices) run model actors in child processes that join the cluster. */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, clusterEnv, killAll } from "../helpers/processes.ts";
import { httpClient } from "../helpers/http.ts";
import { writeModelsFile } from "../helpers/fixtures.ts";

after(killAll);

test("a models node with replicas_per_device 2 serves through two child actor processes, and drains them on SIGTERM", async () => {
  const env = clusterEnv();
  const gateway = await startServer("gateway", ["--roles", "gateway,scheduler", "--port", "0"], env);
  const api = httpClient(`http://127.0.0.1:${gateway.port}/api/main`);
  const modelsFile = await writeModelsFile([{ id: "bert-tiny-sst", path: "bert-tiny-sst", replicas_per_device: 2 }]);
  const host = await startServer("host", ["--roles", "models", "--models", modelsFile], env);
  let replicas: { node: string }[] = [];
  for (let i = 0; i < 200 && replicas.length < 2; i++) {
    replicas = ((await api.get("/models")).body[0]?.replicas ?? []) as { node: string }[];
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.deepEqual(replicas.map((r) => r.node).sort(), [`${host.nodeId}-cpu-0`, `${host.nodeId}-cpu-1`]);
  const q = await api.post("/bert-tiny-sst/sequence-classification", { input: ["a great movie"] });
  assert.equal((await api.result(q.body.task_id)).body.status, "Finished");
  assert.equal(await host.kill("SIGTERM"), 0);
  for (let i = 0; i < 100; i++) {
    if ((await api.get("/bert-tiny-sst/health/heartbeat")).status === 503) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const hb = await api.get("/bert-tiny-sst/health/heartbeat");
  assert.equal(hb.status, 503, "the children left the cluster with their parent");
});
