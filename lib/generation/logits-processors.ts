/**
 * Hugging Face's logits processors and warpers over one row of scores (one sequence's next-token
 * logits, or log-probabilities in beam search) and that row's token history.
 *
 * The `apply*` functions change the row in place and return it (the caller owns the row);
 * `processRow` copies first, so the pipeline as a whole leaves its input untouched.
 *
 * Order, as `GenerationMixin._get_logits_processor` builds it (only the processors the options can
 * switch on): RepetitionPenalty → NoRepeatNGram → MinLength → MinNewTokens → ForcedBOS → ForcedEOS,
 * then, only when sampling, the warpers Temperature → TopK → TopP. Each is on under the same
 * condition as in HF (penalty ≠ 1, n-gram size > 0, min lengths > 0 with an eos, temperature ≠ 1,
 * top_k ≠ 0, top_p < 1). Lengths are per row: `tokens` is the row's own history (prompt plus
 * generated for decoder-only models, decoder ids from the start token for encoder-decoder ones),
 * which for an unpadded row is exactly what HF sees.
 */
import type { GenerationOptions } from "./options.ts";
import { topKIndices } from "./row-math.ts";

/** What the processors know about a row besides its scores. */
export interface RowContext {
  /** The row's whole token history. */
  tokens: ArrayLike<number>;
  /** How many of `tokens` are the prompt (the decoder start token for encoder-decoder models). */
  promptLength: number;
  /** The row's limit on new tokens (ForcedEOS fires on the last one). */
  maxNewTokens: number;
}

export interface WarperPlan {
  temperature?: number;
  topK?: number;
  topP?: number;
  /** 1, or (eos count + 1, at least 2) in beam sampling, as HF sets `min_tokens_to_keep`. */
  minTokensToKeep: number;
}

/** The processors a request switches on; absent fields are off. */
export interface ProcessorPlan {
  repetitionPenalty?: number;
  noRepeatNgramSize?: number;
  minLength?: number;
  minNewTokens?: number;
  eosTokenIds: readonly number[];
  forcedBosTokenId?: number;
  forcedEosTokenIds?: readonly number[];
  /** Present only when sampling. */
  warpers?: WarperPlan;
}

type PlanOptions = Pick<
  GenerationOptions,
  "repetitionPenalty" | "noRepeatNgramSize" | "minLength" | "minNewTokens" | "eosTokenIds" | "forcedBosTokenId" | "forcedEosTokenIds" | "doSample" | "temperature" | "topK" | "topP" | "numBeams"
>;

/** The processors HF's `_get_logits_processor` would build for these options. */
export function processorPlan(o: PlanOptions): ProcessorPlan {
  const hasEos = o.eosTokenIds.length > 0;
  const plan: ProcessorPlan = { eosTokenIds: [...o.eosTokenIds] };
  if (o.repetitionPenalty !== 1) plan.repetitionPenalty = o.repetitionPenalty;
  if (o.noRepeatNgramSize > 0) plan.noRepeatNgramSize = o.noRepeatNgramSize;
  if (hasEos && o.minLength > 0) plan.minLength = o.minLength;
  if (hasEos && o.minNewTokens > 0) plan.minNewTokens = o.minNewTokens;
  if (o.forcedBosTokenId !== undefined) plan.forcedBosTokenId = o.forcedBosTokenId;
  if (o.forcedEosTokenIds !== undefined && o.forcedEosTokenIds.length > 0) plan.forcedEosTokenIds = [...o.forcedEosTokenIds];
  if (o.doSample) {
    const w: WarperPlan = { minTokensToKeep: o.numBeams > 1 ? Math.max(2, o.eosTokenIds.length + 1) : 1 };
    if (o.temperature !== 1) w.temperature = o.temperature;
    if (o.topK !== 0) w.topK = o.topK;
    if (o.topP < 1) w.topP = o.topP;
    plan.warpers = w;
  }
  return plan;
}

/** A copy of `row` with every processor of `plan` applied, in HF's order. */
export function processRow(row: ArrayLike<number>, ctx: RowContext, plan: ProcessorPlan): Float32Array {
  const out = Float32Array.from(row as ArrayLike<number>);
  const curLen = ctx.tokens.length;
  const generated = curLen - ctx.promptLength;
  if (plan.repetitionPenalty !== undefined) applyRepetitionPenalty(out, ctx.tokens, plan.repetitionPenalty);
  if (plan.noRepeatNgramSize !== undefined) applyNoRepeatNgram(out, ctx.tokens, plan.noRepeatNgramSize);
  if (plan.minLength !== undefined) applyMinLength(out, curLen, plan.minLength, plan.eosTokenIds);
  if (plan.minNewTokens !== undefined) applyMinNewTokens(out, generated, plan.minNewTokens, plan.eosTokenIds);
  if (plan.forcedBosTokenId !== undefined) applyForcedBos(out, curLen, plan.forcedBosTokenId);
  if (plan.forcedEosTokenIds !== undefined) applyForcedEos(out, generated, ctx.maxNewTokens, plan.forcedEosTokenIds);
  const w = plan.warpers;
  if (w) {
    if (w.temperature !== undefined) applyTemperature(out, w.temperature);
    if (w.topK !== undefined) applyTopK(out, w.topK, w.minTokensToKeep);
    if (w.topP !== undefined) applyTopP(out, w.topP, w.minTokensToKeep);
  }
  return out;
}

