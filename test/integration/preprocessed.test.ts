/**
 * is_preprocessed input for every encoder task and preprocessing_kwargs (SPEC §3) over HTTP:
 * preprocessed rows give the same numbers as the texts they came from; preprocessed QA answers
 * are token spans decoded by the tokenizer; invalid arrays and options are 422s naming the field.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import tokenizers from "tokenizers";
import { runTask } from "../helpers/http.ts";
import { startEmbedded, Embedded } from "../helpers/embedded.ts";
import { fixturePath } from "../helpers/fixtures.ts";

let s: Embedded;
let tok: InstanceType<typeof tokenizers.Tokenizer>;

before(async () => {
  s = await startEmbedded([
    { id: "bert-tiny-base", path: "bert-tiny-base", return_plaintext_arrays: true },
    { id: "bert-tiny-sst", path: "bert-tiny-sst", return_plaintext_arrays: true },
    { id: "bert-tiny-ner", path: "bert-tiny-ner", return_plaintext_arrays: true },
    { id: "bert-tiny-qa", path: "bert-tiny-qa", return_plaintext_arrays: true },
    { id: "roberta-tiny-qa", path: "roberta-tiny-qa", return_plaintext_arrays: true },
    { id: "distilbert-tiny-sst", path: "distilbert-tiny-sst", return_plaintext_arrays: true },
  ]);
  tok = tokenizers.Tokenizer.fromFile(join(await fixturePath("bert-tiny-base"), "tokenizer.json"));
});
after(() => s.stop());

const run = (path: string, body: unknown) => runTask(s, path, body);

async function expect422(path: string, body: unknown, field: string, pattern: RegExp) {
  const r = await s.post(path, body);
  assert.equal(r.status, 422, JSON.stringify(r.body));
  assert.ok(r.body.error.details.some((d: any) => d.field === field && pattern.test(d.message)), `${field} ${pattern}: ${JSON.stringify(r.body.error.details)}`);
}

async function encoded(items: (string | [string, string])[]) {
  const rows = await Promise.all(items.map((x) => (typeof x === "string" ? tok.encode(x) : tok.encode(x[0], x[1]))));
  return { input_ids: rows.map((r) => r.getIds()), attention_mask: rows.map((r) => r.getAttentionMask()), token_type_ids: rows.map((r) => r.getTypeIds()) };
}

const flat = (x: any): number[] => (Array.isArray(x) ? x.flatMap(flat) : [x]);
const assertClose = (a: any, b: any, what: string) => {
  const [x, y] = [flat(a), flat(b)];
  assert.equal(x.length, y.length, what);
  x.forEach((v, i) => assert.ok(Math.abs(v - y[i]) <= 1e-6, `${what}[${i}]: ${v} vs ${y[i]}`));
};

const PAIRS: [string, string][] = [["is it good?", "the plot was thin"], ["a", "the quick brown fox jumps over the lazy dog"]];

test("sequence classification, token classification and embedding: preprocessed rows (ragged across items, extra padding) equal the texts", async () => {
  const input = await encoded(PAIRS);
  // pad the first row with three tokens of padding: dropped again before the model
  const padded = { ...input, input_ids: [[...input.input_ids[0], 0, 0, 0], input.input_ids[1]], attention_mask: [[...input.attention_mask[0], 0, 0, 0], input.attention_mask[1]], token_type_ids: [[...input.token_type_ids[0], 0, 0, 0], input.token_type_ids[1]] };
  const text = await run("/bert-tiny-sst/sequence-classification", { input: PAIRS });
  const pre = await run("/bert-tiny-sst/sequence-classification", { input: padded, is_preprocessed: true });
  assertClose(pre.model_outputs.logits, text.model_outputs.logits, "sst logits");
  assert.deepEqual(pre.labels, text.labels);

  const nerText = await run("/bert-tiny-ner/token-classification", { input: PAIRS });
  const nerPre = await run("/bert-tiny-ner/token-classification", { input, is_preprocessed: true });
  assertClose(nerPre.model_outputs.logits, nerText.model_outputs.logits, "ner probabilities");
  assert.deepEqual(nerPre.labels, nerText.labels);
  const longest = Math.max(...input.input_ids.map((r) => r.length));
  assert.deepEqual(nerPre.word_ids, input.input_ids.map(() => new Array(longest).fill(null)), "no text, no word ids; padded to the logits' length");
  assert.deepEqual(nerPre.entities, [[], []]);

  const singles = ["hello world", "a somewhat longer sentence"];
  const embText = await run("/bert-tiny-base/embedding", { input: singles, task_kwargs: { embedding_mode: "max" } });
  const embPre = await run("/bert-tiny-base/embedding", { input: await encoded(singles), is_preprocessed: true, task_kwargs: { embedding_mode: "max" } });
  assertClose(embPre.model_outputs.embeddings, embText.model_outputs.embeddings, "embeddings");
  // token_type_ids are optional (zeros)
  const { input_ids, attention_mask } = await encoded(singles);
  assertClose((await run("/bert-tiny-base/embedding", { input: { input_ids, attention_mask }, is_preprocessed: true, task_kwargs: { embedding_mode: "max" } })).model_outputs.embeddings, embText.model_outputs.embeddings, "without token_type_ids");
});

test("preprocessed question answering: token-index spans decoded by the tokenizer, same scores as the text; segments from token_type_ids or separators", async () => {
  const items: [string, string][] = [["where is the cat?", "the cat sat on the mat."], ["who walked?", "i walked to the river bank yesterday"]];
  const text = await run("/bert-tiny-qa/question-answering", { input: items, task_kwargs: { topk: 3 } });
  const input = await encoded(items);
  const pre = await run("/bert-tiny-qa/question-answering", { input, is_preprocessed: true, task_kwargs: { topk: 3 } });
  const { input_ids, attention_mask } = input;
  const bySeparators = await run("/bert-tiny-qa/question-answering", { input: { input_ids, attention_mask }, is_preprocessed: true, task_kwargs: { topk: 3 } });
  assertClose(pre.model_outputs.start_logits, text.model_outputs.start_logits, "start_logits");
  for (let i = 0; i < items.length; i++) {
    const enc = await tok.encode(items[i][0], items[i][1]);
    const firstContext = enc.getTypeIds().indexOf(1);
    // without token_type_ids the model sees other inputs (so other scores), but the context found from separators is the same
    for (const a of bySeparators.answers[i]) if (a.answer !== "") assert.ok(a.start >= firstContext && a.end <= enc.getIds().length - 1, JSON.stringify(a));
    assert.equal(pre.answers[i].length, 3);
    for (let k = 0; k < 3; k++) {
      const [p, t] = [pre.answers[i][k], text.answers[i][k]];
      assert.ok(Math.abs(p.score - t.score) < 1e-6, `item ${i} answer ${k} score`);
      if (p.answer === "") {
        assert.deepEqual([p.start, p.end, t.answer], [0, 0, ""], "the null answer");
        continue;
      }
      assert.ok(p.start >= firstContext && p.end <= enc.getIds().length - 1, "the span lies in the context segment");
      assert.equal(p.answer, await tok.decode(enc.getIds().slice(p.start, p.end), true), "answer = the span's tokens decoded");
      // the same span as the text answer: its character range covers exactly these tokens
      const offsets = enc.getOffsets();
      assert.deepEqual([offsets[p.start][0], offsets[p.end - 1][1]], [t.start, t.end]);
    }
  }
});

test("is_preprocessed 422s: missing, ragged, out-of-vocabulary, bad mask or segment values, options that need text", async () => {
  const emb = "/bert-tiny-base/embedding";
  await expect422(emb, { is_preprocessed: true, input: { input_ids: [[2, 5, 3]], attention_mask: [[1, 1]] } }, "input.attention_mask.0", /has 2 entries, input_ids row 0 has 3/);
  await expect422(emb, { is_preprocessed: true, input: { input_ids: [[2, 5, 3]], attention_mask: [[1, 1, 1]], token_type_ids: [[0, 0]] } }, "input.token_type_ids.0", /has 2 entries/);
  await expect422(emb, { is_preprocessed: true, input: { input_ids: [[2, 5, 3], [2, 3]], attention_mask: [[1, 1, 1]] } }, "input.attention_mask", /has 1 rows, input_ids has 2/);
  await expect422(emb, { is_preprocessed: true, input: { attention_mask: [[1]] } }, "input.input_ids", /is required/);
  await expect422(emb, { is_preprocessed: true, input: { input_ids: [[2, -1, 3]], attention_mask: [[1, 1, 1]] } }, "input.input_ids.0", /id -1 is outside the vocabulary \(0\.\.798\)/);
  await expect422(emb, { is_preprocessed: true, input: { input_ids: [[2, 799]], attention_mask: [[1, 1]] } }, "input.input_ids.0", /id 799 is outside/);
  await expect422(emb, { is_preprocessed: true, input: { input_ids: [[2, 5, 3]], attention_mask: [[1, 2, 1]] } }, "input.attention_mask.0", /only 0 and 1/);
  await expect422(emb, { is_preprocessed: true, input: { input_ids: [[2, 5, 3]], attention_mask: [[0, 0, 0]] } }, "input.attention_mask.0", /masks every token/);
  await expect422(emb, { is_preprocessed: true, input: { input_ids: [[2, 5, 3]], attention_mask: [[1, 1, 1]], token_type_ids: [[0, 2, 0]] } }, "input.token_type_ids.0", /only 0 and 1/);
  await expect422(emb, { is_preprocessed: true, input: { input_ids: [[2, 5.5, 3]], attention_mask: [[1, 1, 1]] } }, "input.input_ids", /lists of integers/);
  await expect422(emb, { is_preprocessed: true, input: { input_ids: [new Array(129).fill(5)], attention_mask: [new Array(129).fill(1)] } }, "input.input_ids.0", /129 tokens; the model accepts at most 128/);
  await expect422(emb, { is_preprocessed: true, input: { input_ids: [[2, 3]], attention_mask: [[1, 1]], position_ids: [[0, 1]] } }, "input.position_ids", /unknown field/);
  await expect422(emb, { is_preprocessed: true, input: { input_ids: [[2, 3]], attention_mask: [[1, 1]] }, preprocessing_kwargs: { max_length: 8 } }, "preprocessing_kwargs.max_length", /no effect with is_preprocessed/);
  await expect422("/bert-tiny-ner/token-classification", { is_preprocessed: true, input: { input_ids: [[2, 3]], attention_mask: [[1, 1]] }, task_kwargs: { aggregation: "simple" } }, "task_kwargs.aggregation", /no text/);
  await expect422("/bert-tiny-qa/question-answering", { is_preprocessed: true, input: { input_ids: [[2, 3]], attention_mask: [[1, 1]] }, task_kwargs: { doc_stride: 16 } }, "task_kwargs.doc_stride", /one window already/);
  // padding beyond the model's length is fine: trailing padding is dropped first
  const long = await run(emb, { is_preprocessed: true, input: { input_ids: [[2, 5, 3, ...new Array(140).fill(0)]], attention_mask: [[1, 1, 1, ...new Array(140).fill(0)]] } });
  assert.equal(long.model_outputs.embeddings.length, 1);
});

test("preprocessed QA without a separator or segment fails the task with the reason", async () => {
  const q = await s.post("/bert-tiny-qa/question-answering", { is_preprocessed: true, input: { input_ids: [[2, 40, 41, 42]], attention_mask: [[1, 1, 1, 1]] } });
  assert.equal(q.status, 200);
  const r = await s.result(q.body.task_id);
  assert.equal(r.body.status, "Failed");
  assert.equal(r.body.error.type, "invalid_request");
  assert.match(r.body.error.message, /row 0 has no separator token/);
});

test("preprocessing_kwargs: max_length, truncation, add_special_tokens, padding; unknown keys and impossible values are 422", async () => {
  const emb = "/bert-tiny-base/embedding";
  const tokenMode = { embedding_mode: "token" };
  const text = "the quick brown fox jumps over the lazy dog";
  const short = await run(emb, { input: [text], task_kwargs: tokenMode, preprocessing_kwargs: { max_length: 6 } });
  assert.deepEqual(short.word_ids[0], [null, 0, 1, 2, 3, null], "truncated to 6 tokens with [CLS] … [SEP]");
  const bare = await run(emb, { input: ["hello world"], task_kwargs: tokenMode, preprocessing_kwargs: { add_special_tokens: false } });
  assert.deepEqual(bare.word_ids[0], [0, 1], "no special tokens");
  const pre = await run(emb, { is_preprocessed: true, task_kwargs: tokenMode, input: { input_ids: [(await tok.encode("hello world", null, { addSpecialTokens: false })).getIds()], attention_mask: [[1, 1]] } });
  assertClose(bare.model_outputs.embeddings, pre.model_outputs.embeddings, "add_special_tokens false = the bare ids");
  for (const padding of [true, "longest", "max_length", false]) await run(emb, { input: ["x"], preprocessing_kwargs: { padding } });

  // truncation strategies on pairs: only_first cuts the first text, only_second the second
  const pair: [string, string] = ["the quick brown fox jumps over", "the dog"];
  const first = await run("/bert-tiny-ner/token-classification", { input: [pair], preprocessing_kwargs: { max_length: 8, truncation: "only_first" } });
  assert.deepEqual(first.word_ids[0], [null, 0, 1, 2, null, 0, 1, null]);
  const longest = await run("/bert-tiny-ner/token-classification", { input: [pair], preprocessing_kwargs: { max_length: 8, truncation: true } });
  assert.deepEqual(longest.word_ids[0], first.word_ids[0], "true = longest_first: the longer first text loses tokens");

  // truncation off: a text longer than the model accepts fails with the reason instead of breaking the graph
  const tooLong = await s.post(emb, { input: [new Array(200).fill("cat").join(" ")], preprocessing_kwargs: { truncation: false } });
  const failed = await s.result(tooLong.body.task_id);
  assert.equal(failed.body.error.type, "invalid_request");
  assert.match(failed.body.error.message, /has 202 tokens; the model accepts at most 128/);

  const seq = "/bert-tiny-sst/sequence-classification";
  await expect422(seq, { input: ["x"], preprocessing_kwargs: { max_lenght: 8 } }, "preprocessing_kwargs.max_lenght", /unknown option; known: max_length, truncation/);
  await expect422(seq, { input: ["x"], preprocessing_kwargs: { max_length: 512 } }, "preprocessing_kwargs.max_length", /at most 128/);
  await expect422(seq, { input: ["x"], preprocessing_kwargs: { truncation: "middle" } }, "preprocessing_kwargs.truncation", /./);
  await expect422(seq, { input: ["x"], preprocessing_kwargs: { padding: "left" } }, "preprocessing_kwargs.padding", /no effect/);
  await expect422(seq, { input: ["x"], preprocessing_kwargs: { return_overflowing_tokens: true, stride: 4 } }, "preprocessing_kwargs.return_overflowing_tokens", /one row per item/);
  await expect422(seq, { input: ["x"], preprocessing_kwargs: { stride: -1 } }, "preprocessing_kwargs.stride", /./);
  const qa = "/bert-tiny-qa/question-answering";
  await expect422(qa, { input: [["q", "c"]], preprocessing_kwargs: { add_special_tokens: false } }, "preprocessing_kwargs.add_special_tokens", /separate question and context/);
  await expect422(qa, { input: [["q", "c"]], preprocessing_kwargs: { truncation: "only_first" } }, "preprocessing_kwargs.truncation", /context only/);
});

test("question answering: max_length and stride stand in for max_seq_len and doc_stride; return_overflowing_tokens false keeps the first window", async () => {
  const qa = "/bert-tiny-qa/question-answering";
  const context = "the cat sat on the mat and then the dog came in and sat on the rug near the door while the bird sang in the tree outside the house";
  const item = [["where did the dog sit?", context]];
  const viaTask = await run(qa, { input: item, task_kwargs: { max_seq_len: 24, doc_stride: 6, topk: 5 } });
  const viaPre = await run(qa, { input: item, task_kwargs: { topk: 5 }, preprocessing_kwargs: { max_length: 24, stride: 6 } });
  assert.deepEqual(viaPre.answers, viaTask.answers);
  const firstOnly = await run(qa, { input: item, task_kwargs: { topk: 5 }, preprocessing_kwargs: { max_length: 24, stride: 6, return_overflowing_tokens: false } });
  // the first window holds the question (7 tokens with its [CLS]/[SEP]) and 24 - 7 - 1 = 16 context tokens
  const enc = await tok.encode(context, null, { addSpecialTokens: false });
  const windowEnd = enc.getOffsets()[15][1];
  assert.ok(firstOnly.answers[0].every((a: any) => a.end <= windowEnd), JSON.stringify(firstOnly.answers));
  assert.ok(viaTask.answers[0].some((a: any) => a.end > windowEnd), "with windows, later parts of the context are reachable");
});

test("models without token_type_ids: RoBERTa QA finds the context from </s></s>; DistilBERT ignores all-zero token_type_ids and refuses others", async () => {
  const roberta = tokenizers.Tokenizer.fromFile(join(await fixturePath("roberta-tiny-qa"), "tokenizer.json"));
  const items: [string, string][] = [["where is the cat?", "the cat sat on the mat."]];
  const text = await run("/roberta-tiny-qa/question-answering", { input: items, task_kwargs: { topk: 3 } });
  const enc = await roberta.encode(items[0][0], items[0][1]);
  const ids = enc.getIds();
  const pre = await run("/roberta-tiny-qa/question-answering", { input: { input_ids: [ids], attention_mask: [enc.getAttentionMask()] }, is_preprocessed: true, task_kwargs: { topk: 3 } });
  const contextStart = enc.getSequenceIds().indexOf(1);
  for (let k = 0; k < 3; k++) {
    const [p, t] = [pre.answers[0][k], text.answers[0][k]];
    assert.ok(Math.abs(p.score - t.score) < 1e-6, `answer ${k}: same score as the text`);
    if (p.answer === "") continue;
    assert.ok(p.start >= contextStart && p.end < ids.length, "inside the context");
    assert.equal(p.answer, (await roberta.decode(ids.slice(p.start, p.end), true)).trim());
    assert.equal(p.answer, t.answer.trim(), "byte-level BPE decodes back to the context text");
  }

  const distil = tokenizers.Tokenizer.fromFile(join(await fixturePath("distilbert-tiny-sst"), "tokenizer.json"));
  const e = await distil.encode("a fine film");
  const input = { input_ids: [e.getIds()], attention_mask: [e.getAttentionMask()] };
  const plain = await run("/distilbert-tiny-sst/sequence-classification", { input, is_preprocessed: true });
  const zeros = await run("/distilbert-tiny-sst/sequence-classification", { input: { ...input, token_type_ids: [e.getIds().map(() => 0)] }, is_preprocessed: true });
  assertClose(zeros.model_outputs.logits, plain.model_outputs.logits, "all-zero token_type_ids are ignored");
  const q = await s.post("/distilbert-tiny-sst/sequence-classification", { input: { ...input, token_type_ids: [e.getIds().map((_, i) => (i > 1 ? 1 : 0))] }, is_preprocessed: true });
  assert.equal(q.status, 422, "refused at the gateway: the model's metadata lists its graph inputs");
  assert.equal(q.body.error.type, "invalid_request");
  assert.match(q.body.error.message, /no token_type_ids input; only all-zero token_type_ids are accepted/);
});
