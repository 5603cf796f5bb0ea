/** QA span decoding on hand-built logits. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeAnswers, decodeAnswersYielding, QaWindow } from "../../lib/tasks/qa-decoding.ts";

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

/** Every span scored and kept, ranked by a full sort: the reference the bounded top-k must equal. */
function bruteForce(windows: QaWindow[], text: string, topk: number, maxAnswerLen: number, showNull: boolean) {
  const softmax = (logits: ArrayLike<number>, allowed: readonly boolean[]) => {
    const keep = Array.from(logits, (_, t) => allowed[t] || t === 0);
    const max = Math.max(...Array.from(logits).filter((_, t) => keep[t]));
    const e = Array.from(logits, (v, t) => (keep[t] ? Math.exp(v - max) : 0));
    const z = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / z);
  };
  const best = new Map<string, { score: number; start: number; end: number }>();
  let nullScore = Infinity;
  for (const w of windows) {
    const ps = softmax(w.startLogits, w.isContext);
    const pe = softmax(w.endLogits, w.isContext);
    nullScore = Math.min(nullScore, ps[0] * pe[0]);
    for (let a = 0; a < ps.length; a++)
      for (let b = a; b < ps.length && b - a < maxAnswerLen; b++) {
        if (!w.isContext[a] || !w.isContext[b]) continue;
        const cand = { score: ps[a] * pe[b], start: w.offsets[a][0], end: w.offsets[b][1] };
        const key = `${cand.start}:${cand.end}`;
        if (!best.has(key) || best.get(key)!.score < cand.score) best.set(key, cand);
      }
  }
  const all = [...best.values()];
  if (showNull) all.push({ score: nullScore, start: 0, end: 0 });
  all.sort((x, y) => y.score - x.score || x.start - y.start || x.end - y.end);
  return all.slice(0, topk).map((x) => ({ ...x, answer: text.slice(x.start, x.end) }));
}

test("the bounded top-k equals a full sort of every span, with duplicates across overlapping windows and ties (and so does the yielding variant)", async () => {
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const words = 40;
  const text = Array.from({ length: words }, (_, i) => `w${String(i).padStart(2, "0")}`).join(" ");
  const at = (i: number): [number, number] => [4 * i, 4 * i + 3];
  for (let trial = 0; trial < 20; trial++) {
    // Overlapping windows of 12 words, 4 apart; logits rounded so that equal scores occur.
    const windows: QaWindow[] = [];
    for (let from = 0; from < words; from += 8) {
      const ids = Array.from({ length: Math.min(12, words - from) }, (_, k) => from + k);
      const logits = () => [random() * 3, ...ids.map(() => Math.round(random() * 4) / 2), -1e4];
      windows.push({ startLogits: logits(), endLogits: logits(), isContext: [false, ...ids.map(() => true), false], offsets: [[0, 0], ...ids.map(at), [0, 0]] });
    }
    for (const topk of [1, 3, 17, 500]) {
      for (const showNullAnswers of [false, true]) {
        const maxAnswerLen = 1 + (trial % 6);
        const got = decodeAnswers(windows, text, { topk, maxAnswerLen, showNullAnswers });
        const want = bruteForce(windows, text, topk, maxAnswerLen, showNullAnswers);
        assert.deepEqual(got, want, `trial ${trial} topk ${topk}`);
        assert.deepEqual(await decodeAnswersYielding(windows, text, { topk, maxAnswerLen, showNullAnswers }), want, `yielding: trial ${trial} topk ${topk}`);
      }
    }
  }
});
