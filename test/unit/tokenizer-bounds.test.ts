/**
 * Range checks before the native tokenizer (SPEC §12): the special-token counts come from each
 * tokenizer, the gateway-side checks name the field and the allowed range, the tokenizer refuses
 * out-of-range values itself, and values that make the raw binding abort the process leave a
 * child process running ours alive. Also the window arithmetic of long-context QA.
 */
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { TextTokenizer } from "../../lib/tokenization/tokenizer.ts";
import { truncationProblems, MAX_NATIVE_INT } from "../../lib/tokenization/bounds.ts";
import { windowRanges, defaultStride, encodeQaWindows, MAX_WINDOWS_PER_REQUEST } from "../../lib/tokenization/pair-windows.ts";
import { qaWindowPlan } from "../../lib/tasks/qa-options.ts";
import { withDefaults, TaskRequest } from "../../lib/request/request.ts";
import { fixturePath } from "../helpers/fixtures.ts";

const FAMILIES = ["bert", "roberta", "distilbert"] as const;
/** Special tokens per family, as each fixture's post-processor adds them (the test's own knowledge, not the server's). */
const EXPECTED = { bert: { single: 2, pair: 3 }, roberta: { single: 2, pair: 4 }, distilbert: { single: 2, pair: 3 } };
const tokenizers: Record<string, TextTokenizer> = {};

before(async () => {
  for (const f of FAMILIES) tokenizers[f] = await TextTokenizer.load(`${await fixturePath(`${f}-tiny-qa`)}/tokenizer.json`);
});

const rejectsWith = async (promise: Promise<unknown>, field: string, range: RegExp) =>
  assert.rejects(promise, (err: Error & { type?: string; data?: { field: string; message: string }[] }) => {
    assert.equal(err.type, "invalid_request");
    assert.deepEqual(err.data?.map((d) => d.field), [field]);
    assert.match(err.data![0].message, range);
    return true;
  });

test("special-token counts are asked from each tokenizer: BERT and DistilBERT add 2 / 3, RoBERTa 2 / 4", () => {
  for (const f of FAMILIES) {
    assert.deepEqual(tokenizers[f].specialTokens, EXPECTED[f], f);
    assert.equal(tokenizers[f].pairTemplate?.specialCount, EXPECTED[f].pair);
  }
});

test("max_length and stride bounds per item kind, with the field and the allowed range", () => {
  const specials = { single: 2, pair: 4 };
  const check = (maxLength: number, stride: number | undefined, kinds: ("single" | "pair")[], extra = {}) =>
    truncationProblems({ maxLength, stride, truncating: true, addSpecialTokens: true, ...extra }, kinds, specials, 128);
  assert.deepEqual(check(128, 125, ["single"]), [], "stride = window - 1 is fine");
  assert.deepEqual(check(128, 126, ["single"]), [{ field: "preprocessing_kwargs.stride", message: "is 126; must be between 0 and 125: below max_length 128 minus the 2 special tokens of a single text" }]);
  assert.match(check(128, 124, ["single", "pair"])[0].message, /between 0 and 123: .* 4 special tokens of a pair/, "a pair's window is smaller");
  assert.deepEqual(check(128, 123, ["pair"]), []);
  assert.match(check(10, 9, ["single"])[0].message, /is 9; must be between 0 and 7/);
  assert.match(check(128, 1e15, ["single"])[0].message, /is 1000000000000000; must be between 0 and 125/);
  assert.match(check(2, 0, ["single"])[0].message, /is 2; must be between 3 and 128/);
  assert.deepEqual(check(3, 0, ["single"]), []);
  assert.match(check(4, 0, ["pair"])[0].message, /is 4; must be between 5 and 128/);
  assert.deepEqual(check(1, 0, ["pair"], { addSpecialTokens: false }), [], "no special tokens: one token is a window");
  assert.deepEqual(check(1, 0, ["pair"], { truncating: false }), []);
  assert.equal(check(2 ** 32 + 10, 0, ["single"])[0].field, "preprocessing_kwargs.max_length", "would wrap to 10 in the binding");
  assert.equal(truncationProblems({ maxLength: 2 ** 31, truncating: true, addSpecialTokens: true }, ["single"], specials, Infinity)[0].message, `is ${2 ** 31}; must be between 3 and ${MAX_NATIVE_INT}: 2 special tokens of a single text plus at least one text token, and this model accepts at most ${MAX_NATIVE_INT} tokens`);
});

