/**
 * Outage: with Redis stopped, POST answers 503 quickly (not 500, not a hang), and the node
 * recovers when Redis returns. Uses a private redis-server on a free port, so the shared one
 * on 6379 is never disturbed.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { startServer, spawnProcess, clusterEnv, killAll, Proc } from "../helpers/processes.ts";
import { httpClient } from "../helpers/http.ts";
import { writeModelsFile } from "../helpers/fixtures.ts";

after(killAll);

const freePort = () =>
  new Promise<number>((resolve) => {
    const srv = createServer().listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });

async function startRedis(port: number): Promise<Proc> {
  const redis = spawnProcess("redis", "redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {});
  await redis.waitFor(/Ready to accept connections/);
  return redis;
}

test("Redis down: POST is 503 with a reason, fast; after Redis returns, work flows again", async () => {
  const port = await freePort();
  let redis = await startRedis(port);
  const env = clusterEnv({ REDIS_URL: `redis://127.0.0.1:${port}` });
  const modelsFile = await writeModelsFile([{ id: "bert-tiny-sst", path: "bert-tiny-sst" }]);
  const node = await startServer("all-roles", ["--port", "0", "--models", modelsFile], env);
  const api = httpClient(`http://127.0.0.1:${node.port}/api/main`);
  const body = { input: ["a great movie"] };

  const ok = await api.post("/bert-tiny-sst/sequence-classification", body);
  assert.equal(ok.status, 200);
  assert.equal((await api.result(ok.body.task_id)).body.status, "Finished");

  await redis.kill("SIGTERM");
  const started = Date.now();
  const down = await api.post("/bert-tiny-sst/sequence-classification", body);
  assert.equal(down.status, 503, JSON.stringify(down.body));
  assert.equal(down.body.error.type, "unavailable");
  assert.match(down.body.error.message, /task store unavailable/);
  assert.ok(Date.now() - started < 5000, "answers instead of hanging");
  assert.equal((await api.get(`/task_result/${ok.body.task_id}`)).status, 503);

  redis = await startRedis(port); // an empty Redis: the earlier task is gone, new work must flow
  let recovered;
  for (let i = 0; i < 100; i++) {
    recovered = await api.post("/bert-tiny-sst/sequence-classification", body);
    if (recovered.status === 200) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(recovered?.status, 200);
  const done = await api.result(recovered!.body.task_id, 15_000);
  assert.equal(done.body.status, "Finished", JSON.stringify(done.body));
  await node.kill("SIGTERM");
  await redis.kill("SIGTERM");
});
