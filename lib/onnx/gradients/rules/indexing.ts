/**
 * Rules for Gather (w.r.t. its data) and Slice. Both select positions along axes; the cotangent
 * scatters g back to the selected positions, adding where a position was selected twice. The
 * scatter is a one-hot matrix product (opset-13 ScatterElements cannot add), cheap for the
 * selections encoders make (the first token, a span of positions).
 */
import { DataType, intAttr, intsAttr } from "../../graph-io.ts";
import type { Emitter } from "../emitter.ts";
import { grad0, normAxis, type VjpContext, type VjpRule } from "./types.ts";

/**
 * The cotangent of `data` for y = Gather(data, indices, axis) given g = ∂/∂y: reshape g to
 * [P, Q, R] (P = dims before the axis, Q = number of indices, R = dims after), multiply by the
 * [N, Q] one-hot of the indices, reshape to data's runtime shape.
 */
export function gatherDataGrad(em: Emitter, g: string, data: string, indices: string, axis: number): string {
  const n = em.dim(data, axis);
  const flat = em.op("Reshape", [indices, em.ints([-1, 1])]);
  const wrapped = em.op("Where", [em.op("Less", [flat, em.ints([0])]), em.op("Add", [flat, n]), flat]);
  const positions = em.op("Range", [em.intScalar(0), em.squeeze(n, [0]), em.intScalar(1)]);
  const oneHot = em.cast(em.op("Equal", [wrapped, positions]), em.floatType);
  const count = em.unsqueeze(em.op("Size", [indices]), [0]);
  const rows = em.op("Reshape", [em.op("Flatten", [g], [intAttr("axis", axis)]), em.op("Concat", [em.ints([0]), count, em.ints([-1])], [intAttr("axis", 0)])]);
  const scattered = em.op("MatMul", [em.op("Transpose", [oneHot], [intsAttr("perm", [1, 0])]), rows]);
  return em.reshapeLike(scattered, data);
}

const asInt64 = (ctx: VjpContext, t: string) => (ctx.facts.elemType(t) === DataType.INT64 ? t : ctx.em.cast(t, DataType.INT64));

const gather: VjpRule = (ctx) => {
  const [data, indices] = ctx.node.input;
  const axis = normAxis(ctx.attr("axis")?.i ?? 0, ctx.facts.rank(data));
  return [gatherDataGrad(ctx.em, grad0(ctx), data, asInt64(ctx, indices), axis), undefined];
};

/**
 * A Slice is a Gather per sliced axis of the positions Slice(Range(0, dim), start, end, step).
 * The forward chain of those Gathers is re-emitted so each step's input shape is known at run time;
 * the cotangent then walks the chain backwards.
 */
const slice: VjpRule = (ctx) => {
  const { em, facts } = ctx;
  const [x, starts, ends, axesInput, stepsInput] = ctx.node.input;
  const rank = facts.rank(x);
  const count = facts.dims(starts)[0];
  const axes = axesInput ? facts.constInts(axesInput) : [...Array(count).keys()];
  if (!axes) return ctx.unsupported("has axes computed at run time");
  const element = (t: string, i: number) => em.op("Slice", [asInt64(ctx, t), em.ints([i]), em.ints([i + 1]), em.ints([0])]);
  const chain: { input: string; positions: string; axis: number }[] = [];
  let current = x;
  axes.forEach((rawAxis, i) => {
    const axis = normAxis(rawAxis, rank);
    const all = em.op("Range", [em.intScalar(0), em.squeeze(em.dim(current, axis), [0]), em.intScalar(1)]);
    const step = stepsInput ? element(stepsInput, i) : em.ints([1]);
    const positions = em.op("Slice", [all, element(starts, i), element(ends, i), em.ints([0]), step]);
    chain.push({ input: current, positions, axis });
    if (i < axes.length - 1) current = em.op("Gather", [current, positions], [intAttr("axis", axis)]);
  });
  let g = grad0(ctx);
  for (const step of chain.reverse()) g = gatherDataGrad(em, g, step.input, step.positions, step.axis);
  return [g, undefined, undefined, undefined, undefined];
};

export const INDEXING_RULES: Record<string, VjpRule> = { Gather: gather, Slice: slice };
