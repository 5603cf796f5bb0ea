/**
 * Issue #14 over HTTP against embedded nodes: `--auth jwt` with a local JWKS server (the attack
 * table: every case its exact status, never a 5xx), roles per route, task isolation, paths in
 * /stats, rate limits with Retry-After; `--auth apikey` with CORS; security headers and OPTIONS.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "node:http";
import { startSecured, SecuredNode, waitForTask } from "../helpers/auth-server.ts";
import { signingKey, startJwksServer, sign, keycloakClaims, unsignedToken, hmacToken, ISSUER, AUDIENCE, SigningKey, JwksServer } from "../helpers/auth-jwks.ts";

let key: SigningKey;
let jwks: JwksServer;
let jwt: SecuredNode;
let apikey: SecuredNode;
const SST = "/sst/sequence-classification";
const KEYS = { keys: [{ key: "user-key-0123456789abcdef", identity: "alice", roles: ["user"] }, { key: "admin-key-0123456789abcdef", identity: "root", roles: ["admin"] }, { key: "guest-key-0123456789abcdef", identity: "guest", roles: [] }] };

const token = (sub: string, roles: string[], extra: Record<string, unknown> = {}) => sign(key, keycloakClaims(sub, roles, extra));

before(async () => {
  key = await signingKey("RS256");
  jwks = await startJwksServer([key]);
  jwt = await startSecured(["--auth", "jwt", "--jwks-url", jwks.url, "--jwt-issuer", ISSUER, "--jwt-audience", AUDIENCE, "--rate-limits", "user=5/40"]);
  const dir = mkdtempSync(join(tmpdir(), "square-keys-"));
  writeFileSync(join(dir, "keys.json"), JSON.stringify(KEYS));
  apikey = await startSecured(["--auth", "apikey", "--api-keys", join(dir, "keys.json"), "--cors-origins", "https://app.example"], undefined);
});
after(async () => {
  await jwt?.stop();
  await apikey?.stop();
  await jwks?.close();
});

test("public routes answer without credentials; everything else is 401 with WWW-Authenticate", async () => {
  for (const path of ["/health/heartbeat", "/openapi.json", "/docs", "/sst/health/heartbeat"]) assert.equal((await jwt.call("GET", path)).status, 200, path);
  for (const [method, path] of [["GET", "/models"], ["GET", "/metrics"], ["GET", "/sst/stats"], ["GET", "/task_result/00000000-0000-4000-8000-000000000000"], ["POST", SST], ["POST", "/sst/update"], ["GET", "/no/such/route"]]) {
    const r = await jwt.call(method, path, { body: method === "POST" ? { input: ["x"] } : undefined });
    assert.equal(r.status, 401, `${method} ${path}`);
    assert.equal(r.headers.get("www-authenticate"), 'Bearer realm="square-inference"', `${method} ${path}`);
    assert.deepEqual(r.body, { error: { type: "unauthorized", message: "this route needs credentials: send Authorization: Bearer <token>" } });
  }
  const unparsed = await fetch(`${jwt.base}${SST}`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"input": [' });
  assert.equal(unparsed.status, 401, "the body of an unauthenticated request is not even parsed");
  const doc = (await jwt.call("GET", "/openapi.json")).body;
  assert.deepEqual(doc.components.securitySchemes.bearer, { type: "http", scheme: "bearer", description: "a JWT (--auth jwt) or an API key (--auth apikey)" });
  assert.deepEqual(doc.paths["/api/main/health/heartbeat"].get.security, [], "public");
  assert.equal(doc.paths["/api/main/{identifier}/update"].post.security, undefined, "the document's default: bearer");
  assert.ok(doc.paths["/api/main/{identifier}/update"].post.responses["403"]);
});

test("the attack table: each token's exact status on a prediction route, never a 5xx", async () => {
  const now = Math.floor(Date.now() / 1000);
  const stranger = await signingKey("RS256");
  const valid = await token("attacker-table", ["user"]);
  const [h, , s] = valid.split(".");
  const table: [string, string, number][] = [
    ["valid user token", valid, 200],
    ["valid token without the user role", await token("no-role", []), 403],
    ["expired", await token("t", ["user"], { exp: now - 3600 }), 401],
    ["not yet valid", await token("t", ["user"], { nbf: now + 3600 }), 401],
    ["wrong issuer (another realm)", await token("t", ["user"], { iss: "http://keycloak.test/realms/other" }), 401],
    ["wrong audience", await token("t", ["user"], { aud: "other" }), 401],
    ["alg none", unsignedToken(keycloakClaims("t", ["admin"])), 401],
    ["HS256 signed with the RSA public key as secret", hmacToken(key.publicPem, keycloakClaims("t", ["admin"]), { kid: key.kid }), 401],
    ["unknown kid", await sign(stranger, keycloakClaims("t", ["admin"])), 401],
    ["malformed base64", `${h}.%%%.${s}`, 401],
    ["three dots of nothing", "..", 401],
    ["huge token (10 KB)", "a".repeat(10_000), 401],
  ];
  const seen: string[] = [];
  for (const [name, t, status] of table) {
    const r = await jwt.call("POST", SST, { token: t, body: { input: ["a great movie"] } });
    seen.push(`${name}: ${r.status}`);
    assert.equal(r.status, status, `${name}: ${JSON.stringify(r.body)}`);
    if (status === 401) assert.match(r.headers.get("www-authenticate") ?? "", /^Bearer realm="square-inference", error="invalid_token", error_description="[^"]+"$/, name);
  }
  const huge = await rawStatus(jwt.base, "a".repeat(20_000));
  assert.equal(huge, 431, "a token past Node's 16 KB header limit is refused by the HTTP server itself");
  console.log(`attack table: ${seen.join("; ")}; 20 KB token: ${huge}`);
});

/** A raw GET with an oversized Authorization header (fetch itself refuses some). */
function rawStatus(base: string, t: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}/models`, { headers: { authorization: `Bearer ${t}` } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
    req.end();
  });
}

test("task isolation: another identity gets 404 for the task (HTTP and scheduler.result); admins read any", async () => {
  const alice = await token("alice", ["user"]);
  const bob = await token("bob", ["user"]);
  const admin = await token("root", ["admin"]);
  const queued = await jwt.call("POST", SST, { token: alice, body: { input: ["a great movie"] } });
  assert.equal(queued.status, 200);
  const id = queued.body.task_id as string;
  const own = await waitForTask(jwt, id, alice);
  assert.equal(own.status, 200);
  assert.equal(own.body.status, "Finished");
  const other = await jwt.call("GET", `/task_result/${id}?wait=1`, { token: bob });
  assert.equal(other.status, 404);
  assert.deepEqual(other.body, { task_id: id, status: "Unknown" }, "the same answer as for an id that never existed");
  assert.equal((await jwt.call("GET", `/task_result/${id}`, { token: admin })).status, 200);
  assert.equal("owner" in own.body, false, "the owner is not part of the answer");
  const call = (identity?: string) => jwt.node.broker.call("scheduler.result", { task_id: id, ...(identity ? { identity } : {}) }) as Promise<{ owner?: string } | null>;
  assert.equal((await call("alice"))?.owner, "alice");
  assert.equal(await call("bob"), null);
  assert.equal((await call())?.owner, "alice", "a trusted Moleculer client without identity reads any task");
});

test("roles: update and /metrics need admin (401 anonymous, 403 user); stats hide paths from non-admins", async () => {
  const user = await token("carol", ["user"]);
  const admin = await token("root", ["admin"]);
  assert.equal((await jwt.call("POST", "/sst/update", { body: { batch_size: 4 } })).status, 401);
  const denied = await jwt.call("POST", "/sst/update", { token: user, body: { batch_size: 4 } });
  assert.equal(denied.status, 403);
  assert.deepEqual(denied.body.error, { type: "forbidden", message: 'this route needs the "admin" role, which identity "carol" does not have' });
  const updated = await jwt.call("POST", "/sst/update", { token: admin, body: { batch_size: 4 } });
  assert.equal(updated.status, 200);
  assert.equal(updated.body.batch_size, 4);
  assert.equal((await jwt.call("GET", "/metrics", { token: user })).status, 403);
  assert.equal((await jwt.call("GET", "/metrics", { token: admin })).status, 200);
  const forUser = await jwt.call("GET", "/sst/stats", { token: user });
  assert.equal(forUser.body.model_path, "model.onnx");
  const forAdmin = await jwt.call("GET", "/sst/stats", { token: admin });
  assert.match(forAdmin.body.model_path, /^\/.*\/bert-tiny-sst\/model\.onnx$/);
});

test("rate limits: requests per second and items per minute, 429 with Retry-After, per identity", async () => {
  const dave = await token("dave", ["user"]);
  const started = Date.now();
  const statuses = (await Promise.all(Array.from({ length: 8 }, () => jwt.call("GET", "/models", { token: dave })))).map((r) => r.status);
  // A full second's allowance at once, then one more per 200 ms that passed while sending.
  const refilled = Math.floor((Date.now() - started) / 200);
  const passed = statuses.filter((s) => s === 200).length;
  assert.ok(passed >= 5 && passed <= 5 + refilled, `${passed} passed (${statuses.join(",")})`);
  assert.equal(statuses.filter((s) => s === 429).length, 8 - passed, statuses.join(","));
  const limited = await jwt.call("GET", "/models", { token: dave });
  assert.equal(limited.status, 429);
  assert.equal(limited.headers.get("retry-after"), "1");
  assert.match(limited.body.error.message, /rate limit of this identity reached \(5 requests per second\)/);
  assert.equal((await jwt.call("GET", "/models", { token: await token("erin", ["user"]) })).status, 200, "another identity is not affected");

  const frank = await token("frank", ["user"]);
  assert.equal((await jwt.call("POST", SST, { token: frank, body: { input: Array(16).fill("good") } })).status, 200);
  assert.equal((await jwt.call("POST", SST, { token: frank, body: { input: Array(16).fill("good") } })).status, 200);
  const items = await jwt.call("POST", SST, { token: frank, body: { input: Array(16).fill("good") } });
  assert.equal(items.status, 429, "48 items > 40 per minute");
  // 8 items over at 1.5 s each: 12 s, less the time since the first request.
  assert.ok(["11", "12"].includes(items.headers.get("retry-after") ?? ""), `Retry-After ${items.headers.get("retry-after")}`);
  assert.equal((await jwt.call("GET", "/models", { token: await token("root", ["admin"]) })).status, 200);
});

test("apikey mode: valid, invalid, missing; admin vs user", async () => {
  const cases: [string, string | undefined, string, number][] = [
    ["user key", "user-key-0123456789abcdef", "/models", 200],
    ["user key on /metrics", "user-key-0123456789abcdef", "/metrics", 403],
    ["admin key on /metrics", "admin-key-0123456789abcdef", "/metrics", 200],
    ["key without roles", "guest-key-0123456789abcdef", "/models", 403],
    ["unknown key", "user-key-0123456789abcdeX", "/models", 401],
    ["missing", undefined, "/models", 401],
  ];
  for (const [name, k, path, status] of cases) assert.equal((await apikey.call("GET", path, { token: k })).status, status, name);
  const wrong = await apikey.call("GET", "/models", { token: "user-key-0123456789abcdeX" });
  assert.equal(wrong.headers.get("www-authenticate"), 'Bearer realm="square-inference", error="invalid_token", error_description="unknown API key"');
});

test("CORS and OPTIONS: off by default; with --cors-origins only the listed origin gets a grant; security headers everywhere", async () => {
  const plain = await jwt.call("OPTIONS", "/models", { headers: { origin: "https://app.example", "access-control-request-method": "GET" } });
  assert.equal(plain.status, 204);
  assert.equal(plain.headers.get("allow"), "GET, OPTIONS");
  assert.equal(plain.headers.get("access-control-allow-origin"), null, "CORS is off by default");
  assert.equal((await jwt.call("OPTIONS", "/sst/update")).headers.get("allow"), "POST, OPTIONS");
  assert.equal((await jwt.call("OPTIONS", "/nothing/here/at/all")).status, 404);

  const preflight = await apikey.call("OPTIONS", "/sst/sequence-classification", { headers: { origin: "https://app.example", "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type" } });
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers.get("access-control-allow-origin"), "https://app.example");
  assert.equal(preflight.headers.get("access-control-allow-methods"), "POST, OPTIONS");
  assert.equal(preflight.headers.get("access-control-allow-headers"), "Authorization, Content-Type, Content-Encoding");
  assert.equal(preflight.headers.get("access-control-allow-credentials"), null);
  const other = await apikey.call("OPTIONS", "/models", { headers: { origin: "https://evil.example", "access-control-request-method": "GET" } });
  assert.equal(other.headers.get("access-control-allow-origin"), null);
  const actual = await apikey.call("GET", "/models", { token: "user-key-0123456789abcdef", headers: { origin: "https://app.example" } });
  assert.equal(actual.headers.get("access-control-allow-origin"), "https://app.example");
  assert.equal(actual.headers.get("vary"), "Origin");

  for (const r of [actual, await jwt.call("GET", "/models"), await jwt.call("GET", "/health/heartbeat"), await jwt.call("GET", "/nope/nope/nope/nope", { token: await token("gina", ["user"]) })]) {
    assert.equal(r.headers.get("x-content-type-options"), "nosniff");
    assert.equal(r.headers.get("x-frame-options"), "DENY");
    assert.equal(r.headers.get("cache-control"), "no-store");
    assert.equal(r.headers.get("content-security-policy"), "default-src 'none'; frame-ancestors 'none'");
  }
  assert.match((await jwt.call("GET", "/docs")).headers.get("content-security-policy") ?? "", /script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'/);
});
