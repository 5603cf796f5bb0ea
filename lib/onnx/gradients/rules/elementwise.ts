/** Rules for element-wise operators (with NumPy broadcasting undone by `unbroadcast`). */
import { DataType } from "../../graph-io.ts";
import { grad0, type VjpRule } from "./types.ts";

const add: VjpRule = (ctx) => ctx.node.input.map((x, i) => (ctx.wantsInput[i] ? ctx.unbroadcast(grad0(ctx), x, ctx.node.output[0]) : undefined));

const sub: VjpRule = (ctx) => {
  const [a, b] = ctx.node.input;
  const y = ctx.node.output[0];
  const g = grad0(ctx);
  return [ctx.wantsInput[0] ? ctx.unbroadcast(g, a, y) : undefined, ctx.wantsInput[1] ? ctx.unbroadcast(ctx.em.op("Neg", [g]), b, y) : undefined];
};

const mul: VjpRule = (ctx) => {
  const [a, b] = ctx.node.input;
  const y = ctx.node.output[0];
  const g = grad0(ctx);
  return [
    ctx.wantsInput[0] ? ctx.unbroadcast(ctx.em.op("Mul", [g, b]), a, y) : undefined,
    ctx.wantsInput[1] ? ctx.unbroadcast(ctx.em.op("Mul", [g, a]), b, y) : undefined,
  ];
};

/** y = a / b: da = g / b, db = -g · y / b. */
const div: VjpRule = (ctx) => {
  const { em } = ctx;
  const [a, b] = ctx.node.input;
  const y = ctx.node.output[0];
  const g = grad0(ctx);
  return [
    ctx.wantsInput[0] ? ctx.unbroadcast(em.op("Div", [g, b]), a, y) : undefined,
    ctx.wantsInput[1] ? ctx.unbroadcast(em.op("Neg", [em.op("Mul", [g, em.op("Div", [y, b])])]), b, y) : undefined,
  ];
};

/** y = a^p: da = g · p · a^(p−1); dp = g · y · ln a. */
const pow: VjpRule = (ctx) => {
  const { em, facts } = ctx;
  const [a, p] = ctx.node.input;
  const y = ctx.node.output[0];
  const g = grad0(ctx);
  let da: string | undefined;
  if (ctx.wantsInput[0]) {
    const pFloat = facts.elemType(p) === em.floatType ? p : em.cast(p, em.floatType);
    const pMinus1 = em.op("Sub", [pFloat, em.scalar(1)]);
    da = ctx.unbroadcast(em.op("Mul", [g, em.op("Mul", [pFloat, em.op("Pow", [a, pMinus1])])]), a, y);
  }
  const dp = ctx.wantsInput[1] ? ctx.unbroadcast(em.op("Mul", [g, em.op("Mul", [y, em.op("Log", [a])])]), p, y) : undefined;
  return [da, dp];
};

/** Rules of the form dx = g · f'(x, y) for one-input operators. */
const unary = (derivative: (ctx: Parameters<VjpRule>[0], x: string, y: string) => string): VjpRule => (ctx) => {
  const g = grad0(ctx);
  return [ctx.em.op("Mul", [g, derivative(ctx, ctx.node.input[0], ctx.node.output[0])])];
};

const neg: VjpRule = (ctx) => [ctx.em.op("Neg", [grad0(ctx)])];
const identity: VjpRule = (ctx) => [grad0(ctx), ...ctx.node.input.slice(1).map(() => undefined)];

/** sqrt: g / (2y). */
const sqrt: VjpRule = (ctx) => [ctx.em.op("Div", [grad0(ctx), ctx.em.op("Mul", [ctx.node.output[0], ctx.em.scalar(2)])])];
/** 1/x: −g · y². */
const reciprocal = unary(({ em }, _x, y) => em.op("Neg", [em.op("Mul", [y, y])]));
const exp = unary((_ctx, _x, y) => y);
const log: VjpRule = (ctx) => [ctx.em.op("Div", [grad0(ctx), ctx.node.input[0]])];
/** erf'(x) = 2/√π · exp(−x²). */
const erf = unary(({ em }, x) => em.op("Mul", [em.scalar(2 / Math.sqrt(Math.PI)), em.op("Exp", [em.op("Neg", [em.op("Mul", [x, x])])])]));
const tanh = unary(({ em }, _x, y) => em.op("Sub", [em.scalar(1), em.op("Mul", [y, y])]));
const sigmoid = unary(({ em }, _x, y) => em.op("Mul", [y, em.op("Sub", [em.scalar(1), y])]));
const relu = unary(({ em }, x) => em.cast(em.op("Greater", [x, em.scalar(0)]), em.floatType));

