/**
 * Runs one task end to end on a loaded model, timing each stage (SPEC §4 `timings`): parse the
 * options, start the pipeline, run its forward steps until it has what it needs, finish, run the
 * request's add-ons, and give the result its shared fields.
 */
import type { LoadedModel } from "../inference/model.ts";
import type { TaskRequest } from "../request/request.ts";
import type { TaskName } from "../request/task-names.ts";
import { pipelineFor } from "../tasks/registry.ts";
import { invalid, invalidFields } from "../errors.ts";
import type { AddOnFields, OutputOptions, PipelineStep, ProgressEvent, StepItem, TaskOutput, TaskPipeline } from "../tasks/types.ts";
import { forwardSequences } from "../tasks/types.ts";
import { parseAddOns, WantedAddOn } from "../addons/registry.ts";
import type { TaskRunner } from "../addons/types.ts";
import type { TextItem } from "../tokenization/encoded.ts";
import { resultEnvelope, TaskResult } from "./result-envelope.ts";

export interface StageTimings {
  tokenize_ms: number;
  /** Part of inference_ms spent waiting for a batch to start (cross-request batching), over all steps. */
  batch_wait_ms: number;
  inference_ms: number;
  postprocess_ms: number;
  /** Add-on passes, e.g. the gradient and attention passes of `explain_kwargs` (0 when none is asked for). */
  explain_ms: number;
}

/** A pipeline that keeps asking for steps is a bug; this bounds the loop (generation stops far earlier, at its token limit). */
export const MAX_STEPS = 100_000;

export async function executeTask(
  task: TaskName,
  request: TaskRequest,
  model: LoadedModel,
  output: OutputOptions = { plaintext: model.settings.return_plaintext_arrays },
  parsed?: ParsedOptions,
  hooks?: RunHooks,
): Promise<{ result: TaskResult; timings: StageTimings }> {
  const pipeline = pipelineFor(task);
  if (!pipeline || !model.capabilities.tasks.includes(task)) throw invalid(`this model does not support ${task}`, "task");
  return runPipeline(pipeline, request, model, output, parsed, hooks);
}

/** Options already parsed in this process (a model actor's task action validates first); a queued request is parsed here. */
export interface ParsedOptions {
  options: unknown;
  addOns: WantedAddOn[];
}

/** Any pipeline, registered or not (tests run looping pipelines through this same code). */
export async function runPipeline(pipeline: TaskPipeline, request: TaskRequest, model: LoadedModel, output: OutputOptions, parsed?: ParsedOptions, hooks: RunHooks = {}): Promise<{ result: TaskResult; timings: StageTimings }> {
  const t0 = performance.now();
  const { options, addOns } = parsed ?? parseAll(pipeline, request, model);
  const state = await pipeline.start(request, options, model);
  if (hooks.onProgress) pipeline.observe?.(state, hooks.onProgress);
  const t1 = performance.now();
  const { batchWaitMs } = await runSteps(pipeline, state, model, "interactive", hooks.signal);
  const t2 = performance.now();
  const taskOutput = await pipeline.finish(state, model);
  const t3 = performance.now();
  const filled = await runAddOns(addOns, { request, pipeline, state, model, task: taskRunner(pipeline, request, options, model) });
  const t4 = performance.now();
  const result = resultEnvelope(pipeline, filled.output ?? taskOutput, filled.fields, output);
  const t5 = performance.now();
  return { result, timings: { tokenize_ms: t1 - t0, batch_wait_ms: batchWaitMs, inference_ms: t2 - t1, postprocess_ms: t3 - t2 + (t5 - t4), explain_ms: t4 - t3 } };
}

/** The task's options and the add-ons', parsed against the model itself (the gateway parsed against its metadata). */
function parseAll(pipeline: TaskPipeline, request: TaskRequest, model: LoadedModel): ParsedOptions {
  const parsed = pipeline.parse(request, model.facts);
  const addOns = parseAddOns(request, pipeline, model.facts);
  const problems = [...addOns.problems, ...(parsed.ok ? [] : parsed.problems)];
  if (problems.length || !parsed.ok) throw invalidFields(problems);
  return { options: parsed.options, addOns: addOns.wanted };
}

/** How a run may be watched and stopped (streaming): progress events, and a signal that ends it between steps. */
export interface RunHooks {
  onProgress?: (event: ProgressEvent) => void;
  signal?: AbortSignal;
}

/** prepare → step → … → finish: each step's work goes through the model's batcher with everyone else's. */
export async function runSteps(pipeline: TaskPipeline, state: unknown, model: LoadedModel, priority: "interactive" | "background" = "interactive", signal?: AbortSignal): Promise<{ steps: number; batchWaitMs: number }> {
  let steps = 0;
  let batchWaitMs = 0;
  for (let step = pipeline.next(state); step; step = pipeline.next(state)) {
    if (++steps > MAX_STEPS) throw new Error(`${pipeline.name} asked for more than ${MAX_STEPS} forward steps`);
    signal?.throwIfAborted();
    const done = await runStep(step, model, priority);
    batchWaitMs += done.batchWaitMs;
    await pipeline.absorb(state, done.items);
  }
  return { steps, batchWaitMs };
}

async function runStep(step: PipelineStep, model: LoadedModel, priority: "interactive" | "background"): Promise<{ items: readonly StepItem[]; batchWaitMs: number }> {
  switch (step.kind) {
    case undefined:
    case "forward":
      return model.forward([...step.sequences], step.outputs, priority);
    case "encode-prompts":
      return { items: await generationOf(model).encode(step.prompts, priority), batchWaitMs: 0 };
    case "generate":
      return { items: await generationOf(model).step(step.rows, priority), batchWaitMs: 0 };
  }
}

const generationOf = (model: LoadedModel) => {
  if (!model.generation) throw new Error("a generation step on a model that does not generate (the task registry prevents this)");
  return model.generation;
};

/** Add-ons in registry order; the last one that replaces the task's output (an attack's variants) wins. */
async function runAddOns(addOns: readonly WantedAddOn[], run: Parameters<WantedAddOn["addOn"]["run"]>[1]): Promise<{ fields: Partial<AddOnFields>; output?: TaskOutput }> {
  const fields: Partial<AddOnFields> = {};
  let output: TaskOutput | undefined;
  for (const { addOn, options } of addOns) {
    const outcome = await addOn.run(options, run);
    Object.assign(fields, outcome.fields);
    output = outcome.output ?? output;
  }
  return { fields, output };
}

/** The request's task on other items with the request's parsed options; its forward passes are background work. */
function taskRunner(pipeline: TaskPipeline, request: TaskRequest, options: unknown, model: LoadedModel): TaskRunner {
  const start = (input: TextItem[]) => pipeline.start({ ...request, input, is_preprocessed: false }, options, model);
  return {
    async tokenize(input) {
      return [...forwardSequences(pipeline.next(await start(input)))];
    },
    async predict(input) {
      const state = await start(input);
      await runSteps(pipeline, state, model, "background");
      return { state, output: await pipeline.finish(state, model) };
    },
  };
}
