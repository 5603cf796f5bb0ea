/** SPEC §7 `explain_kwargs`: names, types, ranges and defaults, checked at the gateway. */
import type { FieldProblem } from "../errors.ts";
import { checkOptions, integerIn, oneOf, type OptionRule } from "../request/option-rules.ts";

export const EXPLAIN_METHODS = Object.freeze(["simple_grads", "integrated_grads", "smooth_grads", "attention", "scaled_attention"] as const);
export type ExplainMethod = (typeof EXPLAIN_METHODS)[number];
export type ExplainMode = "question" | "context" | "all";
const MODES: readonly ExplainMode[] = ["question", "context", "all"];

export interface ExplainOptions {
  method: ExplainMethod;
  topK: number;
  mode: ExplainMode;
  /** integrated_grads: points on the path from a zero embedding. */
  steps: number;
  /** smooth_grads: noisy copies, and the noise scale relative to the embeddings' range. */
  samples: number;
  noise: number;
  /** smooth_grads: seed for reproducible noise; fresh noise per request when absent. */
  seed?: number;
}

/** Bounds keep one request from asking for unbounded work (each step or sample is a forward+backward pass). */
export const EXPLAIN_LIMITS = Object.freeze({ topK: 1000, steps: 200, samples: 200, noise: 10 });

const RULES: ReadonlyMap<string, OptionRule> = new Map<string, OptionRule>([
  ["method", oneOf(EXPLAIN_METHODS)],
  ["top_k", integerIn(1, EXPLAIN_LIMITS.topK)],
  ["mode", oneOf(MODES)],
  ["steps", integerIn(1, EXPLAIN_LIMITS.steps)],
  ["samples", integerIn(1, EXPLAIN_LIMITS.samples)],
  ["noise", (v) => (typeof v === "number" && v >= 0 && v <= EXPLAIN_LIMITS.noise ? undefined : `must be a number from 0 to ${EXPLAIN_LIMITS.noise}`)],
  ["seed", integerIn(0, 2 ** 32 - 1)],
]);

/** Why a task without explanation targets refuses `explain_kwargs`. */
export const NOT_EXPLAINABLE = "this task cannot be explained; explanations exist for sequence-classification and question-answering";

export function checkExplainKwargs(kwargs: Record<string, unknown>): FieldProblem[] {
  if (Object.keys(kwargs).length === 0) return [];
  return checkOptions("explain_kwargs", kwargs, RULES, { method: `is required; one of ${EXPLAIN_METHODS.join(", ")}` });
}

/** The options of a checked, non-empty `explain_kwargs`; undefined when it is empty. */
export function explainOptions(kwargs: Record<string, unknown>): ExplainOptions | undefined {
  if (Object.keys(kwargs).length === 0) return undefined;
  return {
    method: kwargs.method as ExplainMethod,
    topK: (kwargs.top_k as number | undefined) ?? 10,
    mode: (kwargs.mode as ExplainMode | undefined) ?? "all",
    steps: (kwargs.steps as number | undefined) ?? 10,
    samples: (kwargs.samples as number | undefined) ?? 10,
    noise: (kwargs.noise as number | undefined) ?? 0.01,
    seed: kwargs.seed as number | undefined,
  };
}
