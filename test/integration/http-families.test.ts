/** The RoBERTa and DistilBERT demo models over HTTP against an embedded server (real ONNX Runtime). */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { runTask } from "../helpers/http.ts";
import { startEmbedded, Embedded } from "../helpers/embedded.ts";
import { DEMO_FIXTURES } from "../../lib/fixtures/index.ts";

const FAMILIES = ["roberta", "distilbert"] as const;
const NEW_MODELS = DEMO_FIXTURES.filter((s) => s.family !== "bert").map((s) => s.name);
let s: Embedded;

before(async () => {
  s = await startEmbedded(NEW_MODELS.map((id) => ({ id, path: id, return_plaintext_arrays: true })));
});
after(() => s.stop());

const run = (path: string, body: unknown) => runTask(s, path, body);

const TRICKY = "naïve café,  John   met Anna... in Paris 😀 (with Mary)!";

test("the demo set has one model per head per new family, each announcing its task", async () => {
  assert.deepEqual(NEW_MODELS, FAMILIES.flatMap((f) => ["base", "sst", "ner", "qa"].map((h) => `${f}-tiny-${h}`)));
  const models = (await s.get("/models")).body as { id: string; tasks: string[]; replicas_ready: number }[];
  const want: Record<string, string> = { base: "embedding", sst: "sequence-classification", ner: "token-classification", qa: "question-answering" };
  assert.deepEqual(
    models.map((m) => [m.id, m.tasks, m.replicas_ready]).sort(),
    NEW_MODELS.map((id) => [id, [want[id.split("-").at(-1)!]], 1]).sort(),
  );
});

for (const family of FAMILIES) {
  test(`${family}: sequence classification of singles and pairs (no token type ids)`, async () => {
    const r = await run(`/${family}-tiny-sst/sequence-classification`, { input: [["is it good?", "a great movie"], ["is it good?", TRICKY]] });
    assert.deepEqual(r.id2label, { "0": "negative", "1": "neutral", "2": "positive" });
    const rows = r.model_outputs.logits as number[][];
    assert.equal(rows.length, 2);
    for (const [i, row] of rows.entries()) {
      assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-6, "softmax scores");
      assert.equal(r.labels[i], row.indexOf(Math.max(...row)));
    }
    assert.notDeepEqual(rows[0], rows[1], "the second text matters");
    const single = await run(`/${family}-tiny-sst/sequence-classification`, { input: [TRICKY] });
    assert.equal(single.model_outputs.logits[0].length, 3);
  });

  test(`${family}: embeddings in every mode the model has`, async () => {
    const input = ["hello world", TRICKY];
    const mean = (await run(`/${family}-tiny-base/embedding`, { input })).model_outputs.embeddings as number[][];
    assert.deepEqual(mean.map((v) => v.length), [32, 32]);
    for (const mode of family === "roberta" ? ["max", "cls", "pooler"] : ["max", "cls"]) {
      const r = await run(`/${family}-tiny-base/embedding`, { input, task_kwargs: { embedding_mode: mode, normalize: true } });
      assert.equal(r.embedding_mode, mode);
      for (const v of r.model_outputs.embeddings) assert.ok(Math.abs(Math.hypot(...v) - 1) < 1e-5);
    }
    const tokens = await run(`/${family}-tiny-base/embedding`, { input: ["hello world"], task_kwargs: { embedding_mode: "token" } });
    assert.equal(tokens.word_ids[0][0], null, "the first special token has no word");
    assert.equal(tokens.word_ids[0].at(-1), null, "nor the last");
    assert.equal(tokens.model_outputs.embeddings[0].length, tokens.word_ids[0].length);
  });

  test(`${family}: token classification entities map to the text (accents, runs of spaces, punctuation)`, async () => {
    for (const aggregation of ["none", "simple", "first"]) {
      const r = await run(`/${family}-tiny-ner/token-classification`, { input: [TRICKY, "John lives in Paris"], task_kwargs: { aggregation } });
      assert.deepEqual(r.id2label, { "0": "O", "1": "B-PER", "2": "I-PER", "3": "B-LOC", "4": "I-LOC" });
      const texts = [TRICKY, "John lives in Paris"];
      let count = 0;
      for (const [i, entities] of (r.entities as { word: string; start: number; end: number }[][]).entries()) {
        for (const e of entities) {
          assert.equal(texts[i].slice(e.start, e.end), e.word, `${aggregation} item ${i}`);
          count++;
        }
      }
      assert.ok(count > 0, `${aggregation}: some entities`);
    }
  });

  test(`${family}: question answering over windows; answers are context slices`, async () => {
    const context = `${TRICKY} ${"The cat sat on the mat in the house by the river. ".repeat(4)}Peter went to Berlin.`;
    const r = await run(`/${family}-tiny-qa/question-answering`, {
      input: [["who went to Berlin?", context], ["who met Anna?", TRICKY]],
      task_kwargs: { topk: 3, max_seq_len: 32, doc_stride: 8, show_null_answers: false },
    });
    const contexts = [context, TRICKY];
    for (const [i, answers] of (r.answers as { score: number; start: number; end: number; answer: string }[][]).entries()) {
      assert.equal(answers.length, 3);
      for (const a of answers) {
        assert.equal(contexts[i].slice(a.start, a.end), a.answer);
        assert.ok(a.answer.length > 0 && a.score > 0 && a.score <= 1);
      }
      assert.ok(answers[0].score >= answers[1].score && answers[1].score >= answers[2].score, "ranked");
    }
  });
}

test("distilbert: embedding_mode pooler is a 422 that names the missing pooler", async () => {
  const r = await s.post("/distilbert-tiny-base/embedding", { input: ["hello"], task_kwargs: { embedding_mode: "pooler" } });
  assert.equal(r.status, 422, JSON.stringify(r.body));
  assert.match(r.body.error.message, /pooler/);
  const detail = r.body.error.details.find((d: { field: string }) => d.field === "task_kwargs.embedding_mode");
  assert.match(detail.message, /no pooler output/);
  assert.match(detail.message, /supports mean, max, cls, token/);
});
