/**
 * Question-answering span decoding over one or more windows of a context (SPEC §6.4). Per window
 * only context tokens may start or end a span; probabilities are a stable softmax over the
 * allowed tokens plus the first token; span score = p_start[a] × p_end[b] with a ≤ b and
 * b − a < maxAnswerLen. The null answer scores the first-token product, minimum over windows.
 * Spans are deduplicated by character range across windows and the best `topk` returned.
 */
export interface QaWindow {
  startLogits: ArrayLike<number>;
  endLogits: ArrayLike<number>;
  /** True where the token belongs to the context (segment 1, not special). */
  isContext: readonly boolean[];
  /** Character range of each token in the context. */
  offsets: readonly [number, number][];
}

export interface Answer {
  score: number;
  start: number;
  end: number;
  answer: string;
}

export interface DecodeOptions {
  topk: number;
  maxAnswerLen: number;
  showNullAnswers: boolean;
}

function allowedSoftmax(logits: ArrayLike<number>, allowed: readonly boolean[]): number[] {
  let max = -Infinity;
  for (let t = 0; t < logits.length; t++) if ((allowed[t] || t === 0) && logits[t] > max) max = logits[t];
  const exps = Array.from({ length: logits.length }, (_, t) => (allowed[t] || t === 0 ? Math.exp(logits[t] - max) : 0));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}

/** A candidate span: window `window`, tokens a..b, its score and character range. */
export interface ScoredSpan {
  window: number;
  a: number;
  b: number;
  score: number;
  start: number;
  end: number;
}

/**
 * Visits every valid span of every window without keeping them (a long context has millions)
 * and returns the null score (minimum over windows).
 */
export function forEachSpan(windows: readonly QaWindow[], maxAnswerLen: number, visit: (span: ScoredSpan) => void): number {
  return windows.reduce((nullScore, w, window) => Math.min(nullScore, visitWindow(w, window, maxAnswerLen, visit)), Infinity);
}

/** forEachSpan with a turn of the event loop between windows: a long context has hundreds. */
export async function forEachSpanYielding(windows: readonly QaWindow[], maxAnswerLen: number, visit: (span: ScoredSpan) => void): Promise<number> {
  let nullScore = Infinity;
  for (const [window, w] of windows.entries()) {
    if (window > 0) await new Promise((resolve) => setImmediate(resolve));
    nullScore = Math.min(nullScore, visitWindow(w, window, maxAnswerLen, visit));
  }
  return nullScore;
}

/** Visits the valid spans of one window; returns its null score (first-token product). */
function visitWindow(w: QaWindow, window: number, maxAnswerLen: number, visit: (span: ScoredSpan) => void): number {
  const ps = allowedSoftmax(w.startLogits, w.isContext);
  const pe = allowedSoftmax(w.endLogits, w.isContext);
  for (let a = 0; a < ps.length; a++) {
    if (!w.isContext[a]) continue;
    for (let b = a; b < Math.min(pe.length, a + maxAnswerLen); b++) {
      if (w.isContext[b]) visit({ window, a, b, score: ps[a] * pe[b], start: w.offsets[a][0], end: w.offsets[b][1] });
    }
  }
  return ps[0] * pe[0];
}

/** The best-scoring span of all windows (the first of equal ones), or undefined when there is none. */
export function bestSpan(windows: readonly QaWindow[], maxAnswerLen: number): ScoredSpan | undefined {
  let best: ScoredSpan | undefined;
  forEachSpan(windows, maxAnswerLen, (s) => {
    if (!best || s.score > best.score) best = s;
  });
  return best;
}

/** Ranking: higher score first, then earlier start, then earlier end. */
const better = (x: { score: number; start: number; end: number }, y: { score: number; start: number; end: number }) =>
  x.score !== y.score ? x.score > y.score : x.start !== y.start ? x.start < y.start : x.end < y.end;

/**
 * The `k` best distinct character ranges (each at its best score over windows), kept in a sorted
 * array of at most k entries: a candidate worse than the k-th is dropped in O(1), so the cost
 * is one pass over the spans whatever k is.
 */
class TopSpans {
  private readonly ranked: ScoredSpan[] = [];
  private readonly byRange = new Map<string, ScoredSpan>();

  constructor(private readonly k: number) {}

  offer(span: ScoredSpan): void {
    const last = this.ranked[this.ranked.length - 1];
    if (this.ranked.length >= this.k && !better(span, last)) return;
    const key = `${span.start}:${span.end}`;
    const seen = this.byRange.get(key);
    if (seen) {
      if (!better(span, seen)) return;
      this.ranked.splice(this.ranked.indexOf(seen), 1);
    }
    let lo = 0;
    let hi = this.ranked.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (better(this.ranked[mid], span)) lo = mid + 1;
      else hi = mid;
    }
    this.ranked.splice(lo, 0, span);
    this.byRange.set(key, span);
    if (this.ranked.length > this.k) this.byRange.delete(`${this.ranked[this.k].start}:${this.ranked[this.k].end}`), this.ranked.pop();
  }

  get spans(): readonly ScoredSpan[] {
    return this.ranked;
  }
}

export function decodeAnswers(windows: readonly QaWindow[], context: string, options: DecodeOptions): Answer[] {
  const top = new TopSpans(options.topk);
  return ranked(top, forEachSpan(windows, options.maxAnswerLen, (s) => top.offer(s)), windows, context, options);
}

/** decodeAnswers yielding the event loop between windows (what the task uses). */
export async function decodeAnswersYielding(windows: readonly QaWindow[], context: string, options: DecodeOptions): Promise<Answer[]> {
  const top = new TopSpans(options.topk);
  return ranked(top, await forEachSpanYielding(windows, options.maxAnswerLen, (s) => top.offer(s)), windows, context, options);
}

function ranked(top: TopSpans, nullScore: number, windows: readonly QaWindow[], context: string, options: DecodeOptions): Answer[] {
  const answers: Answer[] = top.spans.map(({ score, start, end }) => ({ score, start, end, answer: context.slice(start, end) }));
  if (options.showNullAnswers && windows.length) answers.push({ score: nullScore, start: 0, end: 0, answer: "" });
  answers.sort((x, y) => (better(x, y) ? -1 : better(y, x) ? 1 : 0));
  return answers.slice(0, options.topk);
}
