/** Rules for MatMul and Gemm. */
import { floatAttr, intAttr, intsAttr } from "../../graph-io.ts";
import type { Emitter } from "../emitter.ts";
import { grad0, type VjpRule } from "./types.ts";

/** Swaps the last two axes of a tensor of rank `rank`. */
function swapLast(em: Emitter, x: string, rank: number): string {
  const perm = [...Array(rank).keys()];
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1], perm[rank - 2]];
  return em.op("Transpose", [x], [intsAttr("perm", perm)]);
}

/** y = a @ b (batched, broadcasting): da = g @ bᵀ, db = aᵀ @ g, each summed back over broadcast batch axes. */
const matMul: VjpRule = (ctx) => {
  const { em, facts } = ctx;
  const [a, b] = ctx.node.input;
  const y = ctx.node.output[0];
  const g = grad0(ctx);
  if (facts.rank(a) < 2 || facts.rank(b) < 2) ctx.unsupported("with a 1-D operand is not differentiated");
  return [
    ctx.wantsInput[0] ? ctx.unbroadcast(em.op("MatMul", [g, swapLast(em, b, facts.rank(b))]), a, y) : undefined,
    ctx.wantsInput[1] ? ctx.unbroadcast(em.op("MatMul", [swapLast(em, a, facts.rank(a)), g]), b, y) : undefined,
  ];
};

/**
 * y = α·op(A)·op(B) + β·C. With A' = op(A), B' = op(B): dA' = α·g·B'ᵀ, dB' = α·A'ᵀ·g, both
 * written as Gemms with flipped trans flags; dA = dA' (or its transpose when transA).
 */
const gemm: VjpRule = (ctx) => {
  const { em } = ctx;
  const [a, b, c] = ctx.node.input;
  const y = ctx.node.output[0];
  const g = grad0(ctx);
  const alpha = ctx.attr("alpha")?.f ?? 1;
  const beta = ctx.attr("beta")?.f ?? 1;
  const transA = ctx.attr("transA")?.i ?? 0;
  const transB = ctx.attr("transB")?.i ?? 0;
  const gemmOf = (x: string, z: string, tx: number, tz: number) =>
    em.op("Gemm", [x, z], [floatAttr("alpha", alpha), intAttr("transA", tx), intAttr("transB", tz)]);
  const transpose = (x: string) => em.op("Transpose", [x], [intsAttr("perm", [1, 0])]);
  let da: string | undefined;
  let db: string | undefined;
  if (ctx.wantsInput[0]) {
    const dAPrime = gemmOf(g, b, 0, 1 - transB);
    da = transA ? transpose(dAPrime) : dAPrime;
  }
  if (ctx.wantsInput[1]) {
    const dBPrime = gemmOf(a, g, 1 - transA, 0);
    db = transB ? transpose(dBPrime) : dBPrime;
  }
  const dc = c && ctx.wantsInput[2] ? ctx.unbroadcast(beta === 1 ? g : em.op("Mul", [g, em.scalar(beta)]), c, y) : undefined;
  return [da, db, dc];
};

export const LINEAR_RULES: Record<string, VjpRule> = { MatMul: matMul, Gemm: gemm };
