/** Per-model deployment options (SPEC §13/§14 models file) and the fields `update` may change (§10). */
import { invalidFields, FieldProblem } from "../errors.ts";

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
  /** Padded-token budget per batch (longest item × items). */
  max_batch_tokens: number;
  /** How long a batch may wait for more items while a worker is free (0: never wait). */
  batch_wait_ms: number;
  /** Session worker threads for this model, and ONNX Runtime intra-op threads per worker. */
  workers: number;
  intra_op_threads: number;
}

export const MODEL_DEFAULTS = Object.freeze({
  batch_size: 32,
  max_input: 1024,
  return_plaintext_arrays: false,
  disable_gpu: false,
  replicas_per_device: 1,
  onnx_use_quantized: false,
  max_batch_tokens: 16384,
  batch_wait_ms: 2,
  max_queue: 1000,
  workers: 1,
  intra_op_threads: 2,
});

export type ModelUpdate = Partial<Pick<ModelSettings, "batch_size" | "max_input" | "return_plaintext_arrays" | "disable_gpu">>;

const UPDATABLE: Record<keyof ModelUpdate, "int" | "bool"> = {
  batch_size: "int",
  max_input: "int",
  return_plaintext_arrays: "bool",
  disable_gpu: "bool",
};

/** Validates an `update` body: known fields only, right types, positive sizes. */
export function parseModelUpdate(body: unknown): ModelUpdate {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw invalidFields([{ field: "body", message: "must be a JSON object" }]);
  const problems: FieldProblem[] = [];
  const update: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) {
    const kind = UPDATABLE[key as keyof ModelUpdate];
    if (!kind) problems.push({ field: key, message: `unknown field; updatable fields are ${Object.keys(UPDATABLE).join(", ")}` });
    else if (kind === "bool" && typeof value !== "boolean") problems.push({ field: key, message: "must be a boolean" });
    else if (kind === "int" && !(Number.isInteger(value) && (value as number) >= 1)) problems.push({ field: key, message: "must be an integer ≥ 1" });
    else update[key] = value;
  }
  if (problems.length) throw invalidFields(problems);
  return update as ModelUpdate;
}

export function withModelDefaults(entry: Partial<ModelSettings> & Pick<ModelSettings, "id" | "path">): ModelSettings {
  return { ...MODEL_DEFAULTS, ...entry };
}
