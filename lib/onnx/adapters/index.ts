/** Adapter-capable encoder graphs (AdapterHub bottleneck and LoRA adapters in an in-graph bank). */
export { AdapterGraphError, matchAdapterSites, matchDense, type AdapterSites, type LayerSites, type SublayerSite, type DenseMatch } from "./match.ts";
export { buildAdapterGraph, ADAPTER_WEIGHTS_INPUT, type AdapterGraph, type AdapterBankOptions, type BankTensor } from "./bank.ts";
export type { Adapter, BottleneckAdapter, BottleneckModule, BottleneckActivation, LoraAdapter, LoraModule, LoraTarget } from "./types.ts";
