/**
 * Graph surgery for attentions / hidden states (lib/onnx/graph-surgery.ts): structural matching
 * on the fixture BERT graphs and on hand-built graphs the way torch.onnx.export writes them
 * (decomposed LayerNorm, mask Add before Softmax, Cast between Softmax and MatMul, Shape/Slice
 * chains), checked numerically against an independent float64 forward pass.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, mkdtemp, writeFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ort from "onnxruntime-node";
import tokenizers from "tokenizers";
import { decodeModel, encodeModel, intAttr, intsAttr, valueInfo, DataType, type ModelProto } from "../../lib/onnx/graph-io.ts";
import { analyseExtraOutputs, addExtraOutputs, findLayerNorms, GraphIndex } from "../../lib/onnx/graph-surgery.ts";
import { planExtraOutputs } from "../../lib/onnx/extended-model.ts";
import { GraphBuilder, BATCH, SEQUENCE, floatOutput } from "../../lib/fixtures/graph-builder.ts";
import { Rng } from "../../lib/fixtures/random.ts";
import { fixturePath } from "../helpers/fixtures.ts";
import { encoderTrace, readWeights, type BertConfig, type Mat } from "../helpers/encoder-float64.ts";

const FIXTURES = ["bert-tiny-base", "bert-tiny-sst", "bert-tiny-ner", "bert-tiny-qa"];
const int64 = (rows: number[][]) => new ort.Tensor("int64", BigInt64Array.from(rows.flat(), (v) => BigInt(v)), [rows.length, rows[0].length]);
const producerOp = (model: ModelProto, tensor: string) => model.graph.node.find((n) => n.output.includes(tensor))?.opType;

function assertClose(got: ArrayLike<number>, want: number[], tol: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) <= tol, `${what}[${i}]: ${got[i]} vs ${want[i]}`);
}

/** Item `b`'s corner of a batched tensor: the leading `sizes` along axes 1.. */
function corner(t: ort.Tensor, b: number, sizes: number[]): number[] {
  const dims = t.dims.slice(1);
  const data = t.data as Float32Array;
  const per = dims.reduce((a, c) => a * c, 1);
  const out: number[] = [];
  const walk = (axis: number, offset: number) => {
    const stride = dims.slice(axis + 1).reduce((a, c) => a * c, 1);
    for (let i = 0; i < sizes[axis]; i++) axis === dims.length - 1 ? out.push(data[b * per + offset + i]) : walk(axis + 1, offset + i * stride);
  };
  walk(0, 0);
  return out;
}

test("fixture graphs: one Softmax per layer, the embedding LayerNorm and every layer's output LayerNorm are found", async () => {
  for (const name of FIXTURES) {
    const model = decodeModel(await readFile(join(await fixturePath(name), "model.onnx")));
    const analysis = analyseExtraOutputs(model);
    assert.ok(analysis.ok, `${name}: ${analysis.ok ? "" : analysis.reason}`);
    const { plan } = analysis;
    assert.equal(plan.attentions.length, 2);
    assert.ok(plan.attentions.every((t) => producerOp(model, t) === "Softmax"));
    // LayerNorms in graph order: embeddings, then (attention output, layer output) per layer.
    const norms = findLayerNorms(new GraphIndex(model)).map((n) => n.output);
    assert.equal(norms.length, 5);
    assert.deepEqual(plan.hiddenStates, [norms[0], norms[2], norms[4]]);
    assert.deepEqual([plan.elemType, plan.hiddenSize], [DataType.FLOAT, 32]);
    const before = model.graph.output.map((o) => o.name);
    addExtraOutputs(model, plan);
    assert.deepEqual(model.graph.output.map((o) => o.name), [...before, "attentions.0", "attentions.1", "hidden_states.0", "hidden_states.1", "hidden_states.2"]);
  }
});

