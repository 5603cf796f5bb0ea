/** SPEC §8 `attack_kwargs` (docs/attacks.md): names, types, ranges and defaults, checked at the gateway. */
import type { FieldProblem } from "../errors.ts";
import { EXPLAIN_METHODS, type ExplainMethod } from "../explain/options.ts";
import { checkOptions, integerIn, oneOf, type OptionRule } from "../request/option-rules.ts";

export const ATTACK_METHODS = Object.freeze(["hotflip", "input_reduction", "sub_span", "topk_tokens"] as const);
export type AttackMethod = (typeof ATTACK_METHODS)[number];

export interface AttackOptions {
  method: AttackMethod;
  /** The explanation method whose word scores rank the words (SQuARE required it; default simple_grads). */
  saliencyMethod: ExplainMethod;
  /** hotflip: words to flip. */
  maxFlips: number;
  /** hotflip on QA: whether the answer's words may be flipped. */
  includeAnswer: boolean;
  /** input_reduction: words to remove at most. */
  maxReductions: number;
  /** sub_span and topk_tokens: words to keep. */
  maxTokens: number;
}

/** Bounds keep one request from asking for unbounded work (each flip or reduction is a forward and a backward pass). */
export const ATTACK_LIMITS = Object.freeze({ maxFlips: 100, maxReductions: 100, maxTokens: 1000 });

const RULES: ReadonlyMap<string, OptionRule> = new Map<string, OptionRule>([
  ["method", oneOf(ATTACK_METHODS)],
  ["saliency_method", oneOf(EXPLAIN_METHODS)],
  ["max_flips", integerIn(1, ATTACK_LIMITS.maxFlips)],
  ["include_answer", (v) => (typeof v === "boolean" ? undefined : "must be true or false")],
  ["max_reductions", integerIn(1, ATTACK_LIMITS.maxReductions)],
  ["max_tokens", integerIn(1, ATTACK_LIMITS.maxTokens)],
]);

export const checkAttackKwargs = (kwargs: Record<string, unknown>): FieldProblem[] =>
  checkOptions("attack_kwargs", kwargs, RULES, { method: `is required; one of ${ATTACK_METHODS.join(", ")}` });

/** The options of a checked `attack_kwargs`, with SQuARE's defaults. */
export function attackOptions(kwargs: Record<string, unknown>): AttackOptions {
  return {
    method: kwargs.method as AttackMethod,
    saliencyMethod: (kwargs.saliency_method as ExplainMethod | undefined) ?? "simple_grads",
    maxFlips: (kwargs.max_flips as number | undefined) ?? 10,
    includeAnswer: (kwargs.include_answer as boolean | undefined) ?? false,
    maxReductions: (kwargs.max_reductions as number | undefined) ?? 10,
    maxTokens: (kwargs.max_tokens as number | undefined) ?? 10,
  };
}
