/** Rules for Softmax, LogSoftmax and LayerNormalization. */
import { grad0, normAxis, type VjpContext, type VjpRule } from "./types.ts";

/** The axes Softmax normalises over: one axis from opset 13, "this axis and all after it" before. */
function softmaxAxes(ctx: VjpContext): number[] {
  const rank = ctx.facts.rank(ctx.node.input[0]);
  const opsetAtLeast13 = ctx.em.opset >= 13;
  const axis = normAxis(ctx.attr("axis")?.i ?? (opsetAtLeast13 ? -1 : 1), rank);
  return opsetAtLeast13 ? [axis] : Array.from({ length: rank - axis }, (_, k) => axis + k);
}

/** dx = y · (g − Σ g·y). */
const softmax: VjpRule = (ctx) => {
  const { em } = ctx;
  const y = ctx.node.output[0];
  const g = grad0(ctx);
  const dot = em.reduceSum(em.op("Mul", [g, y]), softmaxAxes(ctx), true);
  return [em.op("Mul", [y, em.op("Sub", [g, dot])])];
};

/** dx = g − exp(y) · Σ g. */
const logSoftmax: VjpRule = (ctx) => {
  const { em } = ctx;
  const y = ctx.node.output[0];
  const g = grad0(ctx);
  return [em.op("Sub", [g, em.op("Mul", [em.op("Exp", [y]), em.reduceSum(g, softmaxAxes(ctx), true)])])];
};

/**
 * y = x̂·γ + β with x̂ = (x − μ)·σ⁻¹ over the axes from `axis` on. Mean and inverse deviation are
 * recomputed in the graph's own precision (the node's optional outputs follow stash_type):
 * dx = σ⁻¹ · (ĝ − mean(ĝ) − x̂ · mean(ĝ·x̂)) with ĝ = g·γ; dγ, dβ summed over the leading axes.
 */
const layerNormalization: VjpRule = (ctx) => {
  const { em, facts } = ctx;
  if (ctx.gradOutputs.slice(1).some(Boolean)) ctx.unsupported("is differentiated only through its first output");
  const [x, gamma, beta] = ctx.node.input;
  const y = ctx.node.output[0];
  const g = grad0(ctx);
  const rank = facts.rank(x);
  const axis = normAxis(ctx.attr("axis")?.i ?? -1, rank);
  const axes = Array.from({ length: rank - axis }, (_, k) => axis + k);
  const eps = ctx.attr("epsilon")?.f ?? 1e-5;

  const mean = em.reduceMean(x, axes, true);
  const centred = em.op("Sub", [x, mean]);
  const variance = em.reduceMean(em.op("Mul", [centred, centred]), axes, true);
  const invStd = em.op("Reciprocal", [em.op("Sqrt", [em.op("Add", [variance, em.scalar(eps)])])]);
  const xHat = em.op("Mul", [centred, invStd]);

  let dx: string | undefined;
  if (ctx.wantsInput[0]) {
    const gHat = em.op("Mul", [g, gamma]);
    const meanG = em.reduceMean(gHat, axes, true);
    const meanGX = em.reduceMean(em.op("Mul", [gHat, xHat]), axes, true);
    dx = em.op("Mul", [invStd, em.op("Sub", [em.op("Sub", [gHat, meanG]), em.op("Mul", [xHat, meanGX])])]);
  }
  const dGamma = ctx.wantsInput[1] ? ctx.unbroadcast(em.op("Mul", [g, xHat]), gamma, y) : undefined;
  const dBeta = beta && ctx.wantsInput[2] ? ctx.unbroadcast(g, beta, y) : undefined;
  return [dx, dGamma, dBeta];
};

export const NORMALIZATION_RULES: Record<string, VjpRule> = { Softmax: softmax, LogSoftmax: logSoftmax, LayerNormalization: layerNormalization };
