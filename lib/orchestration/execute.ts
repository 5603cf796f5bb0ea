/** Runs one task end to end on a loaded model, timing each stage (SPEC §4 `timings`). */
import type { LoadedModel } from "../inference/model.ts";
import type { TaskRequest } from "../request/request.ts";
import type { TaskName } from "../request/task-names.ts";
import { pipelineFor } from "../tasks/registry.ts";
import { invalid } from "../errors.ts";
import type { OutputOptions, Prepared, TaskPipeline } from "../tasks/types.ts";
import type { NdArray } from "../tensor.ts";
import { explainOptions, NOT_EXPLAINABLE } from "../explain/options.ts";
import { explainTargets } from "../explain/explain.ts";

export interface StageTimings {
  tokenize_ms: number;
  /** Part of inference_ms spent waiting for a batch to start (cross-request batching). */
  batch_wait_ms: number;
  inference_ms: number;
  postprocess_ms: number;
  /** Gradient and attention passes of `explain_kwargs` (0 when not asked for). */
  explain_ms: number;
}

export async function executeTask(
  task: TaskName,
  request: TaskRequest,
  model: LoadedModel,
  output: OutputOptions = { plaintext: model.settings.return_plaintext_arrays },
): Promise<{ result: Record<string, unknown>; timings: StageTimings }> {
  const pipeline = pipelineFor(task);
  if (!pipeline || !model.capabilities.tasks.includes(task)) throw invalid(`this model does not support ${task}`, "task");
  const t0 = performance.now();
  const prepared = await pipeline.prepare(request, model);
  const t1 = performance.now();
  const forward = await model.forward(prepared.sequences, pipeline.outputs(request, model));
  const t2 = performance.now();
  const result = pipeline.finish(prepared, forward.items, request, model, output);
  const t3 = performance.now();
  const attributions = await explain(pipeline, prepared, forward.items, request, model);
  if (attributions) result.attributions = attributions;
  const t4 = performance.now();
  return { result, timings: { tokenize_ms: t1 - t0, batch_wait_ms: forward.batchWaitMs, inference_ms: t2 - t1, postprocess_ms: t3 - t2, explain_ms: t4 - t3 } };
}

/** SPEC §7 attributions when `explain_kwargs` asks for them; every item against its own target. */
async function explain(pipeline: TaskPipeline, prepared: Prepared, items: Record<string, NdArray>[], request: TaskRequest, model: LoadedModel) {
  const options = explainOptions(request.explain_kwargs);
  if (!options) return undefined;
  if (!pipeline.explainTargets) throw invalid(NOT_EXPLAINABLE, "explain_kwargs");
  return explainTargets(pipeline.explainTargets(prepared, items, request), options, await model.gradientBackend());
}