test("the tokenizer itself refuses what would abort the binding, per item kind, instead of calling it", async () => {
  for (const f of FAMILIES) {
    const tok = tokenizers[f];
    const opts = (maxLength: number, stride: number) => ({ maxLength, stride, truncation: "longest_first" as const, addSpecialTokens: true });
    const long = "the cat sat on the mat ".repeat(40);
    await rejectsWith(tok.encode([long], opts(128, 126)), "preprocessing_kwargs.stride", /between 0 and 125/);
    await rejectsWith(tok.encode([long], opts(10, 9)), "preprocessing_kwargs.stride", /between 0 and 7/);
    await rejectsWith(tok.encode([long], opts(128, 1e15)), "preprocessing_kwargs.stride", /between 0 and 125/);
    const pairWindow = 10 - EXPECTED[f].pair;
    await rejectsWith(tok.encode([["where?", long]], opts(10, pairWindow)), "preprocessing_kwargs.stride", new RegExp(`between 0 and ${pairWindow - 1}`));
    await rejectsWith(tok.encode([long], opts(2 ** 32 + 10, 0)), "preprocessing_kwargs.max_length", /between 3 and 2147483647/);
    await rejectsWith(tok.encode([long], opts(1, 0)), "preprocessing_kwargs.max_length", /between 3 and/);
    await rejectsWith(tok.encode([long], { ...opts(128, 0), returnOverflowing: true }), "preprocessing_kwargs.return_overflowing_tokens", /windows long contexts itself/);
    // the largest valid stride is accepted and, overflow windows being unused, changes nothing
    const [withStride] = await tok.encode([long], opts(10, 7));
    const [without] = await tok.encode([long], opts(10, 0));
    assert.deepEqual(withStride, without);
    assert.equal(without.ids.length, 10);
  }
});

test("windows: Hugging Face's count and starts; one (maybe empty) window when the context fits", () => {
  assert.deepEqual(windowRanges(0, 5, 2), [[0, 0]]);
  assert.deepEqual(windowRanges(5, 5, 2), [[0, 5]]);
  assert.deepEqual(windowRanges(6, 5, 2), [[0, 5], [3, 6]]);
  assert.deepEqual(windowRanges(11, 5, 2), [[0, 5], [3, 8], [6, 11]]);
  assert.deepEqual(windowRanges(12, 5, 2), [[0, 5], [3, 8], [6, 11], [9, 12]]);
  assert.deepEqual(windowRanges(4, 1, 0), [[0, 1], [1, 2], [2, 3], [3, 4]]);
  for (const [n, c, s] of [[1000, 61, 30], [77, 10, 9], [500, 120, 0]]) {
    assert.equal(windowRanges(n, c, s).length, 1 + Math.ceil((n - c) / (c - s)), `${n} tokens, capacity ${c}, stride ${s}`);
  }
  assert.throws(() => windowRanges(10, 5, 5), RangeError);
  assert.deepEqual([defaultStride(500), defaultStride(120), defaultStride(1)], [128, 60, 0]);
});

const qa = (task_kwargs: Record<string, unknown>, preprocessing_kwargs: Record<string, unknown> = {}): TaskRequest => withDefaults({ input: [["q", "c"]], task_kwargs, preprocessing_kwargs });

