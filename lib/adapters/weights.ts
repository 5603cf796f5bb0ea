/**
 * Sorts an adapter's state dict into layers and roles. Keys follow AdapterHub's modules (research notes
 * §1.2), with or without the base-model prefix (`bert.`, `roberta.`), legacy names mapped as the Python
 * loader maps them (`layer_text_task_adapters` etc. → `adapters`):
 *   bottleneck  encoder.layer.{i}.{attention.output|output}.adapters.{name}.adapter_down.0.weight …
 *   LoRA        encoder.layer.{i}.{attention.self.query|key|value|intermediate.dense|output.dense}.loras.{name}.lora_A|lora_B
 * Linear weights keep torch's [out, in] layout. Every key must belong to the adapter and every expected
 * tensor must be there with its expected shape; otherwise an AdapterError names the key.
 */
import { AdapterError } from "./errors.ts";
import { bottleneckSize } from "./config.ts";
import type { AdapterMethodConfig, BottleneckConfig, LoraConfig } from "./config.ts";
import type { WeightTensor } from "./tensor.ts";

export interface LinearWeights {
  /** [out, in] */
  readonly weight: WeightTensor;
  readonly bias?: WeightTensor;
}

export interface LayerNormWeights {
  readonly weight: WeightTensor;
  readonly bias: WeightTensor;
}

/** One bottleneck module: z = act(down(LN_before?(x))), u = s · up(z). */
export interface BottleneckModule {
  /** [d, H], [d] */
  readonly down: LinearWeights;
  /** [H, d], [H] */
  readonly up: LinearWeights;
  readonly lnBefore?: LayerNormWeights;
  readonly lnAfter?: LayerNormWeights;
  /** The learned scaling ([1] for "learned", [H] for "channel"); absent for a fixed number. */
  readonly scaling?: WeightTensor;
}

export interface BottleneckLayer {
  /** After the attention output dense (mh_adapter). */
  readonly attention?: BottleneckModule;
  /** After the FFN output dense (output_adapter). */
  readonly output?: BottleneckModule;
}

export interface LoraPair {
  /** [r, in] */
  readonly A: WeightTensor;
  /** [out, r] */
  readonly B: WeightTensor;
}

export type LoraTarget = "query" | "key" | "value" | "intermediate" | "output";

export type LoraLayer = Partial<Record<LoraTarget, LoraPair>>;

export type AdapterWeights =
  | { readonly kind: "bottleneck"; readonly layers: readonly (BottleneckLayer | undefined)[] }
  | { readonly kind: "lora"; readonly scaling: number; readonly layers: readonly (LoraLayer | undefined)[] };

const LEGACY = /\.(attention_text_task_adapters|attention_text_lang_adapters|layer_text_task_adapters|layer_text_lang_adapters)\./;
const BOTTLENECK_KEY = /^(?:[A-Za-z_]+\.)?encoder\.layer\.(\d+)\.(attention\.output|output)\.adapters\.([^.]+)\.(.+)$/;
const LORA_KEY = /^(?:[A-Za-z_]+\.)?encoder\.layer\.(\d+)\.(attention\.self\.query|attention\.self\.key|attention\.self\.value|intermediate\.dense|output\.dense)\.loras\.([^.]+)\.(lora_A|lora_B)$/;
const LORA_TARGETS: Record<string, LoraTarget> = {
  "attention.self.query": "query", "attention.self.key": "key", "attention.self.value": "value",
  "intermediate.dense": "intermediate", "output.dense": "output",
};

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

function expectShape(key: string, tensor: WeightTensor, shape: readonly number[]): void {
  if (!sameShape(tensor.shape, shape)) throw new AdapterError(`adapter weight ${key} has shape [${tensor.shape.join(", ")}], expected [${shape.join(", ")}]`, key);
}

