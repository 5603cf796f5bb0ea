/**
 * SPEC §9 adapters over HTTP (issue #16): bert-tiny-base served with its AdapterHub fixture adapters
 * (lib/fixtures/adapters-fixture.ts: Pfeiffer + classification head ×2, Houlsby + tagging head, LoRA + QA head)
 * against the float64 PyTorch goldens (test/goldens/adapters/bert-tiny-base.json, written from the maths,
 * not with the adapters library): each adapter's head outputs and encoder output, the average of the two
 * Pfeiffer adapters, no adapter = the base model, concurrent requests for different adapters (mixed batches),
 * the 422s, and the adapter names in stats.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { runTask } from "../helpers/http.ts";
import { startEmbedded, Embedded } from "../helpers/embedded.ts";
import { fixturePath } from "../helpers/fixtures.ts";

const ADAPTERS = ["pfeiffer-sst", "pfeiffer-sentiment", "houlsby-ner", "lora-squad"];
const TOL = 1e-4;

interface GoldenCase {
  adapters: string[];
  texts: (string[])[];
  inputs: { input_ids: number[][]; attention_mask: number[][] };
  outputs: Record<string, { shape: number[]; data: number[] }>;
}
let golden: { cases: Record<string, GoldenCase> };
let s: Embedded;

before(async () => {
  golden = JSON.parse(await readFile(resolve(import.meta.dirname, "../goldens/adapters/bert-tiny-base.json"), "utf8"));
  const dir = await fixturePath("bert-tiny-base-adapters");
  s = await startEmbedded([
    // A short batch wait, so concurrent requests share batches (mixed adapters in one run).
    { id: "adapted", path: "bert-tiny-base", return_plaintext_arrays: true, batch_wait_ms: 100, adapters: ADAPTERS.map((name) => ({ name, path: join(dir, name) })) },
    { id: "plain", path: "bert-tiny-base", return_plaintext_arrays: true },
  ]);
});
after(() => s?.stop());

const run = (task: string, body: Record<string, unknown>, model = "adapted") => runTask(s, `/${model}/${task}`, body, 30_000);

const softmax = (xs: number[]) => {
  const m = Math.max(...xs);
  const e = xs.map((x) => Math.exp(x - m));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / z);
};

function assertClose(actual: number[], expected: number[], what: string, tol = TOL) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  actual.forEach((a, i) => assert.ok(Math.abs(a - expected[i]) <= tol, `${what}[${i}]: ${a} vs golden ${expected[i]}`));
}

/** Row `b` of a golden output, the first `len` positions of each row. */
function goldenRows(out: { shape: number[]; data: number[] }, b: number, len?: number): number[][] {
  const [, T, ...rest] = out.shape;
  if (T === undefined) return [];
  const per = rest.reduce((x, y) => x * y, 1);
  const rows: number[][] = [];
  for (let t = 0; t < (len ?? T); t++) rows.push(out.data.slice((b * T + t) * per, (b * T + t + 1) * per));
  return rows;
}
const realLength = (c: GoldenCase, b: number) => c.inputs.attention_mask[b].reduce((a, x) => a + x, 0);
const itemsOf = (c: GoldenCase) => c.texts.map((t) => (t.length === 1 ? t[0] : t));

/** One request per golden item (a request takes single texts or pairs, not both); the results' rows stacked. */
async function classification(adapter: string | string[], c: GoldenCase, extra: Record<string, unknown> = {}) {
  const results = await Promise.all(itemsOf(c).map((item) => run("sequence-classification", { input: [item], adapter_name: adapter, ...extra })));
  return { ...results[0], model_outputs: { logits: results.flatMap((r) => r.model_outputs.logits) } };
}

function checkClassification(result: any, c: GoldenCase, what: string) {
  const [B, n] = c.outputs.logits.shape;
  for (let b = 0; b < B; b++) assertClose(result.model_outputs.logits[b], softmax(c.outputs.logits.data.slice(b * n, (b + 1) * n)), `${what} item ${b}`);
  assert.deepEqual(result.id2label, { 0: "negative", 1: "neutral", 2: "positive" });
}

