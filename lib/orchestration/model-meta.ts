/** A replica's service metadata from its loaded model: what the gateway validates and routes with. */
import type { ModelRuntime } from "../model/runtime.ts";
import type { ModelMeta } from "../model/metadata.ts";
import type { AddOnReadiness } from "../inference/facts.ts";
import { isImplemented } from "../tasks/registry.ts";

/** Tasks are those the model's head can serve and the server implements; add-on readiness is what the replica has learned so far. */
export function metaOf(id: string, runtime: ModelRuntime, addOns: Readonly<Record<string, AddOnReadiness>> = {}): ModelMeta {
  const facts = runtime.facts;
  return {
    id,
    ...facts,
    tasks: facts.tasks.filter(isImplemented),
    maxInput: runtime.settings.max_input,
    maxQueue: runtime.settings.max_queue,
    vocabSize: runtime.tokenizer.vocabSize,
    device: runtime.deviceLabel,
    adapters: runtime.adapters ? [...runtime.adapters.names] : [],
    ...(runtime.adapters ? { adapterInfo: runtime.adapters.info } : {}),
    inputNames: runtime.capabilities.inputNames,
    addOns: { ...addOns },
  };
}
