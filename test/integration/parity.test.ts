/**
 * SQuARE parity over HTTP (SPEC §6.2, §7): token-classification labels and word ids padded to the
 * logits' token length with nulls, in plain and encoded arrays, for text and preprocessed input;
 * which words of a pair are the "question" and which the "context" in explanations.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startEmbedded, decodeNpy, Embedded } from "../helpers/embedded.ts";
import { runTask } from "../helpers/http.ts";
import { fixturePath } from "../helpers/fixtures.ts";
import { TextTokenizer, TextItem } from "../../lib/tokenization/tokenizer.ts";

let s: Embedded;

before(async () => {
  s = await startEmbedded([
    { id: "ner-plain", path: "bert-tiny-ner", return_plaintext_arrays: true },
    { id: "ner-encoded", path: "bert-tiny-ner" },
    { id: "bert-sst", path: "bert-tiny-sst", return_plaintext_arrays: true },
    { id: "roberta-sst", path: "roberta-tiny-sst", return_plaintext_arrays: true },
    { id: "bert-qa", path: "bert-tiny-qa", return_plaintext_arrays: true },
  ]);
});
after(() => s?.stop());

/** Per item: probabilities [tokens][labels] from plain or encoded logits, and the padded width. */
function logitsOf(result: any): { width: number; probs: number[][][] } {
  if (!result.model_output_is_encoded) return { width: result.model_outputs.logits[0].length, probs: result.model_outputs.logits };
  const { shape, values } = decodeNpy(result.model_outputs.logits);
  const [items, width, labels] = shape;
  const probs = Array.from({ length: items }, (_, i) => Array.from({ length: width }, (_, t) => values.slice((i * width + t) * labels, (i * width + t + 1) * labels)));
  return { width, probs };
}

/** The SPEC §6.2 shape: every item's labels and word ids span the logits' width; real tokens first, then nulls. */
function assertPadded(result: any, realTokens: number[], label: string) {
  const { width, probs } = logitsOf(result);
  assert.equal(width, Math.max(...realTokens), `${label}: logits padded to the longest item`);
  realTokens.forEach((real, i) => {
    assert.equal(result.labels[i].length, width, `${label} item ${i}: labels span the logits`);
    assert.equal(result.word_ids[i].length, width, `${label} item ${i}: word ids span the logits`);
    const argmaxes = probs[i].slice(0, real).map((row) => row.indexOf(Math.max(...row)));
    assert.deepEqual(result.labels[i].slice(0, real), argmaxes, `${label} item ${i}: a label per real token`);
    assert.deepEqual(result.labels[i].slice(real), new Array(width - real).fill(null), `${label} item ${i}: null labels at padding`);
    assert.deepEqual(result.word_ids[i].slice(real), new Array(width - real).fill(null), `${label} item ${i}: null word ids at padding`);
  });
}

test("token classification: labels and word ids have the logits' token length, null at padding (plain and encoded)", async () => {
  const tokenizer = await TextTokenizer.load(`${await fixturePath("bert-tiny-ner")}/tokenizer.json`);
  const options = { maxLength: 128, truncation: "longest_first" as const, addSpecialTokens: true, stride: 0, returnOverflowing: false };
  const cases: TextItem[][] = [
    ["John lives in Paris with Mary", "hi", "Paris"],
    ["hi", "John lives in Paris"],
    [["who", "John lives here"], ["a", "b"]],
  ];
  for (const input of cases) {
    const encodings = await tokenizer.encode(input, options);
    const realTokens = encodings.map((e) => e.ids.length);
    assert.ok(new Set(realTokens).size > 1, "items of different lengths");
    for (const model of ["ner-plain", "ner-encoded"]) {
      const result = await runTask(s, `/${model}/token-classification`, { input });
      const label = `${model} ${JSON.stringify(input)}`;
      assert.equal(result.model_output_is_encoded, model === "ner-encoded");
      assertPadded(result, realTokens, label);
      encodings.forEach((e, i) => assert.deepEqual(result.word_ids[i].slice(0, e.wordIds.length), e.wordIds, `${label} item ${i}: the tokenizer's word ids first`));
    }
  }
});

