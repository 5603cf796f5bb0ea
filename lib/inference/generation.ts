/**
 * What the generation task (lib/tasks/generation.ts) sees of a generative model: one decoding
 * step for rows of any number of requests, batched by the model's batcher with everything else
 * the replica runs (continuous batching), and for encoder-decoder models the encoder pass over
 * the prompts. KV caches and encoder states are opaque handles the model gives back and takes
 * again; lib/model implements them on ONNX Runtime for every layout Optimum writes.
 *
 * The caller drives the rows from lib/generation's step machines: a prefill row has no `cache`
 * and feeds the whole prompt (decoder-only) or the decoder start token (encoder-decoder); a row
 * continuing a sequence feeds its last token with the cache of the row it continues (beam search
 * reorders caches by choosing which previous result's cache a row takes; handles are immutable,
 * so several rows may continue the same one).
 */
import type { Encoded } from "../tokenization/encoded.ts";

/** A row's key/value cache after a step: opaque, immutable, `length` tokens long. */
export interface KvCache {
  readonly length: number;
}

/** An encoder-decoder prompt's encoder output (and its cross-attention cache once the decoder made it). */
export interface EncoderState {
  /** The prompt's token count. */
  readonly length: number;
}

export interface GenerationRow {
  /** Prefill: the prompt ids (decoder-only) or the decoder start token (encoder-decoder); later: the last chosen token. */
  tokens: readonly number[];
  /** The cache this row continues; absent for a prefill. */
  cache?: KvCache;
  /** Encoder-decoder: the prompt's encoder state (from `encode`). */
  encoder?: EncoderState;
}

export interface GenerationRowResult {
  /** Logits at the row's last position, one per vocabulary entry. */
  logits: Float32Array;
  /** The row's cache after this step: `cache.length + tokens.length` tokens. */
  cache: KvCache;
}

export type GenerationArchitecture = "decoder-only" | "encoder-decoder";

export interface GenerationModel {
  readonly architecture: GenerationArchitecture;
  readonly vocabSize: number;
  /**
   * config.json's generation fields overlaid by generation_config.json (decoder_start_token_id,
   * bos/eos/pad ids, defaults such as num_beams): the defaults of lib/generation/options.ts.
   */
  readonly generationConfig: Readonly<Record<string, unknown>>;
  /** Most tokens a sequence (prompt and new tokens; for encoder-decoder, the decoder side) may hold. */
  readonly maxPositions: number;
  /** Encoder-decoder only: the encoder over each prompt (ids, mask), batched. */
  encode(prompts: readonly Encoded[], priority?: "interactive" | "background"): Promise<EncoderState[]>;
  /** One step for each row, in order; rows of different requests share batches. */
  step(rows: readonly GenerationRow[], priority?: "interactive" | "background"): Promise<GenerationRowResult[]>;
}
