/**
 * The gradient goldens (issue #6, test/goldens/gradients and the torch-export golden) checked
 * against our ONNX models without any gradient code of ours: ONNX Runtime evaluates the target
 * with the word-embedding table moved along a random direction D, and the central difference
 * must equal the golden's directional derivative sum_t grad[t] · D[ids[t]] (a table row shared
 * by repeated tokens moves every occurrence, which the sum accounts for). Integrated gradients'
 * mean gradient is checked the same way at each path point alpha (table scaled by alpha).
 * Also: each target (label or span) and value is what our model predicts, and the `attention`
 * token values are graph surgery's last-layer attention from the first token.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fixturePath } from "../helpers/fixtures.ts";
import {
  assertClose, assertGoldenModel, goldenFeeds, goldenFixtures, loadGradientGolden, loadTorchExportGolden, TORCH_EXPORT_MODEL,
  type GoldenInputs, type GoldenTensor, type GradientItem,
} from "../helpers/goldens.ts";
import { openSession, runSession } from "../../lib/onnx/session.ts";
import { buildExtendedModel } from "../../lib/onnx/extended-model.ts";
import { decodeModel, encodeModel, floatTensor, tensorFloats, type ModelProto, type TensorProto } from "../../lib/onnx/graph-io.ts";
import type { NdArray } from "../../lib/tensor.ts";

/** Finite-difference step along D; D entries are uniform in ±1. */
const STEP = 1e-3;
/**
 * Relative agreement of the central difference with the golden. Measured: 1e-6 to 1e-4 (float32
 * rounding over 2·STEP), and 8e-4 once, for DistilBERT's ReLU classifier at a small integrated
 * path point, where a unit's kink lies within ±STEP (3e-4 steps give 2e-5 there). A wrong
 * gradient (scale, sign, a missed term) is off by far more.
 */
const FD_TOL = 2e-3;

const itemInputs = (item: Pick<GradientItem, "input_ids" | "token_type_ids">): GoldenInputs => ({
  input_ids: [item.input_ids],
  attention_mask: [item.input_ids.map(() => 1)],
  token_type_ids: [item.token_type_ids],
});

function wordTable(model: ModelProto): TensorProto {
  const table = model.graph.initializer.find((t) => t.name?.endsWith("embeddings.word_embeddings.weight"));
  assert.ok(table, "the model has a word-embedding initializer");
  return table;
}

/** Runs `model` with its word-embedding table replaced by `values`. */
async function runWithTable(model: ModelProto, values: Float32Array, inputs: GoldenInputs): Promise<Record<string, NdArray>> {
  const table = wordTable(model);
  const replaced = floatTensor(table.name!, table.dims.map(Number), values);
  const edited: ModelProto = { ...model, graph: { ...model.graph, initializer: model.graph.initializer.map((t) => (t === table ? replaced : t)) } };
  const session = await openSession({ modelPath: "(edited)", providers: ["cpu"], intraOpThreads: 1 }, encodeModel(edited));
  try {
    return await runSession(session, goldenFeeds(inputs, session.inputs.map((i) => i.name)));
  } finally {
    await session.session.release();
  }
}

type Target = GradientItem["target"];
const targetValue = (out: Record<string, NdArray>, target: Target, row = 0): number => {
  if (target.kind === "label") return (out.logits.data as Float32Array)[row * out.logits.shape[1] + target.label];
  return (out.start_logits.data as Float32Array)[target.start] + (out.end_logits.data as Float32Array)[target.end];
};

/** A seeded direction over the table rows the item uses (xorshift, so the test is deterministic). */
function direction(rows: number, hidden: number, ids: readonly number[], seed: number): Float32Array {
  const d = new Float32Array(rows * hidden);
  let s = seed >>> 0 || 1;
  const next = () => ((s ^= s << 13), (s ^= s >>> 17), (s ^= s << 5), ((s >>> 0) / 2 ** 32) * 2 - 1);
  for (const id of new Set(ids)) for (let h = 0; h < hidden; h++) d[id * hidden + h] = next();
  return d;
}

/** sum_t grad[t] · D[ids[t]] for a golden gradient [S, H] (or [B, S, H] with ids flattened alike). */
function directional(grad: GoldenTensor, ids: readonly number[], d: Float32Array): number {
  const hidden = grad.shape.at(-1)!;
  assert.equal(grad.data.length, ids.length * hidden, "one gradient row per token");
  let sum = 0;
  ids.forEach((id, t) => {
    for (let h = 0; h < hidden; h++) sum += grad.data[t * hidden + h] * d[id * hidden + h];
  });
  return sum;
}

async function centralDifference(model: ModelProto, scale: number, d: Float32Array, inputs: GoldenInputs, value: (o: Record<string, NdArray>) => number): Promise<number> {
  const table = tensorFloats(wordTable(model));
  const moved = (sign: number) => table.map((v, i) => scale * v + sign * STEP * d[i]);
  return (value(await runWithTable(model, moved(1), inputs)) - value(await runWithTable(model, moved(-1), inputs))) / (2 * STEP);
}

const assertDerivative = (fd: number, golden: number, label: string) =>
  assert.ok(Math.abs(fd - golden) <= FD_TOL * (1 + Math.abs(golden)), `${label}: finite difference ${fd}, golden ${golden}`);

