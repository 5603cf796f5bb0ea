/**
 * `npm run fuzz -- [--runs N] [--seed S] [--only TEXT] [--path P] [--shrink-ms MS] [--ignore REGEXP]`: the route fuzz
 * suite (routes.test.ts) with its FUZZ_* environment variables set from flags.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const FLAGS: Record<string, string> = { "--runs": "FUZZ_RUNS", "--seed": "FUZZ_SEED", "--only": "FUZZ_ONLY", "--path": "FUZZ_PATH", "--shrink-ms": "FUZZ_SHRINK_MS", "--ignore": "FUZZ_IGNORE" };
const env: NodeJS.ProcessEnv = { ...process.env };
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  const [flag, inline] = args[i].split(/=(.*)/s, 2);
  const name = FLAGS[flag];
  const value = inline ?? args[++i];
  if (!name || value === undefined) {
    console.error(`usage: npm run fuzz -- ${Object.keys(FLAGS).map((f) => `[${f} VALUE]`).join(" ")}`);
    process.exit(2);
  }
  env[name] = value;
}
const file = fileURLToPath(new URL("./routes.test.ts", import.meta.url));
const r = spawnSync(process.execPath, ["--import", "tsx", "--test", file], { env, stdio: "inherit" });
process.exit(r.status ?? 1);
