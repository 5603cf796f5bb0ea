/**
 * Attention probabilities and hidden states against PyTorch (issue #4): the outputs graph surgery
 * adds (`attentions.N`, `hidden_states.N`, lib/onnx/graph-surgery.ts) must equal the float64
 * PyTorch goldens (test/goldens/forward) to 1e-4 relative + absolute, on our fixtures (raw
 * graph on the padded batch, and through the server's runtime per item) and on the
 * torch.onnx.export graph, which holds bert-tiny-sst's weights, so it must reproduce
 * bert-tiny-sst's goldens.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { fixturePath } from "../helpers/fixtures.ts";
import {
  assertClose, assertGoldenModel, goldenFeeds, goldenFixtures, goldenItem, loadForwardGolden, loadTorchExportGolden,
  TORCH_EXPORT_MODEL, type ForwardGolden,
} from "../helpers/goldens.ts";
import { openSession, runSession } from "../../lib/onnx/session.ts";
import { buildExtendedModel } from "../../lib/onnx/extended-model.ts";
import { ModelRuntime } from "../../lib/model/runtime.ts";
import { withModelDefaults } from "../../lib/config/model-settings.ts";
import type { NdArray } from "../../lib/tensor.ts";
import type { TextItem } from "../../lib/tokenization/tokenizer.ts";

const runtimes: ModelRuntime[] = [];
after(async () => {
  for (const r of runtimes) await r.close();
});

const extraNames = (golden: ForwardGolden) => [
  ...golden.attentions.map((_, l) => `attentions.${l}`),
  ...golden.hidden_states.map((_, i) => `hidden_states.${i}`),
];

/** Runs the graph-surgery variant of `modelPath` on the golden's padded batch. */
async function runExtended(modelPath: string, golden: ForwardGolden): Promise<Record<string, NdArray>> {
  const session = await openSession({ modelPath, providers: ["cpu"], intraOpThreads: 1 }, await buildExtendedModel(modelPath));
  try {
    return await runSession(session, goldenFeeds(golden.inputs, session.inputs.map((i) => i.name)), extraNames(golden));
  } finally {
    await session.session.release();
  }
}

function assertIntermediates(outputs: Record<string, NdArray>, golden: ForwardGolden, label: string): void {
  golden.attentions.forEach((expected, l) => {
    assert.deepEqual(outputs[`attentions.${l}`].shape, expected.shape, `${label} attentions.${l} shape`);
    assertClose(outputs[`attentions.${l}`].data as Float32Array, expected, `${label} attentions.${l}`);
  });
  golden.hidden_states.forEach((expected, i) => {
    assert.deepEqual(outputs[`hidden_states.${i}`].shape, expected.shape, `${label} hidden_states.${i} shape`);
    assertClose(outputs[`hidden_states.${i}`].data as Float32Array, expected, `${label} hidden_states.${i}`);
  });
}

for (const name of await goldenFixtures("forward")) {
  test(`${name}: attentions and hidden states from graph surgery match PyTorch (padded batch)`, async () => {
    const golden = await loadForwardGolden(name);
    const modelPath = join(await fixturePath(name), "model.onnx");
    await assertGoldenModel(golden, modelPath);
    assertIntermediates(await runExtended(modelPath, golden), golden, name);
  });
}

test("torch-exported graph: graph surgery finds the same attentions and hidden states as bert-tiny-sst's goldens", async () => {
  const exported = await loadTorchExportGolden();
  await assertGoldenModel(exported, TORCH_EXPORT_MODEL);
  const golden = await loadForwardGolden(exported.source_fixture);
  assert.deepEqual(exported.inputs, golden.inputs, "both goldens use the same padded batch");
  assertIntermediates(await runExtended(TORCH_EXPORT_MODEL, golden), golden, "torch export");
});

for (const name of ["bert-tiny-qa", "roberta-tiny-sst", "distilbert-tiny-ner"]) {
  test(`${name}: the server's runtime returns each item's attentions and hidden states cropped to its length`, async () => {
    const golden = await loadForwardGolden(name);
    const runtime = await ModelRuntime.load(withModelDefaults({ id: name, path: await fixturePath(name) }), { kind: "cpu", id: 0 });
    runtimes.push(runtime);
    const items = golden.texts.map((t) => (t.length === 2 ? [t[0], t[1]] : t[0]) as TextItem);
    const sequences = await runtime.tokenizer.encode(items, { maxLength: 128, truncation: "longest_first", addSpecialTokens: true, stride: 0, returnOverflowing: false });
    const { items: results } = await runtime.forward(sequences, extraNames(golden));
    results.forEach((result, b) => {
      const length = sequences[b].ids.length;
      assert.equal(length, golden.inputs.attention_mask[b].reduce((a, m) => a + m, 0), `item ${b} length`);
      golden.attentions.forEach((expected, l) => {
        const item = goldenItem(expected, b, [1, 2], length);
        assert.deepEqual(result[`attentions.${l}`].shape, item.shape, `attentions.${l} shape of item ${b}`);
        assertClose(result[`attentions.${l}`].data as Float32Array, item, `attentions.${l} of item ${b}`);
      });
      golden.hidden_states.forEach((expected, i) => {
        const item = goldenItem(expected, b, [0], length);
        assert.deepEqual(result[`hidden_states.${i}`].shape, item.shape, `hidden_states.${i} shape of item ${b}`);
        assertClose(result[`hidden_states.${i}`].data as Float32Array, item, `hidden_states.${i} of item ${b}`);
      });
    });
  });
}
