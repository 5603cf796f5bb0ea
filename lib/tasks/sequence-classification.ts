/** SPEC §6.1: singles or pairs → softmax (or sigmoid, or raw regression) logits and argmax labels. */
import type { AttackSubject, Prepared } from "./types.ts";
import { parsed } from "./types.ts";
import { encoderPipeline, EncoderRun } from "./encoder-pipeline.ts";
import { tokenizeRequest, tokenizeOptions } from "./tokenize-input.ts";
import type { TokenizeOptions } from "../tokenization/encoded.ts";
import { checkModelKwargs, checkTaskKwargs, requestedExtraOutputs } from "./common-checks.ts";
import { softmax, sigmoid, argmax } from "../math/softmax.ts";
import { float32, NdArray } from "../tensor.ts";
import { collectExtraOutputs } from "./extra-outputs.ts";
import { itemWordText } from "../explain/words.ts";
import type { ExplainTarget } from "../explain/explain.ts";
import { adapterLabels } from "../inference/adapters.ts";

const OPTIONS = { is_regression: "boolean" } as const;

export interface SequenceClassificationOptions {
  /** Raw logits and no labels, as for a one-logit head. */
  isRegression: boolean;
  /** Attentions/hidden states asked for by `model_kwargs`, in layer order. */
  extraOutputs: string[];
  /** How the texts are tokenized (`preprocessing_kwargs`). */
  tokenize: TokenizeOptions;
}

/** Sequence-classification pairs are `[context, question]`. */
const PAIR_QUESTION_SEGMENT = 1;

type Run = EncoderRun<SequenceClassificationOptions, Prepared>;

export const sequenceClassification = encoderPipeline<SequenceClassificationOptions, Prepared>({
  name: "sequence-classification",
  accepts: ["single", "pair"],
  addOnFields: { attributions: [], questions: [], contexts: [], adversarial: {} },

  parse: (request, model) =>
    parsed([...checkTaskKwargs(request, OPTIONS), ...checkModelKwargs(request, model)], () => ({
      isRegression: request.task_kwargs.is_regression === true,
      extraOutputs: requestedExtraOutputs(request, model.outputNames),
      tokenize: tokenizeOptions(request.preprocessing_kwargs, model.maxLength, "longest_first"),
    })),

  async prepare(request, options, model) {
    return { sequences: await tokenizeRequest(request, options.tokenize, model) };
  },

  outputs: (options) => ["logits", ...options.extraOutputs],

  finish({ items, options, prepared }, model) {
    const numLabels = items[0]?.logits.shape[0] ?? 0;
    const regression = numLabels === 1 || options.isRegression;
    // An adapter's head replaces the model's (SPEC §9): its labels, single-label softmax.
    const headLabels = adapterLabels(model, prepared.sequences);
    const rows = items.map((it) => scoreRow(it.logits, regression, headLabels ? false : model.capabilities.multiLabel));
    return {
      fields: { labels: regression ? [] : rows.map(argmax), id2label: headLabels ?? model.capabilities.id2label },
      arrays: { logits: float32([items.length, numLabels], rows.flat()), ...collectExtraOutputs(items, options.extraOutputs) },
    };
  },

  explainTargets,
  attackSubjects,
});

/** Each item with its predicted label; a pair's second text is the question (SPEC §8). */
function attackSubjects(run: Run): AttackSubject[] {
  const targets = explainTargets(run);
  return run.items.map((outputs, i) => {
    const item = (run.request.input as (string | [string, string])[])[i];
    const logits = outputs.logits.data as Float32Array;
    const label = argmax(Array.from(logits));
    return {
      texts: typeof item === "string" ? [item] : item,
      ...(typeof item === "string" ? {} : { questionSegment: PAIR_QUESTION_SEGMENT }),
      contextSegment: 0,
      windows: 1,
      explain: targets[i],
      prediction: label,
      logits: { logits },
      predicted: { logits: label },
    };
  });
}

/**
 * Each item is explained against its own predicted label: the argmax of its logits (softmax and
 * sigmoid keep the order). A regression head's single output is explained as it is.
 * Pairs are `[context, question]` as in SQuARE (SPEC §7): the second text's words are the question.
 */
function explainTargets({ prepared, items, request }: Pick<Run, "prepared" | "items" | "request">): ExplainTarget[] {
  return prepared.sequences.map((sequence, i) => {
    const logits = Array.from(items[i].logits.data as Float32Array);
    const cotangent = new Float32Array(logits.length);
    cotangent[argmax(logits)] = 1;
    return { sequence, cotangents: { logits: cotangent }, wordText: itemWordText(request.input, i, sequence, PAIR_QUESTION_SEGMENT) };
  });
}

function scoreRow(logits: NdArray, regression: boolean, multiLabel: boolean): number[] {
  const values = Array.from(logits.data as Float32Array);
  if (regression) return values;
  return multiLabel ? values.map(sigmoid) : softmax(values);
}
