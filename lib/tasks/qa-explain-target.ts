/**
 * SPEC §7 target for question answering: start_logits[a] + end_logits[b] of the chosen best span,
 * in the window it came from: the best non-null span, even when the null answer outscores it
 * (users ask why this answer). Only when no context token can start a span is the null
 * answer's first-token pair explained.
 */
import { bestSpan, QaWindow } from "./qa-decoding.ts";

export interface QaTarget {
  /** Index of the window (among the item's windows) that holds the span. */
  window: number;
  a: number;
  b: number;
  cotangents: { start_logits: Float32Array; end_logits: Float32Array };
}

export function bestSpanTarget(windows: readonly QaWindow[], maxAnswerLen: number): QaTarget {
  const chosen = bestSpan(windows, maxAnswerLen) ?? { window: 0, a: 0, b: 0 };
  const length = windows[chosen.window].startLogits.length;
  const start = new Float32Array(length);
  const end = new Float32Array(length);
  start[chosen.a] = 1;
  end[chosen.b] = 1;
  return { window: chosen.window, a: chosen.a, b: chosen.b, cotangents: { start_logits: start, end_logits: end } };
}
