/** The SPEC §2-§5 request path over HTTP against an embedded server (real ONNX Runtime). */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startEmbedded, decodeNpy, Embedded } from "../helpers/embedded.ts";

let s: Embedded;

before(async () => {
  s = await startEmbedded([
    { id: "bert-tiny-base", path: "bert-tiny-base", return_plaintext_arrays: true },
    { id: "demo/bert-tiny-sst", path: "bert-tiny-sst", max_input: 8 },
    { id: "bert-tiny-ner", path: "bert-tiny-ner", return_plaintext_arrays: true },
    { id: "bert-tiny-qa", path: "bert-tiny-qa", return_plaintext_arrays: true },
  ]);
});
after(() => s.stop());

const UUID4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

async function run(path: string, body: unknown) {
  const queued = await s.post(path, body);
  assert.equal(queued.status, 200, JSON.stringify(queued.body));
  assert.match(queued.body.task_id, UUID4);
  const done = await s.result(queued.body.task_id);
  assert.equal(done.status, 200, JSON.stringify(done.body));
  assert.equal(done.body.status, "Finished");
  return { queued: queued.body, result: done.body.result };
}

test("heartbeats, model list and per-model heartbeat in both id forms", async () => {
  assert.deepEqual((await s.get("/health/heartbeat")).body, { is_alive: true });
  const models = (await s.get("/models")).body;
  assert.deepEqual(models.map((m: any) => [m.id, m.tasks, m.replicas_ready]), [
    ["bert-tiny-base", ["embedding"], 1],
    ["bert-tiny-ner", ["token-classification"], 1],
    ["bert-tiny-qa", ["question-answering"], 1],
    ["demo/bert-tiny-sst", ["sequence-classification"], 1],
  ]);
  assert.equal(models[0].replicas[0].device, "cpu");
  assert.deepEqual((await s.get("/bert-tiny-base/health/heartbeat")).body, { is_alive: true, replicas: 1 });
  assert.deepEqual((await s.get("/demo/bert-tiny-sst/health/heartbeat")).body, { is_alive: true, replicas: 1 });
  assert.deepEqual((await s.get("/bert-tiny-sst/health/heartbeat?hf_username=demo")).body, { is_alive: true, replicas: 1 });
  assert.equal((await s.get("/bert-tiny-sst/health/heartbeat")).status, 404, "the id without its user is another model");
});

test("sequence classification: singles and pairs, softmax scores, argmax labels, id2label, encoded arrays", async () => {
  const { queued, result } = await run("/demo/bert-tiny-sst/sequence-classification", { input: ["a great movie", "the plot was thin and slow"] });
  assert.equal(queued.message, "Queued sequence classification");
  assert.deepEqual(result.id2label, { "0": "negative", "1": "neutral", "2": "positive" });
  assert.equal(result.model_output_is_encoded, true);
  const logits = decodeNpy(result.model_outputs.logits);
  assert.deepEqual(logits.shape, [2, 3]);
  for (let i = 0; i < 2; i++) {
    const row = logits.values.slice(3 * i, 3 * i + 3);
    assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-6, "scores sum to 1");
    assert.equal(result.labels[i], row.indexOf(Math.max(...row)));
  }
  assert.notDeepEqual(logits.values.slice(0, 3), logits.values.slice(3, 6), "different texts, different scores");
  assert.deepEqual([result.attributions, result.questions, result.contexts, result.adversarial], [[], [], [], {}]);
  assert.equal(typeof result.timings.inference_ms, "number");

  const pair = await run("/bert-tiny-sst/sequence-classification?hf_username=demo", { input: [["is it good?", "a great movie"]] });
  assert.deepEqual(decodeNpy(pair.result.model_outputs.logits).shape, [1, 3]);
});

