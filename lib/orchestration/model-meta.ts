/** A replica's service metadata from its loaded model: what the gateway validates and routes with. */
import type { ModelRuntime } from "../model/runtime.ts";
import type { ModelMeta } from "../model/metadata.ts";
import { isImplemented } from "../tasks/registry.ts";

/** Tasks are those the model's head can serve and the server implements. */
export function metaOf(id: string, runtime: ModelRuntime): ModelMeta {
  return {
    id,
    tasks: runtime.capabilities.tasks.filter(isImplemented),
    embeddingModes: runtime.capabilities.embeddingModes,
    maxLength: runtime.folder.maxLength,
    specialTokens: runtime.tokenizer.specialTokens,
    outputNames: runtime.outputNames,
    extraOutputsUnavailable: runtime.extraOutputsUnavailable,
    maxInput: runtime.settings.max_input,
    maxQueue: runtime.settings.max_queue,
    vocabSize: runtime.tokenizer.vocabSize,
    device: runtime.deviceLabel,
    adapters: [],
    inputNames: runtime.capabilities.inputNames,
  };
}
