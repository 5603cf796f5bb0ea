#!/usr/bin/env node
// Entry point: TypeScript sources run through tsx (registered here, inherited by worker threads).
import { register } from "tsx/esm/api";

register();
const { main } = await import("../lib/cli.ts");
main(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`square-inference: ${err.message}\n`);
  process.exit(1);
});