test("sequence classification: is_regression returns raw logits and no labels", async () => {
  const { result } = await run("/demo/bert-tiny-sst/sequence-classification", { input: ["a great movie"], task_kwargs: { is_regression: true } });
  assert.deepEqual(result.labels, []);
  const raw = decodeNpy(result.model_outputs.logits).values;
  assert.ok(Math.abs(raw.reduce((a, b) => a + b, 0) - 1) > 1e-3, "raw logits are not probabilities");
});

test("embedding: every mode, normalize, plain arrays on this model", async () => {
  const input = ["hello world", "a much longer sentence about the weather today"];
  const mean = (await run("/bert-tiny-base/embedding", { input })).result;
  assert.equal(mean.embedding_mode, "mean");
  assert.equal(mean.model_output_is_encoded, false);
  assert.equal(mean.model_outputs.embeddings.length, 2);
  assert.equal(mean.model_outputs.embeddings[0].length, 32);
  assert.deepEqual(mean.word_ids, []);
  for (const mode of ["max", "cls", "pooler"]) {
    const r = (await run("/bert-tiny-base/embedding", { input, task_kwargs: { embedding_mode: mode } })).result;
    assert.equal(r.embedding_mode, mode);
    assert.equal(r.model_outputs.embeddings[1].length, 32);
    assert.notDeepEqual(r.model_outputs.embeddings, mean.model_outputs.embeddings, `${mode} differs from mean`);
  }
  const unit = (await run("/bert-tiny-base/embedding", { input, task_kwargs: { normalize: true } })).result;
  for (const v of unit.model_outputs.embeddings) assert.ok(Math.abs(Math.hypot(...v) - 1) < 1e-5);
  const ratio = unit.model_outputs.embeddings[0][0] / mean.model_outputs.embeddings[0][0];
  assert.ok(Math.abs(unit.model_outputs.embeddings[0][5] - mean.model_outputs.embeddings[0][5] * ratio) < 1e-5, "normalize only rescales");
});

test("embedding token mode: padded token vectors with word ids; normalize runs over the hidden axis", async () => {
  const { result } = await run("/bert-tiny-base/embedding", { input: ["hello world", "hello"], task_kwargs: { embedding_mode: "token", normalize: true } });
  const [a, b] = result.model_outputs.embeddings;
  assert.equal(a.length, b.length, "padded to the longest item");
  assert.equal(result.word_ids[0].length, a.length);
  assert.equal(result.word_ids[0][0], null, "[CLS] has no word");
  assert.deepEqual(result.word_ids[1].slice(0, 3), [null, 0, null]);
  assert.ok(Math.abs(Math.hypot(...a[1]) - 1) < 1e-5, "each token vector has unit length");
  assert.deepEqual(b[b.length - 1], new Array(32).fill(0), "padding rows are zero");
});

test("is_preprocessed input gives the same numbers as the text", async () => {
  const text = (await run("/bert-tiny-base/embedding", { input: ["hello world"] })).result.model_outputs.embeddings[0];
  const tok = (await run("/bert-tiny-base/embedding", { input: ["hello world"], task_kwargs: { embedding_mode: "token" } })).result;
  assert.equal(tok.word_ids[0].length, 4);
  const ids = await (async () => {
    const { TextTokenizer } = await import("../../lib/tokenization/tokenizer.ts");
    const { fixturePath } = await import("../helpers/fixtures.ts");
    const t = await TextTokenizer.load(`${await fixturePath("bert-tiny-base")}/tokenizer.json`);
    return (await t.encode(["hello world"], { maxLength: 128, truncation: "longest_first", addSpecialTokens: true, stride: 0, returnOverflowing: false }))[0].ids;
  })();
  const pre = (await run("/bert-tiny-base/embedding", { is_preprocessed: true, input: { input_ids: [[...ids, 0, 0]], attention_mask: [[1, 1, 1, 1, 0, 0]] } })).result;
  pre.model_outputs.embeddings[0].forEach((v: number, i: number) => assert.ok(Math.abs(v - text[i]) < 1e-6));
});

