/** SPEC §6.3: pooled sentence embeddings (mean, max, cls, pooler) or token vectors with word ids. */
import type { TaskPipeline, Prepared } from "./types.ts";
import { tokenizeRequest } from "./tokenize-input.ts";
import { checkModelKwargs, checkTaskKwargs, requestedExtraOutputs } from "./common-checks.ts";
import { meanPool, maxPool, clsPool, l2NormalizeLastAxis } from "../math/pooling.ts";
import { stack, padStack, NdArray } from "../tensor.ts";
import { collectExtraOutputs } from "./extra-outputs.ts";
import { renderOutputs } from "../encoding/arrays.ts";
import type { FieldProblem } from "../errors.ts";

const OPTIONS = { embedding_mode: "string", normalize: "boolean" } as const;
const ALL_MODES = ["mean", "max", "cls", "pooler", "token"];

const modeOf = (kwargs: Record<string, unknown>): string => (kwargs.embedding_mode as string | undefined) ?? "mean";

export const embedding: TaskPipeline<Prepared> = {
  name: "embedding",

  check(request, model) {
    const problems: FieldProblem[] = [...checkTaskKwargs(request, OPTIONS), ...checkModelKwargs(request, model)];
    const mode = request.task_kwargs.embedding_mode;
    if (typeof mode === "string" && !model.embeddingModes.includes(mode)) {
      const why = ALL_MODES.includes(mode) ? "this model has no pooler output" : "unknown mode";
      problems.push({ field: "task_kwargs.embedding_mode", message: `${why}: "${mode}"; this model supports ${model.embeddingModes.join(", ")}` });
    }
    return problems;
  },

  async prepare(request, model) {
    return { sequences: await tokenizeRequest(request, model, "longest_first") };
  },

  outputs(request, model) {
    const main = modeOf(request.task_kwargs) === "pooler" ? "pooler_output" : "last_hidden_state";
    return [main, ...requestedExtraOutputs(request, model.outputNames)];
  },

  finish(prepared, items, request, model, output) {
    const mode = modeOf(request.task_kwargs);
    const pooled = items.map((it, i) => pool(mode, it, prepared.sequences[i].attentionMask));
    let embeddings = mode === "token" ? padStack(pooled) : stack(pooled);
    if (request.task_kwargs.normalize === true) embeddings = l2NormalizeLastAxis(embeddings);
    const width = embeddings.shape[1];
    const wordIds = mode === "token" ? prepared.sequences.map((s) => [...s.wordIds, ...new Array(width - s.wordIds.length).fill(null)]) : [];
    const extra = collectExtraOutputs(items, requestedExtraOutputs(request, model.outputNames));
    const plaintext = output.plaintext;
    return {
      model_outputs: renderOutputs({ embeddings, ...extra }, plaintext),
      model_output_is_encoded: !plaintext,
      embedding_mode: mode,
      word_ids: wordIds,
    };
  },
};

function pool(mode: string, outputs: Record<string, NdArray>, mask: number[]): NdArray {
  switch (mode) {
    case "pooler": return outputs.pooler_output;
    case "cls": return clsPool(outputs.last_hidden_state);
    case "max": return maxPool(outputs.last_hidden_state, mask);
    case "token": return outputs.last_hidden_state;
    default: return meanPool(outputs.last_hidden_state, mask);
  }
}
