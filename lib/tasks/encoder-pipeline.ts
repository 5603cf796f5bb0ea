/**
 * The one-step shape of an encoder task (classification, token classification, embedding,
 * extractive QA): prepare the sequences, one forward pass for the outputs the options ask for,
 * then finish from the outputs. It is a TaskPipeline like any other; only the loop is trivial.
 */
import type { LoadedModel } from "../inference/model.ts";
import type { NdArray } from "../tensor.ts";
import type { TaskRequest } from "../request/request.ts";
import type { ExplainTarget } from "../explain/explain.ts";
import type { ItemKind } from "./input-kinds.ts";
import type { AddOnFields, AttackSubject, StepItem, ModelFacts, Parsed, Prepared, TaskOutput, TaskPipeline } from "./types.ts";
import type { TaskName } from "../request/task-names.ts";
import type { FieldProblem } from "../errors.ts";
import { adapterChoiceOf, withAdapter } from "../inference/adapters.ts";

export interface EncoderTask<O, P extends Prepared> {
  readonly name: TaskName;
  readonly accepts: readonly ItemKind[];
  readonly addOnFields?: Readonly<AddOnFields>;
  readonly windowsLongInputs?: boolean;
  preprocessedProblems?(request: TaskRequest): FieldProblem[];
  parse(request: TaskRequest, model: ModelFacts): Parsed<O>;
  prepare(request: TaskRequest, options: O, model: LoadedModel): Promise<P>;
  /** Graph outputs the forward pass must produce. */
  outputs(options: O): string[];
  /** May be async: post-processing of large results yields the event loop between pieces. */
  finish(run: EncoderRun<O, P>, model: LoadedModel): TaskOutput | Promise<TaskOutput>;
  explainTargets?(run: EncoderRun<O, P>): ExplainTarget[];
  attackSubjects?(run: EncoderRun<O, P>): AttackSubject[];
}

/** The state of an encoder task: its request and options, the prepared sequences and, after the step, their outputs. */
export interface EncoderRun<O, P extends Prepared> {
  request: TaskRequest;
  options: O;
  prepared: P;
  items: Record<string, NdArray>[];
  done: boolean;
}

export function encoderPipeline<O, P extends Prepared>(task: EncoderTask<O, P>): TaskPipeline<O, EncoderRun<O, P>> {
  const explain = task.explainTargets;
  const attack = task.attackSubjects;
  return Object.freeze({
    name: task.name,
    accepts: task.accepts,
    addOnFields: task.addOnFields,
    windowsLongInputs: task.windowsLongInputs,
    ...(task.preprocessedProblems ? { preprocessedProblems: task.preprocessedProblems } : {}),
    parse: (request: TaskRequest, model: ModelFacts) => task.parse(request, model),
    async start(request: TaskRequest, options: O, model: LoadedModel): Promise<EncoderRun<O, P>> {
      const prepared = await task.prepare(request, options, model);
      // The request's adapter (SPEC §9) rides on its sequences: the model feeds it as each row's adapter_weights.
      const choice = adapterChoiceOf(request);
      if (choice) prepared.sequences = withAdapter(prepared.sequences, choice);
      return { request, options, prepared, items: [], done: false };
    },
    next: (run: EncoderRun<O, P>) => (run.done ? undefined : { sequences: run.prepared.sequences, outputs: task.outputs(run.options) }),
    absorb(run: EncoderRun<O, P>, items: readonly StepItem[]) {
      run.items = items as Record<string, NdArray>[];
      run.done = true;
    },
    finish: (run: EncoderRun<O, P>, model: LoadedModel) => task.finish(run, model),
    ...(explain ? { explainTargets: (run: EncoderRun<O, P>) => explain(run) } : {}),
    ...(attack ? { attackSubjects: (run: EncoderRun<O, P>) => attack(run) } : {}),
  });
}
