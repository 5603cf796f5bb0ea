/**
 * What a model actor announces about itself in its Moleculer service metadata, so gateways and
 * other nodes validate and route without a round trip (SPEC §15).
 */
import type { ModelFacts } from "../tasks/types.ts";
import type { ModelRuntime } from "./runtime.ts";

export interface ModelMeta extends ModelFacts {
  id: string;
  maxInput: number;
  /** Queue bound (tasks) for backpressure. */
  maxQueue: number;
  vocabSize: number;
  device: string;
  adapters: string[];
  /** Graph inputs (a model without token_type_ids refuses non-zero ones at the gateway). */
  inputNames: string[];
}

/** The Moleculer service name of a model's actor; the id keeps its `/` (SPEC §2 fix). */
export const modelServiceName = (id: string): string => `model.${id}`;

export function metaOf(id: string, runtime: ModelRuntime): ModelMeta {
  return {
    id,
    tasks: runtime.capabilities.tasks,
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
