/**
 * Reverse-mode differentiation of an ONNX graph, appended to the same graph. Weights are
 * constants; the only variable is one input tensor (`wrt`). Walks the nodes backwards from the
 * targets over the tensors that both depend on `wrt` and reach a target, emitting each node's
 * vector-Jacobian product (./rules). Cotangents of the targets come in as graph inputs
 * `grad_<target>`; cotangents of `wrt` and of any watched tensors go out as graph outputs.
 */
import { DataType, getAttribute, tensorInt64s, valueInfo, type ModelProto, type NodeProto, type TensorProto } from "../graph-io.ts";
import { Emitter, MIN_OPSET } from "./emitter.ts";
import { GradientGraphError, UnsupportedOperatorError } from "./errors.ts";
import { NON_DIFFERENTIABLE, VJP_RULES } from "./rules/index.ts";
import type { TensorFacts, VjpContext } from "./rules/types.ts";
import type { ProbedTensor } from "./shape-probe.ts";

export interface DifferentiateRequest {
  /** The input tensor to differentiate with respect to. */
  wrt: string;
  /** Graph outputs whose weighted sum (by their cotangent inputs) is differentiated. */
  targets: string[];
  /** Intermediate tensors whose cotangents are wanted too (zeros when the targets do not depend on them). */
  watch: string[];
}

export interface Differentiated {
  /** Cotangent input of each target, in order. */
  cotangentInputs: string[];
  /** Graph tensor holding ∂/∂wrt. */
  gradWrt: string;
  /** Graph tensor holding the cotangent of each watched tensor, in order. */
  gradWatched: string[];
}

const FLOAT_TYPES = new Set<number>([DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16, DataType.BFLOAT16]);

export const cotangentInputName = (target: string) => `grad_${target}`;

/** Facts about forward tensors from the probe, plus constant int values from the model. */
export function tensorFacts(model: ModelProto, probed: Map<string, ProbedTensor>): TensorFacts {
  const constants = new Map<string, TensorProto>();
  for (const t of model.graph.initializer) constants.set(t.name!, t);
  for (const n of model.graph.node) {
    const value = n.opType === "Constant" ? getAttribute(n, "value")?.t : undefined;
    if (value) constants.set(n.output[0], value);
  }
  const known = (t: string) => {
    const p = probed.get(t);
    if (!p) throw new GradientGraphError(`the shape probe did not see tensor ${t}`);
    return p;
  };
  return {
    dims: (t) => known(t).dims,
    rank: (t) => known(t).dims.length,
    elemType: (t) => known(t).elemType,
    constInts: (t) => {
      const c = constants.get(t);
      if (c?.dataType === DataType.INT64) return Array.from(tensorInt64s(c), Number);
      if (c?.dataType === DataType.INT32) return c.rawData?.length ? Array.from(new Int32Array(new Uint8Array(c.rawData).buffer)) : [...(c.int32Data ?? [])];
      return undefined;
    },
  };
}

/** Tensors that depend on `wrt` through differentiable float operations. */
function dependents(nodes: readonly NodeProto[], wrt: string, facts: TensorFacts): Set<string> {
  const active = new Set([wrt]);
  for (const node of nodes) {
    if (NON_DIFFERENTIABLE.has(node.opType) || !node.input.some((i) => active.has(i))) continue;
    for (const out of node.output) if (out && FLOAT_TYPES.has(facts.elemType(out))) active.add(out);
  }
  return active;
}

/** Of the `active` tensors, those some target depends on. */
function contributors(nodes: readonly NodeProto[], targets: readonly string[], active: Set<string>): Set<string> {
  const needed = new Set(targets.filter((t) => active.has(t)));
  for (let k = nodes.length - 1; k >= 0; k--) {
    const node = nodes[k];
    if (node.output.some((o) => needed.has(o))) for (const i of node.input) if (active.has(i)) needed.add(i);
  }
  return needed;
}

/** Appends the backward pass to `model` (mutated). */
export function differentiate(model: ModelProto, facts: TensorFacts, request: DifferentiateRequest): Differentiated {
  const graph = model.graph;
  const opset = model.opsetImport.find((o) => !o.domain || o.domain === "ai.onnx")?.version ?? 0;
  if (opset < MIN_OPSET) throw new GradientGraphError(`gradients need opset ${MIN_OPSET} or newer; the model uses opset ${opset}`);
  const floatType = facts.elemType(request.wrt);
  const em = new Emitter(graph, opset, floatType);
  const forward = [...graph.node];

  const active = dependents(forward, request.wrt, facts);
  for (const t of request.targets) if (!active.has(t)) throw new GradientGraphError(`target ${t} does not depend on ${request.wrt}`);
  const relevant = contributors(forward, request.targets, active);

  const contributions = new Map<string, string[]>();
  const contribute = (tensor: string, g: string) => (contributions.get(tensor) ?? contributions.set(tensor, []).get(tensor)!).push(g);
  const cotangentInputs = request.targets.map((t) => {
    const name = cotangentInputName(t);
    const out = graph.output.find((o) => o.name === t);
    graph.input.push(out?.type ? { ...out, name } : valueInfo(name, facts.elemType(t), facts.dims(t).map((_, k) => `${t}_dim${k}`)));
    contribute(t, name);
    return name;
  });

  const finalGrad = new Map<string, string>();
  const cotangentOf = (tensor: string): string | undefined => {
    if (!finalGrad.has(tensor) && contributions.has(tensor)) finalGrad.set(tensor, em.sum(contributions.get(tensor)!));
    return finalGrad.get(tensor);
  };

  for (let k = forward.length - 1; k >= 0; k--) {
    const node = forward[k];
    if (NON_DIFFERENTIABLE.has(node.opType) || !node.output.some((o) => relevant.has(o) && contributions.has(o))) continue;
    const rule = !node.domain || node.domain === "ai.onnx" ? VJP_RULES[node.opType] : undefined;
    if (!rule) throw new UnsupportedOperatorError(node.domain ? `${node.domain}.${node.opType}` : node.opType, node.name);
    const ctx: VjpContext = {
      node,
      em,
      facts,
      gradOutputs: node.output.map((o) => (relevant.has(o) ? cotangentOf(o) : undefined)),
      wantsInput: node.input.map((i) => relevant.has(i)),
      attr: (name) => getAttribute(node, name),
      unbroadcast: (g, x, y) => unbroadcast(em, facts, g, x, y),
      unsupported: (detail) => {
        throw new UnsupportedOperatorError(node.opType, node.name, detail);
      },
    };
    const grads = rule(ctx);
    node.input.forEach((input, i) => {
      if (ctx.wantsInput[i] && grads[i]) contribute(input, grads[i]!);
    });
  }

  const orZeros = (t: string) => (relevant.has(t) ? cotangentOf(t) : undefined) ?? em.zerosLike(t);
  return { cotangentInputs, gradWrt: orZeros(request.wrt), gradWatched: request.watch.map(orZeros) };
}

/**
 * g has the shape of `y`, which broadcast `x`: sum over the axes x lacks or has as 1 where y does
 * not (known from the probe), then reshape to x's runtime shape.
 */
function unbroadcast(em: Emitter, facts: TensorFacts, g: string, x: string, y: string): string {
  const dx = facts.dims(x);
  const dy = facts.dims(y);
  const lead = dy.length - dx.length;
  const axes: number[] = [];
  for (let a = 0; a < dy.length; a++) if (a < lead || (dx[a - lead] === 1 && dy[a] !== 1)) axes.push(a);
  if (axes.length === 0) return g;
  const summed = em.reduceSum(g, axes, true);
  return em.reshapeLike(summed, x);
}