test("surgered fixtures match a float64 BERT: attentions and hidden states to 1e-4, original outputs unchanged, padding cropped", async () => {
  const dir = await fixturePath("bert-tiny-base");
  const tok = tokenizers.Tokenizer.fromFile(join(dir, "tokenizer.json"));
  const encode = async (a: string, b?: string) => {
    const e = await tok.encode(a, b ?? null);
    return { ids: e.getIds(), types: e.getTypeIds() };
  };
  const items = [await encode("where is the cat?", "the cat sat on the mat."), await encode("hello world")];
  const length = Math.max(...items.map((i) => i.ids.length));
  const pad = (row: number[]) => [...row, ...new Array(length - row.length).fill(0)];
  const feeds = {
    input_ids: int64(items.map((i) => pad(i.ids))),
    attention_mask: int64(items.map((i) => pad(i.ids.map(() => 1)))),
    token_type_ids: int64(items.map((i) => pad(i.types))),
  };
  for (const name of FIXTURES) {
    const path = join(await fixturePath(name), "model.onnx");
    const model = decodeModel(await readFile(path));
    const cfg = JSON.parse(await readFile(join(await fixturePath(name), "config.json"), "utf8")) as BertConfig;
    const analysis = analyseExtraOutputs(model);
    assert.ok(analysis.ok);
    const surgered = await ort.InferenceSession.create(encodeModel(addExtraOutputs(model, analysis.plan)));
    const out = await surgered.run(feeds);
    const plain = await (await ort.InferenceSession.create(path)).run(feeds);
    for (const [k, v] of Object.entries(plain)) assertClose(out[k].data as Float32Array, Array.from(v.data as Float32Array), 1e-6, `${name} ${k}`);
    const w = readWeights(model);
    items.forEach((item, b) => {
      const n = item.ids.length;
      const ref = encoderTrace(w, "bert", cfg, item.ids, item.types);
      for (let l = 0; l < cfg.num_hidden_layers; l++) {
        const att = out[`attentions.${l}`];
        assert.deepEqual(att.dims, [2, 4, length, length]);
        assertClose(corner(att, b, [4, n, n]), ref.attentions[l].flat(2), 1e-4, `${name} attentions.${l} item ${b}`);
        // every real query row sums to 1 over the real keys; padded keys get (numerically) nothing
        const rows = corner(att, b, [4, length, length]);
        for (let h = 0; h < 4; h++) for (let i = 0; i < n; i++) {
          const r = rows.slice((h * length + i) * length, (h * length + i + 1) * length);
          assert.ok(Math.abs(r.slice(0, n).reduce((a, c) => a + c, 0) - 1) < 1e-5);
          assert.ok(r.slice(n).every((v) => v === 0), `${name}: padding keys of item ${b} get weight`);
        }
      }
      for (let i = 0; i <= cfg.num_hidden_layers; i++) {
        const hs = out[`hidden_states.${i}`];
        assert.deepEqual(hs.dims, [2, length, 32]);
        assertClose(corner(hs, b, [n, 32]), ref.hiddenStates[i].flat(), 1e-4, `${name} hidden_states.${i} item ${b}`);
      }
    });
    if (name === "bert-tiny-base") assert.deepEqual(Array.from(out["hidden_states.2"].data as Float32Array), Array.from(out.last_hidden_state.data as Float32Array));
  }
});

test("planExtraOutputs describes the added outputs with the input's symbolic batch and sequence dims", async () => {
  const plan = await planExtraOutputs(join(await fixturePath("bert-tiny-sst"), "model.onnx"));
  assert.equal(plan.unavailable, undefined);
  assert.deepEqual(plan.outputs, [
    { name: "attentions.0", type: "float32", shape: ["batch_size", "num_attention_heads", "sequence_length", "sequence_length"] },
    { name: "attentions.1", type: "float32", shape: ["batch_size", "num_attention_heads", "sequence_length", "sequence_length"] },
    { name: "hidden_states.0", type: "float32", shape: ["batch_size", "sequence_length", 32] },
    { name: "hidden_states.1", type: "float32", shape: ["batch_size", "sequence_length", 32] },
    { name: "hidden_states.2", type: "float32", shape: ["batch_size", "sequence_length", 32] },
  ]);
});

// ---------------------------------------------------------------------------------------------
// Hand-built graphs in torch.onnx.export style

const H = 6, VOCAB = 11, MAX_POS = 16, EPS = 1e-5;

interface Built { model: ModelProto; softmaxes: string[]; hidden: string[]; params: Map<string, Float64Array> }

