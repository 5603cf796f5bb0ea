/**
 * Task- and model-aware checks of `preprocessing_kwargs` (SPEC §3); the body schema already
 * checked names and types. What each option does:
 *  - classification, token classification, embedding: `max_length` (≤ the model's, and room for
 *    the special tokens plus one text token), `truncation`, `add_special_tokens`; one result row per
 *    item, so `return_overflowing_tokens: true` is refused. `stride`, as in Hugging Face tokenizers,
 *    only shapes overflow windows, so it has no effect on these tasks; it is still accepted (clients
 *    send it along) and range-checked as Hugging Face's tokenizer would (below `max_length` minus
 *    the items' special tokens), so a value that would abort the tokenizer is a 422 naming it;
 *  - question answering (a task that `windowsLongInputs`): the task always windows long contexts; `max_length` and `stride` stand in
 *    for `task_kwargs.max_seq_len` and `doc_stride` when those are absent (and are range-checked
 *    as those, in lib/tasks/qa-options.ts),
 *    `return_overflowing_tokens: false` keeps only the first window, truncation applies to the
 *    context only, and special tokens are required to tell question from context;
 *  - `padding` is accepted and has no effect: the batcher pads.
 * With `is_preprocessed` nothing is tokenized, so tokenizer options and text-only task options
 * (each task's `preprocessedProblems`) are refused rather than silently ignored.
 */
import type { FieldProblem } from "../errors.ts";
import type { TaskRequest } from "../request/request.ts";
import type { ModelFacts, TaskPipeline } from "../tasks/types.ts";
import { truncationProblems, kindsOf } from "../tokenization/bounds.ts";

const PADDING = [true, false, "longest", "max_length", "do_not_pad"];
type TaskRules = Pick<TaskPipeline, "name" | "windowsLongInputs" | "preprocessedProblems">;

export function preprocessingProblems(request: TaskRequest, task: TaskRules, model: Pick<ModelFacts, "maxLength" | "specialTokens">): FieldProblem[] {
  const maxLength = model.maxLength;
  const kw = request.preprocessing_kwargs;
  const problems: FieldProblem[] = [];
  const field = (key: string) => `preprocessing_kwargs.${key}`;
  if (kw.padding !== undefined && !PADDING.includes(kw.padding as never)) {
    problems.push({ field: field("padding"), message: `must be one of ${PADDING.map((p) => JSON.stringify(p)).join(", ")} (it has no effect: the batcher pads)` });
  }
  if (request.is_preprocessed) {
    for (const key of Object.keys(kw)) if (key !== "padding") problems.push({ field: field(key), message: "has no effect with is_preprocessed: the input is already tokenized" });
    // Task options that only make sense on text, as each task knows them.
    problems.push(...(task.preprocessedProblems?.(request) ?? []));
    return problems;
  }
  if (kw.add_special_tokens === false) {
    // Without special tokens an empty text is a sequence of no tokens, which no model can run.
    const items = request.input as (string | [string, string])[];
    const empty = items.findIndex((item) => (typeof item === "string" ? item : item.join("")).length === 0);
    if (empty >= 0) problems.push({ field: `input.${empty}`, message: "is empty; with add_special_tokens false it would have no tokens at all" });
  }
  if (task.windowsLongInputs) {
    if (kw.max_length !== undefined && kw.max_length > maxLength) problems.push({ field: field("max_length"), message: `is ${kw.max_length}; must be between 1 and ${maxLength}: this model accepts at most ${maxLength} tokens` });
    if (kw.add_special_tokens === false) problems.push({ field: field("add_special_tokens"), message: "must stay true for question answering: the special tokens separate question and context" });
    if (kw.truncation !== undefined && kw.truncation !== true && kw.truncation !== "only_second") {
      problems.push({ field: field("truncation"), message: "question answering truncates (windows) the context only; use true or \"only_second\"" });
    }
  } else {
    if (kw.return_overflowing_tokens === true) {
      problems.push({ field: field("return_overflowing_tokens"), message: `${task.name} returns one row per item; long inputs are truncated (question answering windows long contexts itself)` });
    }
    problems.push(...lengthProblems(request, model));
  }
  return problems;
}

/**
 * `max_length` and `stride` against the items' special tokens (only the options the request sets
 * are reported). Metadata without special-token counts (an older replica) checks the model's
 * maximum only; the tokenizer refuses the rest before it reaches native code.
 */
function lengthProblems(request: TaskRequest, model: Pick<ModelFacts, "maxLength" | "specialTokens">): FieldProblem[] {
  const kw = request.preprocessing_kwargs;
  if (kw.max_length === undefined && kw.stride === undefined) return [];
  const values = {
    maxLength: kw.max_length ?? model.maxLength,
    stride: kw.stride,
    truncating: kw.truncation !== false && kw.truncation !== "do_not_truncate",
    addSpecialTokens: kw.add_special_tokens ?? true,
  };
  const problems = truncationProblems(values, kindsOf(request.input as unknown[]), model.specialTokens ?? { single: 0, pair: 0 }, model.maxLength);
  const given = new Set(["max_length", "stride"].filter((k) => kw[k as "max_length" | "stride"] !== undefined).map((k) => `preprocessing_kwargs.${k}`));
  return problems.filter((p) => given.has(p.field));
}
