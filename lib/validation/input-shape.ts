/** The shape `input` must have for each task, and checks of `is_preprocessed` arrays (SPEC §3). */
import type { FieldProblem } from "../errors.ts";
import type { TaskName } from "../tasks/task-names.ts";

type ItemKind = "single" | "pair";

const ACCEPTS: Readonly<Record<TaskName, readonly ItemKind[]>> = Object.freeze({
  "sequence-classification": ["single", "pair"],
  "token-classification": ["single", "pair"],
  embedding: ["single"],
  "question-answering": ["pair"],
  generation: ["single"],
});

const DESCRIBE: Record<ItemKind, string> = { single: "a string", pair: "a pair [text, text_pair] of strings" };

function kindOf(item: unknown): ItemKind | undefined {
  if (typeof item === "string") return "single";
  if (Array.isArray(item) && item.length === 2 && item.every((s) => typeof s === "string")) return "pair";
  return undefined;
}

export function textInputProblems(task: TaskName, input: unknown[]): FieldProblem[] {
  if (input.length === 0) return [{ field: "input", message: "must contain at least one item" }];
  const accepted = ACCEPTS[task];
  const expected = accepted.map((k) => DESCRIBE[k]).join(" or ");
  for (let i = 0; i < input.length; i++) {
    const kind = kindOf(input[i]);
    if (!kind || !accepted.includes(kind)) return [{ field: `input.${i}`, message: `${task} expects each item to be ${expected}` }];
  }
  const kinds = new Set(input.map(kindOf));
  if (kinds.size > 1) return [{ field: "input", message: "mixes single texts and pairs; send one kind per request" }];
  return [];
}

const isIntRows = (v: unknown): v is number[][] => Array.isArray(v) && v.every((r) => Array.isArray(r) && r.every((x) => Number.isInteger(x)));

export function preprocessedProblems(input: unknown, vocabSize: number, maxLength: number): FieldProblem[] {
  if (typeof input !== "object" || input === null || Array.isArray(input)) return [{ field: "input", message: "with is_preprocessed, input must be an object of input_ids, attention_mask and optional token_type_ids" }];
  const fields = input as Record<string, unknown>;
  const problems: FieldProblem[] = [];
  for (const name of Object.keys(fields)) {
    if (!["input_ids", "attention_mask", "token_type_ids"].includes(name)) problems.push({ field: `input.${name}`, message: "unknown field; expected input_ids, attention_mask, token_type_ids" });
  }
  for (const name of ["input_ids", "attention_mask"]) if (!(name in fields)) problems.push({ field: `input.${name}`, message: "is required with is_preprocessed" });
  for (const name of ["input_ids", "attention_mask", "token_type_ids"]) {
    if (name in fields && !isIntRows(fields[name])) problems.push({ field: `input.${name}`, message: "must be a list of lists of integers" });
  }
  if (problems.length) return problems;
  const ids = fields.input_ids as number[][];
  if (ids.length === 0) return [{ field: "input.input_ids", message: "must contain at least one row" }];
  for (const name of ["attention_mask", "token_type_ids"]) {
    const rows = fields[name] as number[][] | undefined;
    if (!rows) continue;
    if (rows.length !== ids.length) problems.push({ field: `input.${name}`, message: `has ${rows.length} rows, input_ids has ${ids.length}` });
    else rows.forEach((r, i) => { if (r.length !== ids[i].length) problems.push({ field: `input.${name}.${i}`, message: `has ${r.length} entries, input_ids row has ${ids[i].length} (ragged rows)` }); });
  }
  ids.forEach((r, i) => {
    if (r.length === 0) problems.push({ field: `input.input_ids.${i}`, message: "is empty" });
    if (r.length > maxLength) problems.push({ field: `input.input_ids.${i}`, message: `has ${r.length} tokens; the model accepts at most ${maxLength}` });
    const bad = r.find((x) => x < 0 || x >= vocabSize);
    if (bad !== undefined) problems.push({ field: `input.input_ids.${i}`, message: `id ${bad} is outside the vocabulary (0..${vocabSize - 1})` });
  });
  return problems;
}
