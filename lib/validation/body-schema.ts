/** The SPEC §3 body shape, checked with fastest-validator; problems come back as field messages. */
import { createRequire } from "node:module";
import type { FieldProblem } from "../errors.ts";

// The package is CommonJS (`module.exports = Validator`) while its typings declare a default export.
const Validator = createRequire(import.meta.url)("fastest-validator") as typeof import("fastest-validator").default;
const v = new Validator({ useNewCustomCheckerFunction: true });

const bodySchema = {
  $$strict: "remove",
  input: { type: "multi", rules: [{ type: "array" }, { type: "object" }] },
  is_preprocessed: { type: "boolean", optional: true },
  preprocessing_kwargs: {
    type: "object",
    optional: true,
    strict: true,
    props: {
      max_length: { type: "number", integer: true, positive: true, optional: true },
      truncation: { type: "multi", optional: true, rules: [{ type: "boolean" }, { type: "enum", values: ["only_first", "only_second", "longest_first", "do_not_truncate"] }] },
      padding: { type: "any", optional: true },
      add_special_tokens: { type: "boolean", optional: true },
      stride: { type: "number", integer: true, min: 0, optional: true },
      return_overflowing_tokens: { type: "boolean", optional: true },
    },
  },
  model_kwargs: { type: "object", optional: true },
  task_kwargs: { type: "object", optional: true },
  explain_kwargs: { type: "object", optional: true },
  attack_kwargs: { type: "object", optional: true },
  adapter_name: { type: "multi", optional: true, rules: [{ type: "string" }, { type: "array", items: "string" }] },
};

const checkBody = v.compile(bodySchema as never) as (value: unknown) => true | { field?: string; message?: string }[];

export function bodyShapeProblems(body: unknown): FieldProblem[] {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return [{ field: "body", message: "must be a JSON object" }];
  if (!("input" in body)) return [{ field: "input", message: "is required" }];
  const result = checkBody(body);
  if (result === true) return [];
  const seen = new Set<string>();
  return result
    .flatMap(unknownKeyProblems)
    .map((e) => ({ field: String(e.field ?? "body"), message: String(e.message ?? "is invalid").replace(/^The '[^']*' field /, "") }))
    .filter((p) => (seen.has(p.field) ? false : (seen.add(p.field), true)));
}

const PREPROCESSING_KEYS = Object.keys(bodySchema.preprocessing_kwargs.props);

/** fastest-validator reports unknown keys of a strict object as one message; name each key instead. */
function unknownKeyProblems(e: { field?: string; message?: string }): { field?: string; message?: string }[] {
  const keys = /contains forbidden keys: (.*)\.$/.exec(String(e.message ?? ""))?.[1];
  if (!keys || e.field !== "preprocessing_kwargs") return [e];
  return keys.split(", ").map((k) => ({ field: `preprocessing_kwargs.${k.replace(/^'|'$/g, "")}`, message: `unknown option; known: ${PREPROCESSING_KEYS.join(", ")}` }));
}
