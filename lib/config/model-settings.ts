/** Per-model deployment options (SPEC §13/§14 models file) and the fields `update` may change (§10). */
import { invalidFields, FieldProblem } from "../errors.ts";
import { DEFAULT_UPDATE_BOUNDS, UpdateBounds } from "./limits.ts";

export interface ModelSettings {
  id: string;
  path: string;
  batch_size: number;
  max_input: number;
  return_plaintext_arrays: boolean;
  disable_gpu: boolean;
  replicas_per_device: number;
  onnx_use_quantized: boolean;
  /** Tasks waiting or running for this model beyond which a POST answers 429 (backpressure). */
  max_queue: number;
  /**
   * Padded-token budget per batch (longest item × items). Unset: `batchTokenBudget` picks one
   * for the device and the kind of model.
   */
  max_batch_tokens?: number;
  /** How long a batch may wait for more items while a worker is free (0: never wait). */
  batch_wait_ms: number;
  /** Session worker threads for this model, and ONNX Runtime intra-op threads per worker. */
  workers: number;
  intra_op_threads: number;
  /** AdapterHub adapters served on this base model (SPEC §9): names and folders (absolute once read from a models file). */
  adapters?: AdapterEntry[];
  /** Whether the adapters are loaded at start (the only mode so far: they always are; reported in statistics). */
  preloaded_adapters?: boolean;
}

/** One adapter of a models-file entry: `{"name": "…", "path": "folder"}`. */
export interface AdapterEntry {
  name: string;
  path: string;
}

/**
 * A models-file entry's `adapters` list, its paths resolved with `resolvePath` (relative to the models file,
 * as the model's own path). Names must be non-empty, unique, without surrounding spaces.
 */
export function parseAdapterEntries(value: unknown, where: string, resolvePath: (path: string) => string): AdapterEntry[] {
  if (!Array.isArray(value)) throw new Error(`${where}: "adapters" must be a list of {"name", "path"}`);
  const seen = new Set<string>();
  return value.map((a: unknown, i) => {
    const entry = a as Record<string, unknown>;
    if (typeof entry !== "object" || entry === null || typeof entry.name !== "string" || typeof entry.path !== "string") throw new Error(`${where}: adapters[${i}] needs string "name" and "path"`);
    for (const key of Object.keys(entry)) if (key !== "name" && key !== "path") throw new Error(`${where}: adapters[${i}]: unknown option "${key}"`);
    if (!entry.name || entry.name.trim() !== entry.name) throw new Error(`${where}: adapters[${i}]: "name" must be non-empty, without surrounding spaces`);
    if (seen.has(entry.name)) throw new Error(`${where}: adapters[${i}]: duplicate name "${entry.name}"`);
    seen.add(entry.name);
    return { name: entry.name, path: resolvePath(entry.path) };
  });
}

export const MODEL_DEFAULTS = Object.freeze({
  batch_size: 32,
  max_input: 1024,
  return_plaintext_arrays: false,
  disable_gpu: false,
  replicas_per_device: 1,
  onnx_use_quantized: false,
  batch_wait_ms: 2,
  max_queue: 1000,
  workers: 1,
  intra_op_threads: 2,
});

/** The padded-token budget per batch where the model's settings give none: on accelerators, and for generative models on CPU (a decode row's cost counts its whole past). */
export const DEFAULT_BATCH_TOKENS = 16384;
/**
 * The same on CPU for encoder models: CPU throughput peaks at about a thousand padded tokens per
 * run and falls beyond (MiniLM, 2 cores: 128-token items 132 items/s in batches of 4-8, 112 in
 * batches of 32; 16-token items best at 32-64). Measured with the server: 0.96 × the ceiling at
 * 128 tokens against 0.76 with 16384 (docs/benchmarks.md, "Request path").
 */
export const CPU_ENCODER_BATCH_TOKENS = 1024;

/** The batch token budget of a model: its own setting, else the default for where and what it runs. */
export function batchTokenBudget(settings: Pick<ModelSettings, "max_batch_tokens">, runsOn: { cpu: boolean; generative: boolean }): number {
  return settings.max_batch_tokens ?? (runsOn.cpu && !runsOn.generative ? CPU_ENCODER_BATCH_TOKENS : DEFAULT_BATCH_TOKENS);
}

export type ModelUpdate = Partial<Pick<ModelSettings, "batch_size" | "max_input" | "return_plaintext_arrays" | "disable_gpu" | "adapters">>;

/** Most adapters an `update` may list. */
export const MAX_UPDATE_ADAPTERS = 64;

/**
 * An `update`'s `adapters` (issue #16): the new set, replacing the old, as `[{"name", "path"}]` with paths relative to
 * the folder holding the model's folder (as in the models file); absolute paths and `..` segments are refused, so an
 * update reaches no folder outside it. Problems name `adapters[i]`.
 */
