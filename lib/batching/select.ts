/**
 * Which waiting items form the next batch. The anchor is the oldest item of the most urgent
 * class (so nothing waits behind a stream of newer work); the rest of the batch are the waiting
 * items closest to the anchor's length (less padding), up to `maxItems` items and `maxTokens`
 * padded tokens (longest × items). Only items sharing the anchor's key (the same requested
 * outputs) and priority can share its batch.
 */

export type Priority = "interactive" | "background";

export interface Waiting {
  /** Tokens of this item (its padded cost is the batch's longest length). */
  length: number;
  /** Items with different keys never share a batch (e.g. different requested outputs). */
  key: string;
  priority: Priority;
  /** Arrival order; lower is older. */
  seq: number;
  /** Arrival time in ms (performance.now()). */
  arrivedAt: number;
}

export interface SelectLimits {
  maxItems: number;
  maxTokens: number;
  /** A background item that waited this long is treated as interactive, so it cannot starve. */
  backgroundAgingMs: number;
}

export interface Selection<T> {
  batch: T[];
  /** True when a limit cut the batch; false when it simply took every compatible item. */
  full: boolean;
}

/** The most urgent, oldest waiting item; undefined when nothing waits. */
export function pickAnchor<T extends Waiting>(waiting: readonly T[], now: number, backgroundAgingMs: number): T | undefined {
  const urgent = (w: T) => w.priority === "interactive" || now - w.arrivedAt >= backgroundAgingMs;
  let best: T | undefined;
  for (const w of waiting) {
    if (!best) best = w;
    else if (urgent(w) !== urgent(best)) best = urgent(w) ? w : best;
    else if (w.seq < best.seq) best = w;
  }
  return best;
}

export function selectBatch<T extends Waiting>(waiting: readonly T[], now: number, limits: SelectLimits): Selection<T> {
  const anchor = pickAnchor(waiting, now, limits.backgroundAgingMs);
  if (!anchor) return { batch: [], full: false };
  const candidates = waiting
    .filter((w) => w !== anchor && w.key === anchor.key && w.priority === anchor.priority)
    .sort((a, b) => Math.abs(a.length - anchor.length) - Math.abs(b.length - anchor.length) || a.seq - b.seq);
  const batch = [anchor];
  let longest = anchor.length;
  let skipped = false;
  for (const c of candidates) {
    if (batch.length >= limits.maxItems) break;
    const nextLongest = Math.max(longest, c.length);
    if (nextLongest * (batch.length + 1) > limits.maxTokens) {
      skipped = true; // too long to join; a shorter one further down may still fit
      continue;
    }
    batch.push(c);
    longest = nextLongest;
  }
  const full = skipped || batch.length >= limits.maxItems || longest * (batch.length + 1) > limits.maxTokens;
  return { batch, full };
}
