/**
 * One signed score per token for each SPEC §7 method, from gradients and attentions of one item.
 * Arrays are row-major: embeddings and gradients (tokens × hidden), attentions (heads × tokens × tokens).
 * The formulas follow SPEC §7 (A = last layer's attention probabilities, g = ∂target/∂e):
 * - simple_grads: Σ_h g[t,h]·e[t,h]
 * - integrated_grads: Σ_h ḡ[t,h]·e[t,h], ḡ the gradient averaged over the path points
 * - smooth_grads: Σ_h ḡ[t,h]·e[t,h], ḡ the gradient averaged over the noisy copies, dotted with
 *   the noise-free embedding like the other two (the original summed ḡ over h without the
 *   embedding, a score that does not depend on the token's own input)
 * - attention: a[t] = mean over heads of A[h,0,t] (from the first token)
 * - scaled_attention: a[t] × mean over heads of ∂target/∂A[h,0,t]. For QA the first token's row
 *   never reaches start/end logits of later tokens, so that is identically zero; QA uses every
 *   query row instead: mean over heads of Σ_i A[h,i,t]·∂target/∂A[h,i,t].
 */

/** Σ_h a[t,h]·b[t,h] per token. */
export function rowDot(a: ArrayLike<number>, b: ArrayLike<number>, tokens: number, hidden: number): Float64Array {
  const out = new Float64Array(tokens);
  for (let t = 0; t < tokens; t++) {
    let sum = 0;
    for (let h = 0; h < hidden; h++) sum += a[t * hidden + h] * b[t * hidden + h];
    out[t] = sum;
  }
  return out;
}

/** Element-wise mean of several equally long arrays. */
export function meanOf(arrays: readonly ArrayLike<number>[]): Float64Array {
  const out = new Float64Array(arrays[0].length);
  for (const a of arrays) for (let i = 0; i < out.length; i++) out[i] += a[i];
  for (let i = 0; i < out.length; i++) out[i] /= arrays.length;
  return out;
}

/** a[t] = mean over heads of the first query token's row. */
export function firstTokenAttention(attn: ArrayLike<number>, heads: number, tokens: number): Float64Array {
  const out = new Float64Array(tokens);
  for (let h = 0; h < heads; h++) for (let t = 0; t < tokens; t++) out[t] += attn[h * tokens * tokens + t];
  for (let t = 0; t < tokens; t++) out[t] /= heads;
  return out;
}

/** a[t] × mean over heads of ∂target/∂A[h,0,t]. */
export function scaledFirstTokenAttention(attn: ArrayLike<number>, grad: ArrayLike<number>, heads: number, tokens: number): Float64Array {
  const weights = firstTokenAttention(attn, heads, tokens);
  const grads = firstTokenAttention(grad, heads, tokens);
  return weights.map((w, t) => w * grads[t]);
}

/** Mean over heads of Σ over query rows i of A[h,i,t]·∂target/∂A[h,i,t]. */
export function scaledAllQueriesAttention(attn: ArrayLike<number>, grad: ArrayLike<number>, heads: number, tokens: number): Float64Array {
  const out = new Float64Array(tokens);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < tokens; i++) {
      const row = (h * tokens + i) * tokens;
      for (let t = 0; t < tokens; t++) out[t] += attn[row + t] * grad[row + t];
    }
  }
  for (let t = 0; t < tokens; t++) out[t] /= heads;
  return out;
}
