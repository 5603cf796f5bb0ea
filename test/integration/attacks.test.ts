/**
 * SPEC §8 attacks over HTTP beyond the PyTorch goldens (attacks-goldens.test.ts): the client's
 * task options apply to every variant, a context needing several windows is refused by name, and
 * HotFlip's vocabulary product on ONNX Runtime equals the product computed here by hand.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { startEmbedded, Embedded } from "../helpers/embedded.ts";
import { fixturePath } from "../helpers/fixtures.ts";
import { GradientSession } from "../../lib/model/gradient-session.ts";
import { parseDevice } from "../../lib/onnx/device.ts";

let s: Embedded;
before(async () => {
  s = await startEmbedded([
    { id: "qa", path: "roberta-tiny-qa", return_plaintext_arrays: true },
    { id: "sst", path: "distilbert-tiny-sst", return_plaintext_arrays: true },
  ]);
});
after(() => s?.stop());

async function run(path: string, body: unknown) {
  const q = await s.post(path, body);
  assert.equal(q.status, 200, JSON.stringify(q.body));
  return s.result(q.body.task_id, 60_000);
}

const CONTEXT = "John went to London with Mary and they played in the garden today";

test("the client's task_kwargs apply to every variant (QA topk 3 gives three answers each)", async () => {
  const r = await run("/qa/question-answering", { input: [["who went to London?", CONTEXT]], task_kwargs: { topk: 3, show_null_answers: false }, attack_kwargs: { method: "topk_tokens", max_tokens: 4 } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const { answers, contexts, questions, adversarial } = r.body.result;
  assert.equal(contexts.length, 5, "the original and four reduced contexts");
  assert.deepEqual(questions, new Array(5).fill("who went to London?"));
  assert.equal(contexts[0], CONTEXT);
  assert.equal(adversarial.indices.length, 4);
  assert.equal(answers.length, 5);
  // topk 3, but a context of j words has fewer than 3 spans for j = 1.
  answers.forEach((a: unknown[], i: number) => assert.equal(a.length, i === 1 ? 1 : 3, `variant ${i}: ${JSON.stringify(a)}`));
  // Every kept word is a word of the original, in the original order.
  const words = CONTEXT.split(" ");
  contexts.slice(1).forEach((c: string, j: number) => {
    const kept = c.split(" ");
    assert.equal(kept.length, j + 1);
    const positions = kept.map((w) => words.indexOf(w));
    assert.deepEqual([...positions].sort((a, b) => a - b), positions, c);
  });
});

test("a question and context needing several windows fail as an invalid request, naming the window count", async () => {
  const long = Array.from({ length: 60 }, () => CONTEXT).join(" ");
  const r = await run("/qa/question-answering", { input: [["who went to London?", long]], task_kwargs: { max_seq_len: 64, doc_stride: 16 }, attack_kwargs: { method: "hotflip" } });
  // Known only once the replica has tokenized: the task fails (SPEC §4: 500 with the error's type), it is not lost.
  assert.equal(r.status, 500, JSON.stringify(r.body));
  assert.equal(r.body.status, "Failed");
  assert.equal(r.body.error.type, "invalid_request");
  assert.match(r.body.error.message, /^attacks work on an item that fits one model window; this question and context need \d+ windows$/);
});

test("a single classification text: input_reduction reduces the text itself and reports it as contexts", async () => {
  const r = await run("/sst/sequence-classification", { input: ["a slow and boring film with bad actors"], attack_kwargs: { method: "input_reduction", max_reductions: 3 } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const { contexts, questions, labels, adversarial } = r.body.result;
  assert.deepEqual(questions, []);
  assert.equal(contexts.length, labels.length);
  assert.ok(contexts.length >= 2 && contexts.length <= 4);
  contexts.slice(1).forEach((c: string, i: number) => assert.equal(c.split(" ").length, 8 - (i + 1), c));
  assert.equal(adversarial.indices.length, contexts.length - 1);
  const changed = labels[labels.length - 1] !== labels[0];
  assert.equal(adversarial.prediction_changed, changed);
  if (!changed) assert.equal(adversarial.indices.length, 3);
});

test("HotFlip's vocabulary product (one ONNX MatMul over the shared table) equals E · g computed by hand", async () => {
  const dir = await fixturePath("bert-tiny-sst");
  const session = await GradientSession.open(join(dir, "model.onnx"), join(tmpdir(), `square-vp-${process.pid}`), { device: parseDevice("cpu"), disableGpu: true, workers: 1, intraOpThreads: 1 }, 0);
  try {
    const H = session.hidden;
    const V = session.vocabularySize;
    const g1 = Float32Array.from({ length: H }, (_, h) => Math.sin(h + 1));
    const g2 = Float32Array.from({ length: H }, (_, h) => (h % 3) - 1);
    const [s1, s2] = await session.vocabularyScores([g1, g2]);
    assert.equal(s1.length, V);
    for (const k of [0, 1, 5, 100, V - 1]) {
      const row = session.embeddingRows([k]);
      const dot = (g: Float32Array) => row.reduce((sum, v, h) => sum + v * g[h], 0);
      assert.ok(Math.abs(s1[k] - dot(g1)) < 1e-4, `row ${k}: ${s1[k]} vs ${dot(g1)}`);
      assert.ok(Math.abs(s2[k] - dot(g2)) < 1e-4, `row ${k}: ${s2[k]} vs ${dot(g2)}`);
    }
  } finally {
    await session.close();
  }
});
