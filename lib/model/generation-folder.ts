/**
 * Which ONNX files of a model folder generate text, and how to drive them (shared/research/
 * generation.md §1-2). Files are found by Optimum's names, at the folder root or under onnx/;
 * what a graph is, is decided by the inputs it declares, as Optimum and transformers.js do:
 *
 *   decoder-only   model.onnx with past_key_values.* (single; position_ids when declared), else
 *                  legacy decoder_model_merged.onnx (use_cache_branch), else the pair
 *                  decoder_model.onnx + decoder_with_past_model.onnx
 *   encoder-decoder encoder_model.onnx + decoder_model_merged.onnx (preferred) or the split pair
 *
 * A folder whose generation graphs lack an input or output the steps need fails at load with an
 * error naming the file and the name.
 */
import { access } from "node:fs/promises";
import { basename, join } from "node:path";
import type { TensorDescription } from "../inference/backend.ts";
import type { GenerationArchitecture } from "../inference/generation.ts";

/** The parts of config.json read here (model-folder.ts ModelConfig; not imported, model-folder imports this module). */
export interface ModelConfig {
  architectures?: string[];
  is_encoder_decoder?: boolean;
  [key: string]: unknown;
}

export const GENERATION_FILE_NAMES = Object.freeze({
  model: "model.onnx",
  encoder: "encoder_model.onnx",
  decoder: "decoder_model.onnx",
  withPast: "decoder_with_past_model.onnx",
  merged: "decoder_model_merged.onnx",
});

export type GenerationFileRole = keyof typeof GENERATION_FILE_NAMES;

/** The Optimum-named ONNX files present in a folder, by role (absolute paths). */
export type GenerationFiles = Partial<Record<GenerationFileRole, string>>;

const exists = (p: string) => access(p).then(() => true, () => false);

/** Looks for each Optimum file name (its `_quantized` variant first when asked) at the root, then under onnx/. */
export async function findGenerationFiles(path: string, quantized: boolean): Promise<GenerationFiles> {
  const found: GenerationFiles = {};
  for (const [role, name] of Object.entries(GENERATION_FILE_NAMES) as [GenerationFileRole, string][]) {
    const names = quantized ? [name.replace(/\.onnx$/, "_quantized.onnx"), name] : [name];
    search: for (const n of names) {
      for (const dir of [path, join(path, "onnx")]) {
        if (await exists(join(dir, n))) {
          found[role] = join(dir, n);
          break search;
        }
      }
    }
  }
  return found;
}

/** The graph a folder's `onnxPath` names when it has no model.onnx: the encoder, else the preferred decoder. */
export function primaryGenerationFile(files: GenerationFiles): string | undefined {
  if (files.encoder && (files.merged || files.decoder)) return files.encoder;
  return files.merged ?? files.decoder;
}

/** Architectures whose head generates (a model.onnx of these without a cache cannot be served). */
export const looksGenerative = (config: ModelConfig): boolean =>
  config.is_encoder_decoder === true || /CausalLM|LMHead|ConditionalGeneration|Seq2SeqLM/.test((config.architectures ?? []).join(" "));

/** One ONNX file's inputs and outputs as its session reports them. */
export interface GraphIo {
  path: string;
  inputs: readonly TensorDescription[];
  outputs: readonly TensorDescription[];
}

/** A generation graph and what a step must feed it (all decided from its declared inputs). */
export interface GraphSpec extends GraphIo {
  file: string;
  /** Declares past_key_values.* (then a first step feeds them with length 0). */
  past: boolean;
  /** Declares use_cache_branch (an Optimum merged decoder). */
  branch: boolean;
  positionIds: boolean;
  encoderHiddenStates: boolean;
  /** Emits present.*.encoder.* (the cross-attention cache; only meaningful on a first step). */
  crossPresents: boolean;
}

export type LayoutName = "single" | "legacy-merged" | "legacy-split" | "seq2seq-merged" | "seq2seq-split";

export interface GenerationLayout {
  architecture: GenerationArchitecture;
  name: LayoutName;
  encoder?: GraphSpec;
  /** The graph of a row's first step (no cache), and of its cached steps (the same file unless split). */
  first: GraphSpec;
  cached: GraphSpec;
  layers: number;
  heads: number;
  headDim: number;
  /** Self-attention past input names, in feed order (decoder-only: past_key_values.{i}.key/value; seq2seq: .decoder.). */
  selfNames: string[];
  /** Seq2seq cross-attention past input names (past_key_values.{i}.encoder.key/value). */
  crossNames: string[];
  /** Encoder hidden size (seq2seq). */
  dModel: number;
  vocabSize: number;
}

/** Which files generation runs on, before their sessions are open. */
export interface GenerationPlan {
  architecture: GenerationArchitecture;
  name: LayoutName;
  files: { encoder?: string; first: string; cached: string };
}

/** A load error about one file of the folder. */
class LayoutError extends Error {
  readonly name = "GenerationLayoutError";
}

const hasInput = (io: GraphIo, name: string) => io.inputs.some((i) => i.name === name);
const hasPast = (io: GraphIo) => io.inputs.some((i) => i.name.startsWith("past_key_values."));

