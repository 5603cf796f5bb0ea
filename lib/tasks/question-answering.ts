/**
 * SPEC §6.4: extractive QA over overlapping windows of long contexts.
 * With `is_preprocessed` each row is one window [question, context] of token ids; there is no
 * context text, so answers give `start`/`end` as token indices into the row (end exclusive) and
 * `answer` is those tokens decoded by the model's tokenizer (see contextTokens for how the
 * context segment is found).
 */
import type { TaskPipeline, Prepared } from "./types.ts";
import { checkModelKwargs, checkTaskKwargs, requestedExtraOutputs } from "./common-checks.ts";
import { preprocessedSequences } from "./tokenize-input.ts";
import { qaWindowPlan } from "./qa-options.ts";
import { encodeQaWindows } from "../tokenization/pair-windows.ts";
import { decodeAnswers, QaWindow, Answer } from "./qa-decoding.ts";
import { padStack, float32, NdArray } from "../tensor.ts";
import { renderOutputs } from "../encoding/arrays.ts";
import { collectExtraOutputs } from "./extra-outputs.ts";
import { tokenVocabulary, contextTokens, TokenVocabulary } from "../tokenization/preprocessed.ts";
import type { Encoded } from "../tokenization/tokenizer.ts";
import { invalidFields, FieldProblem } from "../errors.ts";
import type { LoadedModel } from "../inference/model.ts";
import type { PreprocessedInput, TaskRequest } from "../request/request.ts";
import { bestSpanTarget } from "./qa-explain-target.ts";
import { itemWordText } from "../explain/words.ts";
import type { ExplainTarget } from "../explain/explain.ts";

const OPTIONS = { topk: "integer", max_answer_len: "integer", show_null_answers: "boolean", doc_stride: "integer", max_seq_len: "integer", max_question_len: "integer" } as const;

interface QaPrepared extends Prepared {
  /** For each item, the indices of its windows in `sequences`. */
  windowsOf: number[][];
  /** Per sequence, which tokens may start or end an answer. */
  isContext: boolean[][];
  /** Text input: the contexts, answers are character spans of them. */
  contexts?: string[];
  /** Preprocessed input: answers are token spans, decoded with this vocabulary. */
  vocabulary?: TokenVocabulary;
}

const intOption = (kwargs: Record<string, unknown>, key: string, fallback: number | undefined) => (typeof kwargs[key] === "number" ? (kwargs[key] as number) : fallback);

