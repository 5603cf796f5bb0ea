/**
 * What explanation methods need from a model: its word-embedding rows, and batched
 * forward+backward passes that take word embeddings in place of token ids. Implemented on ONNX
 * Runtime by lib/model/gradient-session.ts (batched by lib/model/runtime.ts); the unit tests use
 * small analytic models.
 */
import type { Encoded } from "../tokenization/encoded.ts";

export interface GradientRow {
  /** The tokens (ids, mask, type ids) of the row. */
  sequence: Encoded;
  /** Word embeddings fed in place of the embedding lookup (tokens × hidden). */
  embeds: Float32Array;
  /** Cotangent of each target output for this row (e.g. a one-hot over `logits`). */
  cotangents: Record<string, Float32Array>;
  /**
   * What the pass must return: the embedding gradient, or the last layer's attention and its
   * gradient. Asking only for what a method reads saves copying large arrays.
   */
  wants: "gradient" | "attention";
}

export interface GradientResult {
  /** ∂target/∂embeds (tokens × hidden), when the row wanted the gradient. */
  gradEmbeds?: Float32Array;
  /** Last layer's attention probabilities (heads × tokens × tokens) and ∂target/∂ of them, when wanted. */
  lastAttention?: Float32Array;
  gradLastAttention?: Float32Array;
}

export interface GradientBackend {
  readonly hidden: number;
  /** Rows of the word-embedding table. */
  readonly vocabularySize: number;
  /** Word-embedding rows of `ids` (tokens × hidden). */
  embeddingRows(ids: readonly number[]): Float32Array;
  /**
   * For each gradient vector (length hidden), `E[k] · g` for every vocabulary entry k (HotFlip's
   * first-order estimate, SPEC §8): one product of the table with the vectors, off the main thread.
   */
  vocabularyScores(gradients: readonly Float32Array[]): Promise<Float64Array[]>;
  /** One result per row, in order; rows of any lengths may be batched together. */
  run(rows: readonly GradientRow[]): Promise<GradientResult[]>;
}
