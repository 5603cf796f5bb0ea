/**
 * Several gateways behind one address (`--reuse-port`, issue #17): two gateway processes bound
 * to the same port with SO_REUSEPORT both answer (the kernel spreads new connections over them),
 * tasks submitted through the shared port finish whichever gateway takes each request, a gateway
 * without the option still finds the port in use, and the port keeps answering when one of the
 * two stops. Real processes, NATS and Redis.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { createServer } from "node:net";
import { startServer, spawnProcess, clusterEnv, killAll, Proc } from "../helpers/processes.ts";
import { httpClient } from "../helpers/http.ts";
import { writeModelsFile } from "../helpers/fixtures.ts";
import { fileURLToPath } from "node:url";

const BIN = fileURLToPath(new URL("../../bin/square-inference.js", import.meta.url));
// Debug level: moleculer-web logs each request ("=> GET /path"), which tells which gateway took it.
const env = clusterEnv({ LOG_LEVEL: "debug" });
let port: number;
let gateways: Proc[];

const freePort = () =>
  new Promise<number>((resolve) => {
    const srv = createServer().listen(0, "127.0.0.1", () => {
      const { port: p } = srv.address() as { port: number };
      srv.close(() => resolve(p));
    });
  });

/** One GET on a connection of its own (no keep-alive), so each request is a new connection for the kernel to place. */
const getFresh = (path: string) =>
  new Promise<number>((resolve, reject) => {
    http.get({ host: "127.0.0.1", port, path, agent: false, headers: { connection: "close" } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    }).on("error", reject);
  });

const served = (p: Proc, path: string) => p.log.filter((l) => l.includes(`=> GET ${path}`)).length;

before(async () => {
  port = await freePort();
  const args = ["--roles", "gateway,scheduler", "--port", String(port), "--reuse-port", "true"];
  gateways = await Promise.all([startServer("gateway-a", args, env), startServer("gateway-b", args, env)]);
  const modelsFile = await writeModelsFile([{ id: "bert-tiny-sst", path: "bert-tiny-sst" }]);
  await startServer("replica", ["--roles", "models", "--models", modelsFile], env);
});

after(killAll);

test("two gateways with --reuse-port listen on the same port, and both answer", async () => {
  assert.deepEqual(gateways.map((g) => g.port), [port, port]);
  const path = "/api/main/health/heartbeat";
  for (let i = 0; i < 40; i++) assert.equal(await getFresh(path), 200);
  // Each gateway logs the request through its stdout pipe, which may arrive after the response.
  const seen = () => gateways.reduce((sum, g) => sum + served(g, path), 0);
  for (let i = 0; i < 50 && seen() < 40; i++) await new Promise((r) => setTimeout(r, 100));
  const counts = gateways.map((g) => served(g, path));
  assert.equal(counts[0] + counts[1], 40, `requests seen: ${counts}`);
  assert.ok(counts.every((c) => c > 0), `both gateways answered: ${counts}`);
});

test("tasks submitted through the shared port finish, whichever gateway takes the POST and the poll", async () => {
  const api = httpClient(`http://127.0.0.1:${port}/api/main`);
  for (let i = 0; i < 100 && (await api.get("/models")).body?.[0]?.replicas_ready !== 1; i++) await new Promise((r) => setTimeout(r, 100));
  const ids = await Promise.all(Array.from({ length: 10 }, async (_, i) => {
    const r = await api.post("/bert-tiny-sst/sequence-classification", { input: [`movie ${i} was great`] });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.task_id as string;
  }));
  for (const id of ids) assert.equal((await api.result(id, 30_000)).body.status, "Finished");
});

test("a gateway without --reuse-port finds the port in use; with one of the two stopped, the port still answers", async () => {
  const plain = spawnProcess("gateway-plain", process.execPath, [BIN, "serve", "--roles", "gateway", "--port", String(port)], { ...env, LOG_LEVEL: "info" });
  assert.notEqual(await plain.exited, 0);
  assert.ok(plain.log.some((l) => /already in use|EADDRINUSE/.test(l)), plain.log.slice(-10).join("\n"));
  await gateways[0].kill("SIGTERM");
  for (let i = 0; i < 10; i++) assert.equal(await getFresh("/api/main/health/heartbeat"), 200);
});
