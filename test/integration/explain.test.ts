/**
 * SPEC §7 explanations over HTTP on real ONNX Runtime gradient graphs, against PyTorch autograd
 * goldens (test/goldens/gradients, float64, each item alone) for BERT, RoBERTa and DistilBERT,
 * sequence classification and QA.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { startEmbedded, Embedded } from "../helpers/embedded.ts";
import { fixturePath } from "../helpers/fixtures.ts";
import { modelWithAbs } from "../helpers/ungradable-model.ts";
import { loadGradientGolden, assertGoldenModel, type WordScore } from "../helpers/goldens.ts";

const FAMILIES = ["bert", "roberta", "distilbert"];
let s: Embedded;
let absModelDir: string;


before(async () => {
  absModelDir = await modelWithAbs();
  const models = FAMILIES.flatMap((f) => [
    { id: `${f}-sst`, path: `${f}-tiny-sst`, return_plaintext_arrays: true },
    { id: `${f}-qa`, path: `${f}-tiny-qa`, return_plaintext_arrays: true },
  ]);
  s = await startEmbedded([...models, { id: "base", path: "bert-tiny-base" }, { id: "abs", path: absModelDir }]);
});
after(() => s?.stop());

async function explain(model: string, task: string, input: unknown[], explain_kwargs: Record<string, unknown>) {
  const q = await s.post(`/${model}/${task}`, { input, explain_kwargs });
  assert.equal(q.status, 200, JSON.stringify(q.body));
  const r = await s.result(q.body.task_id, 30_000);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.result;
}

/**
 * Our [idx, word, score] lists against the golden's [segment, word_id, word, score] entries, which
 * are in text order: QA pairs are [question, context], sequence-classification pairs [context, question].
 */
function assertWordScores(attributions: any, item: number, golden: WordScore[], label: string, tol = 1e-4, firstText: "question" | "context" = "question") {
  const named = (segment: "question" | "context") => attributions[`${segment}_tokens`][item].map((w: [number, string, number]) => [segment, ...w]);
  const ours = firstText === "question" ? [...named("question"), ...named("context")] : [...named("context"), ...named("question")];
  assert.deepEqual(ours.map((w) => w.slice(0, 3)), golden.map((w) => w.slice(0, 3)), `${label}: words`);
  ours.forEach((w, k) => assert.ok(Math.abs(w[3] - golden[k][3]) <= tol * Math.abs(golden[k][3]) + 1e-6, `${label}: ${w[2]} scored ${w[3]}, PyTorch ${golden[k][3]}`));
}

for (const family of FAMILIES) {
  for (const head of ["sst", "qa"]) {
    test(`${family} ${head}: simple, integrated, attention and scaled attention word scores equal PyTorch autograd`, async () => {
      const golden = await loadGradientGolden(`${family}-tiny-${head}`);
      await assertGoldenModel(golden, join(await fixturePath(`${family}-tiny-${head}`), "model.onnx"));
      const task = head === "sst" ? "sequence-classification" : "question-answering";
      const methods: [string, string][] = [["simple_grads", "simple_grads"], ["integrated_grads", "integrated_grads"], ["attention", "attention"], ["scaled_attention", head === "sst" ? "scaled_attention" : "scaled_attention_all_queries"]];
      for (const [method, goldenKey] of methods) {
        for (const [i, item] of golden.items.entries()) {
          const input = item.texts.length === 1 ? item.texts[0] : item.texts;
          const result = await explain(`${family}-${head}`, task, [input], { method, top_k: 3 });
          const [attributions] = result.attributions;
          assertWordScores(attributions, 0, item.word_scores[goldenKey]!, `${family}-${head} item ${i} ${method}`, 1e-4, head === "sst" ? "context" : "question");
          const topk = [...attributions.question_tokens[0], ...attributions.context_tokens[0]].length;
          assert.ok(attributions.topk_context_idx[0].length <= 3 && topk > 0);
        }
      }
    });
  }
}

