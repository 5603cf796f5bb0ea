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
  if (!Object.hasOwn(body, "input")) return [{ field: "input", message: "is required" }];
  const typeProblems = jsonTypeProblems(body as Record<string, unknown>, bodySchema);
  if (typeProblems.length) return typeProblems;
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

type Rule = { type: string; rules?: Rule[]; items?: string; props?: Record<string, Rule> };

/** The JSON kinds a schema rule admits (what typeof / Array.isArray can tell). */
function kindsOf(rule: Rule | string): string[] {
  const type = typeof rule === "string" ? rule : rule.type;
  if (type === "multi") return (rule as Rule).rules!.flatMap(kindsOf);
  if (type === "enum") return ["string"];
  if (type === "any") return ["string", "number", "boolean", "object", "array", "null"];
  return [type];
}

const kindOf = (value: unknown): string => (value === null ? "null" : Array.isArray(value) ? "array" : typeof value);

/**
 * JSON kinds checked before fastest-validator sees the body, from the same schema: the validator
 * writes the offending value into its messages (String(value)), which throws for a JSON object
 * with its own `toString` or `valueOf` key (`{"stride": [{"toString": true}]}`), a 500. A value
 * of the wrong kind is named here instead, and the validator only meets values of the right kind.
 */
function jsonTypeProblems(object: Record<string, unknown>, schema: Record<string, unknown>, prefix = ""): FieldProblem[] {
  const problems: FieldProblem[] = [];
  for (const [key, rule] of Object.entries(schema)) {
    if (key.startsWith("$$") || !Object.hasOwn(object, key)) continue;
    const value = object[key];
    const r = rule as Rule;
    const kinds = kindsOf(r);
    const field = `${prefix}${key}`;
    if (!kinds.includes(kindOf(value))) {
      problems.push({ field, message: `must be ${kinds.map((k) => (k === "array" ? "a list" : k === "object" ? "an object" : `a ${k}`)).join(" or ")}, not ${kindOf(value) === "array" ? "a list" : kindOf(value) === "object" ? "an object" : `a ${kindOf(value)}`}` });
    } else if (Array.isArray(value) && r.type === "multi") {
      const items = r.rules!.find((x) => x.type === "array")?.items;
      const bad = items ? value.findIndex((x) => kindOf(x) !== items) : -1;
      if (bad >= 0) problems.push({ field: `${field}.${bad}`, message: `must be a ${items}` });
    } else if (r.props && kindOf(value) === "object") {
      problems.push(...jsonTypeProblems(value as Record<string, unknown>, r.props, `${field}.`));
    }
  }
  return problems;
}
