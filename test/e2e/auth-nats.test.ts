/**
 * Issue #14, Moleculer side: nodes on the transporter are trusted, so the transporter's own
 * authentication keeps others out. A private nats-server with a user and password: a node with
 * the right credentials joins, one with wrong credentials (or none) is refused and says why.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { startNode, RunningNode } from "../../lib/node.ts";
import { resolveSettings } from "../../lib/config/settings.ts";
import { spawnProcess, Proc } from "../helpers/processes.ts";

const NATS_BIN = (() => {
  try {
    return execFileSync("sh", ["-c", "command -v nats-server"], { encoding: "utf8" }).trim();
  } catch {
    return existsSync("/usr/sbin/nats-server") ? "/usr/sbin/nats-server" : "nats-server";
  }
})();
const PASSWORD = randomUUID();
let nats: Proc;
let url: string;
const nodes: RunningNode[] = [];

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

before(async () => {
  const port = await freePort();
  url = `nats://127.0.0.1:${port}`;
  nats = spawnProcess("nats-auth", NATS_BIN, ["-a", "127.0.0.1", "-p", String(port), "--user", "square", "--pass", PASSWORD], {});
  await nats.waitFor(/Server is ready/, 10_000);
});
after(async () => {
  for (const n of nodes) await n.stop();
  await nats?.kill("SIGTERM");
});

const start = (env: NodeJS.ProcessEnv, transporter = url) => startNode(resolveSettings(["--roles", "scheduler", "--transporter", transporter, "--node-id", `n-${randomUUID().slice(0, 6)}`, "--log-level", "error"], env));

test("right credentials (environment or URL) join; wrong or missing credentials are refused at once with a clear error", async () => {
  const good = await start({ TRANSPORTER_USER: "square", TRANSPORTER_PASSWORD: PASSWORD });
  nodes.push(good);
  const inUrl = await start({}, `nats://square:${encodeURIComponent(PASSWORD)}@127.0.0.1:${new URL(url).port}`);
  nodes.push(inUrl);
  for (let i = 0; i < 50 && !good.broker.registry.nodes.toArray().some((n) => n.id === inUrl.broker.nodeID && n.available); i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(good.broker.registry.nodes.toArray().some((n) => n.id === inUrl.broker.nodeID && n.available), "the two trusted nodes see each other");

  for (const [name, env] of [["wrong password", { TRANSPORTER_USER: "square", TRANSPORTER_PASSWORD: "guess" }], ["no credentials", {}]] as const) {
    const started = Date.now();
    await assert.rejects(start(env), /the transporter refused this node's credentials \(.*Authorization Violation.*\); check TRANSPORTER_USER\/TRANSPORTER_PASSWORD/i, name);
    assert.ok(Date.now() - started < 5000, `${name}: refused at once, not after reconnect attempts`);
  }
  const known = good.broker.registry.nodes.toArray().filter((n) => !n.local).map((n) => n.id);
  assert.deepEqual(known, [inUrl.broker.nodeID], "no refused node ever appeared in the registry");
});
