/** SPEC §6.4: extractive QA over overlapping windows of long contexts. */
import type { TaskPipeline, Prepared } from "./types.ts";
import { checkModelKwargs, checkTaskKwargs } from "./common-checks.ts";
import { tokenizeOptions } from "./tokenize-input.ts";
import { decodeAnswers, QaWindow } from "./qa-decoding.ts";
import { padStack, float32 } from "../tensor.ts";
import { renderOutputs } from "../encoding/arrays.ts";
import type { Encoded } from "../tokenization/tokenizer.ts";
import type { FieldProblem } from "../errors.ts";

const OPTIONS = { topk: "integer", max_answer_len: "integer", show_null_answers: "boolean", doc_stride: "integer", max_seq_len: "integer", max_question_len: "integer" } as const;

interface QaPrepared extends Prepared {
  /** For each item, the indices of its windows in `sequences`. */
  windowsOf: number[][];
  contexts: string[];
}

const intOption = (kwargs: Record<string, unknown>, key: string, fallback: number) => (typeof kwargs[key] === "number" ? (kwargs[key] as number) : fallback);

export const questionAnswering: TaskPipeline<QaPrepared> = {
  name: "question-answering",

  check(request, model) {
    const problems: FieldProblem[] = [...checkTaskKwargs(request, OPTIONS), ...checkModelKwargs(request, model)];
    for (const key of ["topk", "max_answer_len", "max_seq_len", "max_question_len"]) {
      const v = request.task_kwargs[key];
      if (Number.isInteger(v) && (v as number) < 1) problems.push({ field: `task_kwargs.${key}`, message: "must be ≥ 1" });
    }
    const stride = request.task_kwargs.doc_stride;
    if (Number.isInteger(stride) && (stride as number) < 0) problems.push({ field: "task_kwargs.doc_stride", message: "must be ≥ 0" });
    if (request.is_preprocessed) problems.push({ field: "is_preprocessed", message: "question answering needs the texts to map answers to characters" });
    return problems;
  },

  async prepare(request, model) {
    const kw = request.task_kwargs;
    const maxLength = Math.min(intOption(kw, "max_seq_len", model.folder.maxLength), model.folder.maxLength);
    const items = request.input as [string, string][];
    const questionLimit = intOption(kw, "max_question_len", 64);
    // The tokenizer's overlap (stride) must leave room for new context in every window.
    const stride = intOption(kw, "doc_stride", 128);
    const sequences: Encoded[] = [];
    const windowsOf: number[][] = [];
    for (const [question, context] of items) {
      const q = (await model.tokenizer.encode([question], { ...tokenizeOptions({}, maxLength, "longest_first"), addSpecialTokens: false }))[0];
      const shortQuestion = q.ids.length > questionLimit ? question.slice(0, q.offsets[questionLimit - 1][1]) : question;
      const budget = maxLength - Math.min(q.ids.length, questionLimit) - 3;
      const options = { ...tokenizeOptions({ max_length: maxLength, truncation: "only_second" }, maxLength, "only_second"), stride: Math.max(0, Math.min(stride, budget - 1)), returnOverflowing: true };
      const [first] = await model.tokenizer.encode([[shortQuestion, context]], options);
      const windows = [first, ...first.overflowing];
      windowsOf.push(windows.map((_, k) => sequences.length + k));
      sequences.push(...windows);
    }
    return { sequences, windowsOf, contexts: items.map((x) => x[1]) };
  },

  outputs: () => ["start_logits", "end_logits"],

  finish(prepared, items, request, _model, output) {
    const kw = request.task_kwargs;
    const options = { topk: intOption(kw, "topk", 1), maxAnswerLen: intOption(kw, "max_answer_len", 128), showNullAnswers: kw.show_null_answers !== false };
    const answers = prepared.windowsOf.map((windowIds, i) =>
      decodeAnswers(windowIds.map((w): QaWindow => windowOf(prepared.sequences[w], items[w])), prepared.contexts[i], options),
    );
    const firstWindows = prepared.windowsOf.map((w) => items[w[0]]);
    const logits = (name: string) => padStack(firstWindows.map((it) => float32([it[name].shape[0]], it[name].data as Float32Array)));
    return {
      answers,
      model_outputs: renderOutputs({ start_logits: logits("start_logits"), end_logits: logits("end_logits") }, output.plaintext),
      model_output_is_encoded: !output.plaintext,
      questions: [],
      contexts: [],
      attributions: [],
      adversarial: { indices: [] },
    };
  },
};

function windowOf(seq: Encoded, outputs: Record<string, { data: unknown }>): QaWindow {
  return {
    startLogits: outputs.start_logits.data as Float32Array,
    endLogits: outputs.end_logits.data as Float32Array,
    isContext: seq.sequenceIds.map((s, t) => s === 1 && seq.specialTokensMask[t] === 0),
    offsets: seq.offsets,
  };
}
