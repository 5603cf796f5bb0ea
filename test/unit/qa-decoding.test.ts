/** QA span decoding on hand-built logits. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeAnswers, QaWindow } from "../../lib/tasks/qa-decoding.ts";

// context "aa bb cc dd ee" → word i at chars [3i, 3i+2]
const context = "aa bb cc dd ee";
const span = (w: number): [number, number] => [3 * w, 3 * w + 2];
const NEG = -1e4;

/** A window: [CLS] q [SEP] <context words from..to> [SEP], logits given per context word. */
function win(from: number, to: number, start: Record<number, number>, end: Record<number, number>, cls = 0): QaWindow {
  const words = Array.from({ length: to - from + 1 }, (_, k) => from + k);
  const s = [cls, NEG, NEG, ...words.map((w) => start[w] ?? 0), NEG];
  const e = [cls, NEG, NEG, ...words.map((w) => end[w] ?? 0), NEG];
  return {
    startLogits: s,
    endLogits: e,
    isContext: [false, false, false, ...words.map(() => true), false],
    offsets: [[0, 0], [0, 1], [0, 0], ...words.map(span), [0, 0]],
  };
}

const opts = { topk: 1, maxAnswerLen: 30, showNullAnswers: false };

test("best span: softmax over context plus the first token, score = p_start × p_end", () => {
  const [best] = decodeAnswers([win(0, 4, { 1: 5 }, { 2: 5 })], context, opts);
  assert.equal(best.answer, "bb cc");
  assert.deepEqual([best.start, best.end], [3, 8]);
  const z = Math.exp(5) + 4 * Math.exp(0) + Math.exp(0); // 5 context tokens + [CLS] (logit 0)
  assert.ok(Math.abs(best.score - (Math.exp(5) / z) ** 2) < 1e-12);
  assert.equal(context.slice(best.start, best.end), best.answer);
});

test("spans never start or end in the question or on special tokens; end ≥ start", () => {
  const w = win(0, 4, { 0: 1 }, { 0: 1 });
  (w.startLogits as number[])[1] = 50; // a huge logit on a question token is ignored
  (w.endLogits as number[])[7] = 50; // and on the final [SEP]
  const answers = decodeAnswers([w], context, { ...opts, topk: 100 });
  for (const a of answers) assert.ok(a.end > a.start && context.slice(a.start, a.end) === a.answer);
  assert.equal(answers.length, 15, "5 words: 5 + 4 + 3 + 2 + 1 spans");
});

test("an answer crossing a window boundary is found in the window that holds it whole; duplicates merge", () => {
  // window A holds words 0-2, window B words 2-4 (overlap: word 2). The answer is words 2-3.
  const a = win(0, 2, { 2: 6 }, { 2: 1 });
  const b = win(2, 4, { 2: 6 }, { 3: 6 });
  const answers = decodeAnswers([a, b], context, { ...opts, topk: 100 });
  assert.equal(answers[0].answer, "cc dd");
  const keys = answers.map((x) => `${x.start}:${x.end}`);
  assert.equal(new Set(keys).size, keys.length, "no duplicate spans across windows");
  assert.equal(keys.filter((k) => k === "6:8").length, 1, "word 2 alone, seen in both windows, appears once");
});

test("max_answer_len bounds the span in tokens", () => {
  const [best] = decodeAnswers([win(0, 4, { 0: 5 }, { 4: 5 })], context, { ...opts, maxAnswerLen: 2 });
  assert.ok(best.end - best.start <= 5, `"${best.answer}" is at most two words`);
  const [full] = decodeAnswers([win(0, 4, { 0: 5 }, { 4: 5 })], context, opts);
  assert.equal(full.answer, "aa bb cc dd ee");
});

test("the null answer takes part in the ranking and can win; its score is the minimum over windows", () => {
  const answers = decodeAnswers([win(0, 2, {}, {}, 10), win(2, 4, {}, {}, 8)], context, { ...opts, topk: 2, showNullAnswers: true });
  assert.deepEqual([answers[0].answer, answers[0].start, answers[0].end], ["", 0, 0]);
  const z = Math.exp(8) + 3;
  assert.ok(Math.abs(answers[0].score - (Math.exp(8) / z) ** 2) < 1e-12, "the window with the lower null score counts");
  assert.equal(answers.length, 2);
});

test("topk larger than the number of valid spans returns them all; exactly topk otherwise; ties keep text order", () => {
  assert.equal(decodeAnswers([win(0, 1, {}, {})], context, { ...opts, topk: 50 }).length, 3);
  assert.equal(decodeAnswers([win(0, 4, {}, {})], context, { ...opts, topk: 7 }).length, 7);
  const tied = decodeAnswers([win(0, 4, {}, {})], context, { ...opts, topk: 2 });
  assert.deepEqual(tied.map((t) => t.answer), ["aa", "aa bb"], "equal scores: earlier start, then shorter");
});

test("stable for huge logits", () => {
  const [best] = decodeAnswers([win(0, 4, { 3: 1e4 }, { 3: 1e4 })], context, opts);
  assert.equal(best.answer, "dd");
  assert.ok(Math.abs(best.score - 1) < 1e-12);
});
