/** Auth, rate-limit, CORS, bind-address and transporter settings (issue #14): flags, environment, clear errors. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { resolveSettings, OPTIONS } from "../../lib/config/settings.ts";
import { parseRateLimits } from "../../lib/config/security-settings.ts";
import { natsAuthOptions } from "../../lib/config/transport-settings.ts";
import { brokerConfig } from "../../moleculer.config.ts";

test("defaults: auth none, loopback bind, Keycloak roles claim, admin/user roles, CORS off", () => {
  const s = resolveSettings([], {});
  assert.equal(s.auth, "none");
  assert.equal(s.host, "127.0.0.1");
  assert.equal(s.jwtRolesClaim, "realm_access.roles");
  assert.equal(s.adminRole, "admin");
  assert.equal(s.userRole, "user");
  assert.deepEqual(s.corsOrigins, []);
  assert.deepEqual(s.rateLimits, { user: { perSecond: 20, itemsPerMinute: 10_000 }, admin: { perSecond: 0, itemsPerMinute: 0 } });
});

test("the issue's flag names exist, each with an environment variable", () => {
  const flags = OPTIONS.map((o) => o.flag);
  for (const flag of ["--auth", "--api-keys", "--jwks-url", "--jwt-public-key", "--jwt-secret", "--jwt-issuer", "--jwt-audience", "--jwt-roles-claim", "--admin-role", "--host", "--cors-origins", "--rate-limits"]) assert.ok(flags.includes(flag), flag);
  const s = resolveSettings(["--auth", "jwt", "--jwks-url", "https://sso.example.org/realms/square/protocol/openid-connect/certs", "--jwt-audience", "a,b"], { SQUARE_JWT_ISSUER: "https://sso.example.org/realms/square", SQUARE_HOST: "0.0.0.0" });
  assert.equal(s.jwtIssuer, "https://sso.example.org/realms/square");
  assert.deepEqual(s.jwtAudience, ["a", "b"]);
  assert.equal(s.host, "0.0.0.0");
});

test("each mode needs its key source, and flags of another mode are refused", () => {
  assert.throws(() => resolveSettings(["--auth", "jwt"], {}), /--auth jwt needs one key source: --jwks-url URL, --jwt-public-key FILE or --jwt-secret SECRET/);
  assert.throws(() => resolveSettings(["--auth", "jwt", "--jwks-url", "http://a/", "--jwt-public-key", "k.pem"], {}), /takes one key source; got --jwks-url and --jwt-public-key/);
  assert.throws(() => resolveSettings(["--auth", "jwt"], { SQUARE_JWT_SECRET: "short" }), /--jwt-secret must be at least 32 characters/);
  assert.throws(() => resolveSettings(["--auth", "apikey"], {}), /--auth apikey needs --api-keys FILE \(or the SQUARE_API_KEYS environment variable\)/);
  assert.throws(() => resolveSettings(["--jwks-url", "http://a/"], {}), /--jwks-url only apply with --auth jwt \(--auth is none\)/);
  assert.throws(() => resolveSettings(["--api-keys", "k.json"], {}), /API keys only apply with --auth apikey/);
  assert.throws(() => resolveSettings(["--auth", "oauth"], {}), /--auth must be one of none, jwt, apikey, got "oauth"/);
  assert.throws(() => resolveSettings(["--auth", "jwt", "--jwks-url", "file:///etc/passwd"], {}), /--jwks-url must be an http\(s\) URL/);
  assert.throws(() => resolveSettings(["--host", "0.0.0.0; rm"], {}), /--host must be an address/);
  assert.throws(() => resolveSettings(["--cors-origins", "https://a.example/path"], {}), /--cors-origins entries must be origins/);
  assert.deepEqual(resolveSettings(["--cors-origins", "https://a.example, http://localhost:3000"], {}).corsOrigins, ["https://a.example", "http://localhost:3000"]);
  assert.throws(() => resolveSettings(["--jwt-roles-claim", "realm_access..roles"], {}), /dot path/);
});

test("rate limits: TIER=REQUESTS/ITEMS, tiers not named keep their defaults, 0 = unlimited", () => {
  assert.deepEqual(parseRateLimits("user=5/100"), { user: { perSecond: 5, itemsPerMinute: 100 }, admin: { perSecond: 0, itemsPerMinute: 0 } });
  assert.deepEqual(parseRateLimits("admin=100/0,user=0.5/60").user, { perSecond: 0.5, itemsPerMinute: 60 });
  assert.throws(() => parseRateLimits("guest=1/1"), /entries look like user=20\/10000/);
  assert.throws(() => parseRateLimits("user=-1/1"), /entries look like/);
});

test("transporter credentials and TLS reach the NATS client options; the password only from the environment", () => {
  const s = resolveSettings(["--transporter", "nats://127.0.0.1:4222", "--transporter-user", "square", "--transporter-tls-ca", "/ca.pem"], { TRANSPORTER_PASSWORD: "pw" });
  assert.deepEqual(natsAuthOptions(s), { user: "square", pass: "pw", tls: { caFile: "/ca.pem" } });
  assert.deepEqual(brokerConfig(s).transporter, { type: "NATS", options: { servers: ["127.0.0.1:4222"], user: "square", pass: "pw", tls: { caFile: "/ca.pem" } } });
  assert.equal(brokerConfig(resolveSettings(["--transporter", "nats://u:p@127.0.0.1:4222"], {})).transporter, "nats://u:p@127.0.0.1:4222", "credentials in the URL pass as they are");
  assert.throws(() => resolveSettings(["--transporter-password", "pw"], {}), /unknown option "--transporter-password"/);
  assert.throws(() => resolveSettings([], { TRANSPORTER_TOKEN: "t" }), /credentials or TLS are set but --transporter is not/);
  assert.throws(() => resolveSettings(["--transporter", "nats://h:4222", "--transporter-tls-cert", "c.pem"], {}), /--transporter-tls-cert and --transporter-tls-key go together/);
});