export const questionAnswering: TaskPipeline<QaPrepared> = {
  name: "question-answering",

  check(request, model) {
    const problems: FieldProblem[] = [...checkTaskKwargs(request, OPTIONS), ...checkModelKwargs(request, model)];
    for (const key of ["topk", "max_answer_len"]) {
      const v = request.task_kwargs[key];
      if (Number.isInteger(v) && (v as number) < 1) problems.push({ field: `task_kwargs.${key}`, message: "must be ≥ 1" });
    }
    // Metadata from a replica that predates the special-token counts: the tokenizer checks again in prepare.
    if (!request.is_preprocessed) problems.push(...qaWindowPlan(request, model.maxLength, model.specialTokens?.pair ?? 0).problems);
    return problems;
  },

  prepare: (request, model) => (request.is_preprocessed ? preparePreprocessed(request.input as PreprocessedInput, model) : prepareTexts(request, model)),

  outputs: (request, model) => ["start_logits", "end_logits", ...requestedExtraOutputs(request, model.outputNames)],

  finish(prepared, items, request, model, output) {
    const kw = request.task_kwargs;
    const options = { topk: intOption(kw, "topk", 1)!, maxAnswerLen: intOption(kw, "max_answer_len", 128)!, showNullAnswers: kw.show_null_answers !== false };
    const answers = prepared.windowsOf.map((windowIds, i) => {
      const windows = windowIds.map((w): QaWindow => windowOf(prepared.sequences[w], prepared.isContext[w], items[w], !prepared.contexts));
      if (prepared.contexts) return decodeAnswers(windows, prepared.contexts[i], options);
      const ids = prepared.sequences[windowIds[0]].ids;
      return decodeAnswers(windows, "", options).map((a): Answer => ({ ...a, answer: a.end > a.start ? prepared.vocabulary!.decodeSpan(ids.slice(a.start, a.end)) : "" }));
    });
    const firstWindows = prepared.windowsOf.map((w) => items[w[0]]);
    const logits = (name: string) => padStack(firstWindows.map((it) => float32([it[name].shape[0]], it[name].data as Float32Array)));
    const extra = collectExtraOutputs(firstWindows, requestedExtraOutputs(request, model.outputNames));
    return {
      answers,
      model_outputs: renderOutputs({ start_logits: logits("start_logits"), end_logits: logits("end_logits"), ...extra }, output.plaintext),
      model_output_is_encoded: !output.plaintext,
      questions: [],
      contexts: [],
      attributions: [],
      adversarial: { indices: [] },
    };
  },

  /** Each item: the window holding its best non-null span, with start+end logits of that span as the target. */
  explainTargets(prepared, items, request): ExplainTarget[] {
    const maxAnswerLen = intOption(request.task_kwargs, "max_answer_len", 128)!;
    return prepared.windowsOf.map((windowIds, i) => {
      const windows = windowIds.map((w) => windowOf(prepared.sequences[w], prepared.isContext[w], items[w], false));
      const target = bestSpanTarget(windows, maxAnswerLen);
      const sequence = prepared.sequences[windowIds[target.window]];
      // Window sequences keep offsets into the original question and context (a cut question is a prefix).
      return { sequence, cotangents: target.cotangents, attentionRows: "all", wordText: itemWordText(request.input, i, sequence) };
    });
  },
};

/**
 * Text items: each question cut to its token limit, each context windowed with overlap
 * (qa-options.ts resolves the options, pair-windows.ts cuts the windows).
 */
async function prepareTexts(request: TaskRequest, model: LoadedModel): Promise<QaPrepared> {
  const items = request.input as [string, string][];
  const { plan, problems } = qaWindowPlan(request, model.folder.maxLength, model.tokenizer.specialTokens.pair);
  if (!plan) throw invalidFields(problems);
  const sequences: Encoded[] = [];
  const windowsOf: number[][] = [];
  for (const windows of await encodeQaWindows(model.tokenizer, items, plan)) {
    windowsOf.push(windows.map((_, k) => sequences.length + k));
    sequences.push(...windows);
  }
  const isContext = sequences.map((seq) => seq.sequenceIds.map((s, t) => s === 1 && seq.specialTokensMask[t] === 0));
  return { sequences, windowsOf, isContext, contexts: items.map((x) => x[1]) };
}

/** Preprocessed rows: one window each; the context segment comes from token_type_ids or separators. */
async function preparePreprocessed(input: PreprocessedInput, model: LoadedModel): Promise<QaPrepared> {
  const vocabulary = await tokenVocabulary(model.folder.tokenizerPath);
  const sequences = await preprocessedSequences(input, model);
  return { sequences, windowsOf: sequences.map((_, i) => [i]), isContext: sequences.map((s, i) => contextTokens(s, vocabulary, i)), vocabulary };
}

/** Token `t` spans characters `offsets[t]` of the context, or, without text, the token range [t, t+1). */
function windowOf(seq: Encoded, isContext: boolean[], outputs: Record<string, NdArray>, tokenSpans: boolean): QaWindow {
  return {
    startLogits: outputs.start_logits.data as Float32Array,
    endLogits: outputs.end_logits.data as Float32Array,
    isContext,
    offsets: tokenSpans ? seq.ids.map((_, t): [number, number] => [t, t + 1]) : seq.offsets,
  };
}
