#!/usr/bin/env node
// `npm start` runs this first: compiles the server (tsc -p tsconfig.build.json) when dist/ is
// missing or older than any source file, so the README's run command stays one line and never
// serves stale JavaScript. Needs the development dependencies (typescript), as `npm ci` installs.
import { execFileSync } from "node:child_process";
import { readdirSync, statSync, existsSync, writeFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const stamp = join(root, "dist", ".build-stamp");
const SOURCES = ["lib", "services", "web", "moleculer.config.ts", "tsconfig.json", "tsconfig.build.json"];

function newestMtime(path) {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newestMtime(join(path, name))));
}

const built = existsSync(stamp) ? statSync(stamp).mtimeMs : 0;
const changed = Math.max(...SOURCES.map((s) => join(root, s)).filter(existsSync).map(newestMtime));
if (changed > built) {
  process.stderr.write("square-inference: compiling the server (npm run build)\n");
  execFileSync("npm", ["run", "--silent", "build"], { cwd: root, stdio: "inherit" });
  writeFileSync(stamp, new Date().toISOString() + "\n");
}
