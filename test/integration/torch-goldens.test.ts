/**
 * Numerics against PyTorch (issue #4): our fixture ONNX models, run by ONNX Runtime, must give the
 * outputs of an independent float64 PyTorch implementation reading the same weights
 * (tools/goldens/torch_reference.py; goldens committed in test/goldens/forward), to 1e-4
 * relative + absolute. Checked twice: the raw graph on the golden's padded batch, and the
 * server's path (tokenizer, batcher, padding, cropping) on the golden's texts.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { fixturePath } from "../helpers/fixtures.ts";
import {
  assertClose, assertGoldenModel, goldenFeeds, goldenFixtures, goldenItem, loadForwardGolden, type ForwardGolden,
} from "../helpers/goldens.ts";
import { openSession, runSession } from "../../lib/onnx/session.ts";
import { ModelRuntime } from "../../lib/model/runtime.ts";
import { withModelDefaults } from "../../lib/config/model-settings.ts";
import type { TextItem } from "../../lib/tokenization/tokenizer.ts";

const runtimes: ModelRuntime[] = [];
after(async () => {
  for (const r of runtimes) await r.close();
});

const fixtures = await goldenFixtures("forward");

test("there are forward goldens for every family and head of the demo fixtures", () => {
  for (const family of ["bert", "roberta", "distilbert"]) {
    for (const head of ["base", "sst", "ner", "qa"]) assert.ok(fixtures.includes(`${family}-tiny-${head}`), `${family}-tiny-${head}`);
  }
});

/** Outputs with a sequence axis (axis 1), which the server crops to each item's length. */
function hasTokenAxis(golden: ForwardGolden, output: string): boolean {
  return output === "last_hidden_state" || output === "start_logits" || output === "end_logits" || (output === "logits" && golden.head === "token-classification");
}

for (const name of fixtures) {
  test(`${name}: ONNX Runtime on the golden's padded batch matches PyTorch`, async () => {
    const golden = await loadForwardGolden(name);
    const modelPath = join(await fixturePath(name), "model.onnx");
    await assertGoldenModel(golden, modelPath);
    const session = await openSession({ modelPath, providers: ["cpu"], intraOpThreads: 1 });
    try {
      const outputs = await runSession(session, goldenFeeds(golden.inputs, session.inputs.map((i) => i.name)));
      assert.deepEqual(Object.keys(outputs).sort(), Object.keys(golden.outputs).sort(), "graph outputs");
      for (const [out, expected] of Object.entries(golden.outputs)) {
        assert.deepEqual(outputs[out].shape, expected.shape, `${out} shape`);
        assertClose(outputs[out].data as Float32Array, expected, out);
      }
    } finally {
      await session.session.release();
    }
  });

  test(`${name}: the server's tokenizer and batched forward give the golden's ids and outputs`, async () => {
    const golden = await loadForwardGolden(name);
    const runtime = await ModelRuntime.load(withModelDefaults({ id: name, path: await fixturePath(name) }), { kind: "cpu", id: 0 });
    runtimes.push(runtime);
    const items = golden.texts.map((t) => (t.length === 2 ? [t[0], t[1]] : t[0]) as TextItem);
    const sequences = await runtime.tokenizer.encode(items, { maxLength: 128, truncation: "longest_first", addSpecialTokens: true, stride: 0, returnOverflowing: false });
    sequences.forEach((s, b) => {
      const length = golden.inputs.attention_mask[b].reduce((a, m) => a + m, 0);
      assert.deepEqual(s.ids, golden.inputs.input_ids[b].slice(0, length), `item ${b} ids (golden WordPiece in tools/goldens/inputs.py vs tokenizers)`);
      assert.deepEqual(s.typeIds, golden.inputs.token_type_ids[b].slice(0, length), `item ${b} type ids`);
    });
    const { items: results } = await runtime.forward(sequences);
    results.forEach((result, b) => {
      const length = sequences[b].ids.length;
      for (const [out, expected] of Object.entries(golden.outputs)) {
        const item = goldenItem(expected, b, hasTokenAxis(golden, out) ? [0] : [], length);
        assert.deepEqual(result[out].shape, item.shape, `${out} shape of item ${b}`);
        assertClose(result[out].data as Float32Array, item, `${out} of item ${b}`);
      }
    });
  });
}

test("golden checks fail on a value outside 1e-4 and on a model the golden was not computed from", async () => {
  const expected = { shape: [2], data: [1, -0.5] };
  assertClose([1 + 1.9e-4, -0.5], expected, "within");
  assert.throws(() => assertClose([1 + 2.1e-4, -0.5], expected, "outside"), /outside\[0\] = 1\.00021, golden 1/);
  const golden = await loadForwardGolden("bert-tiny-sst");
  await assert.rejects(assertGoldenModel(golden, join(await fixturePath("bert-tiny-qa"), "model.onnx")), /fixture generator changed.*torch_reference\.py/s);
});
