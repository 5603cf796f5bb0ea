/**
 * SPEC §7 output in SQuARE's shape: a list holding one object whose fields are lists indexed by
 * item. The top-k lists hold indices into that item's question / context word list, best first;
 * `mode` decides which of the two are filled (the other is an empty list per item).
 */
import type { SegmentWords, ScoredWord } from "./words.ts";
import type { ExplainMode } from "./options.ts";

export interface SquareAttributions {
  topk_question_idx: number[][];
  topk_context_idx: number[][];
  question_tokens: ScoredWord[][];
  context_tokens: ScoredWord[][];
}

/** Indices of the k highest scores, best first; ties keep text order. */
export function topIndices(words: readonly ScoredWord[], k: number): number[] {
  return [...words].sort((a, b) => b[2] - a[2] || a[0] - b[0]).slice(0, k).map((w) => w[0]);
}

export function squareAttributions(items: readonly SegmentWords[], topK: number, mode: ExplainMode): [SquareAttributions] {
  const wants = (segment: "question" | "context") => mode === "all" || mode === segment;
  return [
    {
      topk_question_idx: items.map((it) => (wants("question") ? topIndices(it.question, topK) : [])),
      topk_context_idx: items.map((it) => (wants("context") ? topIndices(it.context, topK) : [])),
      question_tokens: items.map((it) => it.question),
      context_tokens: items.map((it) => it.context),
    },
  ];
}
