/** API keys (constant-time lookup, file validation), role checks and the GCRA rate limiter (issue #14). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { ApiKeyVerifier } from "../../lib/auth/api-keys.ts";
import { requireAccess } from "../../lib/auth/access.ts";
import { ANONYMOUS, Identity, maySeeTask } from "../../lib/auth/identity.ts";
import { MemoryRateLimiter, gcra } from "../../lib/auth/rate-limiter.ts";
import { DEFAULT_RATE_LIMITS } from "../../lib/config/security-settings.ts";
import { toErrorBody } from "../../lib/errors.ts";

const KEYS = { keys: [{ key: "user-key-0123456789abcdef", identity: "alice", roles: ["user"] }, { key: "admin-key-0123456789abcdef", identity: "root", roles: ["admin"] }, { key: "norole-key-0123456789abcd", identity: "nobody", roles: [] }] };
const policy = { adminRole: "admin", userRole: "user" };

const statusOf = (fn: () => unknown): number => {
  try {
    fn();
    return 200;
  } catch (err) {
    return toErrorBody(err as never).status;
  }
};

test("API keys: each key maps to its identity and roles; unknown keys are 401", () => {
  const v = new ApiKeyVerifier(KEYS, "test");
  assert.deepEqual(v.verify("user-key-0123456789abcdef"), { id: "alice", roles: ["user"], via: "apikey" });
  assert.deepEqual(v.verify("admin-key-0123456789abcdef"), { id: "root", roles: ["admin"], via: "apikey" });
  assert.equal(statusOf(() => v.verify("user-key-0123456789abcdeX")), 401);
  assert.equal(statusOf(() => v.verify("user-key-0123456789abcdef0")), 401, "a longer key with a valid prefix");
  assert.equal(statusOf(() => v.verify("")), 401);
});

test("API key files: clear errors that never quote a key", () => {
  assert.throws(() => new ApiKeyVerifier({}, "keys.json"), /keys.json: expected \{"keys": \[/);
  assert.throws(() => new ApiKeyVerifier({ keys: [{ key: "short", identity: "a", roles: [] }] }, "f"), /keys\[0\].key must be a string of at least 16 characters/);
  assert.throws(() => new ApiKeyVerifier({ keys: [{ key: "x".repeat(20), identity: "", roles: [] }] }, "f"), /keys\[0\].identity must be a non-empty string/);
  assert.throws(() => new ApiKeyVerifier({ keys: [{ key: "x".repeat(20), identity: "a", roles: "admin" }] }, "f"), /keys\[0\].roles must be a list/);
  assert.throws(() => new ApiKeyVerifier({ keys: [{ key: "x".repeat(20), identity: "a", roles: [] }, { key: "x".repeat(20), identity: "b", roles: [] }] }, "f"), (err: Error) => /keys\[1\].key is the same as an earlier key/.test(err.message) && !err.message.includes("x".repeat(20)));
  assert.throws(() => ApiKeyVerifier.fromJson("{"), /SQUARE_API_KEYS: not valid JSON/);
  assert.throws(() => ApiKeyVerifier.fromFile("/nonexistent/keys.json"), /--api-keys \/nonexistent\/keys.json: cannot read it \(ENOENT\)/);
});

test("roles: 401 without identity, 403 without the role, admins are users, * lets every identity predict", () => {
  const alice: Identity = { id: "alice", roles: ["user"], via: "apikey" };
  const root: Identity = { id: "root", roles: ["admin"], via: "apikey" };
  const nobody: Identity = { id: "nobody", roles: [], via: "jwt" };
  assert.equal(statusOf(() => requireAccess(null, "user", policy)), 401);
  assert.equal(statusOf(() => requireAccess(null, "public", policy)), 200);
  assert.equal(statusOf(() => requireAccess(alice, "user", policy)), 200);
  assert.equal(statusOf(() => requireAccess(alice, "admin", policy)), 403);
  assert.equal(statusOf(() => requireAccess(root, "user", policy)), 200);
  assert.equal(statusOf(() => requireAccess(nobody, "user", policy)), 403);
  assert.equal(statusOf(() => requireAccess(nobody, "user", { ...policy, userRole: "*" })), 200);
  assert.equal(statusOf(() => requireAccess(ANONYMOUS, "admin", policy)), 200, "--auth none: everything allowed");
  assert.match(String((() => { try { requireAccess(alice, "admin", policy); } catch (e) { return (e as Error).message; } })()), /needs the "admin" role, which identity "alice" does not have/);
});

test("task visibility: the owner and admins; tasks without an owner only admins", () => {
  const alice: Identity = { id: "alice", roles: ["user"], via: "jwt" };
  assert.equal(maySeeTask(alice, policy, "alice"), true);
  assert.equal(maySeeTask(alice, policy, "bob"), false);
  assert.equal(maySeeTask(alice, policy, undefined), false);
  assert.equal(maySeeTask({ id: "root", roles: ["admin"], via: "jwt" }, policy, "bob"), true);
});

test("GCRA: a full window at once, then evenly; the wait is exact", () => {
  let tat: number | undefined;
  for (let i = 0; i < 5; i++) {
    const v = gcra(tat, 1000, 5, 1000, 1);
    assert.equal(v.waitMs, 0, `request ${i + 1} of 5`);
    tat = v.tat;
  }
  assert.equal(tat, 2000);
  assert.deepEqual(gcra(tat, 1000, 5, 1000, 1), { waitMs: 200 }, "the 6th waits one interval");
  assert.equal(gcra(tat, 1200, 5, 1000, 1).waitMs, 0, "after 200 ms one more fits");
  assert.deepEqual(gcra(undefined, 0, 0, 1000, 99), { waitMs: 0 }, "0 = unlimited");
  const half = gcra(undefined, 0, 0.5, 1000, 1);
  assert.deepEqual(half, { tat: 2000, waitMs: 0 }, "below one per window: still one at once");
  assert.deepEqual(gcra(half.tat, 1000, 0.5, 1000, 1), { waitMs: 1000 });
});

test("memory limiter: 429 with Retry-After past the limit, per identity, items per minute; admin unlimited by default", async () => {
  let now = 1_000_000;
  const limiter = new MemoryRateLimiter({ user: { perSecond: 2, itemsPerMinute: 10 }, admin: DEFAULT_RATE_LIMITS.admin }, policy, () => now);
  const alice: Identity = { id: "alice", roles: ["user"], via: "apikey" };
  const bob: Identity = { id: "bob", roles: ["user"], via: "apikey" };
  await limiter.take(alice, { requests: 1, items: 0 });
  await limiter.take(alice, { requests: 1, items: 0 });
  const refused = await limiter.take(alice, { requests: 1, items: 0 }).catch((e) => e);
  assert.equal(toErrorBody(refused).status, 429);
  assert.equal(refused.retryAfterS, 1);
  assert.match(refused.message, /rate limit of this identity reached \(2 requests per second\)/);
  await limiter.take(bob, { requests: 1, items: 0 }); // another identity has its own allowance
  now += 500;
  await limiter.take(alice, { requests: 1, items: 0 });

  await limiter.take(alice, { requests: 0, items: 8 });
  const items = await limiter.take(alice, { requests: 0, items: 5 }).catch((e) => e);
  assert.equal(items.retryAfterS, 18, "3 items over at 6 s each");
  assert.match(items.message, /10 items per minute/);
  const huge = await limiter.take(bob, { requests: 0, items: 11 }).catch((e) => e);
  assert.equal(toErrorBody(huge).status, 422, "more items than a minute allows can never pass: not a 429");
  for (let i = 0; i < 100; i++) await limiter.take({ id: "root", roles: ["admin"], via: "apikey" }, { requests: 1, items: 1000 });
  await limiter.close();
});
