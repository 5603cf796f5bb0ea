/**
 * The torch.onnx.export graph of bert-tiny-sst (test/goldens/torch-export, written by
 * tools/goldens/torch_export.py): ONNX Runtime must reproduce the float64 PyTorch logits, on the
 * padded batch and on each item alone at its own length (the graph was traced at another shape,
 * so this also checks its dynamic axes). It holds the same weights as the bert-tiny-sst fixture,
 * so the two graphs must agree as well.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { fixturePath } from "../helpers/fixtures.ts";
import {
  assertClose, assertGoldenModel, goldenFeeds, goldenItem, loadForwardGolden, loadTorchExportGolden, TORCH_EXPORT_MODEL, type GoldenInputs,
} from "../helpers/goldens.ts";
import { openSession, runSession, type LoadedSession } from "../../lib/onnx/session.ts";
import { decodeModel } from "../../lib/onnx/graph-io.ts";
import { readFile } from "node:fs/promises";

async function withSession<T>(modelPath: string, use: (s: LoadedSession) => Promise<T>): Promise<T> {
  const session = await openSession({ modelPath, providers: ["cpu"], intraOpThreads: 1 });
  try {
    return await use(session);
  } finally {
    await session.session.release();
  }
}

const itemInputs = (inputs: GoldenInputs, b: number): GoldenInputs => {
  const length = inputs.attention_mask[b].reduce((a, m) => a + m, 0);
  const cut = (rows: number[][]) => [rows[b].slice(0, length)];
  return { input_ids: cut(inputs.input_ids), attention_mask: cut(inputs.attention_mask), token_type_ids: cut(inputs.token_type_ids) };
};

test("torch-exported graph: inputs, outputs and the ops a real exporter emits", async () => {
  const golden = await loadTorchExportGolden();
  await assertGoldenModel(golden, TORCH_EXPORT_MODEL);
  await withSession(TORCH_EXPORT_MODEL, async (s) => {
    assert.deepEqual(s.inputs.map((i) => [i.name, i.shape]), [
      ["input_ids", ["batch", "sequence"]],
      ["attention_mask", ["batch", "sequence"]],
      ["token_type_ids", ["batch", "sequence"]],
    ]);
    assert.deepEqual(s.outputs.map((o) => [o.name, o.shape]), [["logits", ["batch", 3]]]);
  });
  const model = decodeModel(await readFile(TORCH_EXPORT_MODEL));
  const ops = new Set(model.graph.node.map((n) => n.opType));
  for (const op of ["Gemm", "MatMul", "ReduceMean", "Pow", "Sqrt", "Shape", "Slice", "Erf", "Softmax"]) assert.ok(ops.has(op), `has ${op}`);
  assert.ok(!ops.has("LayerNormalization"), "opset 14 export decomposes LayerNorm");
  const wordGather = model.graph.node.find((n) => n.opType === "Gather" && n.input[1] === "input_ids");
  assert.equal(wordGather?.input[0], "bert.embeddings.word_embeddings.weight");
});

test("torch-exported graph: padded batch logits match PyTorch", async () => {
  const golden = await loadTorchExportGolden();
  await withSession(TORCH_EXPORT_MODEL, async (s) => {
    const { logits } = await runSession(s, goldenFeeds(golden.inputs, ["input_ids", "attention_mask", "token_type_ids"]));
    assert.deepEqual(logits.shape, golden.logits.shape);
    assertClose(logits.data as Float32Array, golden.logits, "logits");
  });
});

test("torch-exported graph: each item alone, at its own length, matches its golden row", async () => {
  const golden = await loadTorchExportGolden();
  await withSession(TORCH_EXPORT_MODEL, async (s) => {
    for (let b = 0; b < golden.inputs.input_ids.length; b++) {
      const { logits } = await runSession(s, goldenFeeds(itemInputs(golden.inputs, b), ["input_ids", "attention_mask", "token_type_ids"]));
      const row = goldenItem(golden.logits, b, [], 0);
      assert.deepEqual(logits.shape, [1, ...row.shape]);
      assertClose(logits.data as Float32Array, row, `logits of item ${b} alone`);
    }
  });
});

test("torch-exported graph and the bert-tiny-sst fixture give the same logits (same weights)", async () => {
  const golden = await loadTorchExportGolden();
  const fixture = await loadForwardGolden(golden.source_fixture);
  assert.deepEqual(golden.inputs, fixture.inputs, "both goldens use the same padded batch");
  const modelPath = join(await fixturePath(golden.source_fixture), "model.onnx");
  await assertGoldenModel(fixture, modelPath);
  const feeds = goldenFeeds(golden.inputs, ["input_ids", "attention_mask", "token_type_ids"]);
  const exported = await withSession(TORCH_EXPORT_MODEL, (s) => runSession(s, feeds));
  const ours = await withSession(modelPath, (s) => runSession(s, feeds));
  assertClose(exported.logits.data as Float32Array, { shape: ours.logits.shape, data: Array.from(ours.logits.data as Float32Array) }, "exported vs fixture logits", 1e-5);
  assert.deepEqual(golden.labels, [0, 1].map((b) => argmax(Array.from(ours.logits.data as Float32Array).slice(b * 3, b * 3 + 3))), "golden labels are the fixture's predictions");
});

const argmax = (xs: number[]) => xs.indexOf(Math.max(...xs));