test("three items in one request: each is explained against its own target, as if alone", async () => {
  const texts = ["a great movie", "the children played in the garden while it rained", "thin"];
  const together = (await explain("roberta-sst", "sequence-classification", texts, { method: "integrated_grads", steps: 5 })).attributions;
  assert.equal(together.length, 1, "SQuARE's shape: one object holding lists per item");
  assert.equal(together[0].context_tokens.length, 3);
  for (const [i, text] of texts.entries()) {
    const [alone] = (await explain("roberta-sst", "sequence-classification", [text], { method: "integrated_grads", steps: 5 })).attributions;
    assert.deepEqual(together[0].topk_context_idx[i], alone.topk_context_idx[0], `item ${i} top-k`);
    together[0].context_tokens[i].forEach((w: [number, string, number], k: number) => {
      const [idx, word, score] = alone.context_tokens[0][k];
      assert.deepEqual([w[0], w[1]], [idx, word]);
      assert.ok(Math.abs(w[2] - score) < 1e-5, `item ${i} word ${word}: ${w[2]} batched vs ${score} alone`);
    });
    const sum = together[0].context_tokens[i].reduce((a: number, w: [number, string, number]) => a + w[2], 0);
    assert.ok(Math.abs(sum - 1) < 1e-6, `item ${i} word scores sum to 1`);
  }
});

test("smooth_grads: a seed reproduces the noise, another seed changes it; mode and top_k shape the lists", async () => {
  // Sequence-classification pairs are [context, question] (SPEC §7, SQuARE's multiple-choice order).
  const input = [["the children played in the garden", "is it good?"]];
  const kwargs = { method: "smooth_grads", samples: 4, noise: 0.1, seed: 7, mode: "question", top_k: 2 };
  const [a] = (await explain("bert-sst", "sequence-classification", input, kwargs)).attributions;
  const [b] = (await explain("bert-sst", "sequence-classification", input, kwargs)).attributions;
  const [c] = (await explain("bert-sst", "sequence-classification", input, { ...kwargs, seed: 8 })).attributions;
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.question_tokens, c.question_tokens);
  assert.equal(a.topk_question_idx[0].length, 2);
  assert.deepEqual(a.topk_context_idx, [[]], "mode question leaves the context top-k empty");
  assert.equal(a.question_tokens[0].length, 4);
  assert.equal(a.context_tokens[0].length, 6);
});

test("a run of spaces in byte-level BPE text is no word; words are slices of the text", async () => {
  const [attr] = (await explain("roberta-sst", "sequence-classification", [["naïve  café, isn't it", "is it good?"]], { method: "simple_grads" })).attributions;
  assert.deepEqual(attr.context_tokens[0].map((w: [number, string, number]) => w[1]), ["naïve", "café", ",", "isn", "'t", "it"]);
  assert.deepEqual(attr.context_tokens[0].map((w: [number, string, number]) => w[0]), [0, 1, 2, 3, 4, 5]);
});

test("explanation errors are 422 naming the problem; a model without gradient rules still predicts", async () => {
  const expect422 = async (path: string, body: unknown, field: string, message: RegExp) => {
    const r = await s.post(path, body);
    assert.equal(r.status, 422, JSON.stringify(r.body));
    const problem = r.body.detail.find((d: { loc: string[] }) => d.loc.join(".").endsWith(field));
    assert.ok(problem, `a problem at ${field}: ${JSON.stringify(r.body.detail)}`);
    assert.match(problem.msg, message);
  };
  await expect422("/bert-sst/sequence-classification", { input: ["x"], explain_kwargs: { method: "lime" } }, "explain_kwargs.method", /must be one of simple_grads/);
  await expect422("/bert-sst/sequence-classification", { input: ["x"], explain_kwargs: { top_k: 3 } }, "explain_kwargs.method", /is required/);
  await expect422("/bert-sst/sequence-classification", { input: ["x"], explain_kwargs: { method: "integrated_grads", steps: 5000 } }, "explain_kwargs.steps", /from 1 to 200/);
  await expect422("/base/embedding", { input: ["x"], explain_kwargs: { method: "attention" } }, "explain_kwargs", /explanations exist for sequence-classification and question-answering/);
  await expect422("/bert-sst/sequence-classification", { input: { input_ids: [[2, 5, 3]], attention_mask: [[1, 1, 1]] }, is_preprocessed: true, explain_kwargs: { method: "attention" } }, "explain_kwargs", /send text/);
  await expect422("/abs/sequence-classification", { input: ["a great movie"], explain_kwargs: { method: "simple_grads" } }, "explain_kwargs", /operator Abs .*has no gradient rule/);

  const plain = await s.post("/abs/sequence-classification", { input: ["a great movie"] });
  const done = await s.result(plain.body.task_id);
  assert.equal(done.status, 200);
  assert.equal(done.body.result.labels.length, 1);
});
