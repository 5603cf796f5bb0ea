/**
 * SPEC §6.4 on long contexts, for BERT, RoBERTa and DistilBERT, against the independent decoder
 * of test/helpers/qa-reference.ts (its own window cutting, ONNX Runtime directly, its own span
 * scoring). Each context (≥ 5,000 characters) is searched for deterministically so its best span
 * lies in the LAST window, past the end of the one before: a server reading fewer windows (as the
 * binding's own overflow windows would give, upstream issue 2091: 2 windows instead of 15 to 27
 * here) answers something else, cuts fewer windows, and misses the context's last tokens.
 * Also: max_question_len cuts the question's tokens, and an explanation's target may sit in a
 * later window.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startEmbedded, Embedded } from "../helpers/embedded.ts";
import { fixturePath } from "../helpers/fixtures.ts";
import { runTask } from "../helpers/http.ts";
import { text, reference, referenceModel, hfWindowCount, Reference, ReferenceModel, ReferenceOptions } from "../helpers/qa-reference.ts";
import { ModelRuntime } from "../../lib/model/runtime.ts";
import { withModelDefaults } from "../../lib/config/model-settings.ts";
import { questionAnswering } from "../../lib/tasks/question-answering.ts";
import { withDefaults, TaskRequest } from "../../lib/request/request.ts";

const FAMILIES = ["bert", "roberta", "distilbert"] as const;
const QUESTION = "where did the old man walk after the rain?";
const OPTIONS: ReferenceOptions = { maxSeqLen: 128, docStride: 40, questionLimit: 64, maxAnswerLen: 128 };

let s: Embedded;
before(async () => {
  s = await startEmbedded(FAMILIES.map((f) => ({ id: `${f}-qa`, path: `${f}-tiny-qa`, return_plaintext_arrays: true })));
});
after(() => s?.stop());

/** The first seed (1..200) whose context satisfies `wanted` under `options`. */
async function searchContext(model: ReferenceModel, question: string, options: ReferenceOptions, wanted: (ref: Reference) => boolean) {
  for (let seed = 1; seed <= 200; seed++) {
    const context = text(seed, 5000);
    const ref = await reference(model, question, context, options);
    if (wanted(ref)) return { context, ref, seed };
  }
  throw new Error("no seed in 1..200 gives the wanted context");
}

/** The best span is in the last window and starts after the second-to-last window's last token. */
const lateAnswer = (ref: Reference) => ref.best.window === ref.windows.length - 1 && ref.best.a > Math.max(...ref.windows.at(-2)!.contextToken);

async function withModels(family: string, body: (model: ReferenceModel, runtime: ModelRuntime) => Promise<void>) {
  const folder = await fixturePath(`${family}-tiny-qa`);
  const model = await referenceModel(folder);
  const runtime = await ModelRuntime.load(withModelDefaults({ id: family, path: folder, return_plaintext_arrays: true }), { kind: "cpu", id: 0 });
  try {
    await body(model, runtime);
  } finally {
    await model.release();
    await runtime.close();
  }
}

/** The QA pipeline's windows for a body: its options parsed against the model, then its start step. */
async function prepareQa(body: object, runtime: ModelRuntime) {
  const request = withDefaults(body as unknown as TaskRequest);
  const parsed = questionAnswering.parse(request, runtime.facts);
  assert.ok(parsed.ok, JSON.stringify(parsed));
  return (await questionAnswering.start(request, parsed.options, runtime)).prepared;
}

const windowCount = async (body: object, runtime: ModelRuntime) => (await prepareQa(body, runtime)).windowsOf[0].length;

