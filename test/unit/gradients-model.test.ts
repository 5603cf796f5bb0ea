/**
 * Gradient models of whole encoders (lib/onnx/gradients): the surgered forward pass equals the
 * original model given the embedding rows; ∂target/∂inputs_embeds equals central finite
 * differences on float64 copies of the tiny BERT classification and QA fixtures; gradients and
 * attention-probability cotangents equal PyTorch autograd (test/goldens) for every fixture family
 * and for a torch.onnx.export graph (Gemm, Slice, Shape chains, decomposed LayerNorm); operators
 * without a rule are named in a typed error; the cache reloads a built model from disk.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ort from "onnxruntime-node";
import {
  DataType, decodeModel, encodeModel, floatTensor, int64Tensor, intAttr, makeNode, tensorFloats, valueInfo,
  type ModelProto, type TensorProto,
} from "../../lib/onnx/graph-io.ts";
import {
  buildGradientModel, embeddingRows, UnsupportedOperatorError, GRAD_INPUTS_EMBEDS, attentionGradOutput, type GradientModel,
} from "../../lib/onnx/gradients/gradient-model.ts";
import { GradientModelCache, cacheKey, entryFiles, readEntryTable } from "../../lib/onnx/gradients/cache.ts";
import { fixturePath } from "../helpers/fixtures.ts";
import {
  assertClose, assertGoldenModel, loadGradientGolden, loadTorchExportGolden, TORCH_EXPORT_MODEL, type GoldenTensor,
} from "../helpers/goldens.ts";

const modelFile = async (fixture: string) => join(await fixturePath(fixture), "model.onnx");

/** A padded batch of two: [CLS] a b c [SEP] [PAD] and [CLS] d e f g [SEP] (ids valid in every tiny vocabulary). */
const BATCH = { ids: [[2, 297, 265, 194, 3, 0], [2, 177, 420, 352, 741, 3]], mask: [[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1]], types: [[0, 0, 0, 1, 1, 0], [0, 0, 0, 0, 1, 1]] };

const int64s = (rows: number[][]) => new ort.Tensor("int64", BigInt64Array.from(rows.flat(), (v) => BigInt(v)), [rows.length, rows[0].length]);

/** Feeds for the original model's id inputs. */
function idFeeds(names: readonly string[], batch: { ids: number[][]; mask: number[][]; types: number[][] }): Record<string, ort.Tensor> {
  const rows: Record<string, number[][]> = { input_ids: batch.ids, attention_mask: batch.mask, token_type_ids: batch.types };
  return Object.fromEntries(names.map((n) => [n, int64s(rows[n])]));
}

/** Feeds for the gradient model: embedding rows in place of the lookup, the id inputs it still reads, the cotangents. */
function gradientFeeds(gm: GradientModel, batch: typeof BATCH, cotangents: Record<string, ort.Tensor>, double = false): Record<string, ort.Tensor> {
  const rows = embeddingRows(gm.embeddingTable, batch.ids.flat());
  const shape = [batch.ids.length, batch.ids[0].length, gm.embeddingTable.hidden];
  const embeds = double ? new ort.Tensor("float64", Float64Array.from(rows), shape) : new ort.Tensor("float32", rows, shape);
  const ids = idFeeds(gm.inputs.filter((n) => n in { input_ids: 1, attention_mask: 1, token_type_ids: 1 }), batch);
  return { ...ids, inputs_embeds: embeds, ...Object.fromEntries(Object.entries(cotangents).map(([t, c]) => [`grad_${t}`, c])) };
}

/** One-hot cotangents: the label's logit per item, or the (start, end) span per item. */
function oneHot(dims: number[], hot: number[], double = false): ort.Tensor {
  const per = dims.slice(1).reduce((a, b) => a * b, 1);
  const data = double ? new Float64Array(dims[0] * per) : new Float32Array(dims[0] * per);
  hot.forEach((h, b) => (data[b * per + h] = 1));
  return new ort.Tensor(double ? "float64" : "float32", data, dims);
}

