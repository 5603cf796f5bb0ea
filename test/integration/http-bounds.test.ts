/**
 * SPEC §12 over HTTP, for BERT, RoBERTa and DistilBERT: every tokenizer option at and just past
 * its bound. The last accepted value runs to a result; the first refused one is a 422 before a
 * task exists, naming the field and the allowed range. Several of the refused values aborted the
 * whole process before (a Rust panic in the tokenizer binding), which would end this test file.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startEmbedded, Embedded } from "../helpers/embedded.ts";
import { runTask } from "../helpers/http.ts";

const FAMILIES = ["bert", "roberta", "distilbert"] as const;
/** Special tokens each fixture's tokenizer adds to a single text and to a pair (the test's own knowledge). */
const SPECIALS = { bert: { single: 2, pair: 3 }, roberta: { single: 2, pair: 4 }, distilbert: { single: 2, pair: 3 } };
const MAX = 128; // every fixture's maximum sequence length

let s: Embedded;
before(async () => {
  s = await startEmbedded(FAMILIES.flatMap((f) => [
    { id: `${f}-sst`, path: `${f}-tiny-sst`, return_plaintext_arrays: true },
    { id: `${f}-qa`, path: `${f}-tiny-qa`, return_plaintext_arrays: true },
  ]));
});
after(() => s?.stop());

/** 422 with exactly one problem, on `field`, whose message gives the range [lo, hi]. */
async function expectRange(path: string, body: unknown, field: string, lo: number, hi: number) {
  const r = await s.post(path, body);
  assert.equal(r.status, 422, `${path} ${JSON.stringify(body).slice(0, 200)}: ${JSON.stringify(r.body)}`);
  assert.equal(r.body.error.type, "invalid_request");
  assert.deepEqual(r.body.error.details.map((d: { field: string }) => d.field), [field], JSON.stringify(r.body.error.details));
  assert.match(r.body.error.details[0].message, new RegExp(`must be between ${lo} and ${hi}\\b`), r.body.error.details[0].message);
}

const long = "the cat sat on the mat and then the dog ran to the river bank today. ".repeat(12);