test("token classification, preprocessed ragged rows: labels and word ids padded with nulls like the logits", async () => {
  const input = { input_ids: [[2, 40, 41, 42, 3], [2, 40, 3], [2, 44, 45, 46, 47, 48, 3, 0, 0]], attention_mask: [[1, 1, 1, 1, 1], [1, 1, 1], [1, 1, 1, 1, 1, 1, 1, 0, 0]] };
  for (const model of ["ner-plain", "ner-encoded"]) {
    const result = await runTask(s, `/${model}/token-classification`, { input, is_preprocessed: true });
    assertPadded(result, [5, 3, 7], `${model} preprocessed`);
    assert.deepEqual(result.word_ids, [new Array(7).fill(null), new Array(7).fill(null), new Array(7).fill(null)], "no text, no word ids; padding included");
  }
});

const words = (list: [number, string, number][]) => list.map((w) => w[1]);

test("explanations: sequence-classification pairs are [context, question]; QA pairs [question, context]; single texts all context", async () => {
  const pair = ["is it good?", "the children played in the garden"];
  for (const model of ["bert-sst", "roberta-sst"]) {
    const result = await runTask(s, `/${model}/sequence-classification`, { input: [pair, ["yes", "was it fun"]], explain_kwargs: { method: "simple_grads", top_k: 2 } });
    const [attr] = result.attributions;
    assert.deepEqual(words(attr.context_tokens[0]), ["is", "it", "good", "?"], `${model}: the first text is the context`);
    assert.deepEqual(words(attr.question_tokens[0]), ["the", "children", "played", "in", "the", "garden"], `${model}: the second text is the question`);
    assert.deepEqual([words(attr.context_tokens[1]), words(attr.question_tokens[1])], [["yes"], ["was", "it", "fun"]], `${model}: every item`);
    const single = (await runTask(s, `/${model}/sequence-classification`, { input: ["a great movie"], explain_kwargs: { method: "simple_grads" } })).attributions[0];
    assert.deepEqual([words(single.context_tokens[0]), single.question_tokens[0]], [["a", "great", "movie"], []], `${model}: a single text is all context`);
    assert.deepEqual(attr.question_tokens[0].map((w: [number]) => w[0]), [0, 1, 2, 3, 4, 5], "indices count within the question");
    const total = [...attr.question_tokens[0], ...attr.context_tokens[0]].reduce((sum: number, w: [number, string, number]) => sum + w[2], 0);
    assert.ok(Math.abs(total - 1) < 1e-6, "an item's word scores sum to 1 across both lists");
    assert.equal(attr.topk_question_idx[0].length, 2);
    const questionOnly = (await runTask(s, `/${model}/sequence-classification`, { input: [pair], explain_kwargs: { method: "simple_grads", top_k: 3, mode: "question" } })).attributions[0];
    assert.deepEqual(questionOnly.topk_context_idx, [[]]);
    const best = [...questionOnly.question_tokens[0]].sort((a: any, b: any) => b[2] - a[2] || a[0] - b[0]).slice(0, 3).map((w: [number]) => w[0]);
    assert.deepEqual(questionOnly.topk_question_idx[0], best, "mode question ranks the second text's words");
  }
  const qa = await runTask(s, "/bert-qa/question-answering", { input: [["who played?", "the children played in the garden"]], explain_kwargs: { method: "simple_grads" } });
  const [attr] = qa.attributions;
  assert.deepEqual(words(attr.question_tokens[0]), ["who", "played", "?"], "QA: the first text is the question");
  assert.deepEqual(words(attr.context_tokens[0]), ["the", "children", "played", "in", "the", "garden"]);
});