const expect422 = async (path: string, body: unknown, field: string, pattern: RegExp) => {
  const r = await s.post(path, body);
  assert.equal(r.status, 422, JSON.stringify(r.body));
  assert.equal(r.body.error.type, "invalid_request");
  assert.match(r.body.error.message, pattern);
  assert.ok(r.body.error.details.some((d: any) => d.field === field), `details name ${field}: ${JSON.stringify(r.body.error.details)}`);
  assert.ok(r.body.detail.some((d: any) => d.loc.join(".") === `body.${field}`), "FastAPI-style detail kept");
};

test("422s name the field: shape, types, options, task support, limits", async () => {
  const seq = "/demo/bert-tiny-sst/sequence-classification";
  await expect422(seq, {}, "input", /is required/);
  await expect422(seq, { input: "text" }, "input", /./);
  await expect422(seq, { input: [] }, "input", /at least one item/);
  await expect422(seq, { input: [1, 2] }, "input.0", /expects each item to be a string or a pair/);
  await expect422(seq, { input: ["a", ["b", "c"]] }, "input", /mixes single texts and pairs/);
  await expect422(seq, { input: new Array(9).fill("x") }, "input", /has 9 items; this model accepts at most 8/);
  await expect422(seq, { input: ["x"], task_kwargs: { is_regresion: true } }, "task_kwargs.is_regresion", /unknown option/);
  await expect422(seq, { input: ["x"], task_kwargs: { is_regression: "yes" } }, "task_kwargs.is_regression", /must be a boolean/);
  await expect422(seq, { input: ["x"], preprocessing_kwargs: { max_length: -3 } }, "preprocessing_kwargs.max_length", /positive/);
  await expect422(seq, { input: ["x"], preprocessing_kwargs: { truncation: "only_second" } }, "preprocessing_kwargs.truncation", /only_second needs pairs/);
  await expect422(seq, { input: ["x"], model_kwargs: { output_attention: true } }, "model_kwargs.output_attention", /unknown option/);
  await expect422(seq, { input: ["x", "y"], attack_kwargs: { method: "hotflip" } }, "input", /an attack takes exactly one item .*this request has 2/);
  await expect422(seq, { input: ["x"], attack_kwargs: { method: "hotflop" } }, "attack_kwargs.method", /must be one of hotflip, input_reduction, sub_span, topk_tokens/);
  await expect422(seq, { input: ["x"], attack_kwargs: { method: "hotflip", max_flip: 3 } }, "attack_kwargs.max_flip", /unknown option; known: method, saliency_method, max_flips/);
  await expect422(seq, { input: ["x"], attack_kwargs: { method: "hotflip" }, explain_kwargs: { method: "attention" } }, "explain_kwargs", /cannot be combined with attack_kwargs/);
  await expect422("/bert-tiny-base/embedding", { input: ["x"], attack_kwargs: { method: "hotflip" } }, "attack_kwargs", /cannot be attacked; attacks exist for sequence-classification and question-answering/);
  await expect422(seq, { input: ["x"], adapter_name: "sentiment" }, "adapter_name", /no adapters/);
  await expect422("/demo/bert-tiny-sst/embedding", { input: ["x"] }, "task", /does not support embedding; it supports sequence-classification/);
  for (const task of ["token-classification", "question-answering", "generation"]) {
    await expect422(`/demo/bert-tiny-sst/${task}`, { input: ["x"] }, "task", new RegExp(`does not support ${task}`));
  }
  await expect422("/bert-tiny-base/embedding", { input: ["x"], task_kwargs: { embedding_mode: "sum" } }, "task_kwargs.embedding_mode", /unknown mode: "sum"/);
  await expect422("/bert-tiny-base/embedding", { input: [["a", "b"]] }, "input.0", /expects each item to be a string/);
  await expect422("/bert-tiny-base/embedding", { is_preprocessed: true, input: { input_ids: [[2, 5, 3], [2, 3]], attention_mask: [[1, 1, 1], [1, 1, 1]] } }, "input.attention_mask.1", /ragged/);
  await expect422("/bert-tiny-base/embedding", { is_preprocessed: true, input: { input_ids: [[2, 999999, 3]], attention_mask: [[1, 1, 1]] } }, "input.input_ids.0", /outside the vocabulary/);
  await expect422("/bert-tiny-base/embedding", { is_preprocessed: true, input: { input_ids: [[2, 3]] } }, "input.attention_mask", /is required/);
  await expect422("/bert-tiny-base/embedding", { input: ["x"], is_preprocessed: true }, "input", /must be an object/);
  const badJson = await s.post(seq, "{not json");
  assert.equal(badJson.status, 422);
  assert.match(badJson.body.error.message, /not valid JSON/);
  const badId = await s.post("/bert$tiny/sequence-classification", { input: ["x"] });
  assert.equal(badId.status, 422);
  assert.match(badId.body.error.message, /not a valid model id part/);
});