test("each adapter's head outputs equal the PyTorch golden (classification, tagging, QA)", async () => {
  const sst = golden.cases["pfeiffer-sst"];
  checkClassification(await classification("pfeiffer-sst", sst), sst, "pfeiffer-sst");

  const ner = golden.cases["houlsby-ner"];
  for (const [b, item] of itemsOf(ner).entries()) {
    const tagged = await run("token-classification", { input: [item], adapter_name: "houlsby-ner" });
    assert.deepEqual(tagged.id2label, { 0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC" });
    goldenRows(ner.outputs.logits, b, realLength(ner, b)).forEach((row, t) => assertClose(tagged.model_outputs.logits[0][t], softmax(row), `houlsby-ner item ${b} token ${t}`));
  }

  const squad = golden.cases["lora-squad"];
  const qa = await run("question-answering", { input: itemsOf(squad), adapter_name: "lora-squad" });
  for (let b = 0; b < squad.texts.length; b++) {
    const len = realLength(squad, b);
    const T = squad.outputs.start_logits.shape[1];
    for (const name of ["start_logits", "end_logits"]) {
      assertClose(qa.model_outputs[name][b].slice(0, len), squad.outputs[name].data.slice(b * T, b * T + len), `lora-squad item ${b} ${name}`);
    }
  }
  assert.equal(qa.answers.length, 2);
});

test("embeddings use the adapted encoder (token vectors = the golden's last_hidden_state); no adapter = the base model", async () => {
  for (const name of ["pfeiffer-sst", "houlsby-ner"]) {
    const c = golden.cases[name];
    const b = c.texts.findIndex((t) => t.length === 1); // embedding takes single texts
    const out = await run("embedding", { input: [c.texts[b][0]], adapter_name: name, task_kwargs: { embedding_mode: "token" } });
    const rows = goldenRows(c.outputs.last_hidden_state, b, realLength(c, b));
    rows.forEach((row, t) => assertClose(out.model_outputs.embeddings[0][t], row, `${name} token ${t}`));
  }
  const texts = ["a great movie", "the children played in the garden"];
  const base = await run("embedding", { input: texts }, "plain");
  const none = await run("embedding", { input: texts });
  const adapted = await run("embedding", { input: texts, adapter_name: "pfeiffer-sst" });
  base.model_outputs.embeddings.forEach((v: number[], i: number) => assertClose(none.model_outputs.embeddings[i], v, `no adapter item ${i}`, 1e-5));
  assert.ok(adapted.model_outputs.embeddings[0].some((x: number, k: number) => Math.abs(x - base.model_outputs.embeddings[0][k]) > 1e-3), "an adapter changes the embedding");
});

test("averaging the two Pfeiffer adapters (weights and heads) equals the golden's average", async () => {
  const c = golden.cases["average(pfeiffer-sst,pfeiffer-sentiment)"];
  checkClassification(await classification(["pfeiffer-sst", "pfeiffer-sentiment"], c, { model_kwargs: { average_adapters: true } }), c, "average");
});

test("concurrent requests for different adapters (mixed batches) each get their own result", async () => {
  const sst = golden.cases["pfeiffer-sst"];
  const avg = golden.cases["average(pfeiffer-sst,pfeiffer-sentiment)"];
  const k = sst.texts.findIndex((t) => t.length === 1); // one text for every request: one length group in the batcher
  const text = sst.texts[k][0];
  assert.equal(avg.texts[k][0], text);
  const classify = (adapter_name: string | string[], extra: Record<string, unknown> = {}) => run("sequence-classification", { input: [text], adapter_name, ...extra });
  const sentimentAlone = await classify("pfeiffer-sentiment");
  const averaged = { model_kwargs: { average_adapters: true } };
  const results = await Promise.all([
    classify("pfeiffer-sst"), classify("pfeiffer-sentiment"), classify(["pfeiffer-sst", "pfeiffer-sentiment"], averaged),
    classify("pfeiffer-sst"), classify("pfeiffer-sentiment"), classify(["pfeiffer-sst", "pfeiffer-sentiment"], averaged),
  ]);
  // How the batcher groups these depends on arrival times; test/integration/adapters-runtime.test.ts mixes adapters in one batch for certain.
  const n = sst.outputs.logits.shape[1];
  const goldenRow = (c: GoldenCase) => softmax(c.outputs.logits.data.slice(k * n, (k + 1) * n));
  for (const i of [0, 3]) assertClose(results[i].model_outputs.logits[0], goldenRow(sst), `mixed pfeiffer-sst (${i})`);
  for (const i of [2, 5]) assertClose(results[i].model_outputs.logits[0], goldenRow(avg), `mixed average (${i})`);
  for (const i of [1, 4]) assertClose(results[i].model_outputs.logits[0], sentimentAlone.model_outputs.logits[0], `mixed pfeiffer-sentiment (${i})`, 1e-5);
});

async function expect422(task: string, body: Record<string, unknown>, pattern: RegExp, model = "adapted") {
  const q = await s.post(`/${model}/${task}`, body);
  assert.equal(q.status, 422, JSON.stringify(q.body));
  const text = (q.body.error.details ?? []).map((d: { message: string }) => d.message).join(" | ");
  assert.match(text, pattern);
  return q.body;
}

test("422s: unknown adapter (listing the known ones), empty names, lists without average_adapters, wrong head, no adapter for a head task", async () => {
  const unknown = await expect422("sequence-classification", { input: ["x"], adapter_name: "nope" }, /unknown adapter "nope"/);
  for (const name of ADAPTERS) assert.match(unknown.error.message, new RegExp(name));
  await expect422("sequence-classification", { input: ["x"], adapter_name: [""] }, /must not be empty/);
  await expect422("sequence-classification", { input: ["x"], adapter_name: " " }, /must not be empty/);
  await expect422("sequence-classification", { input: ["x"], adapter_name: [] }, /empty list/);
  await expect422("sequence-classification", { input: ["x"], adapter_name: ["pfeiffer-sst", "pfeiffer-sentiment"] }, /average_adapters/);
  await expect422("sequence-classification", { input: ["x"], adapter_name: ["pfeiffer-sst", "houlsby-ner"], model_kwargs: { average_adapters: true } }, /cannot be averaged/);
  await expect422("token-classification", { input: ["x"], adapter_name: "pfeiffer-sst" }, /classification head/);
  await expect422("sequence-classification", { input: ["x"] }, /name an adapter/);
  await expect422("embedding", { input: ["x"], adapter_name: "pfeiffer-sst" }, /no adapters/, "plain");
});

test("stats and metadata list the adapters", async () => {
  const stats = await s.get("/adapted/stats");
  assert.equal(stats.status, 200);
  assert.deepEqual(stats.body.adapters, ADAPTERS);
  assert.equal(stats.body.preloaded_adapters, true);
  assert.ok(["sequence-classification", "token-classification", "question-answering", "embedding"].every((t) => stats.body.tasks.includes(t)), JSON.stringify(stats.body.tasks));
  const plain = await s.get("/plain/stats");
  assert.deepEqual(plain.body.adapters, []);
  const models = (await s.get("/models")).body as { id: string; adapters: string[] }[];
  assert.deepEqual(models.find((m) => m.id === "adapted")?.adapters, ADAPTERS);
  assert.deepEqual(models.find((m) => m.id === "plain")?.adapters, []);
});
