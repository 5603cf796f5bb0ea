/**
 * What tasks, explanations and the orchestration see of a loaded model: its tokenizer, what it
 * can do, and batched forward passes over token sequences. lib/model/runtime.ts implements it on
 * an InferenceBackend; unit tests implement it on a fake backend (test/helpers/fake-backend.ts).
 */
import type { Encoded } from "../tokenization/encoded.ts";
import type { TextTokenizer } from "../tokenization/tokenizer.ts";
import type { NdArray } from "../tensor.ts";
import type { Capabilities } from "./capabilities.ts";
import type { GenerationModel } from "./generation.ts";
import type { GradientBackend } from "./gradients.ts";
import type { ModelFacts } from "./facts.ts";

export interface ForwardResult {
  /** One unpadded output record per sequence, in order. */
  items: Record<string, NdArray>[];
  /** Wall time from submitting the sequences to the last one's output. */
  inferenceMs: number;
  /** Longest time one of the sequences waited for its batch to start. */
  batchWaitMs: number;
}

export interface LoadedModel {
  readonly tokenizer: TextTokenizer;
  readonly folder: { readonly maxLength: number; readonly tokenizerPath: string };
  readonly capabilities: Capabilities;
  /** Outputs a forward pass can ask for. */
  readonly outputNames: readonly string[];
  readonly settings: { readonly return_plaintext_arrays: boolean };
  /** What the gateway knows of the model from its metadata, here from the model itself: requests are parsed against it. */
  readonly facts: ModelFacts;
  /**
   * Sequences batched with whatever else the model is running; all outputs when `outputNames` is
   * absent. `background` work (an attack's re-predictions) yields to interactive work.
   */
  forward(sequences: readonly Encoded[], outputNames?: string[], priority?: "interactive" | "background"): Promise<ForwardResult>;
  /** The model's gradient backend for explanations; a 422 naming the reason when the model has none. */
  gradientBackend(): Promise<GradientBackend>;
  /** The decoding side of a generative model (decoder-only or encoder-decoder); absent for encoders. */
  readonly generation?: GenerationModel;
}
