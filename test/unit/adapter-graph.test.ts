/**
 * The adapter-capable graph (lib/onnx/adapters): structural matching of the adapter and LoRA sites,
 * and the adapter bank's per-row mixing, checked on the bert-tiny-base and roberta-tiny-base fixtures
 * against the base model and against a naive reference graph (one adapter spliced in directly by
 * parameter names, test/helpers/adapter-graph-reference.ts).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import ort from "onnxruntime-node";
import { decodeModel, encodeModel, floatTensor, getAttribute, intsAttr, makeNode, valueInfo, DataType, type ModelProto, type NodeProto } from "../../lib/onnx/graph-io.ts";
import { AdapterGraphError, buildAdapterGraph, matchAdapterSites, type Adapter } from "../../lib/onnx/adapters/index.ts";
import { Rng } from "../../lib/fixtures/random.ts";
import { fixturePath } from "../helpers/fixtures.ts";
import { averageParameters, naiveAdapterModel, randomBottleneck, randomLora, referenceOutputName } from "../helpers/adapter-graph-reference.ts";

const H = 32, LAYERS = 2;
const FAMILIES = [
  { fixture: "bert-tiny-base", prefix: "", tokenTypes: true },
  { fixture: "roberta-tiny-base", prefix: "roberta.", tokenTypes: false },
] as const;
const OUTPUTS = ["last_hidden_state", "pooler_output"];

// The bank: two Pfeiffer adapters (same config, for averaging), one Houlsby, two LoRA (q,v; same config), one
// LoRA on q,k,v with another rank.
const ADAPTERS: Adapter[] = [
  randomBottleneck("pfeiffer-a", "seq_bn", "relu", H, 8, LAYERS),
  randomBottleneck("pfeiffer-b", "seq_bn", "relu", H, 8, LAYERS),
  randomBottleneck("houlsby", "double_seq_bn", "swish", H, 4, LAYERS, 1),
  randomLora("lora-a", ["query", "value"], H, 4, 8, LAYERS),
  randomLora("lora-b", ["query", "value"], H, 4, 8, LAYERS),
  randomLora("lora-qkv", ["query", "key", "value"], H, 2, 4, LAYERS),
];
const N = ADAPTERS.length;
const column = (name: string) => ADAPTERS.findIndex((a) => a.name === name);

async function baseModel(fixture: string): Promise<ModelProto> {
  return decodeModel(await readFile(join(await fixturePath(fixture), "model.onnx")));
}

const session = (model: ModelProto) => ort.InferenceSession.create(encodeModel(model), { graphOptimizationLevel: "all" });

/** A batch of `rows` sequences of length 7 (the last rows padded), deterministic. */
function inputs(rows: number, tokenTypes: boolean, seed = "adapter-graph-inputs"): Record<string, ort.Tensor> {
  const rng = new Rng(seed);
  const T = 7;
  const ids: bigint[] = [], mask: bigint[] = [], types: bigint[] = [];
  for (let b = 0; b < rows; b++) {
    const len = T - (b % 3);
    for (let t = 0; t < T; t++) {
      ids.push(BigInt(t < len ? 5 + (rng.nextU32() % 90) : 1));
      mask.push(t < len ? 1n : 0n);
      types.push(BigInt(t >= 4 && t < len ? 1 : 0));
    }
  }
  const int64 = (v: bigint[]) => new ort.Tensor("int64", BigInt64Array.from(v), [rows, T]);
  return { input_ids: int64(ids), attention_mask: int64(mask), ...(tokenTypes ? { token_type_ids: int64(types) } : {}) };
}

/** Row `b` of every feed. */
function row(feeds: Record<string, ort.Tensor>, b: number): Record<string, ort.Tensor> {
  return Object.fromEntries(Object.entries(feeds).map(([k, t]) => {
    const per = t.size / t.dims[0];
    const data = (t.data as BigInt64Array | Float32Array).slice(b * per, (b + 1) * per);
    return [k, new ort.Tensor(t.type, data, [1, ...t.dims.slice(1)])];
  }));
}

