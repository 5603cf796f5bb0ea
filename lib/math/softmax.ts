/** Numerically stable softmax and friends over plain number arrays. */

export function softmax(values: ArrayLike<number>): number[] {
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) if (values[i] > max) max = values[i];
  const exps = Array.from(values, (v) => Math.exp(v - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}

export const sigmoid = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/** Softmax along the last axis of a C-order buffer with `width` entries per row. */
export function softmaxRows(data: ArrayLike<number>, width: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let start = 0; start < data.length; start += width) {
    const probs = softmax(Array.prototype.slice.call(data, start, start + width));
    out.set(probs, start);
  }
  return out;
}