/** RepetitionPenalty: once per distinct token of the history, score < 0 → score × penalty, else score / penalty. */
export function applyRepetitionPenalty(row: Float32Array, tokens: ArrayLike<number>, penalty: number): Float32Array {
  const seen = new Set<number>();
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (seen.has(t) || t < 0 || t >= row.length) continue;
    seen.add(t);
    row[t] = row[t] < 0 ? row[t] * penalty : row[t] / penalty;
  }
  return row;
}

/**
 * The tokens NoRepeatNGram bans: every token that followed an earlier occurrence of the history's
 * last n-1 tokens (for n = 1, every token seen). Nothing while the history is shorter than n - 1.
 */
export function bannedNgramTokens(tokens: ArrayLike<number>, n: number): number[] {
  const len = tokens.length;
  if (len + 1 < n) return [];
  const banned: number[] = [];
  // every n-gram tokens[j .. j+n-1] whose first n-1 tokens equal the last n-1 of the history
  for (let j = 0; j + n <= len; j++) {
    let match = true;
    for (let k = 0; k < n - 1 && match; k++) match = tokens[j + k] === tokens[len - n + 1 + k];
    if (match) banned.push(tokens[j + n - 1]);
  }
  return banned;
}

export function applyNoRepeatNgram(row: Float32Array, tokens: ArrayLike<number>, n: number): Float32Array {
  for (const t of bannedNgramTokens(tokens, n)) if (t >= 0 && t < row.length) row[t] = -Infinity;
  return row;
}

const banEos = (row: Float32Array, eos: readonly number[]) => {
  for (const e of eos) if (e >= 0 && e < row.length) row[e] = -Infinity;
  return row;
};

/** MinLength: eos is impossible while the whole history is shorter than `minLength`. */
export function applyMinLength(row: Float32Array, curLen: number, minLength: number, eos: readonly number[]): Float32Array {
  return curLen < minLength ? banEos(row, eos) : row;
}

/** MinNewTokens: eos is impossible while fewer than `minNewTokens` tokens were generated. */
export function applyMinNewTokens(row: Float32Array, generated: number, minNewTokens: number, eos: readonly number[]): Float32Array {
  return generated < minNewTokens ? banEos(row, eos) : row;
}

/** ForcedBOS: on a history of length 1 (the decoder start token), only `bos` is possible (score 0). */
export function applyForcedBos(row: Float32Array, curLen: number, bos: number): Float32Array {
  if (curLen !== 1) return row;
  row.fill(-Infinity);
  row[bos] = 0;
  return row;
}

/** ForcedEOS: on the last token the length limit allows, only the eos ids are possible (score 0). */
export function applyForcedEos(row: Float32Array, generated: number, maxNewTokens: number, eos: readonly number[]): Float32Array {
  if (generated !== maxNewTokens - 1) return row;
  row.fill(-Infinity);
  for (const e of eos) row[e] = 0;
  return row;
}

/** Temperature: scores / T (T > 0; the option parser refuses anything else). */
export function applyTemperature(row: Float32Array, temperature: number): Float32Array {
  for (let i = 0; i < row.length; i++) row[i] = row[i] / temperature;
  return row;
}

/** TopK: k = min(max(topK, minKeep), vocab); scores below the k-th largest become -inf (ties with it survive). */
export function applyTopK(row: Float32Array, topK: number, minTokensToKeep = 1): Float32Array {
  const k = Math.min(Math.max(topK, minTokensToKeep), row.length);
  if (k >= row.length || k <= 0) return row;
  const kth = row[topKIndices(row, k)[k - 1]];
  for (let i = 0; i < row.length; i++) if (row[i] < kth) row[i] = -Infinity;
  return row;
}

/**
 * TopP (nucleus): sort ascending, cumulate the softmax, remove the tokens whose cumulative
 * probability is ≤ 1 - top_p, but never the `minKeep` highest. Ties in the ascending order put the
 * higher index first, so the lower index survives. Probabilities in float64 (HF: float32).
 * The values are sorted as a typed array (no comparator: a 50k vocabulary costs a few ms), then the
 * removed prefix is mapped back to tokens: all below the last removed value, and as many of the
 * tokens equal to it as the prefix holds, highest index first.
 */
export function applyTopP(row: Float32Array, topP: number, minTokensToKeep = 1): Float32Array {
  let n = 0;
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) {
    if (row[i] > -Infinity) n++;
    if (row[i] > max) max = row[i];
  }
  if (n === 0) return row;
  const sorted = new Float32Array(n);
  for (let i = 0, j = 0; i < row.length; i++) if (row[i] > -Infinity) sorted[j++] = row[i];
  sorted.sort();
  let z = 0;
  for (let r = 0; r < n; r++) z += Math.exp(sorted[r] - max);
  // removed = the longest ascending prefix with cumulative probability ≤ 1 - top_p, short of the kept top
  const keepFrom = n - minTokensToKeep;
  let removed = 0;
  let cum = 0;
  for (let r = 0; r < n && r < keepFrom; r++) {
    cum += Math.exp(sorted[r] - max) / z;
    if (cum <= 1 - topP) removed = r + 1;
    else break; // cumulative sums only grow
  }
  if (removed === 0) return row;
  const last = sorted[removed - 1];
  let equalToRemove = 0;
  for (let r = removed - 1; r >= 0 && sorted[r] === last; r--) equalToRemove++;
  for (let i = row.length - 1; i >= 0; i--) {
    if (row[i] < last) row[i] = -Infinity;
    else if (row[i] === last && equalToRemove > 0) {
      row[i] = -Infinity;
      equalToRemove--;
    }
  }
  return row;
}