test("QA window options: ranges from the pair's special tokens, each problem naming its field", () => {
  const plan = (kw: Record<string, unknown>, pre = {}, pair = 4) => qaWindowPlan(qa(kw, pre), 128, pair);
  assert.deepEqual(plan({}).plan, { maxSeqLen: 128, questionLimit: 64, docStride: undefined, firstWindowOnly: false });
  assert.deepEqual(plan({ max_seq_len: 6 }).plan?.questionLimit, 1, "the default question limit shrinks to leave one context token");
  assert.match(plan({ max_seq_len: 5 }).problems[0].message, /is 5; must be between 6 and 128/);
  assert.match(plan({ max_seq_len: 129 }).problems[0].message, /must be between 6 and 128/);
  assert.equal(plan({}, { max_length: 5 }).problems[0].field, "preprocessing_kwargs.max_length");
  assert.equal(plan({ max_seq_len: 24 }, { max_length: 5 }).problems.length, 0, "max_seq_len wins over max_length");
  assert.match(plan({ max_question_len: 124 }).problems[0].message, /is 124; must be between 1 and 123/);
  assert.match(plan({ max_question_len: 0 }).problems[0].message, /must be between 1 and 123/);
  assert.match(plan({ doc_stride: 123 }).problems[0].message, /is 123; must be between 0 and 122/);
  assert.deepEqual(plan({ doc_stride: 122 }).plan?.questionLimit, 1, "a large overlap shortens the default question limit to fit");
  assert.deepEqual(plan({ doc_stride: 30 }).plan?.questionLimit, 64);
  assert.match(plan({ doc_stride: 114, max_question_len: 10 }).problems[0].message, /is 114; must be between 0 and 113: .*max_question_len 10/);
  assert.equal(plan({ doc_stride: 113, max_question_len: 10 }).problems.length, 0);
  assert.match(plan({ doc_stride: 1e15 }).problems[0].message, /must be between 0 and 122/);
  assert.equal(plan({}, { stride: 123 }).problems[0].field, "preprocessing_kwargs.stride");
  assert.equal(plan({ doc_stride: -1 }).problems[0].field, "task_kwargs.doc_stride");
  assert.match(plan({ doc_stride: 124 }, {}, 3).problems[0].message, /between 0 and 123/, "BERT's pair adds 3 tokens, one more for the context");
  assert.equal(plan({}, { return_overflowing_tokens: false }).plan?.firstWindowOnly, true);
});

test("every accepted plan cuts windows on every question, long or short, for every family", async () => {
  const longQuestion = "where did the little dog with the long brown tail run to after the rain stopped ".repeat(6);
  const context = "the cat sat on the mat and the dog ran to the park. ".repeat(30);
  for (const f of FAMILIES) {
    const tok = tokenizers[f];
    const pair = tok.specialTokens.pair;
    for (const kw of [{}, { doc_stride: 128 - pair - 2 }, { max_seq_len: pair + 2 }, { max_question_len: 128 - pair - 1 }, { doc_stride: 50, max_question_len: 128 - pair - 51 }]) {
      for (const question of ["q", longQuestion]) {
        const { plan, problems } = qaWindowPlan(withDefaults({ input: [[question, context]], task_kwargs: kw }), 128, pair);
        assert.deepEqual(problems, [], JSON.stringify(kw));
        const [windows] = await encodeQaWindows(tok, [[question, context]], plan!);
        assert.ok(windows.length >= 1 && windows.every((w) => w.ids.length <= plan!.maxSeqLen && w.sequenceIds.includes(1)), `${f} ${JSON.stringify(kw)}`);
      }
    }
  }
});

test("an assembled window is exactly the tokenizer's own pair encoding, every field, for every family, on tricky text", async () => {
  const pairs: [string, string][] = [
    ["where is the cat 😀?", "The cat sat on the mat, naïve café 😀 and then the dog came in."],
    ["Who?", "John  lives in Paris... with Mary (and Anna)!\tYes,\nplease — it's 3.50€"],
  ];
  const plan = { maxSeqLen: 128, questionLimit: 64, firstWindowOnly: false };
  for (const f of FAMILIES) {
    const tok = tokenizers[f];
    for (const pair of pairs) {
      const [[whole]] = await encodeQaWindows(tok, [pair], plan);
      const [own] = await tok.encode([pair], { maxLength: 128, truncation: "do_not_truncate", addSpecialTokens: true });
      assert.deepEqual(whole, own, `${f} ${pair[0]}`);
      // The first window of a long context is the tokenizer's own only_second truncation (the upstream bug spares it).
      const long: [string, string] = [pair[0], pair[1].repeat(8)];
      const [first] = (await encodeQaWindows(tok, [long], { ...plan, docStride: { value: 10, field: "doc_stride" } }))[0];
      const [truncated] = await tok.encode([long], { maxLength: 128, truncation: "only_second", addSpecialTokens: true });
      assert.deepEqual(first, truncated, `${f} first window`);
    }
  }
});

