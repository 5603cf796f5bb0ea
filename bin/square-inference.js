#!/usr/bin/env node
// Entry point. Production runs the compiled JavaScript in dist/ (npm run build; the published
// package ships it). A checkout without a build, or SQUARE_FROM_SOURCE=1 (what the tests set),
// runs the TypeScript sources through tsx instead, a development dependency.
import { existsSync } from "node:fs";

// glibc gives each thread that allocates its own malloc arena and seldom returns what they free:
// an ONNX Runtime session opened in an inference thread left about 40 MiB of its start-up behind.
// With two arenas an added MiniLM-sized model costs 1.3 x its bare session instead of 1.6 x, at
// the same throughput (docs/benchmarks.md, "Density"). glibc reads the variable only at process
// start, so the launcher replaces itself once (same process id, arguments and options) with it
// set. A MALLOC_ARENA_MAX already set, to any value, is left alone.
if (process.platform === "linux" && process.env.MALLOC_ARENA_MAX === undefined && typeof process.execve === "function") {
  process.execve(process.execPath, [process.execPath, ...process.execArgv, ...process.argv.slice(1)], { ...process.env, MALLOC_ARENA_MAX: "2" });
}

const compiled = new URL("../dist/lib/cli.js", import.meta.url);
let cli;
if (process.env.SQUARE_FROM_SOURCE !== "1" && existsSync(compiled)) {
  cli = await import(compiled.href);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  cli = await import("../lib/cli.ts");
}
cli.main(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`square-inference: ${err.message}\n`);
  process.exit(1);
});
