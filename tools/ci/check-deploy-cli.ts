/**
 * Part of tools/ci/check-deploy.py: checks the deployment files against the server's own code.
 * Every `serve` command of the compose file must parse with the server's option table
 * (lib/config/settings.ts), and the shipped models file must parse with the server's models-file
 * reader and name only demo models the image builds (lib/fixtures) at /app/models/demo.
 *   node --import tsx tools/ci/check-deploy-cli.ts COMMANDS_JSON MODELS_FILE
 */
import { readFileSync } from "node:fs";
import { resolveSettings } from "../../lib/config/settings.ts";
import { parseModelsFile } from "../../lib/config/models-file.ts";
import { DEMO_FIXTURES, GENERATIVE_FIXTURES } from "../../lib/fixtures/index.ts";

const [commandsJson, modelsFile] = process.argv.slice(2);
const problems: string[] = [];
const commands = JSON.parse(commandsJson) as Record<string, string[]>;
for (const [service, command] of Object.entries(commands)) {
  if (command[0] !== "serve") {
    problems.push(`${service}: command must start with "serve", got ${JSON.stringify(command)}`);
    continue;
  }
  try {
    const settings = resolveSettings(command.slice(1), {});
    if (settings.nodeId !== undefined) problems.push(`${service}: a fixed --node-id breaks --scale`);
  } catch (err) {
    problems.push(`${service}: ${(err as Error).message}`);
  }
}
const IMAGE_DEMO = "/app/models/demo/";
const names = new Set([...DEMO_FIXTURES, ...GENERATIVE_FIXTURES].map((f) => f.name));
try {
  const models = parseModelsFile(readFileSync(modelsFile, "utf8"), "/models", modelsFile);
  if (models.length === 0) problems.push(`${modelsFile}: no models`);
  for (const m of models) {
    if (!m.path.startsWith(IMAGE_DEMO) || !names.has(m.path.slice(IMAGE_DEMO.length))) problems.push(`${modelsFile}: ${m.id} at ${m.path} is not a demo model the image builds (${IMAGE_DEMO}<${[...names].join("|")}>)`);
  }
} catch (err) {
  problems.push(`${modelsFile}: ${(err as Error).message}`);
}
for (const p of problems) console.error(`check-deploy: ${p}`);
if (problems.length) process.exit(1);
console.log(`check-deploy: ${Object.keys(commands).length} serve command(s) parse; ${modelsFile} names demo models the image builds`);
