/**
 * Issue #14 with real Redis (127.0.0.1:6379, a private key prefix): two gateways share each
 * identity's rate limit, and task records keep their owner.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { startSecured, SecuredNode } from "../helpers/auth-server.ts";
import { TEST_REDIS_URL } from "../helpers/services.ts";
import { RedisTaskStore } from "../../lib/store/redis-store.ts";

const prefix = `square-test:auth-${randomUUID().slice(0, 8)}:`;
const USER = "user-key-0123456789abcdef";
let redis: Redis;
let gateways: SecuredNode[] = [];

before(async () => {
  redis = new Redis(TEST_REDIS_URL);
  const dir = mkdtempSync(join(tmpdir(), "square-keys-"));
  writeFileSync(join(dir, "keys.json"), JSON.stringify({ keys: [{ key: USER, identity: "alice", roles: ["user"] }, { key: "other-key-0123456789abcdef", identity: "bob", roles: ["user"] }] }));
  const flags = ["--auth", "apikey", "--api-keys", join(dir, "keys.json"), "--redis", TEST_REDIS_URL, "--key-prefix", prefix, "--rate-limits", "user=0.5/100"];
  gateways = [await startSecured(flags, undefined), await startSecured(flags, undefined)];
});
after(async () => {
  for (const g of gateways) await g.stop();
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

test("two gateways on one Redis share an identity's limit: 429 with Retry-After from either", async () => {
  // 0.5 requests per second: one request, then one every 2 s, whichever gateway it reaches.
  const [a, b] = gateways;
  assert.equal((await a.call("GET", "/models", { token: USER })).status, 200);
  const fromB = await b.call("GET", "/models", { token: USER });
  assert.equal(fromB.status, 429, "the other gateway knows the allowance is spent");
  assert.equal(fromB.headers.get("retry-after"), "2");
  assert.equal((await a.call("GET", "/models", { token: USER })).status, 429);
  assert.equal((await b.call("GET", "/models", { token: "other-key-0123456789abcdef" })).status, 200, "another identity has its own allowance");
  const stored = await redis.keys(`${prefix}ratelimit:*`);
  assert.equal(stored.length, 2, "one key per identity and limit, identities hashed");
  assert.ok(stored.every((k) => !k.includes("alice") && k.endsWith(":req")), stored.join(","));
  const ttl = await redis.pttl(stored[0]);
  assert.ok(ttl > 0 && ttl <= 2001, `expires when the allowance is full again (${ttl} ms)`);
  await new Promise((r) => setTimeout(r, 2100));
  assert.equal((await b.call("GET", "/models", { token: USER })).status, 200, "after 2 s one more");
});

test("Redis task store: the owner is stored and read back; tasks without one have none", async () => {
  const store = new RedisTaskStore(redis, prefix, 60_000);
  const now = Date.now();
  await store.create({ id: "t1", model: "m", task: "embedding", state: "queued", created_at: now, updated_at: now, attempts: 0, owner: "alice" });
  await store.create({ id: "t2", model: "m", task: "embedding", state: "queued", created_at: now, updated_at: now, attempts: 0 });
  await store.complete("t1", { ok: true }, { total_ms: 1 });
  assert.equal((await store.get("t1"))?.owner, "alice", "kept through completion");
  assert.equal((await store.get("t2"))?.owner, undefined);
  assert.equal("owner" in (await store.get("t2"))!, false);
});