test("404 for unknown models, routes and task ids; 413 for oversized bodies", async () => {
  const unknown = await s.post("/nobody/sequence-classification", { input: ["x"] });
  assert.equal(unknown.status, 404);
  assert.match(unknown.body.error.message, /model nobody is not deployed/);
  assert.equal((await s.get("/nobody/stats")).status, 404);
  assert.equal((await s.post("/bert-tiny-base/translate", { input: ["x"] })).status, 404);
  const task = await s.get("/task_result/00000000-0000-4000-8000-000000000000");
  assert.equal(task.status, 404);
  assert.deepEqual(task.body, { task_id: "00000000-0000-4000-8000-000000000000", status: "Unknown" });
  const huge = await s.post("/bert-tiny-base/embedding", { input: ["x".repeat(11 * 1024 * 1024)] });
  assert.equal(huge.status, 413);
  assert.equal(huge.body.error.type, "payload_too_large");
});

test("a task that fails in the model ends Failed with a 500 and the reason", async () => {
  const q = await s.post("/demo/bert-tiny-sst/sequence-classification", { input: [["a b c d e f g", "h i j k"]], preprocessing_kwargs: { truncation: "only_second", max_length: 6 } });
  assert.equal(q.status, 200);
  const r = await s.result(q.body.task_id);
  assert.equal(r.status, 500);
  assert.equal(r.body.status, "Failed");
  assert.equal(r.body.error.type, "invalid_request");
  assert.match(r.body.error.message, /cannot be tokenized/);
});

test("stats and partial update: only given fields change, at once; invalid values are 422", async () => {
  const stats = (await s.get("/demo/bert-tiny-sst/stats")).body;
  assert.equal(stats.model_name, "demo/bert-tiny-sst");
  assert.equal(stats.model_class, "BertForSequenceClassification");
  assert.equal(stats.batch_size, 32);
  assert.equal(stats.max_input, 8);
  assert.deepEqual(stats.tasks, ["sequence-classification"]);
  assert.equal(stats.replicas.length, 1);
  assert.equal(stats.replicas[0].device, "cpu");
  for (const key of ["model_type", "disable_gpu", "return_plaintext_arrays", "preloaded_adapters", "transformers_cache", "model_path", "decoder_path", "onnx_use_quantized", "is_encoder_decoder"]) assert.ok(key in stats, key);

  const updated = await s.post("/demo/bert-tiny-sst/update", { max_input: 2, return_plaintext_arrays: true });
  assert.equal(updated.status, 200);
  assert.equal(updated.body.max_input, 2);
  assert.equal(updated.body.batch_size, 32, "omitted fields keep their values");
  await expect422("/demo/bert-tiny-sst/sequence-classification", { input: ["a", "b", "c"] }, "input", /at most 2/);
  const plain = await run("/demo/bert-tiny-sst/sequence-classification", { input: ["a", "b"] });
  assert.equal(plain.result.model_output_is_encoded, false);
  assert.equal(plain.result.model_outputs.logits.length, 2);
  const bad = await s.post("/demo/bert-tiny-sst/update", { batch_size: 0, colour: "red" });
  assert.equal(bad.status, 422);
  assert.deepEqual(bad.body.error.details.map((d: any) => d.field).sort(), ["batch_size", "colour"]);
  await s.post("/demo/bert-tiny-sst/update", { max_input: 8, return_plaintext_arrays: false });
});

