/** SPEC §6.2: per-token label probabilities, argmax labels, word ids, and entities with character offsets. */
import type { TaskPipeline, Prepared } from "./types.ts";
import { tokenizeRequest } from "./tokenize-input.ts";
import { checkModelKwargs, checkTaskKwargs, requestedExtraOutputs } from "./common-checks.ts";
import { softmax, argmax } from "../math/softmax.ts";
import { float32, padStack } from "../tensor.ts";
import { collectExtraOutputs } from "./extra-outputs.ts";
import { renderOutputs } from "../encoding/arrays.ts";
import { aggregateEntities, AGGREGATIONS, Aggregation, ScoredToken } from "./entity-grouping.ts";
import type { FieldProblem } from "../errors.ts";
import type { Encoded } from "../tokenization/tokenizer.ts";

const OPTIONS = { aggregation: "string" } as const;

interface TokenPrepared extends Prepared {
  texts: string[][];
}

export const tokenClassification: TaskPipeline<TokenPrepared> = {
  name: "token-classification",

  check(request, model) {
    const problems: FieldProblem[] = [...checkTaskKwargs(request, OPTIONS), ...checkModelKwargs(request, model)];
    const a = request.task_kwargs.aggregation;
    if (typeof a === "string" && !AGGREGATIONS.includes(a as Aggregation)) {
      problems.push({ field: "task_kwargs.aggregation", message: `unknown strategy "${a}"; use ${AGGREGATIONS.join(", ")}` });
    }
    return problems;
  },

  async prepare(request, model) {
    const sequences = await tokenizeRequest(request, model, "longest_first");
    const texts = request.is_preprocessed ? sequences.map(() => ["", ""]) : (request.input as (string | [string, string])[]).map((x) => (typeof x === "string" ? [x, ""] : [...x]));
    return { sequences, texts };
  },

  outputs: (request, model) => ["logits", ...requestedExtraOutputs(request, model.outputNames)],

  finish(prepared, items, request, model, output) {
    const aggregation = (request.task_kwargs.aggregation as Aggregation | undefined) ?? "none";
    const labels = model.capabilities.id2label;
    const probs = items.map((it) => {
      const [tokens, width] = it.logits.shape;
      const data = it.logits.data as Float32Array;
      return Array.from({ length: tokens }, (_, t) => softmax(data.subarray(t * width, (t + 1) * width)));
    });
    const entities = prepared.sequences.map((seq, i) => aggregateEntities(scoredTokens(seq, probs[i]), aggregation, labels, prepared.texts[i]));
    const extra = collectExtraOutputs(items, requestedExtraOutputs(request, model.outputNames));
    const logits = padStack(probs.map((rows) => float32([rows.length, rows[0]?.length ?? 0], rows.flat())));
    return {
      labels: probs.map((rows) => rows.map(argmax)),
      word_ids: prepared.sequences.map((s) => s.wordIds),
      id2label: labels,
      entities,
      aggregation,
      model_outputs: renderOutputs({ logits, ...extra }, output.plaintext),
      model_output_is_encoded: !output.plaintext,
      attributions: [],
      questions: [],
      contexts: [],
      adversarial: {},
    };
  },
};

/** The item's real tokens: special and padding tokens carry no word and are left out. */
function scoredTokens(seq: Encoded, probs: number[][]): ScoredToken[] {
  return seq.wordIds.flatMap((wordId, index) => {
    const segment = seq.sequenceIds[index];
    if (wordId === null || segment === null) return [];
    const [start, end] = seq.offsets[index];
    return [{ index, probs: probs[index], start, end, wordId, segment }];
  });
}
