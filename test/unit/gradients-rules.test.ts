/**
 * Every vector-Jacobian rule of lib/onnx/gradients against central finite differences: tiny
 * graphs of one or a few operators, run in ONNX Runtime in float64 (float32 where ORT has no
 * double kernel, e.g. Erf), each gradient graph built once and run at two batch/sequence sizes
 * (one of them batch 1) so broadcasting is undone correctly with dynamic dims.
 * The objective is L = Σ c ⊙ y over the targets with random cotangents c; the gradient graph's
 * output must equal (L(x + h·eᵢ) − L(x − h·eᵢ)) / 2h for every element i of every float input.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import ort from "onnxruntime-node";
import {
  DataType, decodeModel, encodeModel, floatAttr, int64Tensor, intAttr, intsAttr, makeNode, stringAttr, valueInfo,
  type ModelProto, type NodeProto, type TensorProto,
} from "../../lib/onnx/graph-io.ts";
import { appendBackwardPass } from "../../lib/onnx/gradients/gradient-model.ts";

type Dim = number | "B" | "S";
interface Case {
  name: string;
  /** Float inputs (all differentiated, one at a time); "B"/"S" are the dynamic batch and sequence dims. */
  inputs: Record<string, Dim[]>;
  nodes: NodeProto[];
  outputs: string[];
  initializers?: TensorProto[];
  /** Inputs drawn from [0.5, 1.5] instead of N(0, 1) (Sqrt, Log, Div denominators, Pow bases). */
  positive?: string[];
  float32?: boolean;
  /** Default 17. */
  opset?: number;
}

const SIZES: [number, number][] = [[2, 3], [1, 4]];

