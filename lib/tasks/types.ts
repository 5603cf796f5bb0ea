/** One file per task; each is a small pipeline: prepare (tokenize) → forward (batched) → finish. */
import type { LoadedModel } from "../inference/model.ts";
import type { Encoded } from "../tokenization/tokenizer.ts";
import type { NdArray } from "../tensor.ts";
import type { TaskRequest } from "../request/request.ts";
import type { FieldProblem } from "../errors.ts";
import type { TaskName } from "../request/task-names.ts";
import type { ExplainTarget } from "../explain/explain.ts";

export type { ModelFacts } from "../inference/facts.ts";
import type { ModelFacts } from "../inference/facts.ts";

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
  prepare(request: TaskRequest, model: LoadedModel): Promise<P>;
  /** Graph outputs the forward pass must produce. */
  outputs(request: TaskRequest, model: LoadedModel): string[];
  finish(prepared: P, items: Record<string, NdArray>[], request: TaskRequest, model: LoadedModel, output: OutputOptions): Record<string, unknown>;
  /** Tasks that can be explained (SPEC §7): each item's tokens and its own target, from the forward outputs. */
  explainTargets?(prepared: P, items: Record<string, NdArray>[], request: TaskRequest): ExplainTarget[];
}
