/**
 * Request add-ons: features a request switches on beside its task (SPEC §7 explanations, §8
 * attacks, §9 adapters). Each is one file implementing RequestAddOn plus one line in registry.ts;
 * the gateway parses it with the request, the scheduler checks its readiness from the model's
 * metadata, and the orchestration runs it after the task's steps and puts its fields in the result.
 */
import type { TaskRequest } from "../request/request.ts";
import type { FieldProblem } from "../errors.ts";
import type { LoadedModel } from "../inference/model.ts";
import type { ModelFacts } from "../inference/facts.ts";
import type { AddOnFields, Parsed, TaskOutput, TaskPipeline } from "../tasks/types.ts";
import type { Encoded, TextItem } from "../tokenization/encoded.ts";

/** The request's task on other items, with the request's options (add-ons that predict again: attacks). */
export interface TaskRunner {
  /** The sequences the task would run for these items (windows included), without running the model. */
  tokenize(input: TextItem[]): Promise<Encoded[]>;
  /** The task on these items, as background work in the model's batcher: its finished state and output. */
  predict(input: TextItem[]): Promise<{ state: unknown; output: TaskOutput }>;
}

/** What an add-on's run sees: the request, the task's pipeline and its finished state, the model, and the task to run again. */
export interface AddOnRun {
  request: TaskRequest;
  pipeline: TaskPipeline;
  state: unknown;
  model: LoadedModel;
  task: TaskRunner;
}

/** The result fields an add-on fills and, for one that predicts on other items (attacks), the output that replaces the task's. */
export interface AddOnOutcome {
  fields: Partial<AddOnFields>;
  output?: TaskOutput;
}

export interface RequestAddOn<O = unknown> {
  /** The name readiness is announced under in model metadata. */
  readonly name: string;
  /** The request field that asks for it; its 422s name this field. */
  readonly field: keyof TaskRequest;
  wanted(request: TaskRequest): boolean;
  /** Typed options, or the problems (422); `pipeline` tells what the task offers. Called only when wanted. */
  parse(request: TaskRequest, pipeline: TaskPipeline, model: ModelFacts): Parsed<O>;
  /**
   * Makes the model ready to serve the add-on (on a replica), or throws the client error that
   * says why it cannot. Its outcome is announced in the model's metadata.
   */
  prepare(model: LoadedModel): Promise<void>;
  /** The result fields the add-on fills (and the output replacing the task's, if any). */
  run(options: O, run: AddOnRun): Promise<AddOnOutcome>;
}

export type { FieldProblem };