for (const family of FAMILIES) {
  test(`${family}: long context, best span in the last window: same answer, offsets and score as the independent decoder; every window is read`, () =>
    withModels(family, async (model, runtime) => {
      const { context, ref, seed } = await searchContext(model, QUESTION, OPTIONS, lateAnswer);
      assert.ok(context.length >= 5000);
      const n = ref.offsets.length;
      assert.equal(ref.windows.length, hfWindowCount(n, ref.capacity, 40), "the reference cuts Hugging Face's window count");
      const body = { input: [[QUESTION, context]], task_kwargs: { doc_stride: 40, max_seq_len: 128, show_null_answers: false } };
      assert.equal(await windowCount(body, runtime), ref.windows.length, "the server cuts the same number of windows");

      const [best] = (await runTask(s, `/${family}-qa/question-answering`, body)).answers[0];
      assert.deepEqual([best.start, best.end], [ref.best.start, ref.best.end], `seed ${seed}: best span in window ${ref.best.window + 1} of ${ref.windows.length}`);
      assert.equal(best.answer, context.slice(ref.best.start, ref.best.end));
      assert.ok(Math.abs(best.score - ref.best.score) < 1e-5, `score ${best.score} vs ${ref.best.score}`);
      console.log(`# ${family}: seed ${seed}, ${context.length} chars, ${n} context tokens, ${ref.windows.length} windows of ${ref.capacity}, best [${best.start}, ${best.end}) score ${best.score.toFixed(6)} in window ${ref.best.window + 1}`);

      // Default doc_stride (min(128, half the window's capacity)): the same comparison with its own window count.
      const byDefault = await reference(model, QUESTION, context, { ...OPTIONS, docStride: "default" });
      assert.equal(byDefault.windows.length, hfWindowCount(n, ref.capacity, Math.floor(ref.capacity / 2)));
      const defaultBody = { input: [[QUESTION, context]], task_kwargs: { show_null_answers: false } };
      assert.equal(await windowCount(defaultBody, runtime), byDefault.windows.length);
      const [viaDefault] = (await runTask(s, `/${family}-qa/question-answering`, defaultBody)).answers[0];
      assert.deepEqual([viaDefault.start, viaDefault.end], [byDefault.best.start, byDefault.best.end]);
      assert.ok(Math.abs(viaDefault.score - byDefault.best.score) < 1e-5);

      // Every context token is reachable: with one-token answers, the distinct spans are exactly the tokens' spans.
      const all = await runTask(s, `/${family}-qa/question-answering`, { input: [[QUESTION, context]], task_kwargs: { doc_stride: 40, max_answer_len: 1, topk: 10_000, show_null_answers: false } });
      const spans = new Set(all.answers[0].map((a: { start: number; end: number }) => `${a.start}:${a.end}`));
      assert.deepEqual(spans, new Set(ref.offsets.map(([a, b]) => `${a}:${b}`)), "one answer per context token, through the last one");

      // return_overflowing_tokens: false keeps the first window only.
      const firstOnly = { ...body, preprocessing_kwargs: { return_overflowing_tokens: false } };
      assert.equal(await windowCount(firstOnly, runtime), 1);
      const [early] = (await runTask(s, `/${family}-qa/question-answering`, firstOnly)).answers[0];
      assert.ok(early.end <= ref.offsets[ref.capacity - 1][1], "inside the first window");
    }));

  test(`${family}: max_question_len cuts the question to its first tokens; the answer is the reference's on the cut question`, () =>
    withModels(family, async (model, runtime) => {
      const question = "where did the old man with the little dog and the long brown book walk after the rain and the sun?";
      const context = text(7, 600);
      const options = { ...OPTIONS, questionLimit: 8 };
      const cut = await reference(model, question, context, options);
      const whole = await reference(model, question, context, OPTIONS);
      assert.ok(Math.abs(cut.best.score - whole.best.score) > 1e-6, "the cut changes the scores, so the test can tell");
      const body = { input: [[question, context]], task_kwargs: { max_question_len: 8, doc_stride: 40, show_null_answers: false } };
      const prepared = await prepareQa(body, runtime);
      for (const w of prepared.windowsOf[0].map((k) => prepared.sequences[k])) assert.equal(w.sequenceIds.filter((x) => x === 0).length, 8, "8 question tokens per window");
      assert.equal(prepared.windowsOf[0].length, cut.windows.length);
      const [best] = (await runTask(s, `/${family}-qa/question-answering`, body)).answers[0];
      assert.deepEqual([best.start, best.end, best.answer], [cut.best.start, cut.best.end, context.slice(cut.best.start, cut.best.end)]);
      assert.ok(Math.abs(best.score - cut.best.score) < 1e-5, `score ${best.score} vs ${cut.best.score}`);
    }));
}

/**
 * WordPiece fixtures, whose words are single tokens, so a window's context text tokenizes alone to
 * the same tokens: explaining the long context must equal explaining [question, that window's text].
 */
for (const family of ["bert", "distilbert"] as const) {
  test(`${family}: an explanation whose best span is in a later window explains that window, as if it were the whole context`, () =>
    withModels(family, async (model) => {
      const options = { ...OPTIONS, maxSeqLen: 64, docStride: 10 };
      const { context, ref } = await searchContext(model, QUESTION, options, (r) => r.best.window > 0 && r.best.window < r.windows.length - 1);
      const window = ref.windows[ref.best.window].contextToken.filter((c) => c >= 0);
      const windowText = context.slice(ref.offsets[window[0]][0], ref.offsets[window.at(-1)!][1]);
      const explain = async (c: string) => {
        const q = await s.post(`/${family}-qa/question-answering`, { input: [[QUESTION, c]], task_kwargs: { max_seq_len: 64, doc_stride: 10 }, explain_kwargs: { method: "simple_grads", top_k: 5 } });
        assert.equal(q.status, 200, JSON.stringify(q.body));
        const r = await s.result(q.body.task_id, 30_000);
        assert.equal(r.status, 200, JSON.stringify(r.body));
        return r.body.result.attributions[0];
      };
      const [long, alone] = [await explain(context), await explain(windowText)];
      assert.equal(long.context_tokens[0].length, window.length, `window ${ref.best.window + 1} of ${ref.windows.length}: one word per token`);
      for (const part of ["question_tokens", "context_tokens"]) {
        assert.deepEqual(long[part][0].map((w: unknown[]) => w.slice(0, 2)), alone[part][0].map((w: unknown[]) => w.slice(0, 2)), `${part}: same words`);
        long[part][0].forEach((w: [number, string, number], k: number) => assert.ok(Math.abs(w[2] - alone[part][0][k][2]) < 1e-5, `${part} ${w[1]}: ${w[2]} vs ${alone[part][0][k][2]}`));
      }
      assert.deepEqual(long.topk_context_idx[0], alone.topk_context_idx[0]);
    }));
}
