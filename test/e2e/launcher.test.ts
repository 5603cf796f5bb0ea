/**
 * The launcher (bin/square-inference.js) replaces itself once with MALLOC_ARENA_MAX=2 on Linux
 * (docs/benchmarks.md "Density"): same process id, arguments and Node options; a value the
 * operator set is kept.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { startServer, killAll } from "../helpers/processes.ts";
import { writeModelsFile } from "../helpers/fixtures.ts";

after(killAll);

async function environOf(pid: number): Promise<Map<string, string>> {
  const raw = await readFile(`/proc/${pid}/environ`, "latin1");
  return new Map(raw.split("\0").filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]));
}

test("the served process runs with MALLOC_ARENA_MAX=2 under the pid that was spawned, or with the operator's value", { skip: process.platform !== "linux" && "glibc's variable: Linux only" }, async () => {
  const models = await writeModelsFile([{ id: "sst", path: "bert-tiny-sst" }]);
  // The spawned process inherits this one's environment: the variable must be absent from it.
  const saved = process.env.MALLOC_ARENA_MAX;
  delete process.env.MALLOC_ARENA_MAX;
  try {
    const defaulted = await startServer("launcher", ["--models", models, "--port", "0"], { LOG_LEVEL: "info" });
    assert.equal((await environOf(defaulted.child.pid!)).get("MALLOC_ARENA_MAX"), "2");
    const r = await fetch(`http://127.0.0.1:${defaulted.port}/api/main/health/heartbeat`);
    assert.equal(r.status, 200, "the replaced process is the server, on the same pid");
    const chosen = await startServer("launcher-set", ["--models", models, "--port", "0"], { LOG_LEVEL: "info", MALLOC_ARENA_MAX: "4" });
    assert.equal((await environOf(chosen.child.pid!)).get("MALLOC_ARENA_MAX"), "4");
  } finally {
    if (saved !== undefined) process.env.MALLOC_ARENA_MAX = saved;
  }
});