/**
 * Gelu (opset 20). Exact: Φ(x) + x·φ(x) with Φ(x) = ½(1 + erf(x/√2)), φ the normal density.
 * approximate="tanh": t = tanh(√(2/π)(x + 0.044715x³)), ½(1 + t) + ½x(1 − t²)·√(2/π)(1 + 3·0.044715x²).
 */
const gelu = unary((ctx, x) => {
  const { em } = ctx;
  const approximate = ctx.attr("approximate")?.s;
  const sq = em.op("Mul", [x, x]);
  if (approximate && new TextDecoder().decode(approximate) === "tanh") {
    const k = Math.sqrt(2 / Math.PI);
    const inner = em.op("Mul", [em.scalar(k), em.op("Add", [x, em.op("Mul", [em.scalar(0.044715), em.op("Mul", [sq, x])])])]);
    const t = em.op("Tanh", [inner]);
    const half = em.op("Mul", [em.scalar(0.5), em.op("Add", [em.scalar(1), t])]);
    const slope = em.op("Mul", [em.scalar(k), em.op("Add", [em.scalar(1), em.op("Mul", [em.scalar(3 * 0.044715), sq])])]);
    const rest = em.op("Mul", [em.op("Mul", [em.scalar(0.5), x]), em.op("Mul", [em.op("Sub", [em.scalar(1), em.op("Mul", [t, t])]), slope])]);
    return em.op("Add", [half, rest]);
  }
  const cdf = em.op("Mul", [em.scalar(0.5), em.op("Add", [em.scalar(1), em.op("Erf", [em.op("Mul", [x, em.scalar(Math.SQRT1_2)])])])]);
  const pdf = em.op("Mul", [em.scalar(1 / Math.sqrt(2 * Math.PI)), em.op("Exp", [em.op("Mul", [sq, em.scalar(-0.5)])])]);
  return em.op("Add", [cdf, em.op("Mul", [x, pdf])]);
});

/** Where(c, a, b): a gets g where c holds, b elsewhere. */
const where: VjpRule = (ctx) => {
  const { em } = ctx;
  const [c, a, b] = ctx.node.input;
  const y = ctx.node.output[0];
  const g = grad0(ctx);
  const zero = em.scalar(0);
  return [
    undefined,
    ctx.wantsInput[1] ? ctx.unbroadcast(em.op("Where", [c, g, zero]), a, y) : undefined,
    ctx.wantsInput[2] ? ctx.unbroadcast(em.op("Where", [c, zero, g]), b, y) : undefined,
  ];
};

/** A float-to-float Cast: the cotangent goes back in the input's type. */
const cast: VjpRule = (ctx) => {
  const x = ctx.node.input[0];
  const type = ctx.facts.elemType(x);
  if (type !== DataType.FLOAT && type !== DataType.DOUBLE && type !== DataType.FLOAT16) ctx.unsupported("casts a non-float tensor that depends on the input");
  return [type === ctx.facts.elemType(ctx.node.output[0]) ? grad0(ctx) : ctx.em.cast(grad0(ctx), type)];
};

const sum: VjpRule = add;

export const ELEMENTWISE_RULES: Record<string, VjpRule> = {
  Add: add, Sub: sub, Mul: mul, Div: div, Pow: pow, Neg: neg, Sqrt: sqrt, Reciprocal: reciprocal, Exp: exp, Log: log,
  Erf: erf, Gelu: gelu, Tanh: tanh, Sigmoid: sigmoid, Relu: relu, Where: where, Cast: cast, Identity: identity, Dropout: identity, Sum: sum,
};