function rng(seed: number): () => number {
  let s = seed >>> 0;
  const uniform = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

const doubleTensor = (name: string, dims: number[], values: number[]): TensorProto => ({ name, dims, dataType: DataType.DOUBLE, doubleData: values });

function caseModel(c: Case): ModelProto {
  const elem = c.float32 ? DataType.FLOAT : DataType.DOUBLE;
  const dimName = (d: Dim) => (d === "B" ? "batch" : d === "S" ? "sequence" : d);
  return {
    irVersion: 8,
    opsetImport: [{ version: c.opset ?? 17 }],
    graph: {
      name: c.name,
      node: c.nodes,
      initializer: c.initializers ?? [],
      input: Object.entries(c.inputs).map(([n, dims]) => valueInfo(n, elem, dims.map(dimName))),
      output: c.outputs.map((o) => ({ name: o })),
    },
  };
}

async function gradientSession(model: ModelProto, wrt: string, targets: string[]): Promise<ort.InferenceSession> {
  const copy = decodeModel(encodeModel(model));
  const { result } = await appendBackwardPass(copy, { wrt, targets, watch: [] });
  copy.graph.node.push(makeNode("Identity", [result.gradWrt], ["gradient"]));
  copy.graph.output = [{ name: "gradient" }];
  return ort.InferenceSession.create(encodeModel(copy));
}

async function checkCase(c: Case): Promise<void> {
  const model = caseModel(c);
  const forward = await ort.InferenceSession.create(encodeModel(model));
  const type = c.float32 ? "float32" : "float64";
  const make = (values: ArrayLike<number>, dims: number[]) => new ort.Tensor(type, c.float32 ? Float32Array.from(values) : Float64Array.from(values), dims);
  const [h, tol] = c.float32 ? [1e-2, 2e-3] : [1e-6, 1e-7];
  const random = rng(c.name.length * 7919 + 17);

  for (const wrt of Object.keys(c.inputs)) {
    const backward = await gradientSession(model, wrt, c.outputs);
    for (const [batch, sequence] of SIZES) {
      const feeds: Record<string, ort.Tensor> = {};
      for (const [n, dims] of Object.entries(c.inputs)) {
        const shape = dims.map((d) => (d === "B" ? batch : d === "S" ? sequence : d));
        const count = shape.reduce((a, b) => a * b, 1);
        const values = Array.from({ length: count }, () => (c.positive?.includes(n) ? 1 + 0.5 * Math.tanh(random()) : random()));
        feeds[n] = make(values, shape);
      }
      const outs = await forward.run(feeds);
      const cotangents = Object.fromEntries(c.outputs.map((o) => [o, Array.from(outs[o].data as Float64Array, () => random())]));
      const objective = async (f: Record<string, ort.Tensor>) => {
        const r = await forward.run(f);
        return c.outputs.reduce((sum, o) => sum + Array.from(r[o].data as Float64Array).reduce((s, v, i) => s + v * cotangents[o][i], 0), 0);
      };
      const gradFeeds = { ...feeds, ...Object.fromEntries(c.outputs.map((o) => [`grad_${o}`, make(cotangents[o], outs[o].dims as number[])])) };
      const gradient = (await backward.run(gradFeeds)).gradient;
      const x = feeds[wrt];
      assert.deepEqual(gradient.dims, x.dims, `${c.name} ∂/∂${wrt}: shape`);
      const base = Array.from(x.data as Float64Array);
      for (let i = 0; i < base.length; i++) {
        const at = (delta: number) => ({ ...feeds, [wrt]: make(base.map((v, k) => (k === i ? v + delta : v)), x.dims as number[]) });
        const numeric = ((await objective(at(h))) - (await objective(at(-h)))) / (2 * h);
        const analytic = (gradient.data as Float64Array)[i];
        assert.ok(Math.abs(analytic - numeric) <= tol * (1 + Math.abs(numeric)),
          `${c.name} ∂/∂${wrt}[${i}] at batch ${batch}, sequence ${sequence}: graph ${analytic}, finite differences ${numeric}`);
      }
    }
  }
}

const n = makeNode;
const ints = (name: string, values: number[]) => int64Tensor(name, [values.length], values);

const CASES: Case[] = [
  { name: "Add with a vector and a batch-broadcast operand", inputs: { x: ["B", "S", 4], v: [4], z: ["B", 1, 4] }, nodes: [n("Add", ["x", "v"], ["t"]), n("Add", ["t", "z"], ["y"])], outputs: ["y"] },
  { name: "Sub both ways round", inputs: { x: ["B", "S", 3], v: [1, "S", 3] }, nodes: [n("Sub", ["x", "v"], ["a"]), n("Sub", ["v", "a"], ["y"])], outputs: ["y"] },
  { name: "Mul with a trailing-1 operand and a shared input", inputs: { x: ["B", "S", 3], w: ["B", "S", 1] }, nodes: [n("Mul", ["x", "w"], ["a"]), n("Mul", ["a", "x"], ["y"])], outputs: ["y"] },
  { name: "Div by a broadcast vector", inputs: { x: ["B", "S", 3], d: [3] }, positive: ["d"], nodes: [n("Div", ["x", "d"], ["y"])], outputs: ["y"] },
  { name: "Neg, Exp, Tanh, Sigmoid, Relu", inputs: { x: ["B", "S", 3] }, nodes: [n("Neg", ["x"], ["a"]), n("Exp", ["a"], ["b"]), n("Tanh", ["x"], ["c"]), n("Sigmoid", ["c"], ["d"]), n("Relu", ["x"], ["e"]), n("Sum", ["b", "d", "e"], ["y"])], outputs: ["y"] },
  {
    name: "Pow with constant exponents, Sqrt, Reciprocal, Log", inputs: { x: ["B", "S", 3] }, positive: ["x"],
    initializers: [doubleTensor("two", [], [2]), doubleTensor("p", [3], [0.5, 3, -1.5])],
    nodes: [n("Pow", ["x", "two"], ["a"]), n("Pow", ["x", "p"], ["b"]), n("Sqrt", ["x"], ["c"]), n("Reciprocal", ["x"], ["d"]), n("Log", ["x"], ["e"]), n("Sum", ["a", "b", "c", "d", "e"], ["y"])], outputs: ["y"],
  },
  { name: "Pow with a variable exponent", inputs: { x: ["B", "S", 2], p: [2] }, positive: ["x"], nodes: [n("Pow", ["x", "p"], ["y"])], outputs: ["y"] },
  { name: "MatMul with a shared weight", inputs: { x: ["B", "S", 4], w: [4, 3] }, nodes: [n("MatMul", ["x", "w"], ["y"])], outputs: ["y"] },
  { name: "batched MatMul (attention scores)", inputs: { q: ["B", 2, "S", 3], k: ["B", 2, 3, "S"] }, nodes: [n("MatMul", ["q", "k"], ["y"])], outputs: ["y"] },
  { name: "MatMul broadcasting a rank-3 weight over the batch", inputs: { x: ["B", 2, "S", 3], w: [2, 3, 4] }, nodes: [n("MatMul", ["x", "w"], ["y"])], outputs: ["y"] },
  {
    name: "Gemm with transB, alpha and beta", inputs: { a: ["B", 4], b: [3, 4], c: [3] },
    nodes: [n("Gemm", ["a", "b", "c"], ["y"], [floatAttr("alpha", 0.75), floatAttr("beta", 1.25), intAttr("transB", 1)])], outputs: ["y"],
  },
  { name: "Gemm with transA", inputs: { a: [4, "B"], b: [4, 3], c: [1, 3] }, nodes: [n("Gemm", ["a", "b", "c"], ["y"], [intAttr("transA", 1), floatAttr("alpha", 0.5)])], outputs: ["y"] },
  { name: "Softmax over the last axis", inputs: { x: ["B", 2, "S", "S"] }, nodes: [n("Softmax", ["x"], ["y"], [intAttr("axis", -1)])], outputs: ["y"] },
  { name: "Softmax over a middle axis, LogSoftmax", inputs: { x: ["B", "S", 3] }, nodes: [n("Softmax", ["x"], ["a"], [intAttr("axis", 1)]), n("LogSoftmax", ["x"], ["b"], [intAttr("axis", 2)]), n("Add", ["a", "b"], ["y"])], outputs: ["y"] },
  { name: "LayerNormalization (input, scale and bias)", inputs: { x: ["B", "S", 5], g: [5], b: [5] }, nodes: [n("LayerNormalization", ["x", "g", "b"], ["y"], [floatAttr("epsilon", 1e-5)])], outputs: ["y"] },
  { name: "LayerNormalization over two axes", inputs: { x: ["B", 3, 4], g: [3, 4] }, nodes: [n("LayerNormalization", ["x", "g"], ["y"], [intAttr("axis", 1), floatAttr("epsilon", 1e-3)])], outputs: ["y"] },
  {
    name: "decomposed LayerNorm as torch.onnx.export writes it (ReduceMean, Sub, Pow, Sqrt, Div)", inputs: { x: ["B", "S", 4] },
    initializers: [doubleTensor("two", [], [2]), doubleTensor("eps", [], [1e-5])],
    nodes: [
      n("ReduceMean", ["x"], ["m"], [intsAttr("axes", [-1])]), n("Sub", ["x", "m"], ["d"]), n("Pow", ["d", "two"], ["sq"]),
      n("ReduceMean", ["sq"], ["v"], [intsAttr("axes", [-1])]), n("Add", ["v", "eps"], ["ve"]), n("Sqrt", ["ve"], ["s"]), n("Div", ["d", "s"], ["y"]),
    ],
    outputs: ["y"],
  },
  {
    name: "Reshape into heads, Transpose, Flatten", inputs: { x: ["B", "S", 6] }, initializers: [ints("heads", [0, 0, 2, 3])],
    nodes: [n("Reshape", ["x", "heads"], ["r"]), n("Transpose", ["r"], ["t"], [intsAttr("perm", [0, 2, 1, 3])]), n("Tanh", ["t"], ["u"]), n("Flatten", ["u"], ["y"], [intAttr("axis", 2)])], outputs: ["y"],
  },
  {
    name: "Unsqueeze, Squeeze, default Transpose", inputs: { x: ["B", "S", 3] }, initializers: [ints("one", [1])],
    nodes: [n("Unsqueeze", ["x", "one"], ["u"]), n("Exp", ["u"], ["e"]), n("Squeeze", ["e", "one"], ["s"]), n("Transpose", ["s"], ["y"])], outputs: ["y"],
  },
  { name: "Expand a vector to a runtime shape", inputs: { x: ["B", "S", 3], v: [1, 3] }, nodes: [n("Shape", ["x"], ["shape"]), n("Expand", ["v", "shape"], ["e"]), n("Mul", ["e", "x"], ["y"])], outputs: ["y"] },
  {
    name: "Gather of the first token and of repeated / negative indices", inputs: { x: ["B", "S", 4] },
    initializers: [int64Tensor("zero", [], [0]), ints("picks", [3, -1, 3])],
    nodes: [n("Gather", ["x", "zero"], ["first"], [intAttr("axis", 1)]), n("Gather", ["x", "picks"], ["cols"], [intAttr("axis", 2)]), n("Tanh", ["cols"], ["y"])], outputs: ["first", "y"],
  },
  {
    name: "Slice: one axis to the end, stepped negative start, two axes", inputs: { x: ["B", "S", 5] },
    initializers: [ints("s1", [1]), ints("e1", [2 ** 53 - 1]), ints("a1", [1]), ints("s2", [-4]), ints("e2", [5]), ints("a2", [2]), ints("st2", [2]), ints("s3", [0, 1]), ints("e3", [2, 3]), ints("a3", [1, 2])],
    nodes: [n("Slice", ["x", "s1", "e1", "a1"], ["p"]), n("Slice", ["x", "s2", "e2", "a2", "st2"], ["q"]), n("Slice", ["x", "s3", "e3", "a3"], ["r"]), n("Exp", ["r"], ["y"])], outputs: ["p", "q", "y"],
  },
  {
    name: "Slice with ends computed from the runtime shape (as torch exports position ids)", inputs: { x: ["B", "S", 3], table: [6, 3] },
    initializers: [ints("zero", [0]), ints("one", [1]), ints("two", [2])],
    nodes: [n("Shape", ["x"], ["shape"]), n("Slice", ["shape", "one", "two"], ["len"]), n("Slice", ["table", "zero", "len", "zero"], ["rows"]), n("Add", ["x", "rows"], ["y"])], outputs: ["y"],
  },
  {
    name: "Split with one output unused", inputs: { x: ["B", "S", 6] }, initializers: [ints("parts", [2, 4])],
    nodes: [n("Split", ["x", "parts"], ["a", "b"], [intAttr("axis", 2)]), n("Tanh", ["b"], ["y"])], outputs: ["y"],
  },
  { name: "Split into equal halves, both used", inputs: { x: ["B", "S", 4] }, nodes: [n("Split", ["x"], ["a", "b"], [intAttr("axis", -1)]), n("Mul", ["a", "b"], ["y"])], outputs: ["y"] },
  { name: "Concat on the feature and on the sequence axis", inputs: { x: ["B", "S", 2], z: ["B", 2, 2] }, nodes: [n("Concat", ["x", "x", "z"], ["c"], [intAttr("axis", 1)]), n("Concat", ["c", "c"], ["y"], [intAttr("axis", -1)])], outputs: ["y"] },
  {
    name: "Where with a broadcast branch", inputs: { x: ["B", "S", 3], v: [3] }, initializers: [doubleTensor("zero", [], [0])],
    nodes: [n("Greater", ["x", "zero"], ["c"]), n("Where", ["c", "x", "v"], ["w"]), n("Mul", ["w", "x"], ["y"])], outputs: ["y"],
  },
  {
    name: "ReduceSum kept and dropped axes, ReduceMean, full reduction, Identity", inputs: { x: ["B", "S", 3] }, initializers: [ints("seq", [1])],
    nodes: [
      n("ReduceSum", ["x", "seq"], ["a"], [intAttr("keepdims", 0)]), n("ReduceMean", ["x"], ["b"], [intsAttr("axes", [-1]), intAttr("keepdims", 1)]),
      n("ReduceSum", ["x"], ["c"], [intAttr("keepdims", 0)]), n("Mul", ["a", "a"], ["y1"]), n("Exp", ["b"], ["y2"]), n("Identity", ["c"], ["y3"]),
    ],
    outputs: ["y1", "y2", "y3"],
  },
  {
    name: "attention block: scores, mask, Softmax, weighted values", inputs: { q: ["B", "S", 4], mask: ["B", 1, 1, "S"] },
    initializers: [ints("heads", [0, 0, 2, 2]), doubleTensor("scale", [], [Math.SQRT2])],
    nodes: [
      n("Reshape", ["q", "heads"], ["r"]), n("Transpose", ["r"], ["qh"], [intsAttr("perm", [0, 2, 1, 3])]), n("Transpose", ["r"], ["kh"], [intsAttr("perm", [0, 2, 3, 1])]),
      n("MatMul", ["qh", "kh"], ["s"]), n("Div", ["s", "scale"], ["sd"]), n("Add", ["sd", "mask"], ["sm"]), n("Softmax", ["sm"], ["p"], [intAttr("axis", -1)]),
      n("MatMul", ["p", "qh"], ["y"]),
    ],
    outputs: ["y"],
  },
  {
    name: "opset 11: Softmax over the flattened trailing axes, axes as attributes (ReduceSum, Unsqueeze, Squeeze), Gather, Slice",
    opset: 11, inputs: { x: ["B", "S", 3] }, initializers: [int64Tensor("zero", [], [0]), ints("s", [1]), ints("e", [3]), ints("a", [2])],
    nodes: [
      n("Softmax", ["x"], ["p"], [intAttr("axis", 1)]), n("ReduceSum", ["x"], ["r"], [intsAttr("axes", [1]), intAttr("keepdims", 0)]),
      n("Unsqueeze", ["r"], ["u"], [intsAttr("axes", [1])]), n("Mul", ["u", "p"], ["m"]), n("Exp", ["u"], ["eu"]), n("Squeeze", ["eu"], ["q"], [intsAttr("axes", [1])]),
      n("Gather", ["x", "zero"], ["g"], [intAttr("axis", 1)]), n("Slice", ["x", "s", "e", "a"], ["sl"]), n("Tanh", ["sl"], ["t"]),
    ],
    outputs: ["m", "q", "g", "t"],
  },
  {
    name: "Gelu, exact and tanh-approximated (opset 20, float32)", float32: true, opset: 20, inputs: { x: ["B", "S", 3] },
    nodes: [n("Gelu", ["x"], ["a"]), n("Gelu", ["x"], ["b"], [stringAttr("approximate", "tanh")]), n("Mul", ["a", "b"], ["y"])], outputs: ["y"],
  },
  { name: "Erf and Cast (float32)", float32: true, inputs: { x: ["B", "S", 3] }, nodes: [n("Erf", ["x"], ["e"]), n("Cast", ["e"], ["d"], [intAttr("to", DataType.DOUBLE)]), n("Cast", ["d"], ["y"], [intAttr("to", DataType.FLOAT)])], outputs: ["y"] },
];

for (const c of CASES) test(`VJP rule matches finite differences: ${c.name}`, () => checkCase(c));
