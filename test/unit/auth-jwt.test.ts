/**
 * JWT verification (issue #14): RS256/ES256 through a local JWKS server, a key file, an HS256
 * secret; claims checked with skew; every hostile token a 401 with a WWW-Authenticate challenge
 * (or a 503 when the key set is unreachable), never anything else.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { createAuthenticator, Authenticator } from "../../lib/auth/authenticator.ts";
import { DEFAULT_SECURITY, SecuritySettings } from "../../lib/config/security-settings.ts";
import { toErrorBody } from "../../lib/errors.ts";
import { signingKey, startJwksServer, sign, keycloakClaims, unsignedToken, hmacToken, ISSUER, AUDIENCE, SigningKey, JwksServer } from "../helpers/auth-jwks.ts";

let rsa: SigningKey;
let ec: SigningKey;
let jwks: JwksServer;
let auth: Authenticator;
const dir = mkdtempSync(join(tmpdir(), "square-auth-"));

const settings = (extra: Partial<SecuritySettings>): SecuritySettings => ({ ...DEFAULT_SECURITY, auth: "jwt", jwtIssuer: ISSUER, jwtAudience: [AUDIENCE], ...extra });
const now = () => Math.floor(Date.now() / 1000);

before(async () => {
  rsa = await signingKey("RS256");
  ec = await signingKey("ES256");
  jwks = await startJwksServer([rsa, ec]);
  auth = createAuthenticator(settings({ jwksUrl: jwks.url }), { jwksCooldownMs: 0 });
});
after(() => jwks.close());

/** The status, message and challenge the gateway would send for this Authorization header. */
async function outcome(a: Authenticator, header: string | undefined): Promise<{ status: number; message: string; challenge?: string; id?: string; roles?: readonly string[] }> {
  try {
    const identity = await a.authenticate(header);
    return { status: 200, message: "", id: identity.id, roles: identity.roles };
  } catch (err) {
    const { status, body } = toErrorBody(err as never);
    return { status, message: (body.error as { message: string }).message, challenge: (err as { wwwAuthenticate?: string }).wwwAuthenticate };
  }
}

test("a Keycloak-shaped RS256 token from the JWKS is accepted: identity from sub, roles from realm_access.roles", async () => {
  const r = await outcome(auth, `Bearer ${await sign(rsa, keycloakClaims("alice", ["user"]))}`);
  assert.deepEqual(r, { status: 200, message: "", id: "alice", roles: ["offline_access", "user"] });
  const e = await outcome(auth, `Bearer ${await sign(ec, keycloakClaims("bob", ["admin"]))}`);
  assert.deepEqual([e.status, e.id, e.roles], [200, "bob", ["offline_access", "admin"]], "ES256 from the same set");
});

