/** Every vector-Jacobian-product rule, by ONNX operator type (default domain). */
import { ELEMENTWISE_RULES } from "./elementwise.ts";
import { INDEXING_RULES } from "./indexing.ts";
import { LINEAR_RULES } from "./linear.ts";
import { NORMALIZATION_RULES } from "./normalization.ts";
import { REDUCTION_RULES } from "./reduction.ts";
import { SHAPE_RULES } from "./shape.ts";
import type { VjpRule } from "./types.ts";

export const VJP_RULES: Readonly<Record<string, VjpRule>> = Object.freeze({
  ...ELEMENTWISE_RULES, ...LINEAR_RULES, ...NORMALIZATION_RULES, ...SHAPE_RULES, ...REDUCTION_RULES, ...INDEXING_RULES,
});

/**
 * Operators whose outputs carry no gradient even when an input depends on `inputs_embeds`:
 * shape queries, comparisons, index producers and piecewise-constant functions.
 */
export const NON_DIFFERENTIABLE = new Set([
  "Shape", "Size", "Range", "Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "Not", "And", "Or", "Xor",
  "ConstantOfShape", "Constant", "NonZero", "ArgMax", "ArgMin", "Floor", "Ceil", "Round", "Sign", "IsNaN", "IsInf",
  "EyeLike", "OneHot", "RandomNormalLike", "RandomUniformLike", "Bernoulli",
]);
