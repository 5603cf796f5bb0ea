/**
 * The one place a task's result gets its shared fields (SPEC §5-§6): `model_outputs` rendered
 * as plain lists or base64 `.npy`, `model_output_is_encoded`, and the add-on fields
 * (`attributions`, `questions`, `contexts`, `adversarial`) at the task's SPEC values unless an
 * add-on filled them. `timings` is added by whoever records the task (deliveries, task actions).
 */
import { renderOutputs } from "../encoding/arrays.ts";
import type { AddOnFields, OutputOptions, TaskOutput, TaskPipeline } from "../tasks/types.ts";

export type TaskResult = Record<string, unknown> & {
  model_outputs: Record<string, unknown>;
  model_output_is_encoded: boolean;
} & Partial<AddOnFields>;

export function resultEnvelope(pipeline: TaskPipeline, output: TaskOutput, filled: Partial<AddOnFields>, options: OutputOptions): TaskResult {
  const result: TaskResult = {
    ...output.fields,
    model_outputs: renderOutputs(output.arrays, options.plaintext),
    model_output_is_encoded: !options.plaintext,
  };
  if (pipeline.addOnFields) Object.assign(result, pipeline.addOnFields, filled);
  return result;
}
