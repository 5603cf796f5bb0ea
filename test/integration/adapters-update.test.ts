/**
 * Replacing a model's adapters at run time through `update` (issue #16, SPEC §10): `{"adapters": [{"name", "path"}]}`
 * with paths relative to the folder holding the model's folder. The new graph is built off the main thread while
 * requests run; under concurrent load no request fails and every answer equals the PyTorch golden; afterwards the
 * new adapter answers with its golden values, a removed one is a 422 listing the known adapters, and stats list
 * the new set. Absolute paths and `..` are 422s. In the runtime: work accepted for a removed adapter finishes on
 * the old graph.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import { runTask } from "../helpers/http.ts";
import { startEmbedded, type Embedded } from "../helpers/embedded.ts";
import { fixturePath } from "../helpers/fixtures.ts";
import { ModelRuntime } from "../../lib/model/runtime.ts";
import { withModelDefaults, parseModelUpdate } from "../../lib/config/model-settings.ts";
import { withAdapter } from "../../lib/inference/adapters.ts";

const BEFORE = ["pfeiffer-sst", "pfeiffer-sentiment", "houlsby-ner"];
const AFTER = ["pfeiffer-sst", "houlsby-ner", "lora-squad"];
const TOL = 1e-4;

interface GoldenCase { texts: string[][]; inputs: { input_ids: number[][]; attention_mask: number[][] }; outputs: Record<string, { shape: number[]; data: number[] }> }
let golden: Record<string, GoldenCase>;
let s: Embedded;
let modelPath: string;
let adapterDir: string;
/** The adapter folders relative to the folder holding the model's folder, as an update names them. */
let rel: (name: string) => string;

before(async () => {
  golden = JSON.parse(await readFile(resolve(import.meta.dirname, "../goldens/adapters/bert-tiny-base.json"), "utf8")).cases;
  modelPath = await fixturePath("bert-tiny-base");
  adapterDir = await fixturePath("bert-tiny-base-adapters");
  rel = (name) => relative(dirname(modelPath), join(adapterDir, name));
  assert.ok(!rel("x").startsWith(".."), "the fixture adapters live beside the model");
  s = await startEmbedded([{ id: "adapted", path: "bert-tiny-base", return_plaintext_arrays: true, batch_wait_ms: 5, adapters: BEFORE.map((name) => ({ name, path: join(adapterDir, name) })) }]);
});
after(() => s?.stop());

const softmax = (xs: number[]) => {
  const m = Math.max(...xs);
  const e = xs.map((x) => Math.exp(x - m));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / z);
};
const realLength = (c: GoldenCase, b: number) => c.inputs.attention_mask[b].reduce((a, x) => a + x, 0);

function assertClose(actual: number[], expected: number[], what: string, tol = TOL) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  actual.forEach((a, i) => assert.ok(Math.abs(a - expected[i]) <= tol, `${what}[${i}]: ${a} vs golden ${expected[i]}`));
}

const run = (task: string, body: Record<string, unknown>) => runTask(s, `/adapted/${task}`, body, 60_000);

/** pfeiffer-sst on a golden single text, checked against the golden. */
async function sstRequest() {
  const c = golden["pfeiffer-sst"];
  const b = c.texts.findIndex((t) => t.length === 1);
  const r = await run("sequence-classification", { input: [c.texts[b][0]], adapter_name: "pfeiffer-sst" });
  const n = c.outputs.logits.shape[1];
  assertClose(r.model_outputs.logits[0], softmax(c.outputs.logits.data.slice(b * n, (b + 1) * n)), "pfeiffer-sst");
}

/** houlsby-ner on a golden text, checked against the golden. */
async function nerRequest() {
  const c = golden["houlsby-ner"];
  const b = c.texts.findIndex((t) => t.length === 1);
  const r = await run("token-classification", { input: [c.texts[b][0]], adapter_name: "houlsby-ner" });
  const [, T, n] = c.outputs.logits.shape;
  for (let t = 0; t < realLength(c, b); t++) assertClose(r.model_outputs.logits[0][t], softmax(c.outputs.logits.data.slice((b * T + t) * n, (b * T + t + 1) * n)), `houlsby-ner token ${t}`);
}

test("update refuses adapter paths that are absolute or climb out with `..` (422 naming the entry), and unknown folders", async () => {
  for (const path of ["/etc", "../outside", "bert-tiny-base-adapters/../../x", "C:\\adapters"]) {
    const r = await s.post("/adapted/update", { adapters: [{ name: "x", path }] });
    assert.equal(r.status, 422, `${path}: ${JSON.stringify(r.body)}`);
    assert.match(JSON.stringify(r.body), /adapters\[0\]\.path/);
  }
  for (const body of [{ adapters: [] }, { adapters: [{ name: "a", path: "p" }, { name: "a", path: "q" }] }, { adapters: [{ name: "a", path: "p", extra: 1 }] }]) {
    assert.equal((await s.post("/adapted/update", body)).status, 422, JSON.stringify(body));
  }
  const missing = await s.post("/adapted/update", { adapters: [{ name: "a", path: "no-such-adapter-folder" }] });
  assert.equal(missing.status, 422, JSON.stringify(missing.body));
  assert.deepEqual((await s.get("/adapted/stats")).body.adapters, BEFORE, "a refused update changes nothing");
  // Nor is it stored: a replica starting later would fail on a set it cannot read.
  assert.equal((await s.node.backends.store.getModelUpdate("adapted")).adapters, undefined, "a refused adapter set is not stored");
  assert.deepEqual(parseModelUpdate({ adapters: [{ name: "a", path: "dir/a" }] }), { adapters: [{ name: "a", path: "dir/a" }] });
});

