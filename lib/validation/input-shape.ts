/** The shape `input` must have for each task, and checks of `is_preprocessed` arrays (SPEC §3). */
import type { FieldProblem } from "../errors.ts";
import type { TaskName } from "../request/task-names.ts";
import type { RequestLimits } from "../config/limits.ts";
import { kindOf, DESCRIBE_KIND, ItemKind } from "../tasks/input-kinds.ts";
import { tokenTypeProblem } from "../tokenization/preprocessed.ts";

/** Text items against the kinds the task accepts (each task pipeline declares its own). */
export function textInputProblems(task: TaskName, accepted: readonly ItemKind[], input: unknown[]): FieldProblem[] {
  if (input.length === 0) return [{ field: "input", message: "must contain at least one item" }];
  const expected = accepted.map((k) => DESCRIBE_KIND[k]).join(" or ");
  for (let i = 0; i < input.length; i++) {
    const kind = kindOf(input[i]);
    if (!kind || !accepted.includes(kind)) return [{ field: `input.${i}`, message: `${task} expects each item to be ${expected}` }];
  }
  const kinds = new Set(input.map(kindOf));
  if (kinds.size > 1) return [{ field: "input", message: "mixes single texts and pairs; send one kind per request" }];
  return [];
}

const isIntRows = (v: unknown): v is number[][] => Array.isArray(v) && v.every((r) => Array.isArray(r) && r.every((x) => Number.isInteger(x)));

/**
 * `is_preprocessed` arrays. Rows of different lengths across items are fine (each item is its own
 * sequence; batching pads), but every field must have the same length as input_ids in each row.
 * `inputNames` (the graph's inputs), when known, lets a model without token_type_ids refuse
 * non-zero segments here rather than at the model.
 */
export function preprocessedProblems(input: unknown, vocabSize: number, maxLength: number, inputNames?: readonly string[]): FieldProblem[] {
  if (typeof input !== "object" || input === null || Array.isArray(input)) return [{ field: "input", message: "with is_preprocessed, input must be an object of input_ids, attention_mask and optional token_type_ids" }];
  const fields = input as Record<string, unknown>;
  const problems: FieldProblem[] = [];
  for (const name of Object.keys(fields)) {
    if (!["input_ids", "attention_mask", "token_type_ids"].includes(name)) problems.push({ field: `input.${name}`, message: "unknown field; expected input_ids, attention_mask, token_type_ids" });
  }
  for (const name of ["input_ids", "attention_mask"]) if (!Object.hasOwn(fields, name)) problems.push({ field: `input.${name}`, message: "is required with is_preprocessed" });
  for (const name of ["input_ids", "attention_mask", "token_type_ids"]) {
    if (Object.hasOwn(fields, name) && !isIntRows(fields[name])) problems.push({ field: `input.${name}`, message: "must be a list of lists of integers" });
  }
  if (problems.length) return problems;
  const ids = fields.input_ids as number[][];
  if (ids.length === 0) return [{ field: "input.input_ids", message: "must contain at least one row" }];
  for (const name of ["attention_mask", "token_type_ids"]) {
    const rows = fields[name] as number[][] | undefined;
    if (!rows) continue;
    if (rows.length !== ids.length) problems.push({ field: `input.${name}`, message: `has ${rows.length} rows, input_ids has ${ids.length}` });
    else rows.forEach((r, i) => { if (r.length !== ids[i].length) problems.push({ field: `input.${name}.${i}`, message: `has ${r.length} entries, input_ids row ${i} has ${ids[i].length} (ragged: each row must match input_ids)` }); });
  }
  if (problems.length) return problems;
  const masks = fields.attention_mask as number[][];
  ids.forEach((r, i) => {
    const mask = masks[i];
    let length = r.length;
    while (length > 0 && mask[length - 1] === 0) length--; // trailing padding is dropped before the model
    if (r.length === 0) problems.push({ field: `input.input_ids.${i}`, message: "is empty" });
    else if (length === 0) problems.push({ field: `input.attention_mask.${i}`, message: "masks every token; at least one must be 1" });
    if (length > maxLength) problems.push({ field: `input.input_ids.${i}`, message: `has ${length} tokens; the model accepts at most ${maxLength}` });
    const bad = r.find((x) => x < 0 || x >= vocabSize);
    if (bad !== undefined) problems.push({ field: `input.input_ids.${i}`, message: `id ${bad} is outside the vocabulary (0..${vocabSize - 1})` });
    if (mask.some((m) => m !== 0 && m !== 1)) problems.push({ field: `input.attention_mask.${i}`, message: "must hold only 0 and 1" });
  });
  const types = fields.token_type_ids as number[][] | undefined;
  types?.forEach((r, i) => {
    if (r.some((t) => t !== 0 && t !== 1)) problems.push({ field: `input.token_type_ids.${i}`, message: "must hold only 0 and 1 (segment ids)" });
  });
  const segments = inputNames ? tokenTypeProblem({ token_type_ids: types }, inputNames) : undefined;
  if (segments) problems.push(segments);
  return problems;
}