for (const family of FAMILIES) {
  const { single, pair } = SPECIALS[family];
  const sst = `/${family}-sst/sequence-classification`;
  const qa = `/${family}-qa/question-answering`;

  test(`${family}: max_length and stride of sequence classification, singles and pairs, at their bounds`, async () => {
    const singleWindow = MAX - single;
    await runTask(s, sst, { input: [long], preprocessing_kwargs: { stride: singleWindow - 1 } });
    await expectRange(sst, { input: ["a"], preprocessing_kwargs: { stride: singleWindow } }, "preprocessing_kwargs.stride", 0, singleWindow - 1);
    await expectRange(sst, { input: ["a"], preprocessing_kwargs: { stride: 127 } }, "preprocessing_kwargs.stride", 0, singleWindow - 1);
    await expectRange(sst, { input: ["a"], preprocessing_kwargs: { stride: 1e15 } }, "preprocessing_kwargs.stride", 0, singleWindow - 1);
    await expectRange(sst, { input: ["a"], preprocessing_kwargs: { max_length: 10, stride: 9 } }, "preprocessing_kwargs.stride", 0, 10 - single - 1);
    const short = await runTask(s, sst, { input: [long], preprocessing_kwargs: { max_length: 10, stride: 10 - single - 1 } });
    const plain = await runTask(s, sst, { input: [long], preprocessing_kwargs: { max_length: 10 } });
    assert.deepEqual(short.model_outputs.logits, plain.model_outputs.logits, "stride has no effect without overflow windows");

    // a pair's window is smaller by the pair's extra special tokens
    const pairWindow = MAX - pair;
    await runTask(s, sst, { input: [[long, long]], preprocessing_kwargs: { stride: pairWindow - 1 } });
    await expectRange(sst, { input: [[long, long]], preprocessing_kwargs: { stride: pairWindow } }, "preprocessing_kwargs.stride", 0, pairWindow - 1);

    await expectRange(sst, { input: ["a"], preprocessing_kwargs: { max_length: single } }, "preprocessing_kwargs.max_length", single + 1, MAX);
    await expectRange(sst, { input: [["a", "b"]], preprocessing_kwargs: { max_length: pair } }, "preprocessing_kwargs.max_length", pair + 1, MAX);
    await expectRange(sst, { input: ["a"], preprocessing_kwargs: { max_length: 2 ** 32 + 10 } }, "preprocessing_kwargs.max_length", single + 1, MAX);
    await expectRange(sst, { input: ["a"], preprocessing_kwargs: { max_length: MAX + 1 } }, "preprocessing_kwargs.max_length", single + 1, MAX);
    await runTask(s, sst, { input: [long], preprocessing_kwargs: { max_length: single + 1 } });
    await runTask(s, sst, { input: [long], preprocessing_kwargs: { max_length: 1, add_special_tokens: false } });
  });

  test(`${family}: question-answering window options at their bounds; default options read long contexts`, async () => {
    const context = long.repeat(3); // several windows at any setting below
    const item = [["where did the dog run?", context]];
    const defaults = await runTask(s, qa, { input: item, task_kwargs: { topk: 3, show_null_answers: false } });
    assert.equal(defaults.answers[0].length, 3);
    for (const a of defaults.answers[0]) assert.equal(context.slice(a.start, a.end), a.answer);

    const roomForQuestion = MAX - pair - 1;
    await expectRange(qa, { input: item, task_kwargs: { max_seq_len: pair + 1 } }, "task_kwargs.max_seq_len", pair + 2, MAX);
    await expectRange(qa, { input: item, task_kwargs: { max_seq_len: MAX + 1 } }, "task_kwargs.max_seq_len", pair + 2, MAX);
    await expectRange(qa, { input: item, preprocessing_kwargs: { max_length: pair + 1 } }, "preprocessing_kwargs.max_length", pair + 2, MAX);
    const tiny = await runTask(s, qa, { input: [["where?", "the dog ran to the river"]], task_kwargs: { max_seq_len: pair + 2, topk: 50, show_null_answers: false } });
    assert.ok(tiny.answers[0].length >= 5 && tiny.answers[0].every((a: { answer: string }) => a.answer.trim().split(/\s+/).length === 1), "one context token per window: one-token answers");

    await expectRange(qa, { input: item, task_kwargs: { max_question_len: roomForQuestion + 1 } }, "task_kwargs.max_question_len", 1, roomForQuestion);
    await expectRange(qa, { input: item, task_kwargs: { max_question_len: 0 } }, "task_kwargs.max_question_len", 1, roomForQuestion);
    await runTask(s, qa, { input: item, task_kwargs: { max_question_len: roomForQuestion } });

    // doc_stride below every window's context capacity: with a question of ≥ 1 token, or of up to max_question_len tokens
    await expectRange(qa, { input: item, task_kwargs: { doc_stride: roomForQuestion } }, "task_kwargs.doc_stride", 0, roomForQuestion - 1);
    await expectRange(qa, { input: item, task_kwargs: { doc_stride: 1e15 } }, "task_kwargs.doc_stride", 0, roomForQuestion - 1);
    await expectRange(qa, { input: item, preprocessing_kwargs: { stride: 127 } }, "preprocessing_kwargs.stride", 0, roomForQuestion - 1);
    await expectRange(qa, { input: item, task_kwargs: { doc_stride: MAX - pair - 10, max_question_len: 10 } }, "task_kwargs.doc_stride", 0, MAX - pair - 11);
    const shortContext = [["where did the dog run?", long.slice(0, 400)]];
    await runTask(s, qa, { input: shortContext, task_kwargs: { doc_stride: roomForQuestion - 1 } });
    await runTask(s, qa, { input: item, task_kwargs: { doc_stride: MAX - pair - 11, max_question_len: 10 } });
  });
}