/** A 2-layer single-head encoder with decomposed LayerNorms; `preNorm` puts the norms before each block instead. */
function handBuilt(options: { preNorm?: boolean; layers?: number; withSoftmax?: boolean } = {}): Built {
  const { preNorm = false, layers = 2, withSoftmax = true } = options;
  const g = new GraphBuilder();
  const rng = new Rng("graph-surgery-test");
  const params = new Map<string, Float64Array>();
  const param = (name: string, dims: number[], centre = 0) => {
    const values = Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => centre + (rng.nextFloat() - 0.5));
    params.set(name, Float64Array.from(values));
    return g.param(name, dims, values);
  };
  const norm = (x: string, name: string) => {
    const mean = g.op("ReduceMean", [x], [intsAttr("axes", [-1]), intAttr("keepdims", 1)]);
    const d = g.op("Sub", [x, mean]);
    const variance = g.op("ReduceMean", [g.op("Pow", [d, g.floats([2], [])])], [intsAttr("axes", [-1]), intAttr("keepdims", 1)]);
    const normed = g.op("Div", [d, g.op("Sqrt", [g.op("Add", [variance, g.floats([EPS], [])])])]);
    return g.op("Add", [g.op("Mul", [normed, param(`${name}.weight`, [H], 1)]), param(`${name}.bias`, [H])]);
  };
  const linear = (x: string, name: string) => g.op("Add", [g.op("MatMul", [x, param(`${name}.weight`, [H, H])]), param(`${name}.bias`, [H])]);
  const words = g.op("Gather", [param("word", [VOCAB, H]), "input_ids"]);
  const seqLen = g.op("Slice", [g.op("Shape", ["input_ids"]), g.int64s([1]), g.int64s([2]), g.int64s([0])]);
  const positions = g.op("Slice", [param("position", [MAX_POS, H]), g.int64s([0]), seqLen, g.int64s([0])]);
  const summed = g.op("Add", [words, positions]);
  const maskFloat = g.op("Cast", ["attention_mask"], [intAttr("to", DataType.FLOAT)]);
  const bias = g.op("Unsqueeze", [g.op("Mul", [g.op("Sub", [g.floats([1], []), maskFloat]), g.floats([-10000], [])]), g.int64s([1, 2])]);
  const softmaxes: string[] = [];
  const hidden: string[] = [];
  let x = preNorm ? summed : norm(summed, "emb_norm");
  hidden.push(x);
  for (let l = 0; l < layers; l++) {
    const input = preNorm ? norm(x, `l${l}.pre_attention`) : x;
    const heads = (t: string) => g.op("Unsqueeze", [t, g.int64s([1])]);
    const q = heads(linear(input, `l${l}.q`));
    const kT = g.op("Transpose", [heads(linear(input, `l${l}.k`))], [intsAttr("perm", [0, 1, 3, 2])]);
    const scores = g.op("Add", [g.op("Mul", [g.op("MatMul", [q, kT]), g.floats([1 / Math.sqrt(H)], [])]), bias]);
    const probs = withSoftmax ? g.op("Softmax", [scores], [intAttr("axis", -1)]) : g.op("Sigmoid", [scores]);
    softmaxes.push(probs);
    const weighted = g.op("Cast", [probs], [intAttr("to", DataType.FLOAT)]);
    const context = g.op("Squeeze", [g.op("MatMul", [weighted, heads(linear(input, `l${l}.v`))]), g.int64s([1])]);
    const attended = preNorm ? g.op("Add", [x, linear(context, `l${l}.o`)]) : norm(g.op("Add", [x, linear(context, `l${l}.o`)]), `l${l}.attention_norm`);
    const ffnIn = preNorm ? norm(attended, `l${l}.pre_ffn`) : attended;
    const ffn = linear(g.op("Relu", [linear(ffnIn, `l${l}.ffn1`)]), `l${l}.ffn2`);
    x = preNorm ? g.op("Add", [ffn, attended]) : norm(g.op("Add", [ffn, attended]), `l${l}.output_norm`);
    hidden.push(x);
  }
  if (preNorm) x = norm(x, "final_norm");
  g.rename(x, "last_hidden_state");
  if (!preNorm) hidden[hidden.length - 1] = "last_hidden_state";
  const ids = (name: string) => valueInfo(name, DataType.INT64, [BATCH, SEQUENCE]);
  const model: ModelProto = {
    irVersion: 8,
    opsetImport: [{ domain: "", version: 17 }],
    graph: g.graph("hand_built", [ids("input_ids"), ids("attention_mask")], [floatOutput("last_hidden_state", [BATCH, SEQUENCE, H])]),
  };
  return { model, softmaxes, hidden, params };
}

