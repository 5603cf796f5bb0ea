/**
 * What authentication adds to one request's latency (issue #14): an embedded gateway in each
 * `--auth` mode, the same cheap authenticated route (`GET /models`) requested one at a time,
 * p50 and p99 per mode. Rate limits are on (a limit no request reaches) so their cost counts too.
 *
 *   node --import tsx tools/bench/auth-overhead.ts [requests per mode, default 2000]
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKeyPair, exportJWK, SignJWT } from "jose";
import { startNode } from "../../lib/node.ts";
import { resolveSettings } from "../../lib/config/settings.ts";

const N = Number(process.argv[2] ?? 2000);
const LIMITS = ["--rate-limits", "user=1000000/1000000"];

async function measure(name: string, flags: string[], authorization?: string): Promise<void> {
  const node = await startNode(resolveSettings(["--roles", "gateway", "--port", "0", "--log-level", "error", ...flags], {}));
  const url = `http://127.0.0.1:${node.port}/api/main/models`;
  const headers = authorization ? { authorization } : undefined;
  const times: number[] = [];
  for (let i = 0; i < N + 200; i++) {
    const t0 = performance.now();
    const res = await fetch(url, { headers });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`${name}: ${res.status}`);
    if (i >= 200) times.push(performance.now() - t0); // the first 200 warm up
  }
  await node.stop();
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))].toFixed(3);
  console.log(`${name.padEnd(34)} p50 ${at(0.5)} ms   p99 ${at(0.99)} ms   (${N} sequential GET /models)`);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "square-auth-bench-"));
  const { publicKey, privateKey } = await generateKeyPair("RS256", { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "RS256", use: "sig" };
  const jwks = createServer((_req, res) => res.end(JSON.stringify({ keys: [jwk] })));
  await new Promise<void>((r) => jwks.listen(0, "127.0.0.1", r));
  const jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/certs`;
  const token = await new SignJWT({ realm_access: { roles: ["user"] } }).setProtectedHeader({ alg: "RS256", kid: "k1" }).setSubject("bench").setIssuer("bench-issuer").setExpirationTime("1h").sign(privateKey);
  const key = "bench-key-0123456789abcdef";
  writeFileSync(join(dir, "keys.json"), JSON.stringify({ keys: [{ key, identity: "bench", roles: ["user"] }] }));

  await measure("--auth none", []);
  await measure("--auth apikey", ["--auth", "apikey", "--api-keys", join(dir, "keys.json"), ...LIMITS], `Bearer ${key}`);
  await measure("--auth jwt (RS256, JWKS cached)", ["--auth", "jwt", "--jwks-url", jwksUrl, "--jwt-issuer", "bench-issuer", ...LIMITS], `Bearer ${token}`);
  jwks.close();
}

await main();
