/**
 * The adapter weights the bank is built from, in AdapterHub's own layout (PyTorch Linear weights
 * [out, in]) so the AdapterHub file readers (lib/adapters/**) can hand their tensors over as they are.
 * Maths per the research notes §1.3 (adapters.md):
 *
 *   f(v) = s · (W_u · act(W_d · v + b_d) + b_u)
 *   seq_bn (Pfeiffer), FFN output only:             out = LN0(h + r + f(LN0(h + r)))
 *   double_seq_bn (Houlsby), attention and FFN:      out = LN0(h + r + f(h))
 *   lora on query/key/value:                          y = x·Wᵀ + b + scaling · x·Aᵀ·Bᵀ   (scaling = alpha / r)
 */

/** One bottleneck module: `adapter_down.0` and `adapter_up` of a location. */
export interface BottleneckModule {
  /** adapter_down.0.weight, [d, H] row-major. */
  down: Float32Array;
  /** adapter_down.0.bias, [d]. */
  downBias: Float32Array;
  /** adapter_up.weight, [H, d] row-major. */
  up: Float32Array;
  /** adapter_up.bias, [H]. */
  upBias: Float32Array;
}

/** Non-linearities AdapterHub bottlenecks use (after its ACTIVATION_RENAME for version-less configs). */
export type BottleneckActivation = "relu" | "swish" | "silu" | "gelu" | "gelu_new" | "tanh" | "sigmoid" | "linear";

export interface BottleneckAdapter {
  name: string;
  /** seq_bn = Pfeiffer (FFN output, reads LN0(h + r)); double_seq_bn = Houlsby (attention and FFN output, reads h). */
  method: "seq_bn" | "double_seq_bn";
  activation: BottleneckActivation;
  /** `scaling` of the config when it is a number (default 1.0); learned/channel scaling is not supported. */
  scaling?: number;
  /** Per encoder layer; undefined = left out (`leave_out`). `attention` only for double_seq_bn. */
  layers: ({ attention?: BottleneckModule; ffn?: BottleneckModule } | undefined)[];
}

/** One LoRA module: lora_A [r, in], lora_B [out, r], row-major. */
export interface LoraModule {
  A: Float32Array;
  B: Float32Array;
}

export type LoraTarget = "query" | "key" | "value";

export interface LoraAdapter {
  name: string;
  method: "lora";
  /** alpha / r (after the loader's backward-compat fix). */
  scaling: number;
  /** The rank r (rows of A). */
  rank: number;
  layers: (Partial<Record<LoraTarget, LoraModule>> | undefined)[];
}

export type Adapter = BottleneckAdapter | LoraAdapter;
