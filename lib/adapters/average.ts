/**
 * AdapterHub's linear averaging (adapters' average_adapter with combine_strategy "linear", and average_head;
 * research notes §2.1): every tensor Φ = Σ λ_i Φ_i, with the λ normalised to sum to 1 (equal by default).
 * The adapters must have equal configs (the typed config already leaves out dropout and init_weights, which the
 * library ignores in its comparison) and, to average heads, equal head types, sizes and label maps. For LoRA
 * this averages A and B separately, as the library's "linear" strategy does (not the ΔW = B·A average).
 */
import { AdapterError } from "./errors.ts";
import type { PredictionHead } from "./head.ts";
import type { LoadedAdapter } from "./load.ts";
import type { WeightTensor } from "./tensor.ts";
import type { AdapterWeights } from "./weights.ts";

/** λ normalised to sum to 1 (AdapterHub's normalize_weights=True); equal weights when none are given. */
export function normaliseWeights(count: number, weights?: readonly number[]): number[] {
  if (count < 1) throw new AdapterError("averaging needs at least one adapter");
  const given = weights ?? new Array<number>(count).fill(1);
  if (given.length !== count || !given.every(Number.isFinite)) throw new AdapterError(`averaging weights ${JSON.stringify(weights)} do not match ${count} adapter(s)`, "weights");
  const sum = given.reduce((a, b) => a + b, 0);
  if (sum === 0) throw new AdapterError("averaging weights sum to 0", "weights");
  return given.map((w) => w / sum);
}

/** Walks `trees` in parallel, replacing every tensor by the weighted sum of the corresponding tensors. */
function mix<T>(trees: readonly T[], lambdas: readonly number[], path: string): T {
  const first = trees[0] as unknown;
  if (first === undefined || first === null || typeof first !== "object") {
    if (!trees.every((t) => t === first)) throw new AdapterError(`averaged adapters differ at ${path}`, path);
    return first as T;
  }
  if (isTensor(first)) {
    const tensors = trees as unknown as WeightTensor[];
    if (!tensors.every((t) => isTensor(t) && t.shape.length === first.shape.length && t.shape.every((d, i) => d === first.shape[i]))) {
      throw new AdapterError(`averaged adapters have different shapes at ${path}`, path);
    }
    const data = new Float32Array(first.data.length);
    for (let j = 0; j < tensors.length; j++) {
      const src = tensors[j].data;
      for (let k = 0; k < data.length; k++) data[k] += lambdas[j] * src[k];
    }
    return { shape: [...first.shape], data, dtype: "float32" } as T;
  }
  if (Array.isArray(first)) {
    if (!trees.every((t) => Array.isArray(t) && t.length === first.length)) throw new AdapterError(`averaged adapters differ in length at ${path}`, path);
    return first.map((_, i) => mix(trees.map((t) => (t as unknown[])[i]), lambdas, `${path}[${i}]`)) as T;
  }
  const keys = Object.keys(first).sort();
  const out: Record<string, unknown> = {};
  for (const t of trees) {
    if (Object.keys(t as object).sort().join() !== keys.join()) throw new AdapterError(`averaged adapters have different parts at ${path}`, path);
  }
  for (const k of keys) out[k] = mix(trees.map((t) => (t as Record<string, unknown>)[k]), lambdas, path ? `${path}.${k}` : k);
  return out as T;
}

const isTensor = (v: unknown): v is WeightTensor => typeof v === "object" && v !== null && (v as WeightTensor).data instanceof Float32Array;

/** The linear average of the adapters' weights (heads not included). */
export function averageAdapterWeights(adapters: readonly LoadedAdapter[], weights?: readonly number[]): AdapterWeights {
  const lambdas = normaliseWeights(adapters.length, weights);
  const config = JSON.stringify(adapters[0].meta.config);
  for (const a of adapters) {
    if (JSON.stringify(a.meta.config) !== config) throw new AdapterError(`adapters ${adapters[0].meta.name} and ${a.meta.name} have different configs and cannot be averaged`, "config");
  }
  return mix(adapters.map((a) => a.weights), lambdas, "weights");
}

/** The linear average of the heads (AdapterHub's average_head): same type, size, activation and labels required. */
export function averageHeads(heads: readonly PredictionHead[], weights?: readonly number[]): PredictionHead {
  const lambdas = normaliseWeights(heads.length, weights);
  const signature = (h: PredictionHead) => JSON.stringify([h.type, h.numLabels, h.activation, h.usePooler, h.id2label, h.layers.length]);
  for (const h of heads) {
    if (signature(h) !== signature(heads[0])) throw new AdapterError(`heads ${heads[0].name} and ${h.name} differ (type, labels or layers) and cannot be averaged`, "head");
  }
  return { ...heads[0], layers: mix(heads.map((h) => h.layers), lambdas, "head") };
}
