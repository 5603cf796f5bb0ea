#!/usr/bin/env node
// Entry point. Production runs the compiled JavaScript in dist/ (npm run build; the published
// package ships it). A checkout without a build, or SQUARE_FROM_SOURCE=1 (what the tests set),
// runs the TypeScript sources through tsx instead, a development dependency.
import { existsSync } from "node:fs";

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
