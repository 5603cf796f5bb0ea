/**
 * Which tasks a model's head can serve, learned from its config and its graph's inputs and
 * outputs. Whether the server implements a task is the task registry's business
 * (lib/orchestration/model-meta.ts filters with it).
 */
import type { TensorDescription } from "./backend.ts";
import type { TaskName } from "../request/task-names.ts";

/** The parts of config.json the detection reads. */
export interface HeadConfig {
  architectures?: string[];
  id2label?: Record<string, string>;
  problem_type?: string;
}

export interface Capabilities {
  tasks: TaskName[];
  embeddingModes: string[];
  id2label: Record<string, string>;
  multiLabel: boolean;
  /** Graph input names the tokenizer must feed (token_type_ids is absent for RoBERTa/DistilBERT). */
  inputNames: string[];
  /** Symbolic name of the sequence axis, used to find token-level axes in outputs. */
  sequenceDim: string | number | undefined;
}

const rankOf = (io: TensorDescription | undefined) => io?.shape.length ?? 0;

/** Inputs a tokenizer fills; a generative graph's other inputs (caches, positions) are the model's own business. */
const TOKENIZER_INPUTS = new Set(["input_ids", "attention_mask", "token_type_ids"]);

/**
 * `generative`: the model loaded as a text generator (lib/model/generation-folder.ts); then, and
 * for any graph with a KV cache (past_key_values.* in, present.* out), the one task is
 * generation: a decoder's [batch, seq, vocab] logits are not token classes.
 */
export function capabilitiesOf(config: HeadConfig, inputs: readonly TensorDescription[], outputs: readonly TensorDescription[], generative = false): Capabilities {
  const out = new Map(outputs.map((o) => [o.name, o]));
  const idsInput = inputs.find((i) => i.name === "input_ids");
  const kvCache = inputs.some((i) => i.name.startsWith("past_key_values.")) || outputs.some((o) => o.name.startsWith("present."));
  if (generative || kvCache) {
    return {
      tasks: ["generation"],
      embeddingModes: [],
      id2label: {},
      multiLabel: false,
      inputNames: inputs.map((i) => i.name).filter((n) => TOKENIZER_INPUTS.has(n)),
      sequenceDim: idsInput?.shape[1],
    };
  }
  const arch = (config.architectures ?? []).join(" ");
  const tasks: TaskName[] = [];
  const logits = out.get("logits");
  if (logits) {
    const tokenLevel = /TokenClassification/.test(arch) || rankOf(logits) === 3;
    tasks.push(tokenLevel ? "token-classification" : "sequence-classification");
  }
  if (out.has("start_logits") && out.has("end_logits")) tasks.push("question-answering");
  const embeddingModes: string[] = [];
  if (out.has("last_hidden_state")) {
    tasks.push("embedding");
    embeddingModes.push("mean", "max", "cls", "token");
    if (out.has("pooler_output")) embeddingModes.push("pooler");
  }
  return {
    tasks,
    embeddingModes,
    id2label: config.id2label ?? {},
    multiLabel: config.problem_type === "multi_label_classification",
    inputNames: inputs.map((i) => i.name),
    sequenceDim: idsInput?.shape[1],
  };
}