/**
 * The generation plan for a folder, given the I/O of its model.onnx when it has one (the graph
 * the runtime opens first); undefined for a folder that does not generate.
 */
export function planGeneration(config: ModelConfig, files: GenerationFiles, model?: GraphIo): GenerationPlan | undefined {
  const seq2seqDecoder = files.merged ?? files.decoder;
  if (files.encoder && seq2seqDecoder && !(model && hasPast(model))) {
    if (files.merged) return { architecture: "encoder-decoder", name: "seq2seq-merged", files: { encoder: files.encoder, first: files.merged, cached: files.merged } };
    if (!files.withPast) throw new LayoutError(`${basename(files.decoder!)} needs ${GENERATION_FILE_NAMES.withPast} next to it (or use ${GENERATION_FILE_NAMES.merged}) to generate with a cache`);
    return { architecture: "encoder-decoder", name: "seq2seq-split", files: { encoder: files.encoder, first: files.decoder!, cached: files.withPast } };
  }
  if (model && hasPast(model)) return { architecture: "decoder-only", name: "single", files: { first: model.path, cached: model.path } };
  if (files.merged) return { architecture: "decoder-only", name: "legacy-merged", files: { first: files.merged, cached: files.merged } };
  if (files.decoder && files.withPast) return { architecture: "decoder-only", name: "legacy-split", files: { first: files.decoder, cached: files.withPast } };
  const generativeOutputs = model?.outputs.some((o) => o.name.startsWith("present."));
  if (generativeOutputs || (model && looksGenerative(config)) || files.decoder || files.encoder) {
    const file = model ? basename(model.path) : basename((files.decoder ?? files.encoder)!);
    throw new LayoutError(
      `${file} cannot generate: no decoder with a KV cache was found (a model.onnx declaring past_key_values.* inputs, ` +
        `${GENERATION_FILE_NAMES.merged}, or ${GENERATION_FILE_NAMES.decoder} + ${GENERATION_FILE_NAMES.withPast}` +
        `${files.encoder ? ` next to ${GENERATION_FILE_NAMES.encoder}` : ""}); export with the task text-generation-with-past or text2text-generation-with-past`,
    );
  }
  return undefined;
}

function spec(io: GraphIo): GraphSpec {
  const names = new Set(io.inputs.map((i) => i.name));
  return {
    ...io,
    file: basename(io.path),
    past: hasPast(io),
    branch: names.has("use_cache_branch"),
    positionIds: names.has("position_ids"),
    encoderHiddenStates: names.has("encoder_hidden_states"),
    crossPresents: io.outputs.some((o) => /^present\.\d+\.encoder\./.test(o.name)),
  };
}

const TOKEN_INPUTS = new Set(["input_ids", "attention_mask", "position_ids", "use_cache_branch", "encoder_attention_mask", "encoder_hidden_states"]);

/** Names one graph must declare; throws naming the file and the first missing or unknown name. */
function requireNames(g: GraphSpec, inputs: string[], outputs: string[], pastNames: string[]): void {
  for (const name of inputs) if (!hasInput(g, name)) throw new LayoutError(`${g.file} is missing the input "${name}" that generation feeds`);
  for (const name of outputs) if (!g.outputs.some((o) => o.name === name)) throw new LayoutError(`${g.file} is missing the output "${name}" that generation reads`);
  const known = new Set([...inputs, ...pastNames]);
  for (const i of g.inputs) {
    if (known.has(i.name) || TOKEN_INPUTS.has(i.name)) continue;
    throw new LayoutError(`${g.file} declares an input "${i.name}" that generation cannot feed`);
  }
  for (const i of g.inputs) {
    if (!i.name.startsWith("past_key_values.") && i.name !== "encoder_hidden_states") continue;
    if (i.type !== "float32") throw new LayoutError(`${g.file}: the input "${i.name}" is ${i.type}; only float32 exports are supported`);
  }
}

const dimOf = (g: GraphSpec, name: string, axis: number): number | undefined => {
  const d = g.inputs.find((i) => i.name === name)?.shape[axis] ?? g.outputs.find((o) => o.name === name)?.shape[axis];
  return typeof d === "number" ? d : undefined;
};

const num = (...values: unknown[]): number | undefined => values.find((v): v is number => typeof v === "number" && Number.isInteger(v) && v > 0);