test("OpenAPI paths are the served ones; the docs page renders them", async () => {
  const doc = (await s.get("/openapi.json")).body;
  assert.equal(doc.openapi, "3.0.3");
  for (const p of ["/api/main/health/heartbeat", "/api/main/task_result/{task_id}", "/api/main/{identifier}/sequence-classification", "/api/main/{hf_username}/{identifier}/embedding", "/api/main/{identifier}/update", "/api/main/models"]) {
    assert.ok(doc.paths[p], p);
  }
  assert.ok(doc.paths["/api/main/{identifier}/embedding"].post.requestBody);
  const docs = await s.get("/docs");
  assert.equal(docs.status, 200);
  assert.match(docs.headers.get("content-type") ?? "", /text\/html/);
  assert.match(docs.body, /openapi\.json/);
});

test("a configured model with no ready replica is 503 (heartbeat is_alive false), not 404", async () => {
  await s.node.backends.store.registerModel("user/loading-model");
  const post = await s.post("/user/loading-model/embedding", { input: ["x"] });
  assert.equal(post.status, 503);
  assert.equal(post.body.error.type, "unavailable");
  assert.match(post.body.error.message, /user\/loading-model has no ready replica/);
  const hb = await s.get("/user/loading-model/health/heartbeat");
  assert.equal(hb.status, 503);
  assert.deepEqual(hb.body, { is_alive: false, replicas: 0 });
  assert.equal((await s.get("/user/never-configured/health/heartbeat")).status, 404);
});

// The wake-up must come from the notification: the request waits up to 60 s, and the test gives
// up at 30 s (test/unit/task-waiters.test.ts proves the same on mocked timers, without any clock).
test("long-poll: ?wait answers when the task ends, or 202 at the timeout; bad values are 422", { timeout: 30_000 }, async () => {
  const q = await s.post("/demo/bert-tiny-sst/sequence-classification", { input: ["a great movie"] });
  const r = await s.get(`/task_result/${q.body.task_id}?wait=10`);
  assert.equal(r.status, 200, "one request, no client-side polling");
  assert.equal(r.body.status, "Finished");

  const id = "11111111-1111-4111-8111-111111111111";
  const now = Date.now();
  await s.node.backends.store.create({ id, model: "m", task: "embedding", state: "queued", created_at: now, updated_at: now, attempts: 0 });
  const t0 = Date.now();
  const pending = await s.get(`/task_result/${id}?wait=0.3`);
  assert.equal(pending.status, 202);
  assert.ok(Date.now() - t0 >= 280, "waited for the timeout");

  const woken = s.get(`/task_result/${id}?wait=60`);
  await new Promise((res) => setTimeout(res, 100));
  await s.node.backends.store.complete(id, { ok: true }, {});
  await s.node.broker.broadcast("task.finished", { task_id: id, model: "m", state: "succeeded" });
  const done = await woken;
  assert.equal(done.status, 200);
  assert.deepEqual(done.body.result, { ok: true });

  const bad = await s.get(`/task_result/${id}?wait=soon`);
  assert.equal(bad.status, 422);
  assert.match(bad.body.error.message, /wait must be a number of seconds/);
});

