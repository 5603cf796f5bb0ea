/**
 * SPEC §6.4: extractive QA over overlapping windows of long contexts.
 * With `is_preprocessed` each row is one window [question, context] of token ids; there is no
 * context text, so answers give `start`/`end` as token indices into the row (end exclusive) and
 * `answer` is those tokens decoded by the model's tokenizer (see contextTokens for how the
 * context segment is found).
 */
import type { AttackSubject, Prepared } from "./types.ts";
import { parsed } from "./types.ts";
import { encoderPipeline, type EncoderRun } from "./encoder-pipeline.ts";
import { checkModelKwargs, checkTaskKwargs, requestedExtraOutputs } from "./common-checks.ts";
import { preprocessedSequences } from "./tokenize-input.ts";
import { qaWindowPlan } from "./qa-options.ts";
import { encodeQaWindows, WindowPlan } from "../tokenization/pair-windows.ts";
import { decodeAnswersYielding, QaWindow, Answer } from "./qa-decoding.ts";
import { padStack, float32, NdArray } from "../tensor.ts";
import { collectExtraOutputs } from "./extra-outputs.ts";
import { tokenVocabulary, contextTokens, TokenVocabulary } from "../tokenization/preprocessed.ts";
import type { Encoded } from "../tokenization/encoded.ts";
import type { FieldProblem } from "../errors.ts";
import type { LoadedModel } from "../inference/model.ts";
import type { PreprocessedInput, TaskRequest } from "../request/request.ts";
import { bestSpanTarget } from "./qa-explain-target.ts";
import { itemWordText } from "../explain/words.ts";
import type { ExplainTarget } from "../explain/explain.ts";

const OPTIONS = { topk: "integer", max_answer_len: "integer", show_null_answers: "boolean", doc_stride: "integer", max_seq_len: "integer", max_question_len: "integer" } as const;

/** Options that only make sense when the server tokenizes the texts. */
const TEXT_OPTIONS = ["doc_stride", "max_seq_len", "max_question_len"];

/** SPEC §6.4 defaults (the windowing defaults live with the window plan, qa-options.ts). */
const DEFAULTS = Object.freeze({ topk: 1, maxAnswerLen: 128, showNullAnswers: true });
/** Most answers one item may ask for (SQuARE's clients ask for 1 to 10). */
export const MAX_TOPK = 10_000;

export interface QuestionAnsweringOptions {
  topk: number;
  maxAnswerLen: number;
  showNullAnswers: boolean;
  /** How text items are windowed; absent for `is_preprocessed` rows (each row is one window). */
  plan?: WindowPlan;
  extraOutputs: string[];
}

export interface QaPrepared extends Prepared {
  /** For each item, the indices of its windows in `sequences`. */
  windowsOf: number[][];
  /** Per sequence, which tokens may start or end an answer. */
  isContext: boolean[][];
  /** Text input: the contexts, answers are character spans of them. */
  contexts?: string[];
  /** Preprocessed input: answers are token spans, decoded with this vocabulary. */
  vocabulary?: TokenVocabulary;
}

const intOption = (kwargs: Record<string, unknown>, key: string, fallback: number) => (typeof kwargs[key] === "number" ? (kwargs[key] as number) : fallback);