export function checkUpdateAdapters(value: unknown): { adapters?: AdapterEntry[]; problems: FieldProblem[] } {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_UPDATE_ADAPTERS) return { problems: [{ field: "adapters", message: `must be a list of 1 to ${MAX_UPDATE_ADAPTERS} {"name", "path"} objects (the new set of adapters)` }] };
  const problems: FieldProblem[] = [];
  const seen = new Set<string>();
  const adapters = value.map((a: unknown, i): AdapterEntry => {
    const field = `adapters[${i}]`;
    const entry = (typeof a === "object" && a !== null && !Array.isArray(a) ? a : {}) as Record<string, unknown>;
    const { name, path } = entry;
    const extra = Object.keys(entry).filter((k) => k !== "name" && k !== "path");
    if (typeof name !== "string" || typeof path !== "string") problems.push({ field, message: 'needs string "name" and "path"' });
    else if (extra.length) problems.push({ field, message: `unknown option ${extra.map((k) => JSON.stringify(k)).join(", ")}` });
    else if (!name || name.trim() !== name || name.length > 200) problems.push({ field: `${field}.name`, message: "must be non-empty, at most 200 characters, without surrounding spaces" });
    else if (seen.has(name)) problems.push({ field: `${field}.name`, message: `duplicate name "${name}"` });
    else if (!path || path.length > 1000 || path.includes("\0") || /^([/\\]|[A-Za-z]:)/.test(path)) problems.push({ field: `${field}.path`, message: "must be a relative path (to the folder holding the model's folder), not absolute" });
    else if (path.split(/[/\\]/).includes("..")) problems.push({ field: `${field}.path`, message: 'must not contain ".." (adapters live beside the model)' });
    if (typeof name === "string") seen.add(name);
    return { name: name as string, path: path as string };
  });
  return problems.length ? { problems } : { adapters, problems };
}

type UpdateField = keyof ModelUpdate;

/** What each updatable field accepts; a Map, so keys like `__proto__` or `toString` are simply unknown. */
const UPDATABLE: ReadonlyMap<string, { kind: "int" | "bool" | "adapters"; max?: (b: UpdateBounds) => number; flag?: string }> = new Map([
  ["batch_size", { kind: "int", max: (b: UpdateBounds) => b.maxBatchSize, flag: "--max-batch-size" }],
  ["max_input", { kind: "int", max: (b: UpdateBounds) => b.maxInput, flag: "--max-request-items" }],
  ["return_plaintext_arrays", { kind: "bool" }],
  ["disable_gpu", { kind: "bool" }],
  ["adapters", { kind: "adapters" }],
] as const);

/** The fields of `body` that are valid updates, and a problem for each one that is not. */
export function checkModelUpdate(body: Record<string, unknown>, bounds: UpdateBounds = DEFAULT_UPDATE_BOUNDS): { update: ModelUpdate; problems: FieldProblem[] } {
  const problems: FieldProblem[] = [];
  const update: ModelUpdate = {};
  for (const [key, value] of Object.entries(body)) {
    const rule = UPDATABLE.get(key);
    const max = rule?.max?.(bounds) ?? 0;
    if (!rule) problems.push({ field: key, message: `unknown field; updatable fields are ${[...UPDATABLE.keys()].join(", ")}` });
    else if (rule.kind === "adapters") {
      const checked = checkUpdateAdapters(value);
      problems.push(...checked.problems);
      if (checked.adapters) update.adapters = checked.adapters;
    }
    else if (rule.kind === "bool" && typeof value !== "boolean") problems.push({ field: key, message: "must be a boolean" });
    else if (rule.kind === "int" && !(Number.isInteger(value) && (value as number) >= 1 && (value as number) <= max)) problems.push({ field: key, message: `must be an integer ≥ 1 and ≤ ${max} (the server's limit, ${rule.flag})` });
    else (update as Record<UpdateField, unknown>)[key as UpdateField] = value;
  }
  return { update, problems };
}

/** Validates an `update` body: known fields only, right types, sizes within the configured bounds. */
export function parseModelUpdate(body: unknown, bounds: UpdateBounds = DEFAULT_UPDATE_BOUNDS): ModelUpdate {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw invalidFields([{ field: "body", message: "must be a JSON object" }]);
  const { update, problems } = checkModelUpdate(body as Record<string, unknown>, bounds);
  if (problems.length) throw invalidFields(problems);
  return update;
}

/**
 * A stored update read back (by a starting replica, or a gateway): an older deployment, another
 * configuration or a hand edit may have stored values these bounds refuse. Those fields are
 * dropped (the reader keeps its own setting) and reported, never applied.
 */
export function storedModelUpdate(stored: unknown, bounds: UpdateBounds, warn: (message: string) => void, model: string): ModelUpdate {
  if (typeof stored !== "object" || stored === null || Array.isArray(stored)) return {};
  const { update, problems } = checkModelUpdate(stored as Record<string, unknown>, bounds);
  if (problems.length) warn(`model ${model}: ignoring stored update fields (keeping this node's settings): ${problems.map((p) => `${p.field} ${JSON.stringify((stored as Record<string, unknown>)[p.field])}: ${p.message}`).join("; ")}`);
  return update;
}

export function withModelDefaults(entry: Partial<ModelSettings> & Pick<ModelSettings, "id" | "path">): ModelSettings {
  return { ...MODEL_DEFAULTS, ...entry };
}
