/**
 * Structural matching of the places where AdapterHub puts its modules in a post-LayerNorm encoder
 * layer (BERT, RoBERTa; DistilBERT has the same shape), per ../../../shared research notes §1.2:
 *
 *  - attention output (`mh_adapter`):   LN0(Add(h, r)) with h = dense(context), r = layer input;
 *  - FFN output (`output_adapter`):     LN0(Add(h, r)) with h = dense(intermediate), r = the attention LN output;
 *  - LoRA targets: the query / key / value projections `x·W (+ b)` of the layer input x.
 *
 * Matching is by graph structure only (no node or tensor names), like ../graph-surgery.ts:
 *  - a layer is anchored on its attention Softmax (findAttentionSoftmaxes, one per layer, graph order);
 *  - a "dense" is MatMul(x, W) with W a 2-D initializer (or Constant), optionally followed by Add with a
 *    1-D initializer bias;
 *  - the attention site is the first LayerNorm after the layer's Softmax whose input is Add(dense, r)
 *    where the dense reads (transitively) the Softmax; the FFN site is the next such LayerNorm whose
 *    residual operand is the attention site's LayerNorm output;
 *  - V is the right operand of MatMul(probs, ·); Q and K are the operands of the MatMul that produces the
 *    scores feeding the Softmax (through mask Add / scale Div|Mul / Where / Cast); each is followed back
 *    through Reshape / Transpose / scale Mul|Div to a dense of the layer input.
 * Anything else throws AdapterGraphError naming the layer and the piece that was not found.
 */
import { GraphIndex, findAttentionSoftmaxes, findLayerNorms, type LayerNormMatch } from "../graph-surgery.ts";
import type { ModelProto, NodeProto } from "../graph-io.ts";

/** A graph the adapter surgery does not recognise; `missing` says what was not found. */
export class AdapterGraphError extends Error {
  constructor(readonly missing: string, readonly layer?: number) {
    super(`adapter graph: ${layer === undefined ? "" : `layer ${layer}: `}${missing} (not a recognised post-LayerNorm BERT/RoBERTa encoder export)`);
    this.name = "AdapterGraphError";
  }
}

/** `x · W (+ b)` with constant W [in, out]. `output` is the bias Add's output (or the MatMul's). */
export interface DenseMatch {
  x: string;
  weight: string;
  inFeatures: number;
  outFeatures: number;
  matmul: NodeProto;
  /** The node producing `output` (the bias Add, or the MatMul without bias). */
  last: NodeProto;
  output: string;
}

/** `LN0(Add(h, r))`: `h` and `r` are the Add's immediate input tensors. */
export interface SublayerSite {
  dense: DenseMatch;
  add: NodeProto;
  /** Index (0/1) of h among add.input. */
  hIndex: number;
  residual: string;
  layerNorm: LayerNormMatch;
  /** The nodes computing the LayerNorm from `add.output` to `layerNorm.output` (one for LayerNormalization). */
  layerNormNodes: NodeProto[];
}

export interface LayerSites {
  attention: SublayerSite;
  ffn: SublayerSite;
  query: DenseMatch;
  key: DenseMatch;
  value: DenseMatch;
}

export interface AdapterSites {
  layers: LayerSites[];
  hiddenSize: number;
}

const PASS = new Set(["Identity", "Dropout", "Cast"]);
const RESHAPING = new Set(["Reshape", "Transpose", "Squeeze", "Unsqueeze", ...PASS]);

/** The tensor behind pass-through ops. */
function resolve(index: GraphIndex, t: string): string {
  const p = index.producer.get(t);
  return p && PASS.has(p.opType) ? resolve(index, p.input[0]) : t;
}

function constDims(index: GraphIndex, t: string): number[] | undefined {
  const init = index.initializers.get(t);
  if (init) return init.dims;
  const c = index.producer.get(t);
  if (c?.opType !== "Constant") return undefined;
  const v = c.attribute?.find((a) => a.name === "value")?.t;
  return v?.dims.map(Number);
}

/** Matches a dense ending at `tensor` (through pass-through ops). */
export function matchDense(index: GraphIndex, tensor: string): DenseMatch | undefined {
  const node = index.sourceOf(tensor);
  if (!node) return undefined;
  const fromMatMul = (mm: NodeProto, last: NodeProto): DenseMatch | undefined => {
    const dims = constDims(index, mm.input[1]);
    if (mm.opType !== "MatMul" || dims?.length !== 2) return undefined;
    return { x: mm.input[0], weight: mm.input[1], inFeatures: dims[0], outFeatures: dims[1], matmul: mm, last, output: last.output[0] };
  };
  if (node.opType === "MatMul") return fromMatMul(node, node);
  if (node.opType !== "Add") return undefined;
  for (const k of [0, 1]) {
    const bias = constDims(index, node.input[1 - k]);
    const mm = index.sourceOf(node.input[k]);
    if (bias?.length === 1 && mm?.opType === "MatMul") {
      const d = fromMatMul(mm, node);
      if (d && d.outFeatures === bias[0]) return d;
    }
  }
  return undefined;
}

/** Follows `tensor` back through reshapes and constant scaling to a dense. */
function denseBehind(index: GraphIndex, tensor: string): DenseMatch | undefined {
  let t = tensor;
  for (let steps = 0; steps < 16; steps++) {
    const d = matchDense(index, t);
    if (d) return d;
    const p = index.producer.get(t);
    if (!p) return undefined;
    if (RESHAPING.has(p.opType)) t = p.input[0];
    else if ((p.opType === "Mul" || p.opType === "Div") && constDims(index, p.input[1])) t = p.input[0];
    else if (p.opType === "Mul" && constDims(index, p.input[0])) t = p.input[1];
    else return undefined;
  }
  return undefined;
}