export const questionAnswering = encoderPipeline<QuestionAnsweringOptions, QaPrepared>({
  name: "question-answering",
  accepts: ["pair"],
  addOnFields: { attributions: [], questions: [], contexts: [], adversarial: { indices: [] } },
  windowsLongInputs: true,

  preprocessedProblems: (request) =>
    TEXT_OPTIONS.filter((key) => key in request.task_kwargs).map((key) => ({ field: `task_kwargs.${key}`, message: "windows texts; with is_preprocessed each row is one window already" })),

  parse(request, model) {
    const kw = request.task_kwargs;
    const problems: FieldProblem[] = [...checkTaskKwargs(request, OPTIONS), ...checkModelKwargs(request, model)];
    for (const key of ["topk", "max_answer_len"]) {
      const v = kw[key];
      if (Number.isInteger(v) && (v as number) < 1) problems.push({ field: `task_kwargs.${key}`, message: "must be ≥ 1" });
    }
    // Answers are ranked in a top-k that costs O(topk) per improving span: a bound keeps decoding linear.
    if (Number.isInteger(kw.topk) && (kw.topk as number) > MAX_TOPK) problems.push({ field: "task_kwargs.topk", message: `is ${kw.topk}; must be between 1 and ${MAX_TOPK}` });
    // Metadata from a replica that predates the special-token counts: the replica parses again with its tokenizer's.
    const windows = request.is_preprocessed ? undefined : qaWindowPlan(request, model.maxLength, model.specialTokens?.pair ?? 0);
    problems.push(...(windows?.problems ?? []));
    return parsed(problems, () => ({
      topk: intOption(kw, "topk", DEFAULTS.topk),
      maxAnswerLen: intOption(kw, "max_answer_len", DEFAULTS.maxAnswerLen),
      showNullAnswers: kw.show_null_answers !== false,
      plan: windows?.plan,
      extraOutputs: requestedExtraOutputs(request, model.outputNames),
    }));
  },

  prepare: (request, options, model) => (request.is_preprocessed ? preparePreprocessed(request.input as PreprocessedInput, model) : prepareTexts(request, options.plan!, model)),

  outputs: (options) => ["start_logits", "end_logits", ...options.extraOutputs],

  async finish({ prepared, items, options }) {
    // Items one after another, each yielding between its windows: a long context has hundreds.
    const answers: Answer[][] = [];
    for (const [i, windowIds] of prepared.windowsOf.entries()) {
      const windows = windowIds.map((w): QaWindow => windowOf(prepared.sequences[w], prepared.isContext[w], items[w], !prepared.contexts));
      if (prepared.contexts) {
        answers.push(await decodeAnswersYielding(windows, prepared.contexts[i], options));
        continue;
      }
      const ids = prepared.sequences[windowIds[0]].ids;
      answers.push((await decodeAnswersYielding(windows, "", options)).map((a): Answer => ({ ...a, answer: a.end > a.start ? prepared.vocabulary!.decodeSpan(ids.slice(a.start, a.end)) : "" })));
    }
    const firstWindows = prepared.windowsOf.map((w) => items[w[0]]);
    const logits = (name: string) => padStack(firstWindows.map((it) => float32([it[name].shape[0]], it[name].data as Float32Array)));
    return {
      fields: { answers },
      arrays: { start_logits: logits("start_logits"), end_logits: logits("end_logits"), ...collectExtraOutputs(firstWindows, options.extraOutputs) },
    };
  },

  /** Each item: the window holding its best non-null span, with start+end logits of that span as the target. */
  explainTargets: (run): ExplainTarget[] => bestSpans(run).map((s) => s.explain),

  /** Each item's best non-null span (its prediction) in the window holding it; questions come first. */
  attackSubjects: (run): AttackSubject[] =>
    bestSpans(run).map(({ explain, target, outputs, windows }, i) => ({
      texts: (run.request.input as [string, string][])[i],
      questionSegment: 0,
      contextSegment: 1,
      windows,
      explain,
      prediction: [explain.sequence.offsets[target.a][0], explain.sequence.offsets[target.b][1]],
      logits: { start_logits: outputs.start_logits.data as Float32Array, end_logits: outputs.end_logits.data as Float32Array },
      predicted: { start_logits: target.a, end_logits: target.b },
    })),
});

/** Per item: its best non-null span, the window holding it, that window's outputs, and the explanation target. */
function bestSpans({ prepared, items, request, options }: EncoderRun<QuestionAnsweringOptions, QaPrepared>) {
  return prepared.windowsOf.map((windowIds, i) => {
    const windows = windowIds.map((w) => windowOf(prepared.sequences[w], prepared.isContext[w], items[w], false));
    const target = bestSpanTarget(windows, options.maxAnswerLen);
    const sequence = prepared.sequences[windowIds[target.window]];
    // Window sequences keep offsets into the original question and context (a cut question is a prefix).
    const explain: ExplainTarget = { sequence, cotangents: target.cotangents, attentionRows: "all", wordText: itemWordText(request.input, i, sequence) };
    return { explain, target, outputs: items[windowIds[target.window]], windows: windowIds.length };
  });
}

/**
 * Text items: each question cut to its token limit, each context windowed with overlap
 * (qa-options.ts resolves the options, pair-windows.ts cuts the windows).
 */
async function prepareTexts(request: TaskRequest, plan: WindowPlan, model: LoadedModel): Promise<QaPrepared> {
  const items = request.input as [string, string][];
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
