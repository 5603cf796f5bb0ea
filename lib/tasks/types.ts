/** One file per task; each is a small pipeline: prepare (tokenize) → forward (batched) → finish. */
import type { ModelRuntime } from "../model/runtime.ts";
import type { Encoded } from "../tokenization/tokenizer.ts";
import type { NdArray } from "../tensor.ts";
import type { TaskRequest } from "./request.ts";
import type { FieldProblem } from "../errors.ts";
import type { TaskName } from "./task-names.ts";
import type { ExplainTarget } from "../explain/explain.ts";
import type { SpecialTokenCounts } from "../tokenization/bounds.ts";

/** What the gateway knows of a model without loading it (from service metadata). */
export interface ModelFacts {
  tasks: readonly TaskName[];
  embeddingModes: readonly string[];
  maxLength: number;
  outputNames: readonly string[];
  /** Why the graph cannot offer attentions/hidden states, when it cannot. */
  extraOutputsUnavailable?: string;
  /**
   * Special tokens the tokenizer adds to one text and to a pair, for range checks of max_length,
   * stride and the QA window options. Absent in metadata from replicas that predate it; the
   * tokenizer then refuses what the gateway could not check.
   */
  specialTokens?: SpecialTokenCounts;
}

export interface OutputOptions {
  /** Plain nested lists instead of base64 `.npy` (SPEC §5). */
  plaintext: boolean;
}

export interface Prepared {
  sequences: Encoded[];
}

export interface TaskPipeline<P extends Prepared = Prepared> {
  readonly name: TaskName;
  /** Model-aware checks of task options, done at the gateway before a task exists. */
  check(request: TaskRequest, model: ModelFacts): FieldProblem[];
  prepare(request: TaskRequest, model: ModelRuntime): Promise<P>;
  /** Graph outputs the forward pass must produce. */
  outputs(request: TaskRequest, model: ModelRuntime): string[];
  finish(prepared: P, items: Record<string, NdArray>[], request: TaskRequest, model: ModelRuntime, output: OutputOptions): Record<string, unknown>;
  /** Tasks that can be explained (SPEC §7): each item's tokens and its own target, from the forward outputs. */
  explainTargets?(prepared: P, items: Record<string, NdArray>[], request: TaskRequest): ExplainTarget[];
}