/** The MatMul producing the attention scores that feed `softmax`. */
function scoresMatMul(index: GraphIndex, softmax: NodeProto): NodeProto | undefined {
  const stack = [softmax.input[0]];
  const seen = new Set<string>();
  while (stack.length) {
    const t = stack.pop()!;
    if (seen.has(t)) continue;
    seen.add(t);
    const p = index.producer.get(t);
    if (!p) continue;
    if (p.opType === "MatMul" && !constDims(index, p.input[1]) && !constDims(index, p.input[0])) return p;
    if (["Add", "Sub", "Div", "Mul", "Where", ...PASS].includes(p.opType)) stack.push(...p.input.filter((i) => i && !constDims(index, i)));
  }
  return undefined;
}

/** Nodes on paths from `input` to `output` (the LayerNorm's own nodes), in graph order. */
function nodesBetween(index: GraphIndex, input: string, output: string): NodeProto[] {
  const last = index.producer.get(output)!;
  const keep: NodeProto[] = [];
  const stack = [last];
  const seen = new Set<NodeProto>();
  while (stack.length) {
    const n = stack.pop()!;
    if (seen.has(n)) continue;
    seen.add(n);
    keep.push(n);
    for (const i of n.input) {
      if (!i || i === input) continue;
      const p = index.producer.get(i);
      // Only follow producers that themselves depend on `input` (skip constants, gamma, beta, eps).
      if (p && index.ancestorTensors(p).has(input)) stack.push(p);
      else if (p && p.opType !== "Constant" && p.input.includes(input)) stack.push(p);
    }
  }
  return keep.sort((a, b) => index.position.get(a)! - index.position.get(b)!);
}

function sublayerCandidate(index: GraphIndex, ln: LayerNormMatch): SublayerSite | undefined {
  const add = index.producer.get(ln.input);
  if (add?.opType !== "Add") return undefined;
  for (const k of [0, 1]) {
    const dense = matchDense(index, add.input[k]);
    const other = add.input[1 - k];
    if (dense && !constDims(index, other) && !matchDense(index, other)) {
      return { dense, add, hIndex: k, residual: other, layerNorm: ln, layerNormNodes: nodesBetween(index, add.output[0], ln.output) };
    }
  }
  return undefined;
}

/** Finds every layer's adapter and LoRA sites, or throws AdapterGraphError. */
export function matchAdapterSites(model: ModelProto, index = new GraphIndex(model)): AdapterSites {
  const softmaxes = findAttentionSoftmaxes(index);
  if (softmaxes.length === 0) throw new AdapterGraphError("no attention Softmax feeding a MatMul (probs · V) was found");
  const candidates = findLayerNorms(index)
    .map((ln) => sublayerCandidate(index, ln))
    .filter((c): c is SublayerSite => c !== undefined);
  const pos = (n: NodeProto) => index.position.get(n)!;
  const layers: LayerSites[] = [];
  let hiddenSize: number | undefined;
  softmaxes.forEach((softmax, l) => {
    const start = pos(softmax);
    const end = l + 1 < softmaxes.length ? pos(softmaxes[l + 1]) : Infinity;
    const inLayer = candidates.filter((c) => pos(c.add) > start && pos(c.add) < end);
    const attention = inLayer.find((c) => index.ancestorTensors(c.dense.matmul).has(softmax.output[0]));
    if (!attention) throw new AdapterGraphError("no attention output projection (dense reading the attention context) + residual Add + LayerNorm after the Softmax", l);
    const ffn = inLayer.find((c) => pos(c.add) > pos(attention.add) && resolve(index, c.residual) === resolve(index, attention.layerNorm.output));
    if (!ffn) throw new AdapterGraphError("no FFN output projection + residual Add (with the attention LayerNorm output) + LayerNorm", l);
    if (!index.ancestorTensors(ffn.dense.matmul).has(attention.layerNorm.output)) throw new AdapterGraphError("the FFN output projection does not read the attention LayerNorm output", l);

    const pv = index.usersOf(softmax.output[0]).find((u) => u.opType === "MatMul" && index.sourceOf(u.input[0]) === softmax);
    const value = pv && denseBehind(index, pv.input[1]);
    if (!value) throw new AdapterGraphError("no value projection (dense behind the right operand of probs · V)", l);
    const qk = scoresMatMul(index, softmax);
    if (!qk) throw new AdapterGraphError("no Q·Kᵀ MatMul feeding the Softmax", l);
    const query = denseBehind(index, qk.input[0]);
    const key = denseBehind(index, qk.input[1]);
    if (!query) throw new AdapterGraphError("no query projection (dense behind the left operand of Q·Kᵀ)", l);
    if (!key) throw new AdapterGraphError("no key projection (dense behind the right operand of Q·Kᵀ)", l);
    const layerInput = resolve(index, attention.residual);
    for (const [name, d] of [["query", query], ["key", key], ["value", value]] as const) {
      if (resolve(index, d.x) !== layerInput) throw new AdapterGraphError(`the ${name} projection does not read the layer input (the attention residual)`, l);
    }
    const H = attention.dense.outFeatures;
    if (ffn.dense.outFeatures !== H || (hiddenSize !== undefined && hiddenSize !== H)) throw new AdapterGraphError(`inconsistent hidden sizes (${H}, ${ffn.dense.outFeatures})`, l);
    hiddenSize = H;
    layers.push({ attention, ffn, query, key, value });
  });
  return { layers, hiddenSize: hiddenSize! };
}
