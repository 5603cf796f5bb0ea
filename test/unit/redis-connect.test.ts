/**
 * A node's first connection to Redis (lib/store/redis-connect.ts): retried with exponential
 * backoff while nothing answers, bounded when asked, not retried when Redis refuses the
 * credentials. Real connections: a port nothing listens on, and a private redis-server with a
 * password on a free port.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { spawn, ChildProcess } from "node:child_process";
import { Redis } from "ioredis";
import { connectWithRetry, redisAddress } from "../../lib/store/redis-connect.ts";

const freePort = () =>
  new Promise<number>((resolve) => {
    const srv = createServer().listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });

const servers: ChildProcess[] = [];
after(() => servers.forEach((s) => s.kill("SIGKILL")));

async function redisServer(port: number, ...args: string[]): Promise<void> {
  const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", ...args], { stdio: ["ignore", "pipe", "inherit"] });
  servers.push(child);
  await new Promise<void>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("Ready to accept connections")) resolve();
    });
    child.on("exit", (code) => reject(new Error(`redis-server exited ${code}: ${out}`)));
  });
}

const client = (port: number, password?: string) => () => new Redis({ port, host: "127.0.0.1", password, lazyConnect: true, maxRetriesPerRequest: 2, enableOfflineQueue: false });

test("nothing listening: retried with doubling delays up to the cap, each attempt logged, until the bound", async () => {
  const port = await freePort();
  const delays: number[] = [];
  const logs: string[] = [];
  await assert.rejects(
    connectWithRetry(client(port), `127.0.0.1:${port}`, { initialDelayMs: 100, maxDelayMs: 400, timeoutMs: 1000, log: (m) => logs.push(m), sleep: async (ms) => void delays.push(ms) }),
    /not reachable after \d+ attempt\(s\).*ECONNREFUSED.*giving up/,
  );
  // The bound is real elapsed time plus the next delay; the fake sleep takes none, so the delays run 100, 200, 400, 400, ... until the attempts themselves have taken 1 s.
  assert.deepEqual(delays.slice(0, 4), [100, 200, 400, 400]);
  assert.ok(delays.every((d) => d <= 400));
  assert.equal(logs.length, delays.length);
  assert.match(logs[0], new RegExp(`127\\.0\\.0\\.1:${port} not reachable \\(connect ECONNREFUSED .*\\); attempt 1 failed, retrying in 0\\.1 s`));
});

test("Redis comes up while the node waits: connected, and the client then works and reconnects on its own", async () => {
  const port = await freePort();
  const logs: string[] = [];
  const connected: string[] = [];
  let attempts = 0;
  const connecting = connectWithRetry(client(port), `127.0.0.1:${port}`, {
    initialDelayMs: 50,
    maxDelayMs: 200,
    log: (m) => logs.push(m),
    connected: (m) => connected.push(m),
    sleep: async (ms) => {
      if (++attempts === 3) await redisServer(port); // the third wait is when Redis starts
      await new Promise((r) => setTimeout(r, ms));
    },
  });
  const redis = await connecting;
  assert.ok(logs.length >= 3, logs.join("\n"));
  assert.match(connected[0], /connected to 127\.0\.0\.1:\d+ at attempt \d+, after \d+\.\d s/);
  assert.equal(await redis.ping(), "PONG");
  // ioredis's own reconnection is back in charge after the first connection.
  await redis.client("KILL", "TYPE", "normal").catch(() => undefined);
  let pong;
  for (let i = 0; i < 50 && pong !== "PONG"; i++) pong = await redis.ping().catch(() => new Promise((r) => setTimeout(r, 50)));
  assert.equal(pong, "PONG");
  redis.disconnect();
});

test("a Redis that refuses the password is not retried", async () => {
  const port = await freePort();
  await redisServer(port, "--requirepass", "right-password");
  let slept = 0;
  await assert.rejects(connectWithRetry(client(port, "wrong-password"), `127.0.0.1:${port}`, { sleep: async () => void slept++ }), /refused this node \(WRONGPASS.*check the user and password/);
  assert.equal(slept, 0);
});

test("redisAddress shows host and port, never credentials", () => {
  assert.equal(redisAddress("redis://user:secret@redis:6380/2"), "redis:6380/2");
  assert.equal(redisAddress("redis://redis"), "redis:6379");
  assert.equal(redisAddress("not a url"), "(unparsable Redis URL)");
});
