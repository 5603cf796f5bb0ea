/**
 * adapter_config.json (AdapterHub's build_full_config): metadata plus the adapter config, validated into a
 * typed config. Supported: bottleneck adapters (seq_bn / Pfeiffer, double_seq_bn / Houlsby and custom BnConfig
 * values of the same kind) and LoRA in additive mode. Refused with an AdapterError naming the key and value:
 * parallel bottlenecks, gating, PHM (Compacter), invertible and cross adapters, prefix tuning, IA³, VeRA,
 * unions and any unknown key whose value is not null/false. The Python loader's compatibility fixes are
 * copied: configs without `version` rename gelu → gelu_new and gelu_orig → gelu; LoRA saved by
 * adapters < 1.1.0 with r ≠ alpha gets alpha := r.
 */
import { AdapterError } from "./errors.ts";

export type Activation = "relu" | "silu" | "gelu" | "gelu_new" | "tanh" | "sigmoid" | "leakyrelu" | "linear";

export interface BottleneckConfig {
  readonly architecture: "bottleneck";
  /** Attention-output adapter (location mh_adapter) and FFN-output adapter (output_adapter). */
  readonly mhAdapter: boolean;
  readonly outputAdapter: boolean;
  /** One factor, or per layer ("3": 8) with a "default". */
  readonly reductionFactor: number | Readonly<Record<string, number>>;
  readonly nonLinearity: Activation;
  readonly originalLnBefore: boolean;
  readonly originalLnAfter: boolean;
  readonly residualBeforeLn: boolean | "post_add";
  readonly adapterResidualBeforeLn: boolean;
  readonly lnBefore: boolean;
  readonly lnAfter: boolean;
  /** A fixed factor, or "learned" / "channel" (a `scaling` weight of shape [1] / [H]). */
  readonly scaling: number | "learned" | "channel";
  readonly leaveOut: readonly number[];
}

export type LoraMatrix = "q" | "k" | "v";

export interface LoraConfig {
  readonly architecture: "lora";
  readonly r: number;
  readonly alpha: number;
  /** alpha / r: the factor of B·A. */
  readonly scaling: number;
  readonly selfattnLora: boolean;
  readonly attnMatrices: readonly LoraMatrix[];
  readonly intermediateLora: boolean;
  readonly outputLora: boolean;
  readonly leaveOut: readonly number[];
}

export type AdapterMethodConfig = BottleneckConfig | LoraConfig;

export interface AdapterConfigFile {
  /** The adapter's internal name: the weight keys carry it. */
  readonly name: string;
  readonly modelType: string | undefined;
  readonly modelName: string | undefined;
  readonly modelClass: string | undefined;
  readonly hiddenSize: number | undefined;
  readonly version: string | undefined;
  readonly config: AdapterMethodConfig;
}

type Json = Record<string, unknown>;

const ACTIVATIONS: Record<string, Activation> = {
  relu: "relu", swish: "silu", silu: "silu", gelu: "gelu", gelu_new: "gelu_new", tanh: "tanh", sigmoid: "sigmoid",
  leakyrelu: "leakyrelu", linear: "linear",
};

/** AdapterHub's preset defaults (adapter_config.py), under both their new and old names. */
const SEQ_BN: Json = {
  original_ln_before: true, original_ln_after: true, residual_before_ln: true, adapter_residual_before_ln: false,
  ln_before: false, ln_after: false, mh_adapter: false, output_adapter: true, non_linearity: "relu", reduction_factor: 16,
};
const DOUBLE_SEQ_BN: Json = { ...SEQ_BN, original_ln_before: false, mh_adapter: true, non_linearity: "swish" };
const LORA: Json = { architecture: "lora", selfattn_lora: true, intermediate_lora: false, output_lora: false, r: 8, alpha: 8, attn_matrices: ["q", "v"], composition_mode: "add" };
const PRESETS: Record<string, Json> = { seq_bn: SEQ_BN, pfeiffer: SEQ_BN, double_seq_bn: DOUBLE_SEQ_BN, houlsby: DOUBLE_SEQ_BN, lora: LORA };

/** Keys with no effect at inference, or whose other values are refused through their own key. */
const IGNORED = new Set([
  "dropout", "init_weights", "init_weights_seed", "stochastic_depth", "dtype", "inv_adapter_reduction_factor", "phm_dim", "factorized_phm_W",
  "shared_W_phm", "shared_phm_rule", "factorized_phm_rule", "phm_c_init", "phm_init_range", "learn_phm",
  "hypercomplex_nonlinearity", "phm_rank", "phm_bias",
]);