test("POST ?wait (beyond SQuARE): the result in the POST's answer when the task ends in time, else 202 with the task_id; bad values are 422 before queueing", { timeout: 30_000 }, async () => {
  const path = "/demo/bert-tiny-sst/sequence-classification";
  const done = await s.post(`${path}?wait=10`, { input: ["a great movie"] });
  assert.equal(done.status, 200, JSON.stringify(done.body));
  assert.equal(done.body.message, "Queued sequence classification");
  assert.match(done.body.task_id, UUID4);
  assert.equal(done.body.status, "Finished");
  const polled = await s.result(done.body.task_id);
  assert.deepEqual(done.body.result, polled.body.result, "the same result task_result gives");
  assert.equal(done.body.result.labels.length, 1);

  // 32 long QA items cannot finish within a millisecond: the POST answers 202, and the task goes on.
  const context = "The quick brown fox jumps over the lazy dog near the river bank. ".repeat(20);
  const slow = await s.post("/bert-tiny-qa/question-answering?wait=0.001", { input: Array.from({ length: 32 }, (_, i) => [`what jumps ${i}?`, context]) });
  assert.equal(slow.status, 202, JSON.stringify(slow.body));
  assert.equal(slow.body.status, "Processing");
  assert.match(slow.body.task_id, UUID4);
  const later = await s.result(slow.body.task_id);
  assert.equal(later.body.status, "Finished");
  assert.equal(later.body.result.answers.length, 32);

  const before = (await s.get("/demo/bert-tiny-sst/stats")).body.replicas[0].completed;
  const bad = await s.post(`${path}?wait=-1`, { input: ["a great movie"] });
  assert.equal(bad.status, 422);
  assert.match(bad.body.error.message, /wait must be a number of seconds ≥ 0, got "-1"/);
  assert.deepEqual(bad.body.error.details.map((d: { field: string }) => d.field), ["query.wait"]);
  assert.deepEqual(bad.body.detail[0].loc, ["query", "wait"], "FastAPI's location of a query parameter");
  const twice = await s.post(`${path}?wait=1&wait=2`, { input: ["a great movie"] });
  assert.equal(twice.status, 422);
  assert.equal(twice.body.error.message, "wait must be given once, as a number of seconds ≥ 0 (not repeated, no brackets)");
  await new Promise((res) => setTimeout(res, 200));
  assert.equal((await s.get("/demo/bert-tiny-sst/stats")).body.replicas[0].completed, before, "nothing was queued");
});

test("token classification: per-token probabilities, labels and word ids; entities with offsets; bad strategy is 422", async () => {
  const text = "John   lives in Paris, with Mary!";
  const { queued, result } = await run("/bert-tiny-ner/token-classification", { input: [text, "hi"], task_kwargs: { aggregation: "first" } });
  assert.equal(queued.message, "Queued token classification");
  assert.equal(result.aggregation, "first");
  const [probs] = result.model_outputs.logits;
  assert.equal(probs.length, result.labels[0].length, "labels per token");
  assert.equal(result.word_ids[0].length, result.labels[0].length);
  // SPEC §6.2: every item's labels and word ids have the logits' token length, null at padding.
  assert.equal(result.labels[1].length, probs.length, "padded to the logits' length");
  assert.equal(result.word_ids[1].length, probs.length);
  assert.deepEqual(result.labels[1].slice(3), new Array(probs.length - 3).fill(null), "[CLS] hi [SEP], then padding");
  assert.deepEqual(result.word_ids[1].slice(0, 3), [null, 0, null]);
  assert.ok(result.labels[1].slice(0, 3).every((l: number | null) => Number.isInteger(l)));
  for (const row of probs) assert.ok(Math.abs(row.reduce((a: number, b: number) => a + b, 0) - 1) < 1e-5);
  result.labels[0].forEach((l: number, t: number) => assert.equal(l, probs[t].indexOf(Math.max(...probs[t]))));
  assert.equal(result.word_ids[0][0], null);
  for (const e of result.entities[0]) assert.equal(text.slice(e.start, e.end), e.word);
  const r = await s.post("/bert-tiny-ner/token-classification", { input: ["x"], task_kwargs: { aggregation: "longest" } });
  assert.equal(r.status, 422);
  assert.match(r.body.error.message, /unknown strategy "longest"/);
});

