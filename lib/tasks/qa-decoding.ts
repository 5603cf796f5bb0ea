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

/** Every valid span of every window, and the null score (minimum over windows). */
export function scoreSpans(windows: readonly QaWindow[], maxAnswerLen: number): { spans: ScoredSpan[]; nullScore: number } {
  const spans: ScoredSpan[] = [];
  let nullScore = Infinity;
  windows.forEach((w, window) => {
    const ps = allowedSoftmax(w.startLogits, w.isContext);
    const pe = allowedSoftmax(w.endLogits, w.isContext);
    nullScore = Math.min(nullScore, ps[0] * pe[0]);
    for (let a = 0; a < ps.length; a++) {
      if (!w.isContext[a]) continue;
      for (let b = a; b < Math.min(pe.length, a + maxAnswerLen); b++) {
        if (w.isContext[b]) spans.push({ window, a, b, score: ps[a] * pe[b], start: w.offsets[a][0], end: w.offsets[b][1] });
      }
    }
  });
  return { spans, nullScore };
}

export function decodeAnswers(windows: readonly QaWindow[], context: string, options: DecodeOptions): Answer[] {
  const { spans, nullScore } = scoreSpans(windows, options.maxAnswerLen);
  const best = new Map<string, Answer>();
  for (const { score, start, end } of spans) {
    const key = `${start}:${end}`;
    const seen = best.get(key);
    if (!seen || seen.score < score) best.set(key, { score, start, end, answer: context.slice(start, end) });
  }
  const ranked = [...best.values()];
  if (options.showNullAnswers && windows.length) ranked.push({ score: nullScore, start: 0, end: 0, answer: "" });
  ranked.sort((x, y) => y.score - x.score || x.start - y.start || x.end - y.end);
  return ranked.slice(0, options.topk);
}