/** Keys that must keep their "off" value: anything else is a method this reader does not support. */
const MUST_BE_OFF: Record<string, string> = {
  is_parallel: "parallel bottleneck adapters (par_bn)",
  use_gating: "gated adapters",
  phm_layer: "PHM / Compacter layers",
  inv_adapter: "invertible adapters",
  cross_adapter: "cross-attention adapters",
  vera_d: "VeRA",
  vera_b: "VeRA",
};

const show = (v: unknown) => JSON.stringify(v);

function refuse(key: string, value: unknown, why: string): never {
  throw new AdapterError(`adapter config: ${key}=${show(value)} is not supported (${why})`, key);
}

function bool(c: Json, key: string): boolean {
  const v = c[key];
  if (typeof v !== "boolean") refuse(key, v, "expected true or false");
  return v as boolean;
}

function layers(c: Json, key: string): number[] {
  const v = c[key] ?? [];
  if (!Array.isArray(v) || !v.every((l) => Number.isSafeInteger(l) && l >= 0)) refuse(key, v, "expected a list of layer indices");
  return [...(v as number[])];
}

const positive = (v: unknown) => typeof v === "number" && Number.isFinite(v) && v > 0;

/** Validates an adapter config dict (or preset name) into the typed config. `version` drives the compatibility fixes. */
export function parseMethodConfig(raw: unknown, version: string | undefined): AdapterMethodConfig {
  if (typeof raw === "string") {
    if (!PRESETS[raw]) refuse("config", raw, `known presets: ${Object.keys(PRESETS).join(", ")}`);
    raw = PRESETS[raw];
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) refuse("config", raw, "expected an object or a preset name");
  const c = raw as Json;
  const architecture = c.architecture ?? null;
  if (architecture !== null && architecture !== "lora" && architecture !== "bottleneck") {
    refuse("architecture", architecture, "supported: bottleneck adapters (no architecture key) and lora");
  }
  const known = architecture === "lora" ? LORA_KEYS : BOTTLENECK_KEYS;
  for (const [key, value] of Object.entries(c)) {
    if (MUST_BE_OFF[key]) {
      if (value !== null && value !== false && value !== undefined) refuse(key, value, `${MUST_BE_OFF[key]} are not supported`);
      continue;
    }
    if (key === "architecture" || IGNORED.has(key) || known.has(key)) continue;
    if (value !== null && value !== false) refuse(key, value, "unknown adapter config key");
  }
  return architecture === "lora" ? lora(c, version) : bottleneck(c, version);
}

const BOTTLENECK_KEYS = new Set([
  "mh_adapter", "output_adapter", "reduction_factor", "non_linearity", "original_ln_before", "original_ln_after", "residual_before_ln",
  "adapter_residual_before_ln", "ln_before", "ln_after", "scaling", "leave_out",
]);
const LORA_KEYS = new Set(["r", "alpha", "selfattn_lora", "attn_matrices", "intermediate_lora", "output_lora", "leave_out", "composition_mode"]);

/** BnConfig's field defaults (the four fields without one must be present). */
const BN_DEFAULTS: Json = {
  original_ln_before: false, original_ln_after: true, ln_before: false, ln_after: false, residual_before_ln: true,
  adapter_residual_before_ln: false, scaling: 1.0, leave_out: [],
};

function bottleneck(given: Json, version: string | undefined): BottleneckConfig {
  const c: Json = { ...BN_DEFAULTS };
  for (const [k, v] of Object.entries(given)) if (v !== undefined) c[k] = v;
  for (const key of BOTTLENECK_KEYS) if (!(key in c)) refuse(key, undefined, "missing from the adapter config");
  let act = c.non_linearity;
  if (typeof act !== "string") refuse("non_linearity", act, "expected a string");
  act = (act as string).toLowerCase();
  if (version === undefined) act = act === "gelu" ? "gelu_new" : act === "gelu_orig" ? "gelu" : act; // ACTIVATION_RENAME
  const nonLinearity = ACTIVATIONS[act as string];
  if (!nonLinearity) refuse("non_linearity", c.non_linearity, `supported: ${Object.keys(ACTIVATIONS).join(", ")}`);
  const rf = c.reduction_factor;
  if (typeof rf === "object" && rf !== null && !Array.isArray(rf)) {
    for (const [k, v] of Object.entries(rf)) {
      if (!positive(v) || (k !== "default" && !/^\d+$/.test(k))) refuse(`reduction_factor.${k}`, v, "expected a positive number per layer index or \"default\"");
    }
  } else if (!positive(rf)) refuse("reduction_factor", rf, "expected a positive number or a per-layer map");
  const residual = c.residual_before_ln;
  if (typeof residual !== "boolean" && residual !== "post_add") refuse("residual_before_ln", residual, "expected true, false or \"post_add\"");
  const scaling = c.scaling ?? 1.0;
  if (!(typeof scaling === "number" && Number.isFinite(scaling)) && scaling !== "learned" && scaling !== "channel") {
    refuse("scaling", scaling, "expected a number, \"learned\" or \"channel\"");
  }
  const config: BottleneckConfig = {
    architecture: "bottleneck",
    mhAdapter: bool(c, "mh_adapter"),
    outputAdapter: bool(c, "output_adapter"),
    reductionFactor: typeof rf === "number" ? rf : { ...(rf as Record<string, number>) },
    nonLinearity,
    originalLnBefore: bool(c, "original_ln_before"),
    originalLnAfter: bool(c, "original_ln_after"),
    residualBeforeLn: residual as boolean | "post_add",
    adapterResidualBeforeLn: bool(c, "adapter_residual_before_ln"),
    lnBefore: bool(c, "ln_before"),
    lnAfter: bool(c, "ln_after"),
    scaling: scaling as BottleneckConfig["scaling"],
    leaveOut: layers(c, "leave_out"),
  };
  if (!config.mhAdapter && !config.outputAdapter) refuse("output_adapter", false, "neither mh_adapter nor output_adapter is set: the adapter does nothing");
  return config;
}