for (const name of await goldenFixtures("gradients")) {
  test(`${name}: gradient goldens agree with finite differences on our ONNX model`, async () => {
    const golden = await loadGradientGolden(name);
    const modelPath = join(await fixturePath(name), "model.onnx");
    await assertGoldenModel(golden, modelPath);
    const model = decodeModel(await readFile(modelPath));
    const [rows, hidden] = wordTable(model).dims.map(Number);
    for (const [b, item] of golden.items.entries()) {
      const inputs = itemInputs(item);
      const value = (o: Record<string, NdArray>) => targetValue(o, item.target);
      const d = direction(rows, hidden, item.input_ids, 7 + b);
      assertDerivative(await centralDifference(model, 1, d, inputs, value), directional(item.grad_inputs_embeds, item.input_ids, d), `item ${b} grad_inputs_embeds`);
      let mean = 0;
      for (const alpha of item.integrated_grads.alphas) mean += (await centralDifference(model, alpha, d, inputs, value)) / item.integrated_grads.alphas.length;
      assertDerivative(mean, directional(item.integrated_grads.mean_gradient, item.input_ids, d), `item ${b} integrated_grads.mean_gradient`);
    }
  });

  test(`${name}: golden targets are our model's predictions, and attention values its last-layer attention`, async () => {
    const golden = await loadGradientGolden(name);
    const modelPath = join(await fixturePath(name), "model.onnx");
    const session = await openSession({ modelPath, providers: ["cpu"], intraOpThreads: 1 }, await buildExtendedModel(modelPath));
    try {
      for (const [b, item] of golden.items.entries()) {
        const layers = item.grad_attentions.length;
        const out = await runSession(session, goldenFeeds(itemInputs(item), session.inputs.map((i) => i.name)));
        const t = item.target;
        if (t.kind === "label") {
          const logits = Array.from(out.logits.data as Float32Array);
          assert.equal(t.label, logits.indexOf(Math.max(...logits)), `item ${b} label`);
        } else {
          assert.deepEqual([t.start, t.end], bestSpan(out, item), `item ${b} span`);
        }
        assert.ok(Math.abs(targetValue(out, t) - t.value) <= 1e-4 * (1 + Math.abs(t.value)), `item ${b} target value`);
        const attention = out[`attentions.${layers - 1}`];
        const [, heads, S] = attention.shape;
        const fromFirst = Array.from({ length: S }, (_, j) => {
          let sum = 0;
          for (let h = 0; h < heads; h++) sum += (attention.data as Float32Array)[h * S * S + j];
          return sum / heads;
        });
        assertClose(fromFirst, item.token_values.attention, `item ${b} attention token values`);
      }
    } finally {
      await session.session.release();
    }
  });
}

/** argmax of start[a] + end[b] over context tokens, a <= b < a + 128 (the golden's rule). */
function bestSpan(out: Record<string, NdArray>, item: GradientItem): [number, number] {
  const start = out.start_logits.data as Float32Array;
  const end = out.end_logits.data as Float32Array;
  const context = item.sequence_ids.flatMap((s, i) => (s === 1 ? [i] : []));
  let best: [number, number] = [-1, -1];
  let bestScore = -Infinity;
  for (const a of context) for (const e of context) if (a <= e && e < a + 128 && start[a] + end[e] > bestScore) [best, bestScore] = [[a, e], start[a] + end[e]];
  return best;
}

test("word scores in the gradient goldens follow SPEC §7 from their token values", async () => {
  for (const name of await goldenFixtures("gradients")) {
    for (const item of (await loadGradientGolden(name)).items) {
      for (const [method, scores] of Object.entries(item.word_scores)) {
        const values = item.token_values[method].data;
        if (scores === null) {
          assert.ok(values.every((v) => v === 0), `${name} ${method}: null scores only when every value is zero`);
          continue;
        }
        const sums = new Map<string, number>();
        item.sequence_ids.forEach((s, t) => s !== null && sums.set(`${s}:${item.word_ids[t]}`, (sums.get(`${s}:${item.word_ids[t]}`) ?? 0) + Math.abs(values[t])));
        const total = [...sums.values()].reduce((a, v) => a + v, 0);
        // SPEC §7 names: QA pairs are [question, context], sequence-classification pairs [context, question].
        const pairNames = name.endsWith("-qa") ? ["question", "context"] : ["context", "question"];
        const segment = (s: number) => (item.texts.length === 2 ? pairNames[s] : "context");
        const expected = [...sums.entries()].map(([key, v]) => [segment(Number(key.split(":")[0])), Number(key.split(":")[1]), v / total]);
        assert.deepEqual(scores.map(([seg, id]) => [seg, id]), expected.map(([seg, id]) => [seg, id]), `${name} ${method} words`);
        scores.forEach(([, , , score], i) => assert.ok(Math.abs(score - (expected[i][2] as number)) <= 1e-6, `${name} ${method} word ${i}`));
        assert.ok(Math.abs(scores.reduce((a, s) => a + s[3], 0) - 1) <= 1e-5, `${name} ${method} sums to 1`);
      }
    }
  }
});

test("torch-exported graph: the gradient golden agrees with finite differences on the exported graph", async () => {
  const golden = await loadTorchExportGolden();
  await assertGoldenModel(golden, TORCH_EXPORT_MODEL);
  const model = decodeModel(await readFile(TORCH_EXPORT_MODEL));
  const [rows, hidden] = wordTable(model).dims.map(Number);
  const labels = golden.labels;
  const value = (o: Record<string, NdArray>) => labels.reduce((sum, label, b) => sum + (o.logits.data as Float32Array)[b * o.logits.shape[1] + label], 0);
  const ids = golden.inputs.input_ids.flat();
  const d = direction(rows, hidden, ids, 11);
  assertDerivative(await centralDifference(model, 1, d, golden.inputs, value), directional(golden.grad_inputs_embeds, ids, d), "grad_inputs_embeds");
  assert.deepEqual(golden.grad_logits.data, labels.flatMap((l) => [0, 1, 2].map((k) => (k === l ? 1 : 0))), "grad_logits is one-hot at each label");
});
