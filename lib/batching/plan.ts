/**
 * Cuts items into batches: sorted by length so similar lengths share a batch (less padding),
 * each batch at most `maxItems` items and at most `maxTokens` padded tokens (longest × items).
 * Returns item indices per batch.
 */
export function planBatches(lengths: readonly number[], maxItems: number, maxTokens: number): number[][] {
  const order = lengths.map((_, i) => i).sort((a, b) => lengths[a] - lengths[b] || a - b);
  const batches: number[][] = [];
  let current: number[] = [];
  for (const index of order) {
    const longest = lengths[index]; // ascending order: the newest item is the longest
    const fits = current.length < maxItems && longest * (current.length + 1) <= maxTokens;
    if (current.length > 0 && !fits) {
      batches.push(current);
      current = [];
    }
    current.push(index);
  }
  if (current.length > 0) batches.push(current);
  return batches;
}