test("surgered forward pass equals the original model given the embedding rows; the table is the lookup's initializer", async () => {
  for (const fixture of ["bert-tiny-sst", "bert-tiny-qa", "roberta-tiny-sst", "distilbert-tiny-qa"]) {
    const bytes = await readFile(await modelFile(fixture));
    const gm = await buildGradientModel(bytes);
    const original = await ort.InferenceSession.create(bytes);
    const expected = await original.run(idFeeds(original.inputNames, BATCH));
    const cotangents = Object.fromEntries(gm.targets.map((t) => [t, oneHot(expected[t].dims as number[], [0, 0])]));
    const got = await (await ort.InferenceSession.create(gm.bytes)).run(gradientFeeds(gm, BATCH, cotangents));
    assert.deepEqual(gm.targets, original.outputNames, fixture);
    for (const t of gm.targets) assertClose(got[t].data as Float32Array, { shape: [], data: Array.from(expected[t].data as Float32Array) }, `${fixture} ${t}`, 1e-6);

    const table = decodeModel(bytes).graph.initializer.find((i) => i.name === gm.embeddingTable.name)!;
    assert.deepEqual(table.dims.map(Number), [gm.embeddingTable.rows, gm.embeddingTable.hidden]);
    assert.deepEqual(Array.from(gm.embeddingTable.data), Array.from(tensorFloats(table)));
    // RoBERTa computes position ids from input_ids and BERT takes the sequence length from it; DistilBERT too.
    assert.equal(gm.keepsInputIds, true, fixture);
  }
});

/** The model in float64: initializers, constants, casts and I/O types; Erf (no double kernel in ORT) becomes tanh(2x/√π), a smooth stand-in. */
function float64Copy(model: ModelProto): ModelProto {
  const copy = decodeModel(encodeModel(model));
  const toDouble = (t: TensorProto): TensorProto => (t.dataType === DataType.FLOAT ? { name: t.name, dims: t.dims, dataType: DataType.DOUBLE, doubleData: Array.from(tensorFloats(t)) } : t);
  const g = copy.graph;
  g.initializer = g.initializer.map(toDouble);
  for (const info of [...g.input, ...g.output, ...(g.valueInfo ?? [])]) if (info.type?.tensorType?.elemType === DataType.FLOAT) info.type.tensorType.elemType = DataType.DOUBLE;
  const nodes = [];
  for (const node of g.node) {
    for (const a of node.attribute ?? []) {
      if (a.t) a.t = toDouble(a.t);
      if (node.opType === "Cast" && a.name === "to" && a.i === DataType.FLOAT) a.i = DataType.DOUBLE;
    }
    if (node.opType === "Erf") {
      const scale = `${node.output[0]}/erf_scale`;
      g.initializer.push({ name: scale, dims: [], dataType: DataType.DOUBLE, doubleData: [2 / Math.sqrt(Math.PI)] });
      nodes.push(makeNode("Mul", [node.input[0], scale], [`${scale}/x`]), makeNode("Tanh", [`${scale}/x`], node.output));
    } else nodes.push(node);
  }
  g.node = nodes;
  return copy;
}

test("∂target/∂inputs_embeds equals central finite differences on float64 copies (classification and QA heads)", async () => {
  for (const [fixture, hot] of [["bert-tiny-sst", { logits: [2, 0] }], ["bert-tiny-qa", { start_logits: [1, 3], end_logits: [3, 4] }]] as const) {
    const gm = await buildGradientModel(encodeModel(float64Copy(decodeModel(await readFile(await modelFile(fixture))))));
    const session = await ort.InferenceSession.create(gm.bytes);
    const batch = BATCH.ids.length;
    const probe = await session.run(gradientFeeds(gm, BATCH, Object.fromEntries(gm.targets.map((t) => [t, oneHot([batch, hot.logits ? 3 : 6], [0, 0], true)])), true));
    const cotangents = Object.fromEntries(Object.entries(hot).map(([t, h]) => [t, oneHot(probe[t].dims as number[], h as number[], true)]));
    const feeds = gradientFeeds(gm, BATCH, cotangents, true);
    const result = await session.run(feeds);
    const gradient = result[GRAD_INPUTS_EMBEDS].data as Float64Array;
    const base = feeds.inputs_embeds.data as Float64Array;
    const objective = async (embeds: Float64Array) => {
      const r = await session.run({ ...feeds, inputs_embeds: new ort.Tensor("float64", embeds, feeds.inputs_embeds.dims) });
      return Object.entries(cotangents).reduce((s, [t, c]) => s + (r[t].data as Float64Array).reduce((a, v, i) => a + v * (c.data as Float64Array)[i], 0), 0);
    };
    const h = 1e-5;
    let largest = 0;
    for (let i = 0; i < base.length; i++) {
      const plus = base.slice(), minus = base.slice();
      plus[i] += h;
      minus[i] -= h;
      const numeric = ((await objective(plus)) - (await objective(minus))) / (2 * h);
      largest = Math.max(largest, Math.abs(numeric));
      assert.ok(Math.abs(gradient[i] - numeric) <= 1e-7 + 1e-6 * Math.abs(numeric), `${fixture}[${i}]: graph ${gradient[i]}, finite differences ${numeric}`);
    }
    assert.ok(largest > 1e-2, `${fixture}: the gradient is not trivially zero`);
  }
});

