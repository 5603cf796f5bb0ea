/**
 * SQuARE's `DeployRequest` (research §9.2) plus `model_path`, `replicas` and our model options,
 * parsed once into a deployment record. SQuARE's defaults hold (disable_gpu true, batch_size 32,
 * max_input 512); fields that only meant something to its Hugging Face export are accepted and
 * ignored, and the ones this server cannot honour (adapters, ONNX export settings) are a 422
 * naming the field rather than silently dropped.
 */
import { invalidFields, type FieldProblem } from "../errors.ts";
import { MODEL_DEFAULTS } from "../config/model-settings.ts";
import type { UpdateBounds } from "../config/limits.ts";
import { checkModelId } from "../request/model-id.ts";
import type { Deployment } from "../store/deployment-store.ts";

const { replicas_per_device: _perDevice, ...OPTION_DEFAULTS } = MODEL_DEFAULTS;

/** The largest replica count one call may ask for (a typo should not place 10⁶ actors). */
export const MAX_REPLICAS = 64;

type Rule = { kind: "string" | "bool" | "int" | "ignored" | "null-only"; min?: number; max?: (b: UpdateBounds) => number; why?: string };

const FIELDS: ReadonlyMap<string, Rule> = new Map<string, Rule>([
  ["identifier", { kind: "string" }],
  ["model_name", { kind: "string" }],
  ["model_type", { kind: "string" }],
  ["model_class", { kind: "string" }],
  ["model_path", { kind: "string" }],
  ["disable_gpu", { kind: "bool" }],
  ["return_plaintext_arrays", { kind: "bool" }],
  ["onnx_use_quantized", { kind: "bool" }],
  ["is_encoder_decoder", { kind: "ignored" }],
  ["preloaded_adapters", { kind: "ignored" }],
  ["transformers_cache", { kind: "ignored" }],
  // SQuARE's README spells it this way; its server ignored it too.
  ["transformer_cache", { kind: "ignored" }],
  ["hf_token", { kind: "ignored" }],
  ["adapter_id", { kind: "null-only", why: "a deploy takes no adapter: deploy the base model, then give it adapters with POST /api/main/{model}/update {\"adapters\": [{\"name\", \"path\"}]} (README \"Adapters\")" }],
  ["custom_onnx_config", { kind: "null-only", why: "this server does not export models: put an exported ONNX folder under the models root" }],
  ["batch_size", { kind: "int", min: 1, max: (b) => b.maxBatchSize }],
  ["max_input", { kind: "int", min: 1, max: (b) => b.maxInput }],
  ["replicas", { kind: "int", min: 1, max: () => MAX_REPLICAS }],
  ["max_queue", { kind: "int", min: 1, max: () => 1_000_000 }],
  ["max_batch_tokens", { kind: "int", min: 1, max: () => 16_777_216 }],
  ["batch_wait_ms", { kind: "int", min: 0, max: () => 10_000 }],
  ["workers", { kind: "int", min: 1, max: () => 256 }],
  ["intra_op_threads", { kind: "int", min: 1, max: () => 256 }],
]);

function problemOf(rule: Rule, value: unknown, bounds: UpdateBounds): string | undefined {
  if (rule.kind === "ignored") return undefined;
  if (rule.kind === "null-only") return value === null ? undefined : rule.why;
  if (rule.kind === "string") return typeof value === "string" ? undefined : "must be a string";
  if (rule.kind === "bool") return typeof value === "boolean" ? undefined : "must be a boolean";
  const max = rule.max!(bounds);
  return Number.isInteger(value) && (value as number) >= rule.min! && (value as number) <= max ? undefined : `must be an integer from ${rule.min} to ${max}`;
}

/** The deployment a body asks for; `folder` is checked against the models root separately (models-root.ts). */
export function parseDeployRequest(body: unknown, bounds: UpdateBounds, now: number): Omit<Deployment, "bytes"> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw invalidFields([{ field: "body", message: "must be a JSON object (SQuARE's DeployRequest)" }]);
  const b = body as Record<string, unknown>;
  const problems: FieldProblem[] = [];
  for (const [field, value] of Object.entries(b)) {
    const rule = FIELDS.get(field);
    const message = rule ? problemOf(rule, value, bounds) : `unknown field; DeployRequest fields are ${[...FIELDS.keys()].join(", ")}`;
    if (message) problems.push({ field, message });
  }
  const id = typeof b.identifier === "string" ? b.identifier : "";
  if (id === "") problems.push({ field: "identifier", message: "required: the model id to serve under" });
  else {
    try {
      checkModelId(id);
    } catch (err) {
      problems.push({ field: "identifier", message: (err as Error).message });
    }
  }
  const folder = typeof b.model_path === "string" && b.model_path !== "" ? b.model_path : typeof b.model_name === "string" ? b.model_name : "";
  if (folder === "") problems.push({ field: "model_path", message: "required: the model folder relative to the models root (or model_name naming it)" });
  if (problems.length) throw invalidFields(problems);
  const pick = <T>(key: string, fallback: T): T => (Object.hasOwn(b, key) ? (b[key] as T) : fallback);
  const disableGpu = pick("disable_gpu", true);
  return {
    id,
    folder,
    model_name: pick("model_name", ""),
    model_type: pick("model_type", "onnx"),
    model_class: pick("model_class", "from_config"),
    options: {
      ...OPTION_DEFAULTS,
      batch_size: pick("batch_size", 32),
      max_input: pick("max_input", 512),
      return_plaintext_arrays: pick("return_plaintext_arrays", false),
      disable_gpu: disableGpu,
      onnx_use_quantized: pick("onnx_use_quantized", false),
      max_queue: pick("max_queue", MODEL_DEFAULTS.max_queue),
      ...(Object.hasOwn(b, "max_batch_tokens") ? { max_batch_tokens: b.max_batch_tokens as number } : {}),
      batch_wait_ms: pick("batch_wait_ms", MODEL_DEFAULTS.batch_wait_ms),
      workers: pick("workers", MODEL_DEFAULTS.workers),
      intra_op_threads: pick("intra_op_threads", MODEL_DEFAULTS.intra_op_threads),
    },
    device: disableGpu ? "cpu" : "any",
    replicas: pick("replicas", 1),
    adapters: [],
    state: "active",
    source: "api",
    created_at: now,
    updated_at: now,
  };
}
