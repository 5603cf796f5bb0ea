/** SPEC §6.2: per-token label probabilities, argmax labels, word ids, and entities with character offsets. */
import type { Prepared } from "./types.ts";
import { parsed } from "./types.ts";
import { encoderPipeline } from "./encoder-pipeline.ts";
import { tokenizeRequest, tokenizeOptions } from "./tokenize-input.ts";
import type { TokenizeOptions } from "../tokenization/encoded.ts";
import { checkModelKwargs, checkTaskKwargs, requestedExtraOutputs } from "./common-checks.ts";
import { ndarray, NdArray } from "../tensor.ts";
import { collectExtraOutputs } from "./extra-outputs.ts";
import { aggregateEntities, AGGREGATIONS, Aggregation, ScoredToken } from "./entity-grouping.ts";
import type { FieldProblem } from "../errors.ts";
import type { Encoded } from "../tokenization/encoded.ts";
import { adapterLabels } from "../inference/adapters.ts";

const OPTIONS = { aggregation: "string" } as const;

export interface TokenClassificationOptions {
  aggregation: Aggregation;
  extraOutputs: string[];
  /** How the texts are tokenized (`preprocessing_kwargs`). */
  tokenize: TokenizeOptions;
}

interface TokenPrepared extends Prepared {
  texts: string[][];
}

export const tokenClassification = encoderPipeline<TokenClassificationOptions, TokenPrepared>({
  name: "token-classification",
  accepts: ["single", "pair"],
  addOnFields: { attributions: [], questions: [], contexts: [], adversarial: {} },

  preprocessedProblems: (request) =>
    request.task_kwargs.aggregation !== undefined && request.task_kwargs.aggregation !== "none"
      ? [{ field: "task_kwargs.aggregation", message: 'groups words of the text; with is_preprocessed there is no text, only "none" is available' }]
      : [],

  parse(request, model) {
    const problems: FieldProblem[] = [...checkTaskKwargs(request, OPTIONS), ...checkModelKwargs(request, model)];
    const a = request.task_kwargs.aggregation;
    if (typeof a === "string" && !AGGREGATIONS.includes(a as Aggregation)) {
      problems.push({ field: "task_kwargs.aggregation", message: `unknown strategy "${a}"; use ${AGGREGATIONS.join(", ")}` });
    }
    return parsed(problems, () => ({ aggregation: typeof a === "string" ? (a as Aggregation) : "none", extraOutputs: requestedExtraOutputs(request, model.outputNames), tokenize: tokenizeOptions(request.preprocessing_kwargs, model.maxLength, "longest_first") }));
  },

  async prepare(request, options, model) {
    const sequences = await tokenizeRequest(request, options.tokenize, model);
    const texts = request.is_preprocessed ? sequences.map(() => ["", ""]) : (request.input as (string | [string, string])[]).map((x) => (typeof x === "string" ? [x, ""] : [...x]));
    return { sequences, texts };
  },

  outputs: (options) => ["logits", ...options.extraOutputs],

  finish({ prepared, items, options }, model) {
    const { aggregation } = options;
    const labels = adapterLabels(model, prepared.sequences) ?? model.capabilities.id2label;
    const { probs, argmaxes, width, labelCount } = tokenProbabilities(items.map((it) => it.logits));
    const entities = prepared.sequences.map((seq, i) => aggregateEntities(scoredTokens(seq, probs, (i * width) * labelCount, labelCount), aggregation, labels, prepared.texts[i]));
    const logits = ndarray("float32", [items.length, width, labelCount], new Float32Array(probs));
    // SPEC §6.2: labels and word ids have the logits' token length (items are padded to the
    // longest), null at padding positions, as SQuARE's clients index them up to logits.shape[1].
    return {
      fields: { labels: argmaxes, word_ids: prepared.sequences.map((s) => padTo(s.wordIds, width)), id2label: labels, entities, aggregation },
      arrays: { logits, ...collectExtraOutputs(items, options.extraOutputs) },
    };
  },
});

/**
 * Softmax over labels for every token of every item, in one pass into one buffer of shape
 * (items, longest item, labels), zeros at padding; and each token's argmax label (null at
 * padding). This runs on the event loop for up to max_request_items × the model's length
 * tokens, so no array per token is made here.
 */
function tokenProbabilities(logits: readonly NdArray[]): { probs: Float64Array; argmaxes: (number | null)[][]; width: number; labelCount: number } {
  const width = Math.max(0, ...logits.map((l) => l.shape[0]));
  const labelCount = logits[0]?.shape[1] ?? 0;
  const probs = new Float64Array(logits.length * width * labelCount);
  const argmaxes = logits.map((l, i) => {
    const [tokens] = l.shape;
    const data = l.data as Float32Array;
    const labels = new Array<number | null>(width).fill(null);
    for (let t = 0; t < tokens; t++) {
      const from = t * labelCount;
      const to = (i * width + t) * labelCount;
      let max = -Infinity;
      for (let k = 0; k < labelCount; k++) if (data[from + k] > max) max = data[from + k];
      let sum = 0;
      for (let k = 0; k < labelCount; k++) sum += probs[to + k] = Math.exp(data[from + k] - max);
      let best = 0;
      for (let k = 0; k < labelCount; k++) {
        probs[to + k] /= sum;
        if (probs[to + k] > probs[to + best]) best = k;
      }
      labels[t] = best;
    }
    return labels;
  });
  return { probs, argmaxes, width, labelCount };
}

function padTo<T>(values: readonly T[], width: number): (T | null)[] {
  const out = new Array<T | null>(Math.max(width, values.length)).fill(null);
  for (let t = 0; t < values.length; t++) out[t] = values[t];
  return out;
}

/** The item's real tokens (its probabilities start at `offset` in `probs`): special and padding tokens carry no word and are left out. */
function scoredTokens(seq: Encoded, probs: Float64Array, offset: number, labelCount: number): ScoredToken[] {
  const tokens: ScoredToken[] = [];
  for (let index = 0; index < seq.wordIds.length; index++) {
    const wordId = seq.wordIds[index];
    const segment = seq.sequenceIds[index];
    if (wordId === null || segment === null) continue;
    // A plain loop: a typed-array view per token costs more than the whole softmax.
    const tokenProbs = new Array<number>(labelCount);
    for (let k = 0, from = offset + index * labelCount; k < labelCount; k++) tokenProbs[k] = probs[from + k];
    const [start, end] = seq.offsets[index];
    tokens.push({ index, probs: tokenProbs, start, end, wordId, segment });
  }
  return tokens;
}
