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
import type { AddOnFields, Parsed, TaskPipeline } from "../tasks/types.ts";

/** What an add-on's run sees: the task's pipeline and its finished state, and the model. */
export interface AddOnRun {
  pipeline: TaskPipeline;
  state: unknown;
  model: LoadedModel;
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
  /** The result fields the add-on fills. */
  run(options: O, run: AddOnRun): Promise<Partial<AddOnFields>>;
}

export type { FieldProblem };
