/**
 * Randomness for sampling, per request and without global state (SPEC §6.5: "sampling with a
 * `seed` is reproducible").
 *
 * - A request's seed (or a fresh one from the OS when it has none, see `resolveSeed`) seeds one
 *   independent stream per output sequence: `seededNoise(seed)(stream)` hashes (seed, prompt,
 *   sequence) into a xoshiro128** state. A sequence's draws therefore depend only on the seed and
 *   its own position in the request, never on which other requests or rows share a batch, nor on
 *   the order in which a scheduler steps them.
 * - `fixedNoise(draws)` injects the uniform draws themselves, so a test or a golden file can fix the
 *   noise and replay it in another implementation (the golden generator applies the same inverse-CDF
 *   rule as `sampleIndex`).
 *
 * Hugging Face samples with torch's global RNG (`torch.multinomial`), so bit-equal sampled tokens
 * with PyTorch are only possible through injected draws, never through a seed.
 */

/** A source of uniform draws in [0, 1). */
export interface UniformSource {
  next(): number;
}

/** Which stream: the prompt's index in the request and the output sequence's index for that prompt (0 for beam sampling). */
export interface StreamId {
  prompt: number;
  sequence: number;
}

/** Gives each sequence its own uniform source. Called once per stream; the source is kept for the stream's life. */
export type NoiseSource = (stream: StreamId) => UniformSource;

/** The request's seed, or a fresh one (53 random bits from the OS) when it has none; report it so the run can be replayed. */
export function resolveSeed(seed?: number): number {
  if (seed !== undefined) return seed;
  const words = globalThis.crypto.getRandomValues(new Uint32Array(2));
  return (words[0] & 0x1fffff) * 0x100000000 + words[1];
}

/** murmur3's 32-bit finaliser. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** xoshiro128** (Blackman & Vigna): 128-bit state, 32-bit outputs; two outputs make one 53-bit double. */
export class Xoshiro128 implements UniformSource {
  private s: Uint32Array;

  /** State from any list of 32-bit words (a seed split in halves, stream ids), mixed by a splitmix-style hash chain. */
  constructor(...key: number[]) {
    this.s = new Uint32Array(4);
    let h = 0x9e3779b9;
    for (const k of key) h = fmix32((h ^ (k >>> 0)) + 0x9e3779b9);
    for (let i = 0; i < 4; i++) {
      h = (h + 0x9e3779b9) >>> 0;
      this.s[i] = fmix32(h ^ Math.imul(i + 1, 0x27d4eb2d));
    }
    if (this.s.every((w) => w === 0)) this.s[0] = 1;
  }

  /** Next 32-bit unsigned output. */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  next(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }
}

const rotl = (x: number, k: number) => ((x << k) | (x >>> (32 - k))) >>> 0;

/** One independent stream per (seed, prompt, sequence). Seeds are safe integers; negative ones are accepted as torch does. */
export function seededNoise(seed: number): NoiseSource {
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer, got ${seed}`);
  const magnitude = Math.abs(seed);
  const lo = magnitude >>> 0;
  const hi = Math.floor(magnitude / 0x100000000) | (seed < 0 ? 0x80000000 : 0);
  return ({ prompt, sequence }) => new Xoshiro128(lo, hi, prompt, sequence);
}

/**
 * Replays fixed uniform draws: `draws[prompt][sequence]` is the list of draws of that stream, one
 * per sampled token (beam sampling draws `K` per step, see beam-search.ts). Running out throws, so a
 * golden with too few draws fails loudly instead of inventing noise.
 */
export function fixedNoise(draws: readonly (readonly (readonly number[])[])[]): NoiseSource {
  return ({ prompt, sequence }) => {
    const list = draws[prompt]?.[sequence];
    if (!list) throw new RangeError(`no fixed draws for prompt ${prompt}, sequence ${sequence}`);
    let i = 0;
    return {
      next() {
        if (i >= list.length) throw new RangeError(`fixed draws for prompt ${prompt}, sequence ${sequence} ran out after ${list.length}`);
        const u = list[i++];
        if (!(u >= 0 && u < 1)) throw new RangeError(`fixed draw ${u} is outside [0, 1)`);
        return u;
      },
    };
  };
}

/**
 * Inverse-CDF pick from unnormalised non-negative weights: the smallest index i whose running sum
 * (in index order, float64) exceeds u × total. Zero-weight entries are never picked. Returns -1 when
 * there is no mass at all (the caller decides what that means).
 */
export function sampleIndex(weights: ArrayLike<number>, u: number): number {
  let total = 0;
  for (let i = 0; i < weights.length; i++) total += weights[i];
  if (!(total > 0)) return -1;
  const target = u * total;
  let cum = 0;
  let last = -1;
  for (let i = 0; i < weights.length; i++) {
    if (weights[i] <= 0) continue;
    cum += weights[i];
    last = i;
    if (cum > target) return i;
  }
  return last; // rounding left the target at the very top: the last entry with mass
}

/**
 * Up to `k` distinct indices drawn without replacement, in draw order (torch.multinomial with
 * replacement=False has the same distribution): each draw is `sampleIndex` over the weights not yet
 * drawn, one uniform per draw. Stops early when no mass is left (fewer than `k` entries with weight
 * > 0); torch raises an error there, the caller decides how to fill (beam-search.ts takes the best
 * remaining scores).
 */
export function sampleWithoutReplacement(weights: ArrayLike<number>, k: number, rng: UniformSource): number[] {
  const w = Float64Array.from(weights as ArrayLike<number>, (x) => (x > 0 ? x : 0));
  const picked: number[] = [];
  k = Math.min(k, w.length);
  let mass = 0;
  for (let i = 0; i < w.length; i++) mass += w[i];
  while (picked.length < k && mass > 0) {
    const i = sampleIndex(w, rng.next());
    if (i < 0) break;
    picked.push(i);
    w[i] = 0;
    mass = 0;
    for (let j = 0; j < w.length; j++) mass += w[j]; // re-summed, not decremented: no drift to a phantom positive mass
  }
  return picked;
}
