/** SPEC §6.1: singles or pairs → softmax (or sigmoid, or raw regression) logits and argmax labels. */
import type { TaskPipeline, Prepared } from "./types.ts";
import { tokenizeRequest } from "./tokenize-input.ts";
import { checkModelKwargs, checkTaskKwargs, requestedExtraOutputs } from "./common-checks.ts";
import { softmax, sigmoid, argmax } from "../math/softmax.ts";
import { float32, NdArray } from "../tensor.ts";
import { collectExtraOutputs } from "./extra-outputs.ts";
import { renderOutputs } from "../encoding/arrays.ts";

const OPTIONS = { is_regression: "boolean" } as const;

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
};

function scoreRow(logits: NdArray, regression: boolean, multiLabel: boolean): number[] {
  const values = Array.from(logits.data as Float32Array);
  if (regression) return values;
  return multiLabel ? values.map(sigmoid) : softmax(values);
}
