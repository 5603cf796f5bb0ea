/**
 * Seeded Gaussian noise for smooth_grads: mulberry32 uniforms through Box-Muller. With a `seed`
 * the same request gives the same noise; each sample draws fresh values from the stream.
 */

export function uniformSource(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  };
}

export function gaussianSource(seed: number): () => number {
  const uniform = uniformSource(seed);
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    const u = 1 - uniform(); // (0, 1]: log is finite
    const v = uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

/** A copy of `values` plus N(0, σ²) noise, σ = `scale` × (max − min of `values`). */
export function withNoise(values: Float32Array, scale: number, gaussian: () => number): Float32Array {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const sigma = scale * (hi - lo);
  return values.map((v) => v + sigma * gaussian());
}
