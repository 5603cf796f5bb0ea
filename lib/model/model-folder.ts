/**
 * An Optimum-layout model folder (SPEC §13): config.json, tokenizer.json and model.onnx (at the
 * root, or under onnx/ where transformers.js looks; a quantized file when asked). A generative
 * folder may instead hold Optimum's decoder/encoder files (generation-folder.ts) and a
 * generation_config.json.
 */
import { readFile, access } from "node:fs/promises";
import { join } from "node:path";
import { findGenerationFiles, primaryGenerationFile, type GenerationFiles } from "./generation-folder.ts";

export interface ModelConfig {
  model_type?: string;
  architectures?: string[];
  id2label?: Record<string, string>;
  max_position_embeddings?: number;
  problem_type?: string;
  hidden_size?: number;
  is_encoder_decoder?: boolean;
  [key: string]: unknown;
}

export interface ModelFolder {
  path: string;
  config: ModelConfig;
  /** model.onnx; in a folder without one, the encoder (encoder-decoder) or the preferred decoder file. */
  onnxPath: string;
  tokenizerPath: string;
  /** Optimum's generation files found in the folder (model.onnx included when present). */
  generationFiles: GenerationFiles;
  /** generation_config.json, when the folder has one. */
  generationConfig?: Record<string, unknown>;
  /** Tokens per sequence the model accepts (tokenizer_config model_max_length, capped by positions). */
  maxLength: number;
}

const exists = (p: string) => access(p).then(() => true, () => false);

async function readJson(path: string): Promise<Record<string, unknown>> {
  try {
    return JSON.parse(await readFile(path, "utf8"));
  } catch (err) {
    throw new Error(`cannot read ${path}: ${(err as Error).message}`);
  }
}

export async function findOnnxFile(path: string, quantized: boolean): Promise<string> {
  const names = quantized ? ["model_quantized.onnx", "model.onnx"] : ["model.onnx"];
  for (const name of names) for (const dir of [path, join(path, "onnx")]) if (await exists(join(dir, name))) return join(dir, name);
  throw new Error(`no ${names.join(" or ")} in ${path} or ${join(path, "onnx")}`);
}

export async function readModelFolder(path: string, options: { quantized?: boolean } = {}): Promise<ModelFolder> {
  const config = (await readJson(join(path, "config.json"))) as ModelConfig;
  const tokenizerPath = join(path, "tokenizer.json");
  if (!(await exists(tokenizerPath))) throw new Error(`no tokenizer.json in ${path}`);
  const tokenizerConfigPath = join(path, "tokenizer_config.json");
  const tokenizerConfig = (await exists(tokenizerConfigPath)) ? await readJson(tokenizerConfigPath) : {};
  const quantized = options.quantized ?? false;
  const generationFiles = await findGenerationFiles(path, quantized);
  const onnxPath = generationFiles.model ?? primaryGenerationFile(generationFiles) ?? (await findOnnxFile(path, quantized));
  const generationConfigPath = join(path, "generation_config.json");
  const generationConfig = (await exists(generationConfigPath)) ? await readJson(generationConfigPath) : undefined;
  return { path, config, onnxPath, tokenizerPath, generationFiles, generationConfig, maxLength: maxLengthOf(config, tokenizerConfig) };
}

/** RoBERTa reserves two position slots for padding offsets, hence the subtraction for that family. */
function maxLengthOf(config: ModelConfig, tokenizerConfig: Record<string, unknown>): number {
  const offset = config.model_type === "roberta" || config.model_type === "xlm-roberta" ? 2 : 0;
  // GPT-2 names its learned positions n_positions.
  const declaredPositions = typeof config.max_position_embeddings === "number" ? config.max_position_embeddings : config.n_positions;
  const positions = typeof declaredPositions === "number" ? declaredPositions - offset : Infinity;
  const declared = typeof tokenizerConfig.model_max_length === "number" && tokenizerConfig.model_max_length < 1e9 ? tokenizerConfig.model_max_length : Infinity;
  const max = Math.min(positions, declared);
  return Number.isFinite(max) ? max : 512;
}
