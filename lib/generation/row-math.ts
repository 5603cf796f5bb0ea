/**
 * Arithmetic on one row of scores (a vocabulary's logits or log-probabilities), shared by the
 * processors, the samplers and beam search. Sums run in float64; rows stay Float32Array.
 */

/** log_softmax of a row, as a new Float32Array (max-shifted, float64 sum). A row of only -inf gives NaN, as torch does. */
export function logSoftmax(row: ArrayLike<number>): Float32Array {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i] > max) max = row[i];
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i] - max);
  const logZ = max + Math.log(sum);
  const out = new Float32Array(row.length);
  for (let i = 0; i < row.length; i++) out[i] = row[i] - logZ;
  return out;
}

/** softmax of a row in float64; all zeros when no entry is finite (no mass anywhere). */
export function softmax(row: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i] > max) max = row[i];
  const out = new Float64Array(row.length);
  if (max === -Infinity || Number.isNaN(max)) return out;
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += out[i] = Math.exp(row[i] - max);
  for (let i = 0; i < row.length; i++) out[i] /= sum;
  return out;
}

/** Index of the largest entry; the first one on ties (torch.argmax). NaN entries are never chosen; an all -inf row gives 0. */
export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best] || Number.isNaN(row[best])) best = i;
  return best;
}

/** a before b: higher value first, then lower index (the order every "top" selection here uses). */
const before = (va: number, ia: number, vb: number, ib: number) => va > vb || (va === vb && ia < ib);

/**
 * The `k` largest entries of `values` as indices, best first; ties go to the lower index. A
 * bounded min-heap, O(n log k), so a 16-beam × 50k-token candidate row costs no full sort.
 * NaN is treated as -inf.
 */
export function topKIndices(values: ArrayLike<number>, k: number): number[] {
  const n = values.length;
  k = Math.min(k, n);
  if (k <= 0) return [];
  const val = (i: number) => (Number.isNaN(values[i]) ? -Infinity : values[i]);
  // heap[0] is the worst kept entry
  const heap: number[] = [];
  const worse = (a: number, b: number) => before(val(b), b, val(a), a); // a ranks below b
  const up = (j: number) => {
    while (j > 0) {
      const p = (j - 1) >> 1;
      if (!worse(heap[j], heap[p])) break;
      [heap[j], heap[p]] = [heap[p], heap[j]];
      j = p;
    }
  };
  const down = (j: number) => {
    for (;;) {
      const l = 2 * j + 1;
      const r = l + 1;
      let m = j;
      if (l < heap.length && worse(heap[l], heap[m])) m = l;
      if (r < heap.length && worse(heap[r], heap[m])) m = r;
      if (m === j) return;
      [heap[j], heap[m]] = [heap[m], heap[j]];
      j = m;
    }
  };
  for (let i = 0; i < n; i++) {
    if (heap.length < k) {
      heap.push(i);
      up(heap.length - 1);
    } else if (before(val(i), i, val(heap[0]), heap[0])) {
      heap[0] = i;
      down(0);
    }
  }
  return heap.sort((a, b) => (before(val(a), a, val(b), b) ? -1 : 1));
}

/** Indices 0..n-1 ordered best first by `score(i)`, ties by lower index (a stable descending sort). */
export function rankDescending(n: number, score: (i: number) => number): number[] {
  const s = Array.from({ length: n }, (_, i) => score(i));
  return Array.from({ length: n }, (_, i) => i).sort((a, b) => (before(s[a], a, s[b], b) ? -1 : 1));
}
