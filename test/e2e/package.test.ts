/**
 * The published package: `npm pack` (which compiles the server first), installed into an empty
 * folder with production dependencies only, serves the demo models with `npx square-inference
 * serve` from the compiled JavaScript, with no TypeScript toolchain installed at all.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, rm, writeFile, access } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { spawnProcess, killAll } from "../helpers/processes.ts";
import { httpClient } from "../helpers/http.ts";
import { decodeNpy } from "../helpers/embedded.ts";
import { ModelRuntime } from "../../lib/model/runtime.ts";
import { withModelDefaults } from "../../lib/config/model-settings.ts";
import { executeTask } from "../../lib/orchestration/execute.ts";
import { withDefaults } from "../../lib/request/request.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const dirs: string[] = [];
after(async () => {
  await killAll();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const exists = (p: string) => access(p).then(() => true, () => false);

test("npm pack → install into an empty folder → npx square-inference serve answers from compiled JavaScript", async () => {
  const work = await mkdtemp(join(tmpdir(), "square-pack-"));
  dirs.push(work);
  // The server's own environment, without the tests' "run the sources" switch.
  const env = { ...process.env, SQUARE_FROM_SOURCE: "", ONNXRUNTIME_NODE_INSTALL: "skip", npm_config_audit: "false", npm_config_fund: "false" };
  const packed = execFileSync("npm", ["pack", "--silent", "--pack-destination", work], { cwd: ROOT, env, encoding: "utf8" }).trim().split("\n").pop()!;
  const app = join(work, "app");
  execFileSync("mkdir", ["-p", app]);
  await writeFile(join(app, "package.json"), JSON.stringify({ name: "app", version: "1.0.0", private: true }));
  execFileSync("npm", ["install", "--prefer-offline", "--omit=dev", "--no-save", join(work, packed)], { cwd: app, env, stdio: "ignore" });

  const installed = join(app, "node_modules");
  assert.equal(await exists(join(installed, "square-inference", "dist", "lib", "cli.js")), true, "the tarball carries the compiled server");
  assert.equal(await exists(join(installed, "square-inference", "lib")), false, "and not the TypeScript sources");
  for (const dev of ["tsx", "esbuild", "typescript"]) assert.equal(await exists(join(installed, dev)), false, `${dev} is not installed`);

  const server = spawnProcess("packed", "npx", ["--no-install", "square-inference", "serve", "--port", "0"], env as Record<string, string>, { cwd: app, group: true });
  const m = await server.waitFor(/ready on http:\/\/127\.0\.0\.1:(\d+)/, 180_000);
  const api = httpClient(`http://127.0.0.1:${m[1]}/api/main`);
  const q = await api.post("/bert-tiny-sst/sequence-classification", { input: ["a great movie"] });
  assert.equal(q.status, 200, JSON.stringify(q.body));
  const done = await api.result(q.body.task_id, 30_000);
  assert.equal(done.status, 200, JSON.stringify(done.body));

  // Same numbers as the sources give on the demo folder the packed server built.
  const reference = await ModelRuntime.load(withModelDefaults({ id: "ref", path: join(app, "models", "demo", "bert-tiny-sst") }), { kind: "cpu", id: 0 });
  try {
    const { result } = await executeTask("sequence-classification", withDefaults({ input: ["a great movie"] }), reference, { plaintext: true });
    const want = (result.model_outputs as { logits: number[][] }).logits[0];
    decodeNpy(done.body.result.model_outputs.logits).values.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-6, `${v} vs ${want[i]}`));
  } finally {
    await reference.close();
  }
});
