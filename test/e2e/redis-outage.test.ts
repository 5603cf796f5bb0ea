/**
 * Outage: with Redis stopped, every route that needs the store answers 503 (not 500, not a hang)
 * with a fixed message that never echoes the Redis client's own text, and the node recovers when
 * Redis returns. Uses a private redis-server on a free port, so the shared one on 6379 is never
 * disturbed.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { startServer, spawnProcess, clusterEnv, killAll, Proc } from "../helpers/processes.ts";
import { httpClient } from "../helpers/http.ts";
import { writeModelsFile } from "../helpers/fixtures.ts";
import { STORE_UNAVAILABLE } from "../../lib/store/store-call.ts";

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

/** Text of the Redis client and the connection that must never reach a client (SPEC §12). */
const REDIS_INTERNALS = /Stream isn't writeable|enableOfflineQueue|ECONNREFUSED|Connection is closed|MaxRetriesPerRequest|127\.0\.0\.1|redis:\/\//i;

test("Redis down: every store-backed route is 503 with a fixed reason; after Redis returns, work flows again", async () => {
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

  assert.equal((await api.get("/bert-tiny-sst/stats")).status, 200);

  await redis.kill("SIGTERM");
  const routes: [string, () => ReturnType<typeof api.get>][] = [
    ["POST sequence-classification", () => api.post("/bert-tiny-sst/sequence-classification", body)],
    ["GET task_result", () => api.get(`/task_result/${ok.body.task_id}`)],
    ["POST update", () => api.post("/bert-tiny-sst/update", { batch_size: 4 })],
    ["GET stats", () => api.get("/bert-tiny-sst/stats")],
  ];
  for (const [route, call] of routes) {
    const down = await call();
    assert.equal(down.status, 503, `${route}: ${JSON.stringify(down.body)}`);
    assert.equal(down.body.error.type, "unavailable", route);
    // The store's fixed message (not a hang ended by a timeout, not the Redis client's text).
    assert.equal(down.body.error.message, STORE_UNAVAILABLE, route);
    assert.doesNotMatch(JSON.stringify(down.body), REDIS_INTERNALS, route);
  }
  const invalidUpdate = await api.post("/bert-tiny-sst/update", { batch_size: 0 });
  assert.equal(invalidUpdate.status, 422, "a bad update is refused before the store is needed");
  assert.equal(invalidUpdate.body.error.details[0].field, "batch_size");
  assert.deepEqual((await api.get("/health/heartbeat")).body, { is_alive: true }, "the gateway itself stays alive");

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
  const updated = await api.post("/bert-tiny-sst/update", { batch_size: 4 });
  assert.equal(updated.status, 200, JSON.stringify(updated.body));
  assert.equal(updated.body.batch_size, 4);
  assert.equal((await api.get("/bert-tiny-sst/stats")).body.batch_size, 4);
  await node.kill("SIGTERM");
  await redis.kill("SIGTERM");
});
