/** The models file (SPEC §14): `{"models": [{"id", "path", ...options}]}`, paths relative to the file. */
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { withModelDefaults, ModelSettings, MODEL_DEFAULTS, parseAdapterEntries } from "./model-settings.ts";
import { checkModelId } from "../request/model-id.ts";
import { DEFAULT_UPDATE_BOUNDS, UpdateBounds } from "./limits.ts";

const KNOWN = new Set(["id", "path", "adapters", "preloaded_adapters", "max_batch_tokens", ...Object.keys(MODEL_DEFAULTS)]);

/** Numeric options: smallest value, and the largest (sizes that `update` may also set follow its bounds). */
const RANGES: ReadonlyMap<string, { min: number; max: (b: UpdateBounds) => number }> = new Map([
  ["batch_size", { min: 1, max: (b: UpdateBounds) => b.maxBatchSize }],
  ["max_input", { min: 1, max: (b: UpdateBounds) => b.maxInput }],
  ["replicas_per_device", { min: 1, max: () => 64 }],
  ["max_queue", { min: 1, max: () => 1_000_000 }],
  ["max_batch_tokens", { min: 1, max: () => 16_777_216 }],
  ["batch_wait_ms", { min: 0, max: () => 10_000 }],
  ["workers", { min: 1, max: () => 256 }],
  ["intra_op_threads", { min: 1, max: () => 256 }],
]);

export function parseModelsFile(text: string, baseDir: string, source = "models file", bounds: UpdateBounds = DEFAULT_UPDATE_BOUNDS): ModelSettings[] {
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
      if (Object.hasOwn(m, key) && typeof m[key] !== typeof def) throw new Error(`${where}: "${key}" must be a ${typeof def}`);
    }
    for (const [key, range] of RANGES) {
      const value = m[key];
      if (!Object.hasOwn(m, key)) continue;
      const max = range.max(bounds);
      if (!Number.isInteger(value) || (value as number) < range.min || (value as number) > max) throw new Error(`${where}: "${key}" must be an integer from ${range.min} to ${max}, got ${JSON.stringify(value)}`);
    }
    if (Object.hasOwn(m, "preloaded_adapters") && m.preloaded_adapters !== true) throw new Error(`${where}: "preloaded_adapters" can only be true (adapters are loaded with the model; loading on first use is not implemented)`);
    const adapters = Object.hasOwn(m, "adapters") ? { adapters: parseAdapterEntries(m.adapters, where, (p) => resolve(baseDir, p)) } : {};
    return withModelDefaults({ ...(m as Partial<ModelSettings>), ...adapters, id: m.id, path: resolve(baseDir, m.path) });
  });
}

export async function loadModelsFile(path: string, bounds: UpdateBounds = DEFAULT_UPDATE_BOUNDS): Promise<ModelSettings[]> {
  return parseModelsFile(await readFile(path, "utf8"), dirname(resolve(path)), path, bounds);
}
