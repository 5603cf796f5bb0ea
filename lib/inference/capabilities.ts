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

export function capabilitiesOf(config: HeadConfig, inputs: readonly TensorDescription[], outputs: readonly TensorDescription[]): Capabilities {
  const out = new Map(outputs.map((o) => [o.name, o]));
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
  const idsInput = inputs.find((i) => i.name === "input_ids");
  return {
    tasks,
    embeddingModes,
    id2label: config.id2label ?? {},
    multiLabel: config.problem_type === "multi_label_classification",
    inputNames: inputs.map((i) => i.name),
    sequenceDim: idsInput?.shape[1],
  };
}
