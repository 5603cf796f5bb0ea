/** The models file (SPEC §14): `{"models": [{"id", "path", ...options}]}`, paths relative to the file. */
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { withModelDefaults, ModelSettings, MODEL_DEFAULTS } from "./model-settings.ts";
import { checkModelId } from "../gateway/model-id.ts";

const KNOWN = new Set(["id", "path", ...Object.keys(MODEL_DEFAULTS)]);

export function parseModelsFile(text: string, baseDir: string, source = "models file"): ModelSettings[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new Error(`${source}: not valid JSON (${(err as Error).message})`);
  }
  const models = (doc as { models?: unknown }).models;
  if (!Array.isArray(models) || models.length === 0) throw new Error(`${source}: needs a non-empty "models" list`);
  const seen = new Set<string>();
  return models.map((m: Record<string, unknown>, i) => {
    const where = `${source}: models[${i}]`;
    if (typeof m?.id !== "string" || typeof m.path !== "string") throw new Error(`${where} needs string "id" and "path"`);
    checkModelId(m.id);
    if (seen.has(m.id)) throw new Error(`${where}: duplicate id "${m.id}"`);
    seen.add(m.id);
    for (const key of Object.keys(m)) if (!KNOWN.has(key)) throw new Error(`${where}: unknown option "${key}"`);
    for (const [key, def] of Object.entries(MODEL_DEFAULTS)) {
      if (key in m && typeof m[key] !== typeof def) throw new Error(`${where}: "${key}" must be a ${typeof def}`);
    }
    return withModelDefaults({ ...(m as Partial<ModelSettings>), id: m.id, path: resolve(baseDir, m.path) });
  });
}

export async function loadModelsFile(path: string): Promise<ModelSettings[]> {
  return parseModelsFile(await readFile(path, "utf8"), dirname(resolve(path)), path);
}