/** Organises `tensors` (the adapter weight file) for adapter `name` with `config`. */
export function organiseWeights(name: string, config: AdapterMethodConfig, tensors: ReadonlyMap<string, WeightTensor>, hiddenSize?: number): AdapterWeights {
  const renamed = new Map<string, WeightTensor>();
  for (const [key, t] of tensors) renamed.set(key.replace(LEGACY, ".adapters."), t);
  return config.architecture === "lora" ? loraWeights(name, config, renamed) : bottleneckWeights(name, config, renamed, hiddenSize);
}

function bottleneckWeights(name: string, config: BottleneckConfig, tensors: Map<string, WeightTensor>, hiddenSize?: number): AdapterWeights {
  // layer → location → suffix → tensor
  const found = new Map<number, Map<string, Map<string, [string, WeightTensor]>>>();
  for (const [key, t] of tensors) {
    const m = BOTTLENECK_KEY.exec(key);
    if (!m) throw new AdapterError(`adapter weight ${key} is not a bottleneck adapter weight of a BERT/RoBERTa layer`, key);
    if (m[3] !== name) throw new AdapterError(`adapter weight ${key} belongs to adapter ${m[3]}, not ${name}`, key);
    const layer = Number(m[1]);
    const location = m[2] === "output" ? "output" : "attention";
    if (location === "attention" ? !config.mhAdapter : !config.outputAdapter) throw new AdapterError(`adapter weight ${key}: the config has no ${location === "attention" ? "mh_adapter" : "output_adapter"}`, key);
    if (config.leaveOut.includes(layer)) throw new AdapterError(`adapter weight ${key}: layer ${layer} is in leave_out`, key);
    const byLocation = found.get(layer) ?? new Map<string, Map<string, [string, WeightTensor]>>();
    found.set(layer, byLocation);
    const bySuffix = byLocation.get(location) ?? new Map<string, [string, WeightTensor]>();
    byLocation.set(location, bySuffix);
    bySuffix.set(m[4], [key, t]);
  }
  if (!found.size) throw new AdapterError(`adapter ${name}: the weight file has no bottleneck adapter weights`);
  const numLayers = Math.max(...found.keys()) + 1;
  const layers: (BottleneckLayer | undefined)[] = [];
  for (let l = 0; l < numLayers; l++) {
    if (config.leaveOut.includes(l)) {
      layers.push(undefined);
      continue;
    }
    const byLocation = found.get(l);
    const module = (location: "attention" | "output"): BottleneckModule => {
      const where = `layer ${l} ${location === "attention" ? "attention.output" : "output"}`;
      const bySuffix = byLocation?.get(location) ?? new Map<string, [string, WeightTensor]>();
      const take = (suffix: string): WeightTensor => {
        const hit = bySuffix.get(suffix);
        if (!hit) throw new AdapterError(`adapter ${name}: ${where} has no adapters.${name}.${suffix}`, suffix);
        bySuffix.delete(suffix);
        return hit[1];
      };
      const linear = config.lnBefore ? "adapter_down.1" : "adapter_down.0";
      const lnBefore = config.lnBefore ? { weight: take("adapter_down.0.weight"), bias: take("adapter_down.0.bias") } : undefined;
      const down = { weight: take(`${linear}.weight`), bias: take(`${linear}.bias`) };
      const up = { weight: take("adapter_up.weight"), bias: take("adapter_up.bias") };
      const lnAfter = config.lnAfter ? { weight: take("adapter_norm_after.weight"), bias: take("adapter_norm_after.bias") } : undefined;
      const scaling = typeof config.scaling === "string" ? take("scaling") : undefined;
      for (const [suffix, [key]] of bySuffix) throw new AdapterError(`adapter weight ${key} (${suffix}) is not expected for this config`, key);
      const H = hiddenSize ?? down.weight.shape[1];
      const d = hiddenSize === undefined ? down.weight.shape[0] : bottleneckSize(config, l, H);
      const k = (s: string) => `${where} adapters.${name}.${s}`;
      expectShape(k(`${linear}.weight`), down.weight, [d, H]);
      expectShape(k(`${linear}.bias`), down.bias, [d]);
      expectShape(k("adapter_up.weight"), up.weight, [H, d]);
      expectShape(k("adapter_up.bias"), up.bias, [H]);
      if (lnBefore) (expectShape(k("adapter_down.0.weight"), lnBefore.weight, [H]), expectShape(k("adapter_down.0.bias"), lnBefore.bias, [H]));
      if (lnAfter) (expectShape(k("adapter_norm_after.weight"), lnAfter.weight, [H]), expectShape(k("adapter_norm_after.bias"), lnAfter.bias, [H]));
      if (scaling) expectShape(k("scaling"), scaling, [config.scaling === "channel" ? H : 1]);
      return { down, up, ...(lnBefore && { lnBefore }), ...(lnAfter && { lnAfter }), ...(scaling && { scaling }) };
    };
    layers.push({ ...(config.mhAdapter && { attention: module("attention") }), ...(config.outputAdapter && { output: module("output") }) });
  }
  return { kind: "bottleneck", layers };
}