test("gradients and attention cotangents equal PyTorch autograd for every fixture family and head", async () => {
  for (const fixture of ["bert-tiny-sst", "bert-tiny-qa", "roberta-tiny-sst", "roberta-tiny-qa", "distilbert-tiny-sst", "distilbert-tiny-qa"]) {
    const golden = await loadGradientGolden(fixture);
    const path = await modelFile(fixture);
    await assertGoldenModel(golden, path);
    const gm = await buildGradientModel(await readFile(path));
    const session = await ort.InferenceSession.create(gm.bytes);
    const labels = Object.keys(JSON.parse(await readFile(join(await fixturePath(fixture), "config.json"), "utf8")).id2label ?? {}).length;
    for (const [k, item] of golden.items.entries()) {
      const batch = { ids: [item.input_ids], mask: [item.input_ids.map(() => 1)], types: [item.token_type_ids] };
      const S = item.input_ids.length;
      const target = item.target;
      const cotangents: Record<string, ort.Tensor> = target.kind === "label"
        ? { logits: oneHot([1, labels], [target.label]) }
        : { start_logits: oneHot([1, S], [target.start]), end_logits: oneHot([1, S], [target.end]) };
      const result = await session.run(gradientFeeds(gm, batch, cotangents));
      const label = `${fixture} item ${k}`;
      assertClose(result[GRAD_INPUTS_EMBEDS].data as Float32Array, item.grad_inputs_embeds, `${label} grad_inputs_embeds`);
      item.grad_attentions.forEach((g: GoldenTensor, l: number) => assertClose(result[attentionGradOutput(l)].data as Float32Array, g, `${label} grad_attentions.${l}`));
      assert.equal(gm.attentionLayers, item.grad_attentions.length);
    }
  }
});

test("a torch.onnx.export graph (opset 14: Gemm, Shape/Slice chains, decomposed LayerNorm) differentiates to PyTorch's gradient", async () => {
  const golden = await loadTorchExportGolden();
  const bytes = await readFile(TORCH_EXPORT_MODEL);
  await assertGoldenModel(golden, TORCH_EXPORT_MODEL);
  const gm = await buildGradientModel(bytes);
  const { input_ids: ids, attention_mask: mask, token_type_ids: types } = golden.inputs;
  const cotangents = { logits: new ort.Tensor("float32", Float32Array.from(golden.grad_logits.data), golden.grad_logits.shape) };
  const result = await (await ort.InferenceSession.create(gm.bytes)).run(gradientFeeds(gm, { ids, mask, types }, cotangents));
  assertClose(result.logits.data as Float32Array, golden.logits, "logits");
  assertClose(result[GRAD_INPUTS_EMBEDS].data as Float32Array, golden.grad_inputs_embeds, "grad_inputs_embeds");
});

/** input_ids → Gather(table) → [op] → ReduceSum → out, plus an off-path Sin on the mask. */
function tinyModel(onPath: string): ModelProto {
  const table = floatTensor("table", [5, 2], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]);
  return {
    irVersion: 8,
    opsetImport: [{ version: 17 }],
    graph: {
      node: [
        makeNode("Gather", ["table", "input_ids"], ["e"]),
        makeNode("Cast", ["attention_mask"], ["m"], [intAttr("to", DataType.FLOAT)]),
        makeNode("Sin", ["m"], ["sm"]),
        makeNode("Unsqueeze", ["sm", "axis"], ["sm3"]),
        makeNode("Mul", ["e", "sm3"], ["x"]),
        makeNode(onPath, ["x"], ["y"]),
        makeNode("ReduceSum", ["y", "axis"], ["out"], [intAttr("keepdims", 0)]),
      ],
      initializer: [table, int64Tensor("axis", [1], [-1])],
      input: [valueInfo("input_ids", DataType.INT64, ["batch", "sequence"]), valueInfo("attention_mask", DataType.INT64, ["batch", "sequence"])],
      output: [valueInfo("out", DataType.FLOAT, ["batch", "sequence"])],
    },
  };
}

