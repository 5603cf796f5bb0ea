/**
 * The protocol between a decoding strategy (greedy, sampling, beam search) and the pipeline that
 * runs the model one step at a time:
 *
 *   while (!d.done) {
 *     const rows = d.rows();           // what the next forward step must compute
 *     const logits = forward(rows);    // last-position logits, one Float32Array per row, same order
 *     d.absorb(logits);                // choose tokens, finish sequences, plan the next rows
 *   }
 *
 * A row with `parent === null` is a prefill: the model has no cache for it yet and reads the whole
 * `tokens`. Any other row continues the cache of row `parent` of the previous `rows()` (the same
 * parent may appear in several rows: beams branching, or sampled copies of one prompt), and feeds
 * only its last token. Reordering/copying the KV cache by `parent` is the caller's whole job in
 * beam search. Finished sequences stop appearing in `rows()`, so they stop costing compute. Rows
 * of several decodings may share one batch (continuous batching): nothing here depends on the
 * batch a row ran in.
 */

export interface StepRow {
  /** The prompt's index in the decoding. */
  prompt: number;
  /** The output sequence (sampling/greedy) or running beam (beam search) of that prompt. */
  slot: number;
  /** The previous step's row whose cache this row continues; null for a prefill. */
  parent: number | null;
  /** The row's whole history (prompt, or decoder start token, then generated tokens). */
  tokens: readonly number[];
}

/** A token chosen for an output sequence in this step (greedy and sampling only; beams emit nothing before they finish). */
export interface EmittedToken {
  prompt: number;
  sequence: number;
  token: number;
}

export interface StepOutcome {
  emitted: EmittedToken[];
  /** Prompts whose every sequence finished in this step; their results are ready. */
  finished: number[];
  /** The processed score rows, aligned with the step's `rows()`, when the decoding was asked to expose them. */
  processed?: Float32Array[];
}

export type FinishReason = "eos" | "length";

export interface GeneratedSequence {
  /** New tokens only (the eos that ended the sequence included). */
  tokens: number[];
  finishReason: FinishReason;
  /**
   * Per new token, its score in the processed row it was chosen from, as HF's `scores` hold it
   * (`compute_transition_scores`): processed logits for greedy/sampling, processed log-probabilities
   * for beam search.
   */
  tokenScores: number[];
  /** Beam search: the length-penalised score HF returns as `sequences_scores`. */
  score?: number;
}

export interface PromptResult {
  prompt: number;
  /** `num_return_sequences` sequences; best first in beam search, in sampling order otherwise. */
  sequences: GeneratedSequence[];
}

/** One prompt of a decoding. */
export interface DecodingPrompt {
  /** Prompt ids (decoder-only) or `[decoder_start_token_id]` (encoder-decoder). */
  tokens: readonly number[];
  /** How many of `tokens` are the prompt; defaults to all of them. */
  promptLength?: number;
  /** Limit on new tokens for this prompt, ≥ 1 (options.ts `maxNewTokensFor`). */
  maxNewTokens: number;
}

export interface Decoding {
  readonly done: boolean;
  /** The rows the next forward step must compute (empty once done). Stable until `absorb`. */
  rows(): readonly StepRow[];
  /** The last-position logits of each row of `rows()`, in order. */
  absorb(logits: readonly ArrayLike<number>[]): StepOutcome;
  /** Whether a prompt's sequences are all finished. */
  isFinished(prompt: number): boolean;
  /** A finished prompt's result (throws before it finished). */
  result(prompt: number): PromptResult;
}
