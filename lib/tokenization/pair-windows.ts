/**
 * Question-answering windows over long contexts, cut here rather than by the binding (whose
 * overflow windows are empty or stop short with truncation on, upstream issue 2091). The
 * question (cut to its token limit) and the context are each tokenized once, whole; the context's
 * tokens are cut into windows of `capacity` tokens that overlap by `stride` tokens, the Hugging
 * Face semantics of `truncation="only_second", stride=doc_stride, return_overflowing_tokens=True`;
 * each window is assembled into the pair sequence the tokenizer would give, with offsets into the
 * original question and context.
 */
import { invalid, invalidFields } from "../errors.ts";
import { assemblePair } from "./pair-template.ts";
import type { Encoded, TextTokenizer } from "./tokenizer.ts";

/**
 * Windows one request may cut, all items together. The character limits bound the tokens, but a
 * doc_stride just below the window's capacity advances one token per window: 100,000 characters
 * would make ~25,000 windows of forward passes and span decoding. 4,096 windows hold the largest
 * request the default limits allow (1,000,000 characters) at the default overlap on a 512-token model.
 */
export const MAX_WINDOWS_PER_REQUEST = 4096;

/** Windows assembled per event-loop turn. */
const WINDOWS_PER_TURN = 32;

/** Overlap used when the request names none (SPEC §6.4), if the window is at least twice as large. */
export const DEFAULT_DOC_STRIDE = 128;

export interface WindowPlan {
  /** Tokens per window sequence, special tokens and question included. */
  maxSeqLen: number;
  /** Question tokens kept (the rest of a longer question is cut). */
  questionLimit: number;
  /** The requested overlap and the field it came from; absent: `defaultStride(capacity)`. */
  docStride?: { value: number; field: string };
  /** `return_overflowing_tokens: false`: only the first window. */
  firstWindowOnly: boolean;
}

/**
 * Without a requested overlap: 128 tokens, but at most half the window, so consecutive windows
 * always advance by at least half a window (Hugging Face's pipeline takes min(128, max_seq_len / 2),
 * which a long question can push to a step of one token, or past the window).
 */
export const defaultStride = (capacity: number): number => Math.min(DEFAULT_DOC_STRIDE, Math.floor(capacity / 2));

/**
 * Token ranges [start, stop) of the windows over `length` context tokens: the first at 0, each
 * next one `capacity - stride` further, the last the first that reaches the end; one (possibly
 * empty) window when everything fits. Needs 0 ≤ stride < capacity.
 */
export function windowRanges(length: number, capacity: number, stride: number): [number, number][] {
  if (!(Number.isInteger(capacity) && Number.isInteger(stride) && stride >= 0 && stride < capacity)) throw new RangeError(`windows need 0 ≤ stride < capacity (stride ${stride}, capacity ${capacity})`);
  if (length <= capacity) return [[0, length]];
  const ranges: [number, number][] = [];
  for (let start = 0; ; start += capacity - stride) {
    const stop = Math.min(start + capacity, length);
    ranges.push([start, stop]);
    if (stop === length) return ranges;
  }
}

/** For each [question, context] item, its window sequences in context order. */
export async function encodeQaWindows(tokenizer: TextTokenizer, items: readonly [string, string][], plan: WindowPlan): Promise<Encoded[][]> {
  const template = tokenizer.pairTemplate;
  if (!template) throw invalid(`this model's tokenizer has no plain pair template, so long contexts cannot be windowed: ${tokenizer.pairTemplateProblem}`, "input");
  const out: Encoded[][] = [];
  let windows = 0;
  for (const [index, [question, context]] of items.entries()) {
    const [q, c] = await tokenizer.encodeWhole([question, context]);
    const questionTokens = Math.min(q.ids.length, plan.questionLimit);
    const capacity = plan.maxSeqLen - questionTokens - template.specialCount;
    if (capacity < 1) {
      const message = `input[${index}]: ${questionTokens} question tokens and ${template.specialCount} special tokens leave no room for the context in ${plan.maxSeqLen} tokens; must be between 1 and ${plan.maxSeqLen - template.specialCount - 1}`;
      throw invalidFields([{ field: "task_kwargs.max_question_len", message }]);
    }
    const stride = plan.docStride?.value ?? defaultStride(capacity);
    if (stride >= capacity) {
      const field = plan.docStride!.field;
      const message = `is ${stride}; must be between 0 and ${capacity - 1}: input[${index}] leaves ${capacity} context tokens per window (${plan.maxSeqLen} minus ${questionTokens} question and ${template.specialCount} special tokens)`;
      throw invalidFields([{ field, message }]);
    }
    const ranges = windowRanges(c.ids.length, capacity, stride);
    windows += plan.firstWindowOnly ? 1 : ranges.length;
    if (windows > MAX_WINDOWS_PER_REQUEST) {
      const field = plan.docStride?.field ?? "input";
      const message = `the contexts need more than ${MAX_WINDOWS_PER_REQUEST} windows in one request (input[${index}] alone needs ${ranges.length} of ${capacity} tokens overlapping by ${stride}): use a smaller doc_stride, or send fewer or shorter contexts per request`;
      throw invalidFields([{ field, message }]);
    }
    // Assembled a few dozen at a time with a turn of the event loop between: a long context has hundreds.
    const item: Encoded[] = [];
    for (const [k, [start, stop]] of (plan.firstWindowOnly ? ranges.slice(0, 1) : ranges).entries()) {
      if (k > 0 && k % WINDOWS_PER_TURN === 0) await new Promise((resolve) => setImmediate(resolve));
      item.push(assemblePair(template, { encoded: q, start: 0, stop: questionTokens }, { encoded: c, start, stop }));
    }
    out.push(item);
  }
  return out;
}
