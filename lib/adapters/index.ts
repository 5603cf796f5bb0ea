/**
 * AdapterHub adapters read into memory (issue #16): folder loading, both weight formats (safetensors and
 * torch.save zip archives through a restricted unpickler), typed configs, weights by layer and role, heads.
 */
export { AdapterError } from "./errors.ts";
export type { WeightTensor, StoredDtype } from "./tensor.ts";
export { readSafetensors } from "./safetensors.ts";
export { readTorchBin, TORCH_PICKLE_GLOBALS } from "./torch-bin.ts";
export { unpickle, PickleTuple, PickleGlobal } from "./pickle.ts";
export { parseAdapterConfigFile, parseMethodConfig, bottleneckSize } from "./config.ts";
export type { AdapterConfigFile, AdapterMethodConfig, BottleneckConfig, LoraConfig, Activation } from "./config.ts";
export { organiseWeights } from "./weights.ts";
export type { AdapterWeights, BottleneckModule, BottleneckLayer, LoraLayer, LoraPair, LoraTarget, LinearWeights } from "./weights.ts";
export { parseHead } from "./head.ts";
export type { PredictionHead, HeadType } from "./head.ts";
export { loadAdapterFolder, readWeightFile, ADAPTER_FILES } from "./load.ts";
export type { LoadedAdapter, WeightFormat } from "./load.ts";
export { averageAdapterWeights, averageHeads, normaliseWeights } from "./average.ts";