test("replacing the adapters under concurrent load: no request fails; then the new adapter answers its golden values and a removed one is a 422", async () => {
  let stop = false;
  let done = 0;
  const failures: unknown[] = [];
  const worker = async (request: () => Promise<void>) => {
    while (!stop) {
      await request().then(() => done++, (err) => failures.push(err));
    }
  };
  const load = [worker(sstRequest), worker(sstRequest), worker(nerRequest), worker(nerRequest)];
  await new Promise((r) => setTimeout(r, 300));
  const before = done;
  const update = await s.post("/adapted/update", { adapters: AFTER.map((name) => ({ name, path: rel(name) })) });
  assert.equal(update.status, 200, JSON.stringify(update.body));
  assert.deepEqual(update.body.adapters, AFTER);
  const during = done - before;
  await new Promise((r) => setTimeout(r, 300));
  stop = true;
  await Promise.all(load);
  assert.deepEqual(failures, [], "no request failed during the swap");
  assert.ok(during > 0 && done > before, `requests completed while the new graph was built (${during})`);

  // The gateway validates against the new list once the replica's metadata arrives.
  let refused: { status: number; body: any } | undefined;
  for (let i = 0; i < 50 && refused?.status !== 422; i++) {
    refused = await s.post("/adapted/sequence-classification", { input: ["x"], adapter_name: "pfeiffer-sentiment" });
    if (refused.status !== 422) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(refused!.status, 422, JSON.stringify(refused!.body));
  for (const name of AFTER) assert.match(refused!.body.error.message, new RegExp(name));
  assert.deepEqual((await s.get("/adapted/stats")).body.adapters, AFTER);

  const squad = golden["lora-squad"];
  const qa = await run("question-answering", { input: squad.texts.map((t) => (t.length === 1 ? t[0] : t)), adapter_name: "lora-squad" });
  for (let b = 0; b < squad.texts.length; b++) {
    const len = realLength(squad, b);
    const T = squad.outputs.start_logits.shape[1];
    for (const name of ["start_logits", "end_logits"]) assertClose(qa.model_outputs[name][b].slice(0, len), squad.outputs[name].data.slice(b * T, b * T + len), `lora-squad item ${b} ${name}`);
  }
  await sstRequest();
  await nerRequest();
  // Explanations run on the new graph too.
  const explained = await run("question-answering", { input: [squad.texts[0]], adapter_name: "lora-squad", explain_kwargs: { method: "simple_grads" } });
  assert.ok(explained.attributions[0].question_tokens[0].length > 0);
});

test("runtime: work accepted for an adapter an update removed finishes on the old graph; unknown adapters are 422s listing the current ones", async () => {
  const runtime = await ModelRuntime.load(withModelDefaults({ id: "r", path: modelPath, adapters: BEFORE.map((name) => ({ name, path: join(adapterDir, name) })) }), { kind: "cpu", id: 0 });
  try {
    const [seq] = await runtime.tokenizer.encode(["a great movie"], { maxLength: 64, truncation: "longest_first", addSpecialTokens: true });
    const sentiment = withAdapter([seq], { names: ["pfeiffer-sentiment"], weights: [1] });
    const expected = (await runtime.forward(sentiment, ["logits"])).items[0].logits.data as Float32Array;
    // Submitted while the new graph is being built, and again after the swap (a request accepted before it).
    const during = runtime.forward(sentiment, ["logits"]);
    await runtime.apply({ adapters: AFTER.map((name) => ({ name, path: rel(name) })) });
    const after = await runtime.forward(sentiment, ["logits"]);
    for (const out of [(await during).items[0], after.items[0]]) assertClose(Array.from(out.logits.data as Float32Array), Array.from(expected), "pfeiffer-sentiment on the old graph", 1e-6);
    assert.deepEqual(runtime.adapters?.names, AFTER);
    await assert.rejects(runtime.forward(withAdapter([seq], { names: ["nope"], weights: [1] }), ["logits"]), (err: Error) => /unknown adapter nope; this model serves pfeiffer-sst, houlsby-ner, lora-squad/.test(err.message));
    const sst = await runtime.forward(withAdapter([seq], { names: ["lora-squad"], weights: [1] }), ["start_logits"]);
    assert.equal(sst.items[0].start_logits.shape[0], seq.ids.length);
  } finally {
    await runtime.close();
  }
});
