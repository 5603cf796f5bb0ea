/** SPEC §6.1: singles or pairs → softmax (or sigmoid, or raw regression) logits and argmax labels. */
import type { TaskPipeline, Prepared } from "./types.ts";
import { tokenizeRequest } from "./tokenize-input.ts";
import { checkModelKwargs, checkTaskKwargs, requestedExtraOutputs } from "./common-checks.ts";
import { softmax, sigmoid, argmax } from "../math/softmax.ts";
import { float32, NdArray } from "../tensor.ts";
import { collectExtraOutputs } from "./extra-outputs.ts";
import { renderOutputs } from "../encoding/arrays.ts";
import { itemWordText } from "../explain/words.ts";
import type { ExplainTarget } from "../explain/explain.ts";
import type { TaskRequest } from "../request/request.ts";

const OPTIONS = { is_regression: "boolean" } as const;

/** Sequence-classification pairs are `[context, question]`. */
const PAIR_QUESTION_SEGMENT = 1;

export const sequenceClassification: TaskPipeline<Prepared> = {
  name: "sequence-classification",

  check: (request, model) => [...checkTaskKwargs(request, OPTIONS), ...checkModelKwargs(request, model)],

  async prepare(request, model) {
    return { sequences: await tokenizeRequest(request, model, "longest_first") };
  },

  outputs: (request, model) => ["logits", ...requestedExtraOutputs(request, model.outputNames)],

  finish(_prepared, items, request, model, output) {
    const numLabels = items[0]?.logits.shape[0] ?? 0;
    const regression = numLabels === 1 || request.task_kwargs.is_regression === true;
    const rows = items.map((it) => scoreRow(it.logits, regression, model.capabilities.multiLabel));
    const extra = collectExtraOutputs(items, requestedExtraOutputs(request, model.outputNames));
    const plaintext = output.plaintext;
    return {
      labels: regression ? [] : rows.map(argmax),
      id2label: model.capabilities.id2label,
      model_outputs: renderOutputs({ logits: float32([items.length, numLabels], rows.flat()), ...extra }, plaintext),
      model_output_is_encoded: !plaintext,
      attributions: [],
      questions: [],
      contexts: [],
      adversarial: {},
    };
  },

  explainTargets,
};

/**
 * Each item is explained against its own predicted label: the argmax of its logits (softmax and
 * sigmoid keep the order). A regression head's single output is explained as it is.
 * Pairs are `[context, question]` as in SQuARE (SPEC §7): the second text's words are the question.
 */
function explainTargets(prepared: Prepared, items: Record<string, NdArray>[], request: TaskRequest): ExplainTarget[] {
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