test("an operator without a rule on the path is named in an UnsupportedOperatorError; off the path it is harmless", async () => {
  await assert.rejects(buildGradientModel(encodeModel(tinyModel("Sin"))), (err: unknown) => {
    assert.ok(err instanceof UnsupportedOperatorError);
    assert.equal(err.opType, "Sin");
    assert.match(err.message, /operator Sin .*has no gradient rule/);
    return true;
  });
  const gm = await buildGradientModel(encodeModel(tinyModel("Tanh")));
  assert.deepEqual(gm.inputs, ["inputs_embeds", "attention_mask", "grad_out"]);
  assert.equal(gm.keepsInputIds, false);
  // out[b,s] = Σ_h tanh(e[b,s,h]·sin(m)); with m = 1: ∂/∂e = sin(1)·(1 − tanh²(e·sin 1)).
  const e = [0.3, -0.7, 1.1, 0.2];
  const result = await (await ort.InferenceSession.create(gm.bytes)).run({
    inputs_embeds: new ort.Tensor("float32", Float32Array.from(e), [1, 2, 2]),
    attention_mask: int64s([[1, 1]]),
    grad_out: new ort.Tensor("float32", Float32Array.from([1, 1]), [1, 2]),
  });
  const expected = e.map((v) => Math.sin(1) * (1 - Math.tanh(v * Math.sin(1)) ** 2));
  assertClose(result[GRAD_INPUTS_EMBEDS].data as Float32Array, { shape: [1, 2, 2], data: expected }, "grad_inputs_embeds", 1e-6);
});

test("the cache builds once per model and reloads the built model and embedding table from disk", async () => {
  const dir = await mkdtemp(join(tmpdir(), "gradient-cache-"));
  try {
    const path = await modelFile("bert-tiny-sst");
    const first = new GradientModelCache(dir);
    const built = await first.forFile(path);
    assert.equal(await first.forFile(path), built, "a second request in the same process gets the same object");
    const reloaded = await new GradientModelCache(dir).forFile(path);
    assert.notEqual(reloaded, built);
    assert.deepEqual(reloaded.timings, built.timings, "the timings recorded at build time come back: nothing was rebuilt");
    assert.deepEqual(Buffer.from(reloaded.bytes), Buffer.from(built.bytes));
    assert.deepEqual(Array.from(reloaded.embeddingTable.data), Array.from(built.embeddingTable.data));
    assert.deepEqual({ ...reloaded, bytes: 0, embeddingTable: 0 }, { ...built, bytes: 0, embeddingTable: 0 });
    // ensureOnDisk: the same key as the entry written above, found without rebuilding or rewriting it
    const { readFile: read, stat } = await import("node:fs/promises");
    const bytes = await read(path);
    const metaFile = entryFiles(dir, cacheKey(bytes, {})).meta;
    const before = (await stat(metaFile)).mtimeMs;
    assert.equal(await new GradientModelCache(dir).ensureOnDisk(bytes), cacheKey(bytes, {}));
    assert.equal((await stat(metaFile)).mtimeMs, before, "an existing entry is not rewritten");
    const fresh = await mkdtemp(join(tmpdir(), "gradient-cache-"));
    const key = await new GradientModelCache(fresh).ensureOnDisk(bytes, { attentions: "last" });
    const meta = JSON.parse(await read(entryFiles(fresh, key).meta, "utf8"));
    const table = await readEntryTable(entryFiles(fresh, key).table, meta);
    assert.deepEqual(Array.from(table.data), Array.from(built.embeddingTable.data), "a missing entry is built and its table reads back");
    await rm(fresh, { recursive: true, force: true });
    const lastOnly = await first.forFile(path, { attentions: "last" });
    assert.deepEqual(lastOnly.outputs, ["logits", GRAD_INPUTS_EMBEDS, "attentions.1", "grad_attentions.1"], "other options are another entry");
    const cotangents = { logits: oneHot([2, 3], [1, 2]) };
    const all = await (await ort.InferenceSession.create(built.bytes)).run(gradientFeeds(built, BATCH, cotangents));
    const last = await (await ort.InferenceSession.create(lastOnly.bytes)).run(gradientFeeds(lastOnly, BATCH, cotangents));
    for (const name of lastOnly.outputs) assertClose(last[name].data as Float32Array, { shape: [], data: Array.from(all[name].data as Float32Array) }, `last-layer variant ${name}`, 1e-6);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
