/** Everything checked at the gateway before a task exists (SPEC §3); one 422 listing every problem. */
import { invalidFields, FieldProblem } from "../errors.ts";
import type { ModelMeta } from "../model/metadata.ts";
import { withDefaults, itemCount, TaskRequest } from "../request/request.ts";
import type { TaskName } from "../request/task-names.ts";
import { pipelineFor } from "../tasks/registry.ts";
import type { TaskPipeline } from "../tasks/types.ts";
import { parseAddOns, WantedAddOn } from "../addons/registry.ts";
import { missingAdapterProblems } from "../addons/adapters.ts";
import { bodyShapeProblems } from "./body-schema.ts";
import { textInputProblems, preprocessedProblems, itemCountProblems, textSizeProblems, preprocessedSizeProblems } from "./input-shape.ts";
import { preprocessingProblems } from "./preprocessing-options.ts";
import { DEFAULT_LIMITS, RequestLimits } from "../config/limits.ts";

/** A request the gateway accepted: defaults filled, the task's options and the add-ons' parsed. */
export interface ParsedRequest {
  request: TaskRequest;
  options: unknown;
  addOns: WantedAddOn[];
}

/** `limits`: the server's bounds on request size (SPEC §12); the configured ones at the gateway. */
export function validateRequest(body: unknown, task: TaskName, model: ModelMeta, limits: RequestLimits = DEFAULT_LIMITS): TaskRequest {
  return parseRequest(body, task, model, limits).request;
}

/** Problems in this order: the body's shape; sizes, input and preprocessing; add-ons and features; then the task's own options. */
export function parseRequest(body: unknown, task: TaskName, model: ModelMeta, limits: RequestLimits = DEFAULT_LIMITS): ParsedRequest {
  const pipeline = pipelineFor(task);
  if (!pipeline || !model.tasks.includes(task)) {
    const can = model.tasks.length ? model.tasks.join(", ") : "no task";
    throw invalidFields([{ field: "task", message: `this model does not support ${task}; it supports ${can}` }]);
  }
  const shape = bodyShapeProblems(body);
  if (shape.length) throw invalidFields(shape);
  const request = withDefaults(body as TaskRequest);
  const addOns = parseAddOns(request, pipeline, model);
  const problems: FieldProblem[] = [...inputProblems(request, pipeline, model, limits), ...addOns.problems, ...missingAdapterProblems(task, request, model)];
  if (problems.length) throw invalidFields(problems);
  const parsed = pipeline.parse(request, model);
  if (!parsed.ok) throw invalidFields(parsed.problems);
  return { request, options: parsed.options, addOns: addOns.wanted };
}

/** Sizes first (cheap, and they bound the work of every later check), then shapes and values. */
function inputProblems(request: TaskRequest, pipeline: TaskPipeline, model: ModelMeta, limits: RequestLimits): FieldProblem[] {
  const task = pipeline.name;
  const sizes = [...itemCountProblems(itemCount(request), model.maxInput, limits), ...(request.is_preprocessed ? preprocessedSizeProblems(request.input, limits) : [])];
  if (sizes.length) return sizes;
  const problems = request.is_preprocessed
    ? preprocessedProblems(request.input, model.vocabSize, model.maxLength, model.inputNames)
    : Array.isArray(request.input)
      ? textInputProblems(task, pipeline.accepts, request.input)
      : [{ field: "input", message: "must be a list of texts (or set is_preprocessed for tokenized arrays)" }];
  if (problems.length) return problems;
  if (!request.is_preprocessed) {
    const text = textSizeProblems(request.input as (string | string[])[], limits);
    if (text.length) return text;
  }
  const truncation = request.preprocessing_kwargs.truncation;
  if (!request.is_preprocessed && truncation === "only_second" && (request.input as unknown[]).some((x) => typeof x === "string")) {
    return [{ field: "preprocessing_kwargs.truncation", message: "only_second needs pairs; these items are single texts" }];
  }
  return preprocessingProblems(request, pipeline, model);
}
