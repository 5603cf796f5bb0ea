/** SPEC §6.3: pooled sentence embeddings (mean, max, cls, pooler) or token vectors with word ids. */
import type { Prepared } from "./types.ts";
import { parsed } from "./types.ts";
import { encoderPipeline } from "./encoder-pipeline.ts";
import { tokenizeRequest, tokenizeOptions } from "./tokenize-input.ts";
import type { TokenizeOptions } from "../tokenization/encoded.ts";
import { checkModelKwargs, checkTaskKwargs, requestedExtraOutputs } from "./common-checks.ts";
import { meanPool, maxPool, clsPool, l2NormalizeLastAxis } from "../math/pooling.ts";
import { stack, padStack, NdArray } from "../tensor.ts";
import { collectExtraOutputs } from "./extra-outputs.ts";
import type { FieldProblem } from "../errors.ts";

const OPTIONS = { embedding_mode: "string", normalize: "boolean" } as const;
const ALL_MODES = ["mean", "max", "cls", "pooler", "token"];

export interface EmbeddingOptions {
  mode: string;
  normalize: boolean;
  extraOutputs: string[];
  /** How the texts are tokenized (`preprocessing_kwargs`). */
  tokenize: TokenizeOptions;
}

export const embedding = encoderPipeline<EmbeddingOptions, Prepared>({
  name: "embedding",
  accepts: ["single"],
  // SPEC §6.3: embeddings carry no attributions/questions/contexts/adversarial fields.

  parse(request, model) {
    const problems: FieldProblem[] = [...checkTaskKwargs(request, OPTIONS), ...checkModelKwargs(request, model)];
    const mode = request.task_kwargs.embedding_mode;
    if (typeof mode === "string" && !model.embeddingModes.includes(mode)) {
      const why = ALL_MODES.includes(mode) ? "this model has no pooler output" : "unknown mode";
      problems.push({ field: "task_kwargs.embedding_mode", message: `${why}: "${mode}"; this model supports ${model.embeddingModes.join(", ")}` });
    }
    return parsed(problems, () => ({
      mode: typeof mode === "string" ? mode : "mean",
      normalize: request.task_kwargs.normalize === true,
      extraOutputs: requestedExtraOutputs(request, model.outputNames),
      tokenize: tokenizeOptions(request.preprocessing_kwargs, model.maxLength, "longest_first"),
    }));
  },

  async prepare(request, options, model) {
    return { sequences: await tokenizeRequest(request, options.tokenize, model) };
  },

  outputs: (options) => [options.mode === "pooler" ? "pooler_output" : "last_hidden_state", ...options.extraOutputs],

  finish({ prepared, items, options }) {
    const { mode } = options;
    const pooled = items.map((it, i) => pool(mode, it, prepared.sequences[i].attentionMask));
    let embeddings = mode === "token" ? padStack(pooled) : stack(pooled);
    if (options.normalize) embeddings = l2NormalizeLastAxis(embeddings);
    const width = embeddings.shape[1];
    const wordIds = mode === "token" ? prepared.sequences.map((s) => [...s.wordIds, ...new Array(width - s.wordIds.length).fill(null)]) : [];
    return {
      fields: { embedding_mode: mode, word_ids: wordIds },
      arrays: { embeddings, ...collectExtraOutputs(items, options.extraOutputs) },
    };
  },
});

function pool(mode: string, outputs: Record<string, NdArray>, mask: number[]): NdArray {
  switch (mode) {
    case "pooler": return outputs.pooler_output;
    case "cls": return clsPool(outputs.last_hidden_state);
    case "max": return maxPool(outputs.last_hidden_state, mask);
    case "token": return outputs.last_hidden_state;
    default: return meanPool(outputs.last_hidden_state, mask);
  }
}
