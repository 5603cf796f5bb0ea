/**
 * SPEC §8 attacks over HTTP on the BERT, RoBERTa and DistilBERT fixtures, classification and QA,
 * against an independent PyTorch re-implementation of each algorithm (tools/goldens/attacks.py,
 * float64, its own tokenizers; test/goldens/attacks): the variants' texts, the chosen word
 * indices, HotFlip's replacement tokens and loss changes, and the prediction of every variant.
 * The goldens only hold cases whose every decision has a clear margin (recorded in the files).
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { startEmbedded, Embedded } from "../helpers/embedded.ts";
import { fixturePath } from "../helpers/fixtures.ts";
import { assertGoldenModel } from "../helpers/goldens.ts";

const FIXTURES = ["bert-tiny-sst", "bert-tiny-qa", "roberta-tiny-sst", "roberta-tiny-qa", "distilbert-tiny-sst", "distilbert-tiny-qa"];
const GOLDENS = new URL("../goldens/attacks/", import.meta.url);

interface Flip { index: number; from_id: number; to_id: number; from: string; to: string; estimated_loss_change: number; loss_change: number }
interface AttackCase {
  name: string;
  input: string | [string, string];
  task_kwargs: Record<string, unknown>;
  attack_kwargs: Record<string, unknown>;
  expected: {
    variants: { question: string | null; context: string }[];
    indices: number[];
    predictions: (number | [number, number])[];
    flips?: Flip[];
    prediction_changed?: boolean;
  };
}
interface AttackGolden { fixture: string; head: string; model_sha256: string; cases: AttackCase[] }

let s: Embedded;
before(async () => {
  s = await startEmbedded(FIXTURES.map((f) => ({ id: f, path: f, return_plaintext_arrays: true })));
});
after(() => s?.stop());

async function attack(model: string, task: string, c: AttackCase) {
  const q = await s.post(`/${model}/${task}`, { input: [c.input], task_kwargs: c.task_kwargs, attack_kwargs: c.attack_kwargs });
  assert.equal(q.status, 200, JSON.stringify(q.body));
  const r = await s.result(q.body.task_id, 60_000);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.result;
}

/** Loss changes are float32 against float64 over a few layers: close, not equal. */
const closeTo = (actual: number, expected: number, label: string) => assert.ok(Math.abs(actual - expected) <= 1e-3 + 1e-3 * Math.abs(expected), `${label}: ${actual}, PyTorch ${expected}`);

for (const fixture of FIXTURES) {
  test(`${fixture}: every attack case equals the PyTorch reference`, async () => {
    const golden = JSON.parse(await readFile(new URL(`${fixture}.json`, GOLDENS), "utf8")) as AttackGolden;
    await assertGoldenModel(golden, join(await fixturePath(fixture), "model.onnx"));
    const qa = golden.head === "question-answering";
    for (const c of golden.cases) {
      const label = `${fixture} ${c.name}`;
      const result = await attack(fixture, qa ? "question-answering" : "sequence-classification", c);
      const e = c.expected;
      assert.deepEqual(result.contexts, e.variants.map((v) => v.context), `${label}: contexts`);
      const questions = e.variants[0].question === null ? [] : e.variants.map((v) => v.question);
      assert.deepEqual(result.questions, questions, `${label}: questions`);
      assert.equal(result.adversarial.method, c.attack_kwargs.method, label);
      assert.deepEqual(result.adversarial.indices, e.indices, `${label}: indices`);
      const predictions = qa ? result.answers.map((a: { start: number; end: number }[]) => [a[0].start, a[0].end]) : result.labels;
      assert.deepEqual(predictions, e.predictions, `${label}: the prediction of every variant`);
      if (e.prediction_changed !== undefined) assert.equal(result.adversarial.prediction_changed, e.prediction_changed, `${label}: prediction_changed`);
      if (e.flips) {
        const flips = result.adversarial.flips as Flip[];
        assert.deepEqual(flips.map((f) => [f.index, f.from_id, f.to_id, f.from, f.to]), e.flips.map((f) => [f.index, f.from_id, f.to_id, f.from, f.to]), `${label}: flips`);
        flips.forEach((f, k) => {
          closeTo(f.estimated_loss_change, e.flips![k].estimated_loss_change, `${label} flip ${k} estimate`);
          closeTo(f.loss_change, e.flips![k].loss_change, `${label} flip ${k} loss change`);
        });
      }
    }
  });
}
