/**
 * Pooling of one item's token vectors `hidden` [tokens, dim] under its attention mask (SPEC §6.3).
 * Accumulates in float64; returns float32 vectors like the model's outputs.
 */
import { NdArray, float32 } from "../tensor.ts";

function dims(hidden: NdArray, mask: ArrayLike<number>): [number, number] {
  const [tokens, dim] = hidden.shape;
  if (hidden.shape.length !== 2) throw new Error(`expected [tokens, dim], got ${JSON.stringify(hidden.shape)}`);
  if (mask.length !== tokens) throw new Error(`mask has ${mask.length} entries for ${tokens} tokens`);
  return [tokens, dim];
}

/** Mask-weighted mean over tokens. */
export function meanPool(hidden: NdArray, mask: ArrayLike<number>): NdArray {
  const [tokens, dim] = dims(hidden, mask);
  const sum = new Float64Array(dim);
  let weight = 0;
  const h = hidden.data as Float32Array;
  for (let t = 0; t < tokens; t++) {
    if (!mask[t]) continue;
    weight += mask[t];
    for (let d = 0; d < dim; d++) sum[d] += h[t * dim + d] * mask[t];
  }
  return float32([dim], Array.from(sum, (s) => s / Math.max(weight, 1e-9)));
}

/** Element-wise maximum over the real (mask ≠ 0) tokens only. */
export function maxPool(hidden: NdArray, mask: ArrayLike<number>): NdArray {
  const [tokens, dim] = dims(hidden, mask);
  const best = new Float64Array(dim).fill(-Infinity);
  const h = hidden.data as Float32Array;
  for (let t = 0; t < tokens; t++) {
    if (!mask[t]) continue;
    for (let d = 0; d < dim; d++) best[d] = Math.max(best[d], h[t * dim + d]);
  }
  return float32([dim], Array.from(best, (b) => (b === -Infinity ? 0 : b)));
}

/** The first token's vector ([CLS] / <s>). */
export function clsPool(hidden: NdArray): NdArray {
  const dim = hidden.shape[1];
  return float32([dim], (hidden.data as Float32Array).subarray(0, dim));
}

/** L2-normalise along the last (hidden) axis, row by row. */
export function l2NormalizeLastAxis(a: NdArray): NdArray {
  const dim = a.shape[a.shape.length - 1];
  const src = a.data as Float32Array;
  const out = new Float32Array(src.length);
  for (let start = 0; start < src.length; start += dim) {
    let norm = 0;
    for (let d = 0; d < dim; d++) norm += src[start + d] * src[start + d];
    const scale = 1 / Math.max(Math.sqrt(norm), 1e-12);
    for (let d = 0; d < dim; d++) out[start + d] = src[start + d] * scale;
  }
  return float32([...a.shape], out);
}
