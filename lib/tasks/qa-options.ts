/**
 * The windowing options of question answering on text (SPEC §6.4), resolved and range-checked in
 * one place: the gateway reports the problems as a 422 (with the special-token count from the
 * model's metadata), and `prepare` resolves the same plan with the tokenizer's own count.
 *
 * - `max_seq_len` (else `preprocessing_kwargs.max_length`, else the model's maximum): from the
 *   pair's special tokens plus one question and one context token, up to the model's maximum.
 * - `max_question_len` (default 64): at least 1, and the question must leave room for at least
 *   one context token. The default shrinks to fit small windows, and to fit a requested overlap.
 * - `doc_stride` (else `preprocessing_kwargs.stride`): the overlap must stay below the window's
 *   context capacity for every question the limit allows, so once accepted it never fails on an
 *   item. Without one, each item overlaps by min(128, half its capacity) (pair-windows.ts).
 */
import type { FieldProblem } from "../errors.ts";
import type { TaskRequest } from "../request/request.ts";
import type { WindowPlan } from "../tokenization/pair-windows.ts";

export const DEFAULT_MAX_QUESTION_LEN = 64;

interface Sourced {
  value: number;
  field: string;
}

/** The first of the given options that the request sets to an integer (types are checked elsewhere). */
function sourced(request: TaskRequest, ...keys: [section: "task_kwargs" | "preprocessing_kwargs", key: string][]): Sourced | undefined {
  for (const [section, key] of keys) {
    const value = (request[section] as Record<string, unknown>)[key];
    if (Number.isInteger(value)) return { value: value as number, field: `${section}.${key}` };
  }
  return undefined;
}

const outside = (v: number, lo: number, hi: number) => v < lo || v > hi;

export function qaWindowPlan(request: TaskRequest, modelMaxLength: number, pairSpecials: number): { plan?: WindowPlan; problems: FieldProblem[] } {
  const problems: FieldProblem[] = [];
  const seq = sourced(request, ["task_kwargs", "max_seq_len"], ["preprocessing_kwargs", "max_length"]);
  const minSeq = pairSpecials + 2;
  if (seq && outside(seq.value, minSeq, modelMaxLength)) {
    problems.push({ field: seq.field, message: `is ${seq.value}; must be between ${minSeq} and ${modelMaxLength}: the pair's ${pairSpecials} special tokens, one question and one context token, and this model accepts at most ${modelMaxLength} tokens` });
    return { problems };
  }
  const maxSeqLen = seq?.value ?? modelMaxLength;
  const roomForQuestion = maxSeqLen - pairSpecials - 1;
  const question = sourced(request, ["task_kwargs", "max_question_len"]);
  if (question && outside(question.value, 1, roomForQuestion)) {
    problems.push({ field: question.field, message: `is ${question.value}; must be between 1 and ${roomForQuestion}: a window of ${maxSeqLen} tokens holds ${pairSpecials} special tokens and at least one context token` });
    return { problems };
  }
  const stride = sourced(request, ["task_kwargs", "doc_stride"], ["preprocessing_kwargs", "stride"]);
  if (stride) {
    const longestQuestion = question?.value ?? 1;
    const highest = maxSeqLen - pairSpecials - longestQuestion - 1;
    if (outside(stride.value, 0, highest)) {
      const questionPart = question ? `a question of up to max_question_len ${question.value} tokens` : "a question of at least one token";
      problems.push({ field: stride.field, message: `is ${stride.value}; must be between 0 and ${highest}: consecutive windows overlap by fewer tokens than a window's context holds (${maxSeqLen} minus ${pairSpecials} special tokens and ${questionPart})` });
      return { problems };
    }
  }
  const questionLimit = question?.value ?? Math.min(DEFAULT_MAX_QUESTION_LEN, roomForQuestion - (stride?.value ?? 0));
  return { plan: { maxSeqLen, questionLimit, docStride: stride, firstWindowOnly: request.preprocessing_kwargs.return_overflowing_tokens === false }, problems };
}
