/**
 * SPEC §7 word scores: |score| per token, summed over each word's sub-word pieces (WordPiece
 * `##` pieces and byte-level BPE pieces alike, grouped by the tokenizer's word ids), special and
 * padding tokens dropped (and whitespace-only pieces), then divided by the item's total so an
 * item's word scores sum to 1.
 * Which segment of a pair is the "question" follows SQuARE (SPEC §7): QA items are
 * `[question, context]`; sequence-classification pairs are `[context, question]` (its
 * multiple-choice skills send them so, and its UI highlights by these names). A single text is
 * all "context".
 */
import type { Encoded, TextItem } from "../tokenization/tokenizer.ts";

/** `[index in its segment, word, score]`, SQuARE's shape. */
export type ScoredWord = [number, string, number];

export interface SegmentWords {
  question: ScoredWord[];
  context: ScoredWord[];
}

/** Which segment of a pair holds the question: the first (QA) or the second (sequence classification). */
export type QuestionSegment = 0 | 1;

/**
 * The text of a word from its segment (0 or 1) and the token indices of its pieces; with the
 * item's `questionSegment` (default 0, QA's order).
 */
export interface WordText {
  (segment: number, tokenIndices: number[]): string;
  questionSegment?: QuestionSegment;
}

/** Word text as the slice of the item's own text that its pieces cover (offsets are JS string indices). */
export function sliceWordText(encoded: Encoded, texts: readonly string[], questionSegment: QuestionSegment = 0): WordText {
  const text: WordText = (segment, pieces) => {
    let start = Infinity;
    let end = -Infinity;
    for (const t of pieces) {
      start = Math.min(start, encoded.offsets[t][0]);
      end = Math.max(end, encoded.offsets[t][1]);
    }
    return texts[segment].slice(start, end);
  };
  text.questionSegment = questionSegment;
  return text;
}

/** The word-text source for item `index` of a text request (pre-tokenized input is not explained). */
export function itemWordText(input: unknown, index: number, encoded: Encoded, questionSegment: QuestionSegment = 0): WordText {
  const item = (input as TextItem[])[index];
  return sliceWordText(encoded, typeof item === "string" ? [item] : item, questionSegment);
}

/** A word of a sequence: its segment and the token indices of its pieces. */
export interface WordPieces {
  segment: number;
  pieces: number[];
}

/** The sequence's words in order: tokens grouped by (segment, word id), special and padding tokens dropped. */
export function wordPieces(encoded: Encoded): WordPieces[] {
  const words = new Map<string, WordPieces>();
  for (let t = 0; t < encoded.ids.length; t++) {
    const word = encoded.wordIds[t];
    const segment = encoded.sequenceIds[t];
    if (word === null || segment === null || encoded.specialTokensMask[t] === 1 || encoded.attentionMask[t] === 0) continue;
    const key = `${segment}:${word}`;
    const entry = words.get(key) ?? { segment, pieces: [] };
    entry.pieces.push(t);
    words.set(key, entry);
  }
  return [...words.values()];
}

/** A whitespace-only piece (byte-level BPE gives one to a run of spaces) is no word. */
export const isWordText = (text: string): boolean => text.trim() !== "";

export function wordScores(scores: ArrayLike<number>, encoded: Encoded, wordText: WordText): SegmentWords {
  const pair = encoded.sequenceIds.some((s) => s === 1);
  const scored = wordPieces(encoded)
    .map((w) => ({ ...w, score: w.pieces.reduce((sum, t) => sum + Math.abs(scores[t]), 0), text: wordText(w.segment, w.pieces) }))
    .filter((w) => isWordText(w.text));
  const total = scored.reduce((sum, w) => sum + w.score, 0);
  const result: SegmentWords = { question: [], context: [] };
  const questionSegment = wordText.questionSegment ?? 0;
  for (const w of scored) {
    const list = pair && w.segment === questionSegment ? result.question : result.context;
    list.push([list.length, w.text, total > 0 ? w.score / total : 0]);
  }
  return result;
}