function lora(c: Json, version: string | undefined): LoraConfig {
  const r = c.r;
  if (!Number.isSafeInteger(r) || (r as number) <= 0) refuse("r", r, "expected a positive integer");
  let alpha = c.alpha;
  if (!positive(alpha)) refuse("alpha", alpha, "expected a positive number");
  // _fix_backward_compat: adapters < 1.1.0 scaled LoRA wrongly when r != alpha; the Python loader sets alpha := r.
  const m = /^adapters\.(\d+)\.(\d+)/.exec(version ?? "");
  if (m && (Number(m[1]) < 1 || (Number(m[1]) === 1 && Number(m[2]) < 1)) && alpha !== r) alpha = r;
  const mode = c.composition_mode ?? "add";
  if (mode !== "add") refuse("composition_mode", mode, "only additive LoRA (\"add\") is supported; \"scale\" is IA³");
  const matrices = c.attn_matrices ?? ["q", "v"];
  if (!Array.isArray(matrices) || !matrices.every((x) => x === "q" || x === "k" || x === "v")) refuse("attn_matrices", matrices, "expected a list of \"q\", \"k\", \"v\"");
  const config: LoraConfig = {
    architecture: "lora",
    r: r as number,
    alpha: alpha as number,
    scaling: (alpha as number) / (r as number),
    selfattnLora: c.selfattn_lora === undefined ? true : bool(c, "selfattn_lora"),
    attnMatrices: [...new Set(matrices as LoraMatrix[])],
    intermediateLora: c.intermediate_lora === undefined ? false : bool(c, "intermediate_lora"),
    outputLora: c.output_lora === undefined ? false : bool(c, "output_lora"),
    leaveOut: layers(c, "leave_out"),
  };
  return config;
}

/** The bottleneck width at `layer`: int(H // reduction_factor), at least 1. */
export function bottleneckSize(config: BottleneckConfig, layer: number, hiddenSize: number): number {
  const rf = config.reductionFactor;
  const factor = typeof rf === "number" ? rf : (rf[String(layer)] ?? rf.default);
  if (factor === undefined) throw new AdapterError(`adapter config: reduction_factor has no entry for layer ${layer} and no "default"`, "reduction_factor");
  return Math.max(1, Math.floor(hiddenSize / factor));
}

/** Parses adapter_config.json's contents. */
export function parseAdapterConfigFile(json: unknown): AdapterConfigFile {
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw new AdapterError("adapter_config.json is not a JSON object");
  const j = json as Json;
  const str = (key: string): string | undefined => {
    const v = j[key];
    if (v !== undefined && v !== null && typeof v !== "string") refuse(key, v, "expected a string");
    return (v ?? undefined) as string | undefined;
  };
  const name = str("name");
  if (!name) refuse("name", j.name, "adapter_config.json needs the adapter's name (its weight keys carry it)");
  if (!("config" in j)) refuse("config", undefined, "adapter_config.json has no config");
  const hiddenSize = j.hidden_size;
  if (hiddenSize !== undefined && !(Number.isSafeInteger(hiddenSize) && (hiddenSize as number) > 0)) refuse("hidden_size", hiddenSize, "expected a positive integer");
  const version = str("version");
  return {
    name: name!,
    modelType: str("model_type"),
    modelName: str("model_name"),
    modelClass: str("model_class"),
    hiddenSize: hiddenSize as number | undefined,
    version,
    config: parseMethodConfig(j.config, version),
  };
}
