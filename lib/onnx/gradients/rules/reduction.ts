/** Rules for ReduceSum and ReduceMean: the cotangent is spread back over the reduced axes. */
import { grad0, normAxis, type VjpContext, type VjpRule } from "./types.ts";

/** The reduced axes (sorted, non-negative), or every axis when the node reduces everything. */
function reducedAxes(ctx: VjpContext): number[] {
  const rank = ctx.facts.rank(ctx.node.input[0]);
  const fromAttr = ctx.attr("axes")?.ints;
  const fromInput = ctx.node.input[1] ? ctx.facts.constInts(ctx.node.input[1]) : undefined;
  if (ctx.node.input[1] && !fromInput) ctx.unsupported("has axes computed at run time");
  const axes = fromAttr ?? fromInput ?? [];
  if (axes.length === 0) {
    if ((ctx.attr("noop_with_empty_axes")?.i ?? 0) === 1) ctx.unsupported("with noop_with_empty_axes is not differentiated");
    return [...Array(rank).keys()];
  }
  return axes.map((a) => normAxis(a, rank)).sort((a, b) => a - b);
}

/** g with the reduced axes restored (size 1), then broadcast to the input's runtime shape. */
function spread(ctx: VjpContext): string {
  const { em } = ctx;
  const keepdims = (ctx.attr("keepdims")?.i ?? 1) === 1;
  const g = grad0(ctx);
  const kept = keepdims ? g : em.unsqueeze(g, reducedAxes(ctx));
  return em.op("Expand", [kept, em.shape(ctx.node.input[0])]);
}

const reduceSum: VjpRule = (ctx) => [spread(ctx), undefined];

/** Like ReduceSum, divided by the number of elements averaged (input size / output size, at run time). */
const reduceMean: VjpRule = (ctx) => {
  const { em } = ctx;
  const count = em.op("Div", [em.op("Size", [ctx.node.input[0]]), em.op("Size", [ctx.node.output[0]])]);
  return [em.op("Div", [spread(ctx), em.cast(count, em.floatType)]), undefined];
};

export const REDUCTION_RULES: Record<string, VjpRule> = { ReduceSum: reduceSum, ReduceMean: reduceMean };
