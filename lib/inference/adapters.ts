/**
 * Adapters as tasks and the model see them (SPEC §9, issue #16): a request's adapter choice
 * (`adapter_name`, averaged with `model_kwargs.average_adapters`), carried on the sequences a task
 * submits so the model feeds it as that row's `adapter_weights`, and what a model serving adapters
 * tells tasks about their heads (labels). The add-on (lib/addons/adapters.ts) validates the choice;
 * lib/model/runtime.ts runs it.
 */
import type { Encoded } from "../tokenization/encoded.ts";
import type { TaskRequest } from "../request/request.ts";
import type { TaskName } from "../request/task-names.ts";

/** Prediction head kinds (AdapterHub head_config.json `head_type`) and the task each serves. */
export type AdapterHeadType = "classification" | "tagging" | "question_answering";

export const HEAD_TASKS: Readonly<Record<AdapterHeadType, TaskName>> = Object.freeze({
  classification: "sequence-classification",
  tagging: "token-classification",
  question_answering: "question-answering",
});

/** Tasks whose output comes from a head (the adapter's replaces the base model's); embedding needs none. */
export const HEAD_OUTPUTS: Readonly<Partial<Record<TaskName, readonly string[]>>> = Object.freeze({
  "sequence-classification": ["logits"],
  "token-classification": ["logits"],
  "question-answering": ["start_logits", "end_logits"],
});

/** A request's choice: adapter names and their mixing weights (equal, summing to 1). */
export interface AdapterChoice {
  readonly names: readonly string[];
  readonly weights: readonly number[];
}

/** The names `adapter_name` asks for: none for the default `""`, else the string or the list as given. */
export function requestedAdapterNames(request: Pick<TaskRequest, "adapter_name">): string[] {
  const a = request.adapter_name;
  if (Array.isArray(a)) return [...a];
  return a === "" || a === undefined ? [] : [a];
}

/** The request's adapter choice (validated by the add-on), or undefined for the base model. */
export function adapterChoiceOf(request: Pick<TaskRequest, "adapter_name">): AdapterChoice | undefined {
  const names = requestedAdapterNames(request);
  if (!names.length) return undefined;
  return { names, weights: names.map(() => 1 / names.length) };
}

const chosen = new WeakMap<Encoded, AdapterChoice>();

/** Sequences carrying `choice` (shallow copies: a tokenizer cache may share sequence objects between requests). */
export function withAdapter(sequences: readonly Encoded[], choice: AdapterChoice | undefined): Encoded[] {
  if (!choice) return [...sequences];
  return sequences.map((s) => {
    const copy = { ...s };
    chosen.set(copy, choice);
    return copy;
  });
}

/** The adapter choice a sequence carries (undefined: the base model). */
export const adapterOfSequence = (sequence: Encoded): AdapterChoice | undefined => chosen.get(sequence);

/** What a model serving adapters tells tasks: the labels of the head a choice uses. */
export interface AdapterCatalog {
  readonly names: readonly string[];
  /** id → label of the choice's (averaged) head; undefined when it has none or it is not a labelling head. */
  labelsOf(choice: AdapterChoice): Record<string, string> | undefined;
}

/** The catalog of a model that serves adapters (lib/model/runtime.ts), or undefined. */
export function adapterCatalogOf(model: object): AdapterCatalog | undefined {
  const catalog = (model as { adapterCatalog?: AdapterCatalog }).adapterCatalog;
  return catalog && catalog.names.length ? catalog : undefined;
}

/** The head labels for a task's sequences when they carry an adapter choice with a labelling head. */
export function adapterLabels(model: object, sequences: readonly Encoded[]): Record<string, string> | undefined {
  const choice = sequences.length ? adapterOfSequence(sequences[0]) : undefined;
  return choice ? adapterCatalogOf(model)?.labelsOf(choice) : undefined;
}
