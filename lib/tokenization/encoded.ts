/** What tokenization produces and the options it takes (types only, shared by the tokenizer and the window/template code). */
export type TextItem = string | [string, string];
export type Truncation = "longest_first" | "only_first" | "only_second" | "do_not_truncate";

export interface TokenizeOptions {
  maxLength: number;
  truncation: Truncation;
  addSpecialTokens: boolean;
  /**
   * Overlap between overflowing windows, in tokens. Range-checked like Hugging Face does, but
   * without overflow windows it changes nothing, so it is not passed to the binding.
   */
  stride?: number;
  /** Must be false or absent: the binding's overflow windows are unreliable (see above). */
  returnOverflowing?: boolean;
}

/** One tokenized sequence; offsets are UTF-16 indices into the item's own text (JS string positions). */
export interface Encoded {
  ids: number[];
  typeIds: number[];
  attentionMask: number[];
  specialTokensMask: number[];
  tokens: string[];
  offsets: [number, number][];
  wordIds: (number | null)[];
  sequenceIds: (number | null)[];
  /** Never filled by this tokenizer (see tokenizer.ts); kept optional so hand-built sequences still type-check. */
  overflowing?: Encoded[];
}

