/**
 * Range checks for what reaches the Rust tokenizer (SPEC §12). The binding takes `u32`/`usize`
 * values: a number past 2^32 wraps (10^15 becomes some other stride), a `max_length` below the
 * special-token count underflows, and a stride not below the window is a Rust panic that aborts
 * the whole process. So every value is checked here, by the gateway against the model's metadata
 * and again by the tokenizer itself, and never reaches the binding out of range.
 */
import type { FieldProblem } from "../errors.ts";

/** Largest integer handed to the native binding (it reads JavaScript numbers as 32-bit integers). */
export const MAX_NATIVE_INT = 2 ** 31 - 1;

/** Tokens the tokenizer's post-processor adds around one text and around a pair (asked from the tokenizer at load). */
export interface SpecialTokenCounts {
  single: number;
  pair: number;
}

export type ItemKind = keyof SpecialTokenCounts;

export interface TruncationValues {
  maxLength: number;
  /** Overlap of overflowing windows; absent is 0. */
  stride?: number;
  truncating: boolean;
  addSpecialTokens: boolean;
}

export interface TruncationFields {
  maxLength: string;
  stride: string;
}

const PREPROCESSING_FIELDS: TruncationFields = { maxLength: "preprocessing_kwargs.max_length", stride: "preprocessing_kwargs.stride" };

/**
 * `max_length` must leave room for at least one text token after the special tokens (when they
 * are added and truncation is on) and stay within what the model accepts; with truncation on,
 * `stride` must be below the window that remains for the text of every item kind present
 * (`max_length` minus that kind's special tokens), which is the binding's own panic condition.
 */
export function truncationProblems(values: TruncationValues, kinds: Iterable<ItemKind>, specials: SpecialTokenCounts, modelMaxLength: number, fields: TruncationFields = PREPROCESSING_FIELDS): FieldProblem[] {
  const present = [...new Set(kinds)];
  const added = (kind: ItemKind) => (values.addSpecialTokens ? specials[kind] : 0);
  // The kind with the most special tokens leaves the smallest window.
  const widest = present.reduce<ItemKind | undefined>((w, k) => (w === undefined || added(k) > added(w) ? k : w), undefined) ?? "single";
  const problems: FieldProblem[] = [];
  const { maxLength } = values;
  const lowest = values.truncating ? added(widest) + 1 : 1;
  const highest = Math.min(modelMaxLength, MAX_NATIVE_INT);
  if (!Number.isInteger(maxLength) || maxLength < lowest || maxLength > highest) {
    const why = values.truncating && added(widest) > 0 ? `: ${added(widest)} special tokens of a ${widest === "pair" ? "pair" : "single text"} plus at least one text token, and this model accepts at most ${highest} tokens` : `: this model accepts at most ${highest} tokens`;
    problems.push({ field: fields.maxLength, message: `is ${maxLength}; must be between ${lowest} and ${highest}${why}` });
    return problems; // the stride's bound depends on a valid max_length
  }
  const stride = values.stride ?? 0;
  // Without truncation nothing is cut, so there is no window to stay below; only the binding's integer range holds.
  if (!values.truncating) {
    if (!Number.isInteger(stride) || stride < 0 || stride > MAX_NATIVE_INT) problems.push({ field: fields.stride, message: `is ${stride}; must be between 0 and ${MAX_NATIVE_INT}` });
    return problems;
  }
  const window = maxLength - added(widest);
  if (!Number.isInteger(stride) || stride < 0 || stride >= window) {
    const kindText = widest === "pair" ? "a pair" : "a single text";
    problems.push({ field: fields.stride, message: `is ${stride}; must be between 0 and ${window - 1}: below max_length ${maxLength} minus the ${added(widest)} special tokens of ${kindText}` });
  }
  return problems;
}

/** The item kinds of a list of texts and pairs. */
export const kindsOf = (items: readonly unknown[]): ItemKind[] => [...new Set(items.map((x): ItemKind => (typeof x === "string" ? "single" : "pair")))];