/** Validates the opened graphs of a plan and describes the layout the steps drive. */
export function resolveLayout(plan: GenerationPlan, config: ModelConfig, io: { encoder?: GraphIo; first: GraphIo; cached: GraphIo }): GenerationLayout {
  const first = spec(io.first);
  const cached = io.cached.path === io.first.path ? first : spec(io.cached);
  const seq2seq = plan.architecture === "encoder-decoder";
  const presentLayers = (g: GraphSpec) => g.outputs.filter((o) => /^present\.\d+\.(decoder\.)?key$/.test(o.name)).length;
  const layers = num(presentLayers(first), presentLayers(cached), seq2seq ? config.num_decoder_layers ?? config.decoder_layers ?? config.num_layers : config.n_layer ?? config.num_hidden_layers);
  if (!layers) throw new LayoutError(`${first.file} emits no present.{i}.${seq2seq ? "decoder." : ""}key outputs: it is not a decoder with a KV cache`);
  const part = seq2seq ? ".decoder" : "";
  const selfNames = Array.from({ length: layers }, (_, i) => [`past_key_values.${i}${part}.key`, `past_key_values.${i}${part}.value`]).flat();
  const crossNames = seq2seq ? Array.from({ length: layers }, (_, i) => [`past_key_values.${i}.encoder.key`, `past_key_values.${i}.encoder.value`]).flat() : [];
  const presents = (names: string[]) => names.map((n) => n.replace(/^past_key_values\./, "present."));

  let encoder: GraphSpec | undefined;
  if (seq2seq) {
    encoder = spec(io.encoder!);
    requireNames(encoder, ["input_ids"], ["last_hidden_state"], []);
    const pastNames = [...selfNames, ...crossNames];
    // First step: no past (split decoder_model.onnx) or empty pasts (merged, use_cache_branch false).
    requireNames(first, ["input_ids", "encoder_attention_mask", "encoder_hidden_states", ...(first.past ? pastNames : []), ...(plan.name === "seq2seq-merged" ? ["use_cache_branch"] : [])], ["logits", ...presents(selfNames), ...presents(crossNames)], pastNames);
    if (cached !== first) requireNames(cached, ["input_ids", "encoder_attention_mask", ...pastNames], ["logits", ...presents(selfNames)], pastNames);
  } else {
    const mask = ["attention_mask"];
    requireNames(first, ["input_ids", ...mask, ...(first.past ? selfNames : []), ...(plan.name === "legacy-merged" ? ["use_cache_branch"] : [])], ["logits", ...presents(selfNames)], selfNames);
    if (cached !== first) requireNames(cached, ["input_ids", ...mask, ...selfNames], ["logits", ...presents(selfNames)], selfNames);
    if (first.positionIds !== cached.positionIds) throw new LayoutError(`${first.file} and ${cached.file} disagree on position_ids`);
  }
  const probe = cached.past ? cached : first;
  const heads = num(dimOf(probe, selfNames[0], 1), dimOf(first, presents(selfNames)[0], 1), seq2seq ? config.num_heads ?? config.decoder_attention_heads : config.n_head ?? config.num_attention_heads);
  const hidden = num(config.d_model, config.n_embd, config.hidden_size);
  const headDim = num(dimOf(probe, selfNames[0], 3), dimOf(first, presents(selfNames)[0], 3), config.d_kv, hidden && heads ? hidden / heads : undefined);
  if (!heads || !headDim) throw new LayoutError(`${probe.file}: cannot tell the number of heads and the head size from its past_key_values inputs or config.json`);
  const dModel = num(dimOf(first, "encoder_hidden_states", 2), encoder && encoder.outputs.find((o) => o.name === "last_hidden_state")?.shape[2], config.d_model, config.hidden_size) ?? 0;
  if (seq2seq && !dModel) throw new LayoutError(`${first.file}: cannot tell the encoder hidden size`);
  const vocabSize = num(first.outputs.find((o) => o.name === "logits")?.shape[2], config.vocab_size);
  if (!vocabSize) throw new LayoutError(`${first.file}: cannot tell the vocabulary size from its logits or config.json's vocab_size`);
  return { architecture: plan.architecture, name: plan.name, encoder, first, cached, layers, heads, headDim, selfNames, crossNames, dModel, vocabSize };
}

/** Keys of config.json that are generation settings (transformers' GenerationConfig fields the pipeline reads). */
const GENERATION_KEYS = [
  "decoder_start_token_id", "bos_token_id", "eos_token_id", "pad_token_id", "forced_bos_token_id", "forced_eos_token_id",
  "max_length", "max_new_tokens", "min_length", "min_new_tokens", "do_sample", "num_beams", "temperature", "top_k", "top_p",
  "repetition_penalty", "no_repeat_ngram_size", "length_penalty", "early_stopping", "num_return_sequences",
];

/** config.json's generation fields overlaid by generation_config.json (transformers.js's precedence). */
export function generationConfigOf(config: ModelConfig, generationConfig: Record<string, unknown> | undefined): Readonly<Record<string, unknown>> {
  const merged: Record<string, unknown> = {};
  for (const key of GENERATION_KEYS) if (config[key] !== undefined && config[key] !== null) merged[key] = config[key];
  for (const [key, value] of Object.entries(generationConfig ?? {})) if (value !== null) merged[key] = value;
  return Object.freeze(merged);
}

/**
 * Most tokens one sequence may hold: GPT-2's n_positions, BART's max_position_embeddings (learned
 * positions). T5 has relative positions and no hard bound: its config's n_positions (512 in
 * t5-small's) when given, else the tokenizer's model_max_length, else 512.
 */
export function maxPositionsOf(config: ModelConfig, tokenizerMax: number | undefined): number {
  return num(config.n_positions, config.max_position_embeddings, config.n_ctx) ?? num(tokenizerMax) ?? 512;
}