function weights(rows: number[][]): ort.Tensor {
  return new ort.Tensor("float32", Float32Array.from(rows.flat()), [rows.length, N]);
}
const oneHot = (name: string) => Array.from({ length: N }, (_, k) => (k === column(name) ? 1 : 0));
const zeros = () => new Array<number>(N).fill(0);

function rowData(t: ort.Tensor, b: number): Float32Array {
  const per = t.size / t.dims[0];
  return (t.data as Float32Array).subarray(b * per, (b + 1) * per);
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function assertClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): number {
  const d = maxDiff(a, b);
  assert.ok(d <= tol && Number.isFinite(d), `${what}: max |diff| ${d} > ${tol}`);
  return d;
}

for (const family of FAMILIES) {
  test(`${family.fixture}: sites are matched structurally in every layer`, async () => {
    const base = await baseModel(family.fixture);
    const sites = matchAdapterSites(base);
    assert.equal(sites.layers.length, LAYERS);
    assert.equal(sites.hiddenSize, H);
    sites.layers.forEach((layer, l) => {
      const p = `${family.prefix}encoder.layer.${l}`;
      assert.equal(layer.attention.dense.weight, `${p}.attention.output.dense.weight`);
      assert.equal(layer.ffn.dense.weight, `${p}.output.dense.weight`);
      assert.equal(layer.query.weight, `${p}.attention.self.query.weight`);
      assert.equal(layer.key.weight, `${p}.attention.self.key.weight`);
      assert.equal(layer.value.weight, `${p}.attention.self.value.weight`);
      assert.equal(layer.attention.layerNorm.gamma, `${p}.attention.output.LayerNorm.weight`);
      assert.equal(layer.ffn.layerNorm.gamma, `${p}.output.LayerNorm.weight`);
    });
  });

  test(`${family.fixture}: adapter bank — zero weights = base, one-hot = naive reference, mixed batch = rows alone, (0.5, 0.5) = parameter average`, async () => {
    const base = await baseModel(family.fixture);
    const graph = buildAdapterGraph(base, ADAPTERS);
    assert.deepEqual(graph.model.graph.input.map((i) => i.name).slice(-1), ["adapter_weights"]);
    assert.deepEqual(graph.model.graph.output.map((o) => o.name), base.graph.output.map((o) => o.name));
    const adapted = await session(graph.model);
    const plain = await session(base);
    const feeds = inputs(4, family.tokenTypes);

    // (a) all-zero weights = the base model.
    const zeroOut = await adapted.run({ ...feeds, adapter_weights: weights([zeros(), zeros(), zeros(), zeros()]) });
    const baseOut = await plain.run(feeds);
    for (const o of OUTPUTS) assertClose(zeroOut[o].data as Float32Array, baseOut[o].data as Float32Array, 1e-6, `${family.fixture} zero weights ${o}`);

    // (b) one adapter = the naive reference of its maths; and the adapter changes the output.
    const single = new Map<string, ort.InferenceSession.ReturnType>();
    for (const adapter of ADAPTERS) {
      const out = await adapted.run({ ...feeds, adapter_weights: weights([0, 1, 2, 3].map(() => oneHot(adapter.name))) });
      single.set(adapter.name, out);
      const refModel = naiveAdapterModel(base, adapter, family.prefix, H);
      const ref = await (await session(refModel)).run(feeds);
      for (const o of OUTPUTS) assertClose(out[o].data as Float32Array, ref[referenceOutputName(refModel, o)].data as Float32Array, 1e-5, `${family.fixture} ${adapter.name} vs reference ${o}`);
      assert.ok(maxDiff(out.last_hidden_state.data as Float32Array, baseOut.last_hidden_state.data as Float32Array) > 1e-2, `${adapter.name} has an effect`);
    }

    // (c) a batch mixing rows for different adapters (and the base) = each row alone with its adapter.
    const mix = [oneHot("pfeiffer-a"), oneHot("houlsby"), zeros(), oneHot("lora-qkv")];
    const mixedOut = await adapted.run({ ...feeds, adapter_weights: weights(mix) });
    for (let b = 0; b < 4; b++) {
      const alone = await adapted.run({ ...row(feeds, b), adapter_weights: weights([mix[b]]) });
      for (const o of OUTPUTS) assertClose(rowData(mixedOut[o], b), alone[o].data as Float32Array, 1e-5, `${family.fixture} mixed row ${b} ${o}`);
    }
    // ... and equals the single-adapter batches row by row.
    for (const [b, name] of [[0, "pfeiffer-a"], [1, "houlsby"], [3, "lora-qkv"]] as const) {
      assertClose(rowData(mixedOut.last_hidden_state, b), rowData(single.get(name)!.last_hidden_state, b), 1e-5, `${family.fixture} mixed row ${b} vs ${name} batch`);
    }

    // (d) (0.5, 0.5) = AdapterHub's averaging: the adapter whose parameters are the average (not the average output).
    for (const pair of [["pfeiffer-a", "pfeiffer-b"], ["lora-a", "lora-b"]]) {
      const w = zeros();
      for (const name of pair) w[column(name)] = 0.5;
      const out = await adapted.run({ ...feeds, adapter_weights: weights([w, w, w, w]) });
      const averaged = averageParameters(pair.map((name) => ADAPTERS[column(name)]), [0.5, 0.5]);
      const refModel = naiveAdapterModel(base, averaged, family.prefix, H);
      const ref = await (await session(refModel)).run(feeds);
      for (const o of OUTPUTS) assertClose(out[o].data as Float32Array, ref[referenceOutputName(refModel, o)].data as Float32Array, 1e-5, `${family.fixture} avg(${pair}) ${o}`);
      // Output averaging would be something else (documents the difference).
      const [x, y] = pair.map((name) => single.get(name)!.last_hidden_state.data as Float32Array);
      const outputAverage = x.map((v, i) => 0.5 * v + 0.5 * y[i]);
      assert.ok(maxDiff(out.last_hidden_state.data as Float32Array, outputAverage) > 1e-3, `${pair}: parameter average differs from output average`);
    }
  });
}

