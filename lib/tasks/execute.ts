/** Runs one task end to end on a loaded model, timing each stage (SPEC §4 `timings`). */
import type { ModelRuntime } from "../model/runtime.ts";
import type { TaskRequest } from "./request.ts";
import type { TaskName } from "./task-names.ts";
import { pipelineFor } from "./registry.ts";
import { invalid } from "../errors.ts";
import type { OutputOptions } from "./types.ts";

export interface StageTimings {
  tokenize_ms: number;
  /** Part of inference_ms spent waiting for a batch to start (cross-request batching). */
  batch_wait_ms: number;
  inference_ms: number;
  postprocess_ms: number;
}

export async function executeTask(
  task: TaskName,
  request: TaskRequest,
  model: ModelRuntime,
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
  return { result, timings: { tokenize_ms: t1 - t0, batch_wait_ms: forward.batchWaitMs, inference_ms: t2 - t1, postprocess_ms: t3 - t2 } };
}
