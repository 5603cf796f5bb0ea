/**
 * Option maps of a request (`explain_kwargs`, `attack_kwargs`) checked against one rule per key:
 * one problem per broken rule, each naming its field; an unknown key is named with the known ones.
 * Rules live in a Map, so a key named like an Object.prototype member is an unknown option.
 */
import type { FieldProblem } from "../errors.ts";

/** The reason a value breaks the rule, or undefined when it keeps it. */
export type OptionRule = (value: unknown) => string | undefined;

export const integerIn = (lo: number, hi: number): OptionRule => (v) => (Number.isInteger(v) && (v as number) >= lo && (v as number) <= hi ? undefined : `must be an integer from ${lo} to ${hi}`);

export const oneOf = (values: readonly string[]): OptionRule => (v) => (values.includes(v as string) ? undefined : `must be one of ${values.join(", ")}`);

/** Problems of `kwargs` (the request's `section`), `required` keys first. */
export function checkOptions(section: string, kwargs: Record<string, unknown>, rules: ReadonlyMap<string, OptionRule>, required: Readonly<Record<string, string>> = {}): FieldProblem[] {
  const problems: FieldProblem[] = Object.entries(required)
    .filter(([key]) => !Object.hasOwn(kwargs, key))
    .map(([key, message]) => ({ field: `${section}.${key}`, message }));
  for (const [key, value] of Object.entries(kwargs)) {
    const rule = rules.get(key);
    const problem = rule ? rule(value) : `unknown option; known: ${[...rules.keys()].join(", ")}`;
    if (problem) problems.push({ field: `${section}.${key}`, message: problem });
  }
  return problems;
}
