/**
 * A node started before its Redis (containers started together, Redis restarting) waits for it,
 * logging each attempt, and serves once it answers; with --redis-connect-timeout it gives up and
 * exits non-zero instead. A private redis-server on a free port, so the shared one is untouched.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { spawnProcess, clusterEnv, killAll } from "../helpers/processes.ts";
import { httpClient } from "../helpers/http.ts";
import { writeModelsFile } from "../helpers/fixtures.ts";

after(killAll);

const BIN = fileURLToPath(new URL("../../bin/square-inference.js", import.meta.url));

const freePort = () =>
  new Promise<number>((resolve) => {
    const srv = createServer().listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });

test("Redis not up at start: the node retries with backoff, logging each attempt, and serves once Redis answers", async () => {
  const port = await freePort();
  const env = clusterEnv({ REDIS_URL: `redis://127.0.0.1:${port}` });
  const modelsFile = await writeModelsFile([{ id: "bert-tiny-sst", path: "bert-tiny-sst" }]);
  const node = spawnProcess("all-roles", process.execPath, [BIN, "serve", "--port", "0", "--models", modelsFile], env);
  await node.waitFor(new RegExp(`redis: 127\\.0\\.0\\.1:${port} not reachable \\(connect ECONNREFUSED[^)]*\\); attempt 1 failed, retrying in 0\\.5 s`));
  await node.waitFor(/attempt 2 failed, retrying in 1\.0 s/, 10_000);
  assert.equal(node.child.exitCode, null, "still running while Redis is down");
  const redis = spawnProcess("redis", "redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {});
  await redis.waitFor(/Ready to accept connections/);
  await node.waitFor(/redis: connected to 127\.0\.0\.1:\d+ at attempt \d+, after \d+\.\d s/, 30_000);
  const ready = await node.waitFor(/node \S+ ready on http:\/\/127\.0\.0\.1:(\d+)/, 60_000);
  const api = httpClient(`http://127.0.0.1:${ready[1]}/api/main`);
  const q = await api.post("/bert-tiny-sst/sequence-classification", { input: ["a great movie"] });
  assert.equal(q.status, 200, JSON.stringify(q.body));
  assert.equal((await api.result(q.body.task_id, 15_000)).body.status, "Finished");
  // No Redis text reaches the log as an unhandled client error.
  assert.ok(!node.log.some((l) => /Unhandled error event/.test(l)), node.log.join("\n"));
});

test("--redis-connect-timeout bounds the wait: the node exits non-zero naming Redis and the setting", async () => {
  const port = await freePort();
  const env = clusterEnv({ REDIS_URL: `redis://127.0.0.1:${port}` });
  const node = spawnProcess("bounded", process.execPath, [BIN, "serve", "--roles", "scheduler", "--redis-connect-timeout", "1.2"], env);
  const code = await node.exited;
  assert.equal(code, 1);
  assert.ok(node.log.some((l) => /square-inference: redis at 127\.0\.0\.1:\d+ not reachable after \d+ attempt\(s\) in \d\.\d s .*giving up \(--redis-connect-timeout 1\.2\)/.test(l)), node.log.join("\n"));
});
