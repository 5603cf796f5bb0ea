/**
 * One signed score per token for each SPEC §7 method, from gradients and attentions of one item.
 * Arrays are row-major: embeddings and gradients (tokens × hidden), attentions (heads × tokens × tokens).
 * The formulas follow SPEC §7 and the original SQuARE explainer:
 * - simple_grads: Σ_h g[t,h]·e[t,h]
 * - integrated_grads: Σ_h ḡ[t,h]·e[t,h], ḡ the gradient averaged over the path points
 * - smooth_grads: Σ_h ḡ[t,h], ḡ the gradient averaged over the noisy copies (no embedding product, as in SQuARE)
 * - attention: mean over heads of A[h,0,t] (last layer, from the first token)
 * - scaled_attention: mean over heads of A[h,0,t]·∂target/∂A[h,0,t] (last layer)
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

/** Σ_h a[t,h] per token. */
export function rowSum(a: ArrayLike<number>, tokens: number, hidden: number): Float64Array {
  const out = new Float64Array(tokens);
  for (let t = 0; t < tokens; t++) for (let h = 0; h < hidden; h++) out[t] += a[t * hidden + h];
  return out;
}

/** Element-wise mean of several equally long arrays. */
export function meanOf(arrays: readonly ArrayLike<number>[]): Float64Array {
  const out = new Float64Array(arrays[0].length);
  for (const a of arrays) for (let i = 0; i < out.length; i++) out[i] += a[i];
  for (let i = 0; i < out.length; i++) out[i] /= arrays.length;
  return out;
}

/** Mean over heads of the first query token's row, optionally weighted element-wise by `scale`. */
export function firstTokenAttention(attn: ArrayLike<number>, heads: number, tokens: number, scale?: ArrayLike<number>): Float64Array {
  const out = new Float64Array(tokens);
  for (let h = 0; h < heads; h++) {
    const rowStart = h * tokens * tokens; // [h, 0, :]
    for (let t = 0; t < tokens; t++) out[t] += attn[rowStart + t] * (scale ? scale[rowStart + t] : 1);
  }
  for (let t = 0; t < tokens; t++) out[t] /= heads;
  return out;
}