test("question answering: windows cover a long context, exactly topk distinct answers, answers are context slices", async () => {
  const words = ["the", "cat", "sat", "on", "mat", "and", "dog", "ran", "to", "river", "bank", "today"];
  const context = Array.from({ length: 400 }, (_, i) => words[i % words.length]).join(" "); // ~400 tokens, the model takes 128
  const { queued, result } = await run("/bert-tiny-qa/question-answering", { input: [["where did the dog run?", context]], task_kwargs: { topk: 40, doc_stride: 32, show_null_answers: false } });
  assert.equal(queued.message, "Queued question answering");
  const answers = result.answers[0];
  assert.equal(answers.length, 40);
  assert.equal(new Set(answers.map((a: any) => `${a.start}:${a.end}`)).size, 40, "distinct spans");
  for (let k = 1; k < answers.length; k++) assert.ok(answers[k - 1].score >= answers[k].score, "sorted by score");
  for (const a of answers) assert.equal(context.slice(a.start, a.end), a.answer);
  const firstWindowEnd = context.split(" ").slice(0, 120).join(" ").length;
  const late = await run("/bert-tiny-qa/question-answering", { input: [["where did the dog run?", context]], task_kwargs: { topk: 3000, max_answer_len: 3, doc_stride: 32, show_null_answers: false } });
  assert.ok(late.result.answers[0].some((a: any) => a.start > firstWindowEnd), "spans past the first window are considered");
  assert.deepEqual(late.result.adversarial, { indices: [] });
  const withNull = await run("/bert-tiny-qa/question-answering", { input: [["who?", "John went home."]], task_kwargs: { topk: 100 } });
  assert.ok(withNull.result.answers[0].some((a: any) => a.answer === "" && a.start === 0 && a.end === 0), "the null answer is ranked with the others");
  await expect422("/bert-tiny-qa/question-answering", { input: ["just a string"] }, "input.0", /pair/);
  await expect422("/bert-tiny-qa/question-answering", { input: [["q", "c"]], task_kwargs: { topk: 0 } }, "task_kwargs.topk", /≥ 1/);
});

test("backpressure: a full model queue answers 429 with Retry-After and nothing accepted is dropped", async () => {
  // A model whose replica takes no work (a stand-in service with the real metadata shape): its queue only fills.
  const meta = { id: "stalled", tasks: ["embedding"], embeddingModes: ["mean"], maxLength: 128, outputNames: ["last_hidden_state"], maxInput: 8, maxQueue: 2, vocabSize: 100, device: "cpu", adapters: [] };
  s.node.broker.createService({ name: "model.stalled", metadata: { squareModel: meta } });
  await s.node.broker.waitForServices("model.stalled", 5000, 10);
  const accepted = [];
  for (let i = 0; i < 2; i++) {
    const r = await s.post("/stalled/embedding", { input: ["x"] });
    assert.equal(r.status, 200);
    accepted.push(r.body.task_id);
  }
  const full = await s.post("/stalled/embedding", { input: ["x"] });
  assert.equal(full.status, 429);
  assert.equal(full.headers.get("retry-after"), "1");
  assert.equal(full.body.error.type, "overloaded");
  assert.match(full.body.error.message, /model stalled has 2 tasks queued \(limit 2\)/);
  for (const id of accepted) assert.equal((await s.get(`/task_result/${id}`)).body.state, "queued", "accepted tasks stay queued");
  assert.equal(await s.node.backends.queue.depth("stalled"), 2);
  // Once work is taken off the queue, the model accepts tasks again.
  const drained = new Set<string>();
  const consumer = s.node.backends.queue.consume("stalled", "test", async ({ entry }) => void drained.add(entry.taskId), { concurrency: 2 });
  while (drained.size < 2) await new Promise((r) => setTimeout(r, 5));
  await consumer.stop();
  assert.deepEqual([...drained].sort(), [...accepted].sort(), "the accepted tasks were delivered");
  assert.equal((await s.post("/stalled/embedding", { input: ["x"] })).status, 200);
});
