/**
 * The words of an attacked item (docs/attacks.md "Terms"): the explanation's words (tokens grouped
 * by segment and word id) with their character spans, and the text edits attacks make with them.
 */
import type { Encoded, TextItem } from "../tokenization/encoded.ts";
import { wordPieces, isWordText } from "../explain/words.ts";
import type { AttackSubject } from "../tasks/types.ts";

export interface AttackWord {
  segment: number;
  /** Position in its segment's word list (as in explanation output). */
  index: number;
  /** Character span in the segment's text. */
  start: number;
  end: number;
  text: string;
  /** Token indices of its pieces in the sequence. */
  tokens: number[];
}

/** The sequence's words, in order, with spans into `texts` (one per segment). */
export function itemWords(sequence: Encoded, texts: readonly string[]): AttackWord[] {
  const counts = [0, 0];
  const words: AttackWord[] = [];
  for (const { segment, pieces } of wordPieces(sequence)) {
    const start = Math.min(...pieces.map((t) => sequence.offsets[t][0]));
    const end = Math.max(...pieces.map((t) => sequence.offsets[t][1]));
    const text = texts[segment].slice(start, end);
    if (!isWordText(text)) continue;
    words.push({ segment, index: counts[segment]++, start, end, text, tokens: pieces });
  }
  return words;
}

export const wordsOf = (words: readonly AttackWord[], segment: number): AttackWord[] => words.filter((w) => w.segment === segment);

/** docs/attacks.md `removeSpan`: the word's characters out, and one side's whitespace with them. */
export function removeSpan(text: string, start: number, end: number): string {
  let left = text.slice(0, start);
  let right = text.slice(end);
  const leftOpen = left === "" || /\s$/.test(left);
  const rightOpen = right === "" || /^\s/.test(right);
  if (leftOpen && rightOpen) {
    left = left.replace(/\s+$/, "");
    if (left === "") right = right.replace(/^\s+/, "");
  }
  return left + right;
}

export const replaceSpan = (text: string, start: number, end: number, replacement: string): string => text.slice(0, start) + replacement + text.slice(end);

/** The subject's texts with one segment's text replaced. */
export function withSegment(texts: readonly string[], segment: number, text: string): string[] {
  const next = [...texts];
  next[segment] = text;
  return next;
}

/** Texts back into a request item: one text, or a pair in the task's order. */
export const itemOf = (texts: readonly string[]): TextItem => (texts.length === 1 ? texts[0] : [texts[0], texts[1]]);

/** The question and context texts of each variant, as the result reports them. */
export function variantTexts(subject: Pick<AttackSubject, "questionSegment" | "contextSegment">, variants: readonly (readonly string[])[]) {
  const q = subject.questionSegment;
  return { questions: q === undefined ? [] : variants.map((v) => v[q]), contexts: variants.map((v) => v[subject.contextSegment]) };
}