test("claims: expired, not yet valid, wrong issuer, wrong audience, missing sub are 401 naming the claim; skew tolerated", async () => {
  const cases: [string, Record<string, unknown>, number, RegExp][] = [
    ["expired", { exp: now() - 120 }, 401, /the token has expired/],
    ["expired within the 30 s skew", { exp: now() - 10 }, 200, /^$/],
    ["not yet valid", { nbf: now() + 120 }, 401, /not valid yet \(nbf\)/],
    ["nbf within the skew", { nbf: now() + 10 }, 200, /^$/],
    ["another realm's issuer", { iss: "http://keycloak.test/realms/other" }, 401, /issuer \(iss\) is not the one this server accepts/],
    ["wrong audience", { aud: "another-service" }, 401, /audience \(aud\) is not one this server accepts/],
    ["no exp", { exp: undefined }, 401, /no "exp" claim/],
    ["no sub", { sub: undefined }, 401, /no "sub" claim/],
  ];
  for (const [name, extra, status, message] of cases) {
    const r = await outcome(auth, `Bearer ${await sign(rsa, keycloakClaims("alice", ["user"], extra as never))}`);
    assert.equal(r.status, status, `${name}: ${r.message}`);
    assert.match(r.message, message, name);
    if (status === 401) assert.match(r.challenge ?? "", /^Bearer realm="square-inference", error="invalid_token", error_description="/, name);
  }
});

test("alg none, algorithm confusion, bad signatures and malformed tokens are 401, never 5xx", async () => {
  const claims = keycloakClaims("mallory", ["admin"]);
  const valid = await sign(rsa, claims);
  const [h, p] = valid.split(".");
  const otherKey = await signingKey("RS256", rsa.kid); // same kid, another key: signature must fail
  const cases: [string, string | undefined, RegExp][] = [
    ["no header", undefined, /needs credentials/],
    ["Basic scheme", "Basic YWxpY2U6c2VjcmV0", /must be "Bearer <token>"/],
    ["empty bearer", "Bearer ", /must be "Bearer <token>"/],
    ["alg none", `Bearer ${unsignedToken(claims)}`, /unsigned tokens \(alg none\) are not accepted; this server accepts RS256, ES256/],
    ["HS256 keyed with the RSA public key (confusion)", `Bearer ${hmacToken(rsa.publicPem, claims, { kid: rsa.kid })}`, /algorithm "HS256" is not accepted/],
    ["signed by another key under the same kid", `Bearer ${await sign(otherKey, claims)}`, /signature does not verify/],
    ["payload swapped", `Bearer ${h}.${Buffer.from(JSON.stringify({ ...claims, sub: "root" })).toString("base64url")}.${valid.split(".")[2]}`, /signature does not verify/],
    ["malformed base64", `Bearer ${h}.@@@notbase64@@@.${valid.split(".")[2]}`, /characters a bearer token cannot have/],
    // The signature is checked before the payload is parsed.
    ["base64 of garbage", `Bearer ${h}.${Buffer.from("not json").toString("base64url")}.${valid.split(".")[2]}`, /signature does not verify/],
    ["garbage, HS256 with a secret it would need", `Bearer ${hmacToken(rsa.publicPem, "x" as never)}`, /algorithm "HS256" is not accepted/],
    ["two parts", `Bearer ${h}.${p}`, /malformed/],
    ["random word", "Bearer hello", /malformed/],
    ["header not JSON", `Bearer ${Buffer.from("{{{").toString("base64url")}.${p}.abc`, /malformed/],
    ["huge token", `Bearer ${"a".repeat(9000)}`, /longer than 8192 characters/],
    ["control characters", "Bearer abc\tdef", /characters a bearer token cannot have/],
  ];
  for (const [name, header, message] of cases) {
    const r = await outcome(auth, header);
    assert.equal(r.status, 401, `${name}: ${r.status} ${r.message}`);
    assert.match(r.message, message, name);
    assert.match(r.challenge ?? "", /^Bearer realm="square-inference"/, name);
    assert.doesNotMatch(r.challenge ?? "", /[\r\n]/, name);
  }
});

test("JWKS: an unknown kid refetches the set once (rotation works), then a kid still unknown is 401", async () => {
  const rotated = await signingKey("RS256");
  const before = jwks.requests;
  jwks.keys = [rsa, ec, rotated];
  const r = await outcome(auth, `Bearer ${await sign(rotated, keycloakClaims("carol", ["user"]))}`);
  assert.equal(r.status, 200, r.message);
  assert.equal(jwks.requests, before + 1, "one refetch for the new kid");
  const stranger = await signingKey("RS256");
  const s = await outcome(auth, `Bearer ${await sign(stranger, keycloakClaims("eve", ["admin"]))}`);
  assert.equal(s.status, 401);
  assert.match(s.message, /no signing key of the issuer matches the token's kid/);
  assert.equal(jwks.requests, before + 2, "the unknown kid caused one more refetch, no more");
});

test("JWKS: the default cooldown stops a stream of unknown kids from refetching the set", async () => {
  const a = createAuthenticator(settings({ jwksUrl: jwks.url }));
  assert.equal((await outcome(a, `Bearer ${await sign(rsa, keycloakClaims("alice", ["user"]))}`)).status, 200);
  const before = jwks.requests;
  for (let i = 0; i < 5; i++) assert.equal((await outcome(a, `Bearer ${await sign(await signingKey("RS256"), keycloakClaims("eve", []))}`)).status, 401);
  assert.equal(jwks.requests, before, "within the 30 s cooldown no refetch");
});

test("JWKS: a set that does not answer within the timeout is a 503 with Retry-After, and it recovers", async () => {
  const slow = await startJwksServer([rsa]);
  slow.delayMs = 2000;
  const a = createAuthenticator(settings({ jwksUrl: slow.url, jwksTimeoutMs: 200 }), { jwksCooldownMs: 0 });
  const token = `Bearer ${await sign(rsa, keycloakClaims("alice", ["user"]))}`;
  const started = Date.now();
  const r = await outcome(a, token);
  assert.equal(r.status, 503, r.message);
  assert.match(r.message, /signing keys \(JWKS\) could not be fetched; retry shortly/);
  assert.ok(Date.now() - started < 1500, "gave up at the timeout");
  slow.delayMs = 0;
  assert.equal((await outcome(a, token)).status, 200);
  await slow.close();
});

test("key file: PEM public key (RS256, ES256) and JWKS file; a private key file is refused at start", async () => {
  const rsaFile = join(dir, "rsa.pem");
  writeFileSync(rsaFile, rsa.publicPem);
  const a = createAuthenticator(settings({ jwtPublicKey: rsaFile }));
  assert.equal((await outcome(a, `Bearer ${await sign(rsa, keycloakClaims("alice", ["user"]))}`)).status, 200);
  const confused = await outcome(a, `Bearer ${hmacToken(rsa.publicPem, keycloakClaims("eve", ["admin"]))}`);
  assert.equal(confused.status, 401);
  assert.match(confused.message, /algorithm "HS256" is not accepted; this server accepts RS256/);
  assert.equal((await outcome(a, `Bearer ${await sign(ec, keycloakClaims("alice", ["user"]))}`)).status, 401, "an ES256 token against an RSA key file");

  const ecFile = join(dir, "ec.pem");
  writeFileSync(ecFile, ec.publicPem);
  assert.equal((await outcome(createAuthenticator(settings({ jwtPublicKey: ecFile })), `Bearer ${await sign(ec, keycloakClaims("alice", []))}`)).status, 200);

  const setFile = join(dir, "jwks.json");
  writeFileSync(setFile, JSON.stringify({ keys: [rsa.publicJwk] }));
  assert.equal((await outcome(createAuthenticator(settings({ jwtPublicKey: setFile })), `Bearer ${await sign(rsa, keycloakClaims("alice", []))}`)).status, 200);

  const privateFile = join(dir, "private.pem");
  writeFileSync(privateFile, "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n");
  assert.throws(() => createAuthenticator(settings({ jwtPublicKey: privateFile })), /holds a private key; give the server the public key/);
  assert.throws(() => createAuthenticator(settings({ jwtPublicKey: join(dir, "missing.pem") })), /cannot read it \(ENOENT\)/);
});

test("HS256 shared secret: accepted with the secret, refused with another or as alg none", async () => {
  const secret = "a-shared-secret-of-at-least-32-characters!";
  const a = createAuthenticator(settings({ jwtSecret: secret, jwtIssuer: undefined, jwtAudience: undefined }));
  const claims = { sub: "svc", exp: now() + 60, realm_access: { roles: ["user"] } };
  assert.deepEqual(await outcome(a, `Bearer ${hmacToken(secret, claims)}`), { status: 200, message: "", id: "svc", roles: ["user"] });
  assert.match((await outcome(a, `Bearer ${hmacToken("another-secret-of-at-least-32-characters", claims)}`)).message, /signature does not verify/);
  assert.match((await outcome(a, `Bearer ${unsignedToken(claims)}`)).message, /alg none/);
  assert.match((await outcome(a, `Bearer ${await sign(rsa, claims)}`)).message, /algorithm "RS256" is not accepted; this server accepts HS256/);
});

test("roles claim path is configurable (client roles, scope strings)", async () => {
  const a = createAuthenticator(settings({ jwksUrl: jwks.url, jwtRolesClaim: "resource_access.square-api.roles" }), { jwksCooldownMs: 0 });
  const r = await outcome(a, `Bearer ${await sign(rsa, keycloakClaims("alice", [], { resource_access: { "square-api": { roles: ["admin"] } } }))}`);
  assert.deepEqual(r.roles, ["admin"]);
  const s = createAuthenticator(settings({ jwksUrl: jwks.url, jwtRolesClaim: "scope" }), { jwksCooldownMs: 0 });
  assert.deepEqual((await outcome(s, `Bearer ${await sign(rsa, keycloakClaims("alice", [], { scope: "openid user" }))}`)).roles, ["openid", "user"]);
});

test("fuzz: any random Authorization header is a 401 with a challenge, never another status", async () => {
  const a = createAuthenticator(settings({ jwksUrl: jwks.url }));
  const b64 = (v: unknown) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");
  const header = fc.record({ alg: fc.constantFrom("none", "None", "HS256", "RS256", "ES256", "PS256", "RS512", "", 7), kid: fc.oneof(fc.constant(rsa.kid), fc.string()), typ: fc.constantFrom("JWT", undefined), crit: fc.constantFrom(undefined, ["exp"], "x") }, { requiredKeys: [] });
  const segment = fc.oneof(fc.string(), fc.base64String(), header.map(b64), fc.jsonValue().map(b64), fc.constant(""));
  const token = fc.oneof(fc.string({ maxLength: 300 }), fc.array(segment, { minLength: 1, maxLength: 5 }).map((parts) => parts.join(".")));
  const authorization = fc.oneof(token.map((t) => `Bearer ${t}`), token, fc.constant("Bearer"), token.map((t) => `bearer  ${t} `));
  await fc.assert(
    fc.asyncProperty(authorization, async (value) => {
      const r = await outcome(a, value);
      assert.ok(r.status === 401 && /^Bearer realm="square-inference"/.test(r.challenge ?? ""), `${JSON.stringify(value)} → ${r.status} ${r.message}`);
    }),
    { numRuns: 1500, seed: 14 },
  );
});