test("bank as graph inputs equals bank as initializers; the bank inputs are pure inputs fed per run", async () => {
  const base = await baseModel("bert-tiny-base");
  const init = buildAdapterGraph(base, ADAPTERS);
  const asInputs = buildAdapterGraph(base, ADAPTERS, { bankStorage: "inputs" });
  const initNames = new Set(asInputs.model.graph.initializer.map((t) => t.name));
  assert.ok(asInputs.bankTensors.every((t) => !initNames.has(t.name)));
  const s = await session(asInputs.model);
  assert.deepEqual(new Set(s.inputNames), new Set(["input_ids", "attention_mask", "token_type_ids", "adapter_weights", ...asInputs.bankTensors.map((t) => t.name)]));
  const feeds = { ...inputs(3, true, "bank-inputs"), adapter_weights: weights([oneHot("houlsby"), oneHot("lora-a"), zeros().map((_, k) => (k === 0 || k === 1 ? 0.5 : 0))]) };
  const bank = Object.fromEntries(asInputs.bankTensors.map((t) => [t.name, new ort.Tensor("float32", t.data, t.dims)]));
  const a = await (await session(init.model)).run(feeds);
  const b = await s.run({ ...feeds, ...bank });
  assertClose(a.last_hidden_state.data as Float32Array, b.last_hidden_state.data as Float32Array, 1e-6, "inputs vs initializers");
  assert.ok(Object.values(init.bytesPerAdapter).every((n) => n > 0));
});

test("distilbert-tiny-base is recognised too", async () => {
  const sites = matchAdapterSites(await baseModel("distilbert-tiny-base"));
  assert.equal(sites.layers.length, LAYERS);
  assert.match(sites.layers[1].query.weight, /layer\.1\.attention\.q_lin\.weight$/);
  assert.match(sites.layers[1].ffn.dense.weight, /layer\.1\.ffn\.lin2\.weight$/);
});

