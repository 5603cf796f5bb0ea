/** Everything checked at the gateway before a task exists (SPEC §3); one 422 listing every problem. */
import { invalidFields, FieldProblem } from "../errors.ts";
import type { ModelMeta } from "../model/metadata.ts";
import { withDefaults, itemCount, TaskRequest } from "../request/request.ts";
import type { TaskName } from "../request/task-names.ts";
import { pipelineFor } from "../tasks/registry.ts";
import { bodyShapeProblems } from "./body-schema.ts";
import { textInputProblems, preprocessedProblems, itemCountProblems, textSizeProblems, preprocessedSizeProblems } from "./input-shape.ts";
import { preprocessingProblems } from "./preprocessing-options.ts";
import { checkExplainKwargs, NOT_EXPLAINABLE } from "../explain/options.ts";
import { DEFAULT_LIMITS, RequestLimits } from "../config/limits.ts";

/** `limits`: the server's bounds on request size (SPEC §12); the configured ones at the gateway. */
export function validateRequest(body: unknown, task: TaskName, model: ModelMeta, limits: RequestLimits = DEFAULT_LIMITS): TaskRequest {
  const pipeline = pipelineFor(task);
  if (!pipeline || !model.tasks.includes(task)) {
    const can = model.tasks.length ? model.tasks.join(", ") : "no task";
    throw invalidFields([{ field: "task", message: `this model does not support ${task}; it supports ${can}` }]);
  }
  const shape = bodyShapeProblems(body);
  if (shape.length) throw invalidFields(shape);
  const request = withDefaults(body as TaskRequest);
  const problems: FieldProblem[] = [...inputProblems(request, task, model, limits), ...featureProblems(request, model, pipeline.explainTargets !== undefined)];
  if (problems.length === 0) problems.push(...pipeline.check(request, model));
  if (problems.length) throw invalidFields(problems);
  return request;
}

/** Sizes first (cheap, and they bound the work of every later check), then shapes and values. */
function inputProblems(request: TaskRequest, task: TaskName, model: ModelMeta, limits: RequestLimits): FieldProblem[] {
  const sizes = [...itemCountProblems(itemCount(request), model.maxInput, limits), ...(request.is_preprocessed ? preprocessedSizeProblems(request.input, limits) : [])];
  if (sizes.length) return sizes;
  const problems = request.is_preprocessed
    ? preprocessedProblems(request.input, model.vocabSize, model.maxLength, model.inputNames)
    : Array.isArray(request.input)
      ? textInputProblems(task, request.input)
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
  return preprocessingProblems(request, task, model);
}

/** `explain_kwargs` (SPEC §7): only for tasks with explanation targets, only on text, with valid options. */
function explainProblems(request: TaskRequest, explainable: boolean): FieldProblem[] {
  if (Object.keys(request.explain_kwargs).length === 0) return [];
  if (!explainable) return [{ field: "explain_kwargs", message: NOT_EXPLAINABLE }];
  if (request.is_preprocessed) return [{ field: "explain_kwargs", message: "explanations score words of the text; send text, not is_preprocessed input" }];
  return checkExplainKwargs(request.explain_kwargs);
}

/** Features other issues implement are refused clearly rather than ignored. */
function featureProblems(request: TaskRequest, model: ModelMeta, explainable: boolean): FieldProblem[] {
  const problems: FieldProblem[] = [];
  problems.push(...explainProblems(request, explainable));
  if (Object.keys(request.attack_kwargs).length) problems.push({ field: "attack_kwargs", message: "adversarial attacks are not available on this server yet" });
  const adapters = Array.isArray(request.adapter_name) ? request.adapter_name : request.adapter_name ? [request.adapter_name] : [];
  if (adapters.length && model.adapters.length === 0) problems.push({ field: "adapter_name", message: "this model has no adapters" });
  return problems;
}
