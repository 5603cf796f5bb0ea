/** Rules for operators that move or copy values without arithmetic: reshapes, transposes, concatenation. */
import { intAttr, intsAttr } from "../../graph-io.ts";
import { grad0, normAxis, type VjpRule } from "./types.ts";

/** Reshape-like operators: the cotangent is reshaped back to the input's runtime shape. */
const reshapeBack: VjpRule = (ctx) => [ctx.em.reshapeLike(grad0(ctx), ctx.node.input[0]), ...ctx.node.input.slice(1).map(() => undefined)];

const transpose: VjpRule = (ctx) => {
  const rank = ctx.facts.rank(ctx.node.input[0]);
  const perm = ctx.attr("perm")?.ints ?? [...Array(rank).keys()].reverse();
  const inverse = new Array<number>(rank);
  perm.forEach((p, i) => (inverse[p] = i));
  return [ctx.em.op("Transpose", [grad0(ctx)], [intsAttr("perm", inverse)])];
};

const expand: VjpRule = (ctx) => [ctx.unbroadcast(grad0(ctx), ctx.node.input[0], ctx.node.output[0]), undefined];

/** Each input's cotangent is its slab of g along the axis; offsets come from the inputs' runtime shapes. */
const concat: VjpRule = (ctx) => {
  const { em } = ctx;
  const y = ctx.node.output[0];
  const axis = normAxis(ctx.attr("axis")!.i!, ctx.facts.rank(y));
  const g = grad0(ctx);
  let start = em.ints([0]);
  return ctx.node.input.map((x, i) => {
    const end = em.op("Add", [start, em.dim(x, axis)]);
    const slab = ctx.wantsInput[i] ? em.op("Slice", [g, start, end, em.ints([axis])]) : undefined;
    start = end;
    return slab;
  });
};

/** The input's cotangent is the outputs' cotangents concatenated, zeros for outputs nothing used. */
const split: VjpRule = (ctx) => {
  const { em } = ctx;
  const x = ctx.node.input[0];
  const axis = normAxis(ctx.attr("axis")?.i ?? 0, ctx.facts.rank(x));
  const parts = ctx.node.output.map((y, i) => ctx.gradOutputs[i] ?? em.zerosLike(y));
  return [em.op("Concat", parts, [intAttr("axis", axis)]), undefined];
};

export const SHAPE_RULES: Record<string, VjpRule> = {
  Reshape: reshapeBack, Flatten: reshapeBack, Squeeze: reshapeBack, Unsqueeze: reshapeBack,
  Transpose: transpose, Expand: expand, Concat: concat, Split: split,
};