test("unrecognised graphs give an AdapterGraphError naming what was not found", async () => {
  const noAttention: ModelProto = {
    irVersion: 8,
    opsetImport: [{ version: 17 }],
    graph: { node: [makeNode("Relu", ["x"], ["y"])], initializer: [], input: [valueInfo("x", DataType.FLOAT, [1, 4])], output: [valueInfo("y", DataType.FLOAT, [1, 4])] },
  };
  assert.throws(() => buildAdapterGraph(noAttention, ADAPTERS), (e: unknown) => e instanceof AdapterGraphError && /no attention Softmax/.test(e.message));

  // The FFN LayerNorm of layer 0 replaced by an Identity: the FFN site is missing.
  const broken = await baseModel("bert-tiny-base");
  const ln = broken.graph.node.find((n) => n.opType === "LayerNormalization" && n.input[1] === "encoder.layer.0.output.LayerNorm.weight")!;
  Object.assign(ln, { opType: "Identity", input: [ln.input[0]], attribute: undefined });
  assert.throws(() => buildAdapterGraph(broken, ADAPTERS), (e: unknown) => e instanceof AdapterGraphError && e.layer === 0 && /no FFN output projection/.test(e.message));

  // No value projection (V read straight from the layer input).
  const noV = await baseModel("roberta-tiny-base");
  const vAdd = noV.graph.node.find((n) => n.opType === "Add" && n.input.includes("roberta.encoder.layer.1.attention.self.value.bias"))!;
  const vMatMul = noV.graph.node.find((n) => n.output[0] === vAdd.input.find((i) => !i.endsWith("bias")))!;
  const reshape = noV.graph.node.find((n) => n.input[0] === vAdd.output[0])!;
  reshape.input[0] = vMatMul.input[0];
  assert.throws(() => matchAdapterSites(noV), (e: unknown) => e instanceof AdapterGraphError && e.layer === 1 && /no value projection/.test(e.message));
});

/** Every LayerNormalization rewritten as ReduceMean → Sub → Pow → ReduceMean → Add(eps) → Sqrt → Div → Mul(γ) → Add(β), as older exports write it. */
function decomposeLayerNorms(model: ModelProto): number {
  const nodes: NodeProto[] = [];
  let k = 0;
  for (const n of model.graph.node) {
    if (n.opType !== "LayerNormalization") {
      nodes.push(n);
      continue;
    }
    const [x, gamma, beta] = n.input;
    const t = (s: string) => `/decomposed_${k}/${s}`;
    const eps = t("eps"), two = t("two");
    model.graph.initializer.push(floatTensor(eps, [], [getAttribute(n, "epsilon")?.f ?? 1e-5]), floatTensor(two, [], [2]));
    nodes.push(
      makeNode("ReduceMean", [x], [t("mean")], [intsAttr("axes", [-1])]),
      makeNode("Sub", [x, t("mean")], [t("d")]),
      makeNode("Pow", [t("d"), two], [t("sq")]),
      makeNode("ReduceMean", [t("sq")], [t("var")], [intsAttr("axes", [-1])]),
      makeNode("Add", [t("var"), eps], [t("ve")]),
      makeNode("Sqrt", [t("ve")], [t("std")]),
      makeNode("Div", [t("d"), t("std")], [t("norm")]),
      makeNode("Mul", [t("norm"), gamma], [t("scaled")]),
      makeNode("Add", [t("scaled"), beta], [n.output[0]]),
    );
    k++;
  }
  model.graph.node = nodes;
  return k;
}

test("decomposed LayerNorms (older exports): sites match and the bank gives the same outputs (Pfeiffer clones the 9-node LayerNorm)", async () => {
  const original = await baseModel("bert-tiny-base");
  const decomposed = await baseModel("bert-tiny-base");
  assert.equal(decomposeLayerNorms(decomposed), 5);
  const sites = matchAdapterSites(decomposed);
  assert.deepEqual(sites.layers.map((l) => [l.attention.layerNormNodes.length, l.ffn.layerNormNodes.length]), [[9, 9], [9, 9]]);
  const a = await session(buildAdapterGraph(original, ADAPTERS).model);
  const b = await session(buildAdapterGraph(decomposed, ADAPTERS).model);
  const feeds = { ...inputs(4, true, "decomposed"), adapter_weights: weights([oneHot("pfeiffer-a"), oneHot("houlsby"), oneHot("lora-a"), zeros()]) };
  const [x, y] = [await a.run(feeds), await b.run(feeds)];
  for (const o of OUTPUTS) assertClose(x[o].data as Float32Array, y[o].data as Float32Array, 1e-5, `decomposed ${o}`);
});