test("a torch-style graph with decomposed LayerNorms: the right tensors are found and hidden_states.0 equals a hand-computed LayerNorm", async () => {
  const built = handBuilt();
  const index = new GraphIndex(built.model);
  assert.equal(findLayerNorms(index).length, 1 + 2 * 2, "every decomposed LayerNorm is recognised");
  assert.equal(built.model.graph.node.filter((n) => n.opType === "LayerNormalization").length, 0);
  const analysis = analyseExtraOutputs(built.model);
  assert.ok(analysis.ok, analysis.ok ? "" : analysis.reason);
  assert.deepEqual(analysis.plan.attentions, built.softmaxes);
  assert.deepEqual(analysis.plan.hiddenStates, built.hidden);
  assert.equal(analysis.plan.hiddenSize, H);

  const session = await ort.InferenceSession.create(encodeModel(addExtraOutputs(built.model, analysis.plan)));
  const ids = [[3, 7, 1, 9], [5, 2, 0, 0]];
  const mask = [[1, 1, 1, 1], [1, 1, 0, 0]];
  const out = await session.run({ input_ids: int64(ids), attention_mask: int64(mask) });
  // hidden_states.0 by hand: LayerNorm(word + position) with the graph's own parameters, float64
  const p = built.params;
  const want: Mat = ids.flatMap((row) =>
    row.map((id, pos) => {
      const v = Array.from({ length: H }, (_, i) => p.get("word")![id * H + i] + p.get("position")![pos * H + i]);
      const mean = v.reduce((a, c) => a + c, 0) / H;
      const variance = v.reduce((a, c) => a + (c - mean) ** 2, 0) / H;
      return v.map((c, i) => ((c - mean) / Math.sqrt(variance + EPS)) * p.get("emb_norm.weight")![i] + p.get("emb_norm.bias")![i]);
    }),
  );
  assertClose(out["hidden_states.0"].data as Float32Array, want.flat(), 1e-5, "hidden_states.0");
  assert.deepEqual(Array.from(out["hidden_states.2"].data as Float32Array), Array.from(out.last_hidden_state.data as Float32Array));
  for (const l of [0, 1]) {
    const att = out[`attentions.${l}`];
    assert.deepEqual(att.dims, [2, 1, 4, 4]);
    const data = att.data as Float32Array;
    for (let b = 0; b < 2; b++) for (let i = 0; i < 4; i++) {
      const row = Array.from(data.subarray((b * 4 + i) * 4, (b * 4 + i + 1) * 4));
      const real = mask[b].reduce((a, c) => a + c, 0);
      assert.ok(Math.abs(row.slice(0, real).reduce((a, c) => a + c, 0) - 1) < 1e-6);
      assert.ok(row.slice(real).every((v) => v < 1e-6));
    }
  }
});

test("unrecognised structures are left alone with a reason: pre-LayerNorm blocks, no Softmax, one pre-LN layer", async () => {
  for (const [what, built, reason] of [
    ["pre-LN", handBuilt({ preNorm: true }), /residual stream|LayerNorm/],
    ["pre-LN, one layer", handBuilt({ preNorm: true, layers: 1 }), /LayerNorm/],
    ["no softmax", handBuilt({ withSoftmax: false }), /no attention Softmax/],
  ] as const) {
    const bytes = encodeModel(built.model);
    const analysis = analyseExtraOutputs(built.model);
    assert.equal(analysis.ok, false, what);
    assert.match(analysis.ok ? "" : analysis.reason, reason, what);
    assert.ok(Buffer.from(encodeModel(built.model)).equals(bytes), `${what}: graph untouched`);
    const dir = await mkdtemp(join(tmpdir(), "surgery-"));
    try {
      await writeFile(join(dir, "model.onnx"), bytes);
      const plan = await planExtraOutputs(join(dir, "model.onnx"));
      assert.deepEqual(plan.outputs, []);
      assert.match(plan.unavailable ?? "", /structure was not recognised/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
});

test("a real torch.onnx.export graph (PyTorch 1.13, opset 14: decomposed LayerNorm, Gemm, Shape chains, Constant nodes) is recognised", async () => {
  const model = decodeModel(await readFile("test/goldens/torch-export/bert-tiny-sst-torch.onnx"));
  assert.equal(model.graph.node.filter((n) => n.opType === "LayerNormalization").length, 0, "no fused LayerNorm in this export");
  const norms = findLayerNorms(new GraphIndex(model));
  assert.equal(norms.length, 5, "embedding LayerNorm + two per layer, all decomposed");
  const analysis = analyseExtraOutputs(model);
  assert.ok(analysis.ok, analysis.ok ? "" : analysis.reason);
  assert.ok(analysis.plan.attentions.every((t) => producerOp(model, t) === "Softmax"));
  assert.deepEqual(analysis.plan.hiddenStates, [norms[0].output, norms[2].output, norms[4].output]);
  // numbers against PyTorch for this graph: test/integration/torch-goldens-intermediates.test.ts
});
