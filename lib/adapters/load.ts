/**
 * Reads an adapter folder in AdapterHub's layout into memory:
 *   adapter_config.json                            (required)
 *   adapter.safetensors | pytorch_adapter.bin      (the safetensors file wins when both exist, as in Python)
 *   head_config.json + model_head.safetensors | pytorch_model_head.bin   (optional)
 */
import { readFile, access } from "node:fs/promises";
import { join } from "node:path";
import { AdapterError } from "./errors.ts";
import { parseAdapterConfigFile } from "./config.ts";
import type { AdapterConfigFile } from "./config.ts";
import { parseHead } from "./head.ts";
import type { PredictionHead } from "./head.ts";
import { readSafetensors } from "./safetensors.ts";
import { readTorchBin } from "./torch-bin.ts";
import type { WeightTensor } from "./tensor.ts";
import { organiseWeights } from "./weights.ts";
import type { AdapterWeights } from "./weights.ts";

export const ADAPTER_FILES = Object.freeze({
  config: "adapter_config.json",
  safetensors: "adapter.safetensors",
  torch: "pytorch_adapter.bin",
  headConfig: "head_config.json",
  headSafetensors: "model_head.safetensors",
  headTorch: "pytorch_model_head.bin",
});

export type WeightFormat = "safetensors" | "torch";

export interface LoadedAdapter {
  readonly folder: string;
  readonly meta: AdapterConfigFile;
  readonly format: WeightFormat;
  readonly weights: AdapterWeights;
  readonly head: PredictionHead | undefined;
}

const exists = (path: string) => access(path).then(() => true, () => false);

async function readJson(path: string): Promise<unknown> {
  const text = await readFile(path, "utf8");
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new AdapterError(`${path}: not valid JSON (${(err as Error).message})`);
  }
}

/** Reads a weight file of either format. */
export async function readWeightFile(path: string): Promise<Map<string, WeightTensor>> {
  const bytes = new Uint8Array(await readFile(path));
  return path.endsWith(".safetensors") ? readSafetensors(bytes, path).tensors : readTorchBin(bytes, path);
}

async function pickWeights(folder: string, safetensors: string, torch: string): Promise<{ path: string; format: WeightFormat } | undefined> {
  if (await exists(join(folder, safetensors))) return { path: join(folder, safetensors), format: "safetensors" };
  if (await exists(join(folder, torch))) return { path: join(folder, torch), format: "torch" };
  return undefined;
}

/** Loads the adapter (and its head, if the folder has one). `hiddenSize` (the base model's) checks the shapes. */
export async function loadAdapterFolder(folder: string, options: { hiddenSize?: number } = {}): Promise<LoadedAdapter> {
  const configPath = join(folder, ADAPTER_FILES.config);
  if (!(await exists(configPath))) throw new AdapterError(`${folder}: no ${ADAPTER_FILES.config} (not an AdapterHub adapter folder)`);
  const meta = parseAdapterConfigFile(await readJson(configPath));
  const hiddenSize = options.hiddenSize ?? meta.hiddenSize;
  if (options.hiddenSize !== undefined && meta.hiddenSize !== undefined && options.hiddenSize !== meta.hiddenSize) {
    throw new AdapterError(`${configPath}: hidden_size=${meta.hiddenSize}, the base model's is ${options.hiddenSize}`, "hidden_size");
  }
  const weightFile = await pickWeights(folder, ADAPTER_FILES.safetensors, ADAPTER_FILES.torch);
  if (!weightFile) throw new AdapterError(`${folder}: no ${ADAPTER_FILES.safetensors} or ${ADAPTER_FILES.torch}`);
  const weights = organiseWeights(meta.name, meta.config, await readWeightFile(weightFile.path), hiddenSize);
  let head: PredictionHead | undefined;
  const headConfigPath = join(folder, ADAPTER_FILES.headConfig);
  if (await exists(headConfigPath)) {
    const headFile = await pickWeights(folder, ADAPTER_FILES.headSafetensors, ADAPTER_FILES.headTorch);
    if (!headFile) throw new AdapterError(`${folder}: ${ADAPTER_FILES.headConfig} without ${ADAPTER_FILES.headSafetensors} or ${ADAPTER_FILES.headTorch}`);
    head = parseHead(await readJson(headConfigPath), await readWeightFile(headFile.path), hiddenSize);
  }
  return { folder, meta, format: weightFile.format, weights, head };
}