/** Items beyond this many in one 422 are summarised: the client learns the rule from the first ones. */
const LISTED = 10;

/** The number of items: `max_input` of the model, and the server's own bound (SPEC §12). Checked before any per-item work. */
export function itemCountProblems(count: number, maxInput: number, limits: RequestLimits): FieldProblem[] {
  if (count > limits.maxRequestItems && limits.maxRequestItems < maxInput) {
    return [{ field: "input", message: `has ${count} items; the server accepts at most ${limits.maxRequestItems} per request (max_request_items)` }];
  }
  if (count > maxInput) return [{ field: "input", message: `has ${count} items; this model accepts at most ${maxInput} per request (max_input)` }];
  return [];
}

/** Characters of text items (already checked to be strings or pairs): per item, a pair's texts together, and per request. */
export function textSizeProblems(input: readonly (string | readonly string[])[], limits: RequestLimits): FieldProblem[] {
  const problems: FieldProblem[] = [];
  let total = 0;
  let tooLong = 0;
  input.forEach((item, i) => {
    const chars = typeof item === "string" ? item.length : item.reduce((sum, text) => sum + text.length, 0);
    total += chars;
    if (chars > limits.maxItemChars && tooLong++ < LISTED) {
      problems.push({ field: `input.${i}`, message: `has ${chars} characters; the server accepts at most ${limits.maxItemChars} per item${typeof item === "string" ? "" : " (both texts of a pair together)"} (max_item_chars)` });
    }
  });
  if (tooLong > LISTED) problems.push({ field: "input", message: `${tooLong - LISTED} more items are longer than ${limits.maxItemChars} characters (max_item_chars)` });
  if (total > limits.maxRequestChars) problems.push({ field: "input", message: `has ${total} characters in all; the server accepts at most ${limits.maxRequestChars} per request (max_request_chars)` });
  return problems;
}

/**
 * `is_preprocessed` arrays by size, before their values are read: every field's rows × length
 * (padding included) against the token bound. Shapes that are not lists of lists are left to
 * preprocessedProblems, which names them.
 */
export function preprocessedSizeProblems(input: unknown, limits: RequestLimits): FieldProblem[] {
  if (typeof input !== "object" || input === null || Array.isArray(input)) return [];
  const problems: FieldProblem[] = [];
  for (const name of ["input_ids", "attention_mask", "token_type_ids"]) {
    const rows = Object.hasOwn(input, name) ? (input as Record<string, unknown>)[name] : undefined;
    if (!Array.isArray(rows)) continue;
    const positions = rows.reduce((sum: number, row: unknown) => sum + (Array.isArray(row) ? row.length : 1), 0);
    if (positions > limits.maxRequestTokens) {
      problems.push({ field: `input.${name}`, message: `has ${positions} token positions (rows × length, padding included); the server accepts at most ${limits.maxRequestTokens} per request (max_request_tokens)` });
    }
  }
  return problems;
}