/** Runs `body` (ESM, tsx loaded) in a child process; returns its exit status and output. */
function inChild(body: string): { status: number | null; signal: string | null; output: string } {
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", body], { encoding: "utf8", cwd: process.cwd(), timeout: 60_000 });
  return { status: r.status, signal: r.signal, output: `${r.stdout}${r.stderr}` };
}

test("in a separate process: the values that abort the raw binding are refused by ours, and the process lives", async () => {
  const path = `${await fixturePath("roberta-tiny-qa")}/tokenizer.json`;
  const long = JSON.stringify("the cat sat on the mat ".repeat(40));
  // The control: the raw binding with stride = window really aborts, so the check below can fail.
  const control = inChild(`
    import tokenizers from "tokenizers";
    const tok = tokenizers.Tokenizer.fromFile(${JSON.stringify(path)});
    tok.setTruncation(10, { stride: 8 });
    await tok.encode(${long});
    console.log("survived");`);
  assert.notEqual(control.status, 0, "the raw binding aborts on stride 8 with max_length 10 and 2 special tokens");
  assert.doesNotMatch(control.output, /survived/);

  const ours = inChild(`
    import { TextTokenizer } from "./lib/tokenization/tokenizer.ts";
    import { encodeQaWindows } from "./lib/tokenization/pair-windows.ts";
    const tok = await TextTokenizer.load(${JSON.stringify(path)});
    const refused = [];
    const attempt = async (p) => { try { await p; } catch (err) { refused.push(err.data[0].field); } };
    for (const [maxLength, stride] of [[10, 8], [128, 127], [128, 1e15], [2 ** 32 + 10, 0], [1, 0]]) {
      await attempt(tok.encode([${long}], { maxLength, stride, truncation: "longest_first", addSpecialTokens: true }));
      await attempt(tok.encode([["where?", ${long}]], { maxLength, stride, truncation: "only_second", addSpecialTokens: true }));
    }
    // A RoBERTa pair with a second window and default options (the old code assumed 3 special tokens).
    const [windows] = await encodeQaWindows(tok, [["where is the cat?", ${long}.repeat(3)]], { maxSeqLen: 128, questionLimit: 64, firstWindowOnly: false });
    console.log(JSON.stringify({ refused, windows: windows.length, longest: Math.max(...windows.map((w) => w.ids.length)) }));`);
  assert.equal(ours.status, 0, ours.output);
  const summary = JSON.parse(ours.output.trim().split("\n").at(-1)!);
  assert.equal(summary.refused.length, 10, "every bad setting refused, singles and pairs");
  assert.ok(summary.windows > 2 && summary.longest === 128, JSON.stringify(summary));
});

test("a request may cut at most MAX_WINDOWS_PER_REQUEST windows: a one-token step over a long context is refused, naming doc_stride", async () => {
  const tok = tokenizers.bert;
  const context = Array.from({ length: 1500 }, (_, i) => `word${i % 50}`).join(" ");
  const plan = { maxSeqLen: 64, questionLimit: 4, firstWindowOnly: false };
  const capacity = 64 - 1 - 3; // a one-token question and BERT's three pair specials
  const fine = await encodeQaWindows(tok, [["q", context]], { ...plan, docStride: { value: 20, field: "task_kwargs.doc_stride" } });
  assert.ok(fine[0].length < MAX_WINDOWS_PER_REQUEST);
  await rejectsWith(encodeQaWindows(tok, [["q", context]], { ...plan, docStride: { value: capacity - 1, field: "task_kwargs.doc_stride" } }), "task_kwargs.doc_stride", /more than 4096 windows/);
});