function loraWeights(name: string, config: LoraConfig, tensors: Map<string, WeightTensor>): AdapterWeights {
  const wanted = new Set<LoraTarget>([
    ...(config.selfattnLora ? config.attnMatrices.map((m) => ({ q: "query", k: "key", v: "value" }) [m] as LoraTarget) : []),
    ...(config.intermediateLora ? (["intermediate"] as const) : []),
    ...(config.outputLora ? (["output"] as const) : []),
  ]);
  const found = new Map<number, Map<LoraTarget, { A?: WeightTensor; B?: WeightTensor }>>();
  for (const [key, t] of tensors) {
    const m = LORA_KEY.exec(key);
    if (!m) throw new AdapterError(`adapter weight ${key} is not a LoRA weight of a BERT/RoBERTa layer`, key);
    if (m[3] !== name) throw new AdapterError(`adapter weight ${key} belongs to adapter ${m[3]}, not ${name}`, key);
    const layer = Number(m[1]);
    const target = LORA_TARGETS[m[2]];
    if (!wanted.has(target)) throw new AdapterError(`adapter weight ${key}: the LoRA config does not adapt ${m[2]}`, key);
    if (config.leaveOut.includes(layer)) throw new AdapterError(`adapter weight ${key}: layer ${layer} is in leave_out`, key);
    const byTarget = found.get(layer) ?? new Map<LoraTarget, { A?: WeightTensor; B?: WeightTensor }>();
    found.set(layer, byTarget);
    const pair = byTarget.get(target) ?? {};
    byTarget.set(target, pair);
    if (m[4] === "lora_A") pair.A = t;
    else pair.B = t;
  }
  if (!found.size) throw new AdapterError(`adapter ${name}: the weight file has no LoRA weights`);
  const numLayers = Math.max(...found.keys()) + 1;
  const layers: (LoraLayer | undefined)[] = [];
  for (let l = 0; l < numLayers; l++) {
    if (config.leaveOut.includes(l)) {
      layers.push(undefined);
      continue;
    }
    const layer: LoraLayer = {};
    for (const target of wanted) {
      const pair = found.get(l)?.get(target);
      const where = `layer ${l} ${target} loras.${name}`;
      if (!pair?.A || !pair.B) throw new AdapterError(`adapter ${name}: ${where} lacks lora_${pair?.A ? "B" : "A"}`, `${target}.lora_${pair?.A ? "B" : "A"}`);
      const A = pair.A;
      const B = pair.B;
      if (A.shape.length !== 2 || A.shape[0] !== config.r) throw new AdapterError(`adapter weight ${where}.lora_A has shape [${A.shape.join(", ")}], expected [${config.r}, in]`, "lora_A");
      if (B.shape.length !== 2 || B.shape[1] !== config.r) throw new AdapterError(`adapter weight ${where}.lora_B has shape [${B.shape.join(", ")}], expected [out, ${config.r}]`, "lora_B");
      layer[target] = { A, B };
    }
    layers.push(layer);
  }
  return { kind: "lora", scaling: config.scaling, layers };
}
