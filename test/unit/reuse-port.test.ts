/** `--reuse-port` (lib/gateway/reuse-port.ts): the setting, the Node versions that know the option, and two servers on one port. */
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { listenWithReusePort, nodeSupportsReusePort } from "../../lib/gateway/reuse-port.ts";
import { resolveSettings } from "../../lib/config/settings.ts";

test("--reuse-port / SQUARE_REUSE_PORT: true or false, off by default", () => {
  assert.equal(resolveSettings([], {}).reusePort, undefined);
  assert.equal(resolveSettings(["--reuse-port", "true"], {}).reusePort, true);
  assert.equal(resolveSettings([], { SQUARE_REUSE_PORT: "1" }).reusePort, true);
  assert.equal(resolveSettings(["--reuse-port=false"], { SQUARE_REUSE_PORT: "1" }).reusePort, false);
  assert.throws(() => resolveSettings(["--reuse-port", "--port"], {}), /--reuse-port must be true or false, got "--port"/);
});

test("Node versions with net listen's reusePort: 22.12+, 23.1+, 24+", () => {
  for (const v of ["22.12.0", "22.20.1", "23.1.0", "24.0.0", "25.2.1"]) assert.ok(nodeSupportsReusePort(v), v);
  for (const v of ["20.19.0", "22.11.0", "23.0.0"]) assert.ok(!nodeSupportsReusePort(v), v);
});

test("two servers listening as moleculer-web does (port, host, callback) share a port with the option, and not without", async () => {
  const listen = (server: http.Server, port: number) =>
    new Promise<number>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve((server.address() as AddressInfo).port));
    });
  const a = http.createServer((_req, res) => res.end("a"));
  const b = http.createServer((_req, res) => res.end("b"));
  const c = http.createServer((_req, res) => res.end("c"));
  listenWithReusePort(a);
  listenWithReusePort(b);
  try {
    const port = await listen(a, 0);
    assert.equal(await listen(b, port), port);
    await assert.rejects(listen(c, port), /EADDRINUSE/);
  } finally {
    for (const s of [a, b, c]) if (s.listening) await new Promise((r) => s.close(r));
  }
});
