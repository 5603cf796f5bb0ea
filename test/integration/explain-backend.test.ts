/**
 * The runtime's gradient backend (gradient graph in ONNX Runtime, passes through the replica's
 * batcher) against PyTorch autograd at the goldens' own points: ∂target/∂embeddings and
 * ∂target/∂(last attention) at the input, and at the two stored noisy copies smooth_grads uses.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { fixturePath } from "../helpers/fixtures.ts";
import { loadGradientGolden, assertGoldenModel, assertClose, goldenItem, type GradientItem } from "../helpers/goldens.ts";
import { ModelRuntime } from "../../lib/model/runtime.ts";
import { withModelDefaults } from "../../lib/config/model-settings.ts";
import { meanOf, rowDot } from "../../lib/explain/token-scores.ts";
import { wordScores, itemWordText } from "../../lib/explain/words.ts";
import type { GradientRow } from "../../lib/inference/gradients.ts";
import type { Encoded } from "../../lib/tokenization/tokenizer.ts";

const runtimes: ModelRuntime[] = [];
after(async () => {
  for (const r of runtimes) await r.close();
});

function cotangents(item: GradientItem, tokens: number, labels: number): Record<string, Float32Array> {
  if (item.target.kind === "label") {
    const logits = new Float32Array(labels);
    logits[item.target.label] = 1;
    return { logits };
  }
  const start = new Float32Array(tokens);
  const end = new Float32Array(tokens);
  start[item.target.start] = 1;
  end[item.target.end] = 1;
  return { start_logits: start, end_logits: end };
}

for (const fixture of ["bert-tiny-sst", "roberta-tiny-qa", "distilbert-tiny-sst"]) {
  test(`${fixture}: gradients at the input and at smooth_grads' noisy copies equal PyTorch autograd`, async () => {
    const golden = await loadGradientGolden(fixture);
    const dir = await fixturePath(fixture);
    await assertGoldenModel(golden, join(dir, "model.onnx"));
    const runtime = await ModelRuntime.load(withModelDefaults({ id: fixture, path: dir }), { kind: "cpu", id: 0 });
    runtimes.push(runtime);
    const backend = await runtime.gradientBackend();
    const labels = Object.keys(runtime.capabilities.id2label).length;

    const rows: GradientRow[] = [];
    const sequences: Encoded[] = [];
    for (const item of golden.items) {
      const [sequence] = await runtime.tokenizer.encode([item.texts.length === 1 ? item.texts[0] : (item.texts as [string, string])], { maxLength: 128, truncation: "longest_first", addSpecialTokens: true, stride: 0, returnOverflowing: false });
      assert.deepEqual(sequence.ids, item.input_ids, "the server tokenizes as the golden did");
      sequences.push(sequence);
      const embeds = backend.embeddingRows(sequence.ids);
      const cot = cotangents(item, sequence.ids.length, labels);
      const noise = item.smooth_grads.noise;
      const noisy = [0, 1].map((k) => embeds.map((v, i) => v + noise.data[k * embeds.length + i]));
      rows.push(
        { sequence, embeds, cotangents: cot, wants: "gradient" },
        ...noisy.map((e) => ({ sequence, embeds: e, cotangents: cot, wants: "gradient" as const })),
        { sequence, embeds, cotangents: cot, wants: "attention" },
      );
    }
    const results = await backend.run(rows); // every item and point in one call (batched by kind)

    golden.items.forEach((item, i) => {
      const [plain, noisyA, noisyB, attention] = results.slice(4 * i, 4 * i + 4);
      const T = item.input_ids.length;
      assertClose(plain.gradEmbeds!, item.grad_inputs_embeds, `${fixture} item ${i} grad_inputs_embeds`);
      assertClose(attention.gradLastAttention!, item.grad_attentions[item.grad_attentions.length - 1], `${fixture} item ${i} grad of the last attention`);
      assertClose(noisyA.gradEmbeds!, goldenItem(item.smooth_grads.gradients, 0, [], T), `${fixture} item ${i} noisy copy 0`);
      assertClose(noisyB.gradEmbeds!, goldenItem(item.smooth_grads.gradients, 1, [], T), `${fixture} item ${i} noisy copy 1`);
      // smooth_grads' word scores from those two samples, as the server computes them
      const embeds = backend.embeddingRows(item.input_ids);
      const values = rowDot(meanOf([noisyA.gradEmbeds!, noisyB.gradEmbeds!]), embeds, T, backend.hidden);
      const input = [item.texts.length === 1 ? item.texts[0] : item.texts];
      const words = wordScores(values, sequences[i], itemWordText(input, 0, sequences[i]));
      const ours = [...words.question.map((w) => w[2]), ...words.context.map((w) => w[2])];
      const theirs = item.word_scores.smooth_grads_two_samples!.map((w) => w[3]);
      assertClose(ours, { shape: [theirs.length], data: theirs }, `${fixture} item ${i} smooth_grads word scores`);
    });
  });
}
