/**
 * SPEC §9 adapters in the model runtime (issue #16): one forward call whose rows carry different adapter
 * choices (and none) runs as one batch of the adapter-capable graph, and each row equals the PyTorch golden
 * (test/goldens/adapters/bert-tiny-base.json) of its own adapter, or the base model.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { ModelRuntime } from "../../lib/model/runtime.ts";
import { withModelDefaults } from "../../lib/config/model-settings.ts";
import { parseModelsFile } from "../../lib/config/models-file.ts";
import { withAdapter } from "../../lib/inference/adapters.ts";
import { fixturePath } from "../helpers/fixtures.ts";

const ADAPTERS = ["pfeiffer-sst", "pfeiffer-sentiment", "houlsby-ner", "lora-squad"];
interface GoldenCase { texts: string[][]; inputs: { input_ids: number[][] }; outputs: Record<string, { shape: number[]; data: number[] }> }
let golden: Record<string, GoldenCase>;
let adapted: ModelRuntime;
let plain: ModelRuntime;

before(async () => {
  golden = JSON.parse(await readFile(resolve(import.meta.dirname, "../goldens/adapters/bert-tiny-base.json"), "utf8")).cases;
  const path = await fixturePath("bert-tiny-base");
  const dir = await fixturePath("bert-tiny-base-adapters");
  // A long batch wait: the one submission below must be one batch whatever the machine's load.
  adapted = await ModelRuntime.load(withModelDefaults({ id: "adapted", path, batch_wait_ms: 50, adapters: ADAPTERS.map((name) => ({ name, path: join(dir, name) })) }), { kind: "cpu", id: 0 });
  plain = await ModelRuntime.load(withModelDefaults({ id: "plain", path }), { kind: "cpu", id: 0 });
});
after(async () => {
  await adapted?.close();
  await plain?.close();
});

const tokenize = async (model: ModelRuntime, c: GoldenCase, b: number) => {
  const item = c.texts[b];
  const [seq] = await model.tokenizer.encode([item.length === 1 ? item[0] : (item as [string, string])], { maxLength: 128, truncation: "longest_first", addSpecialTokens: true });
  assert.deepEqual(seq.ids, c.inputs.input_ids[b].slice(0, seq.ids.length), "the golden's tokens");
  return seq;
};

function assertClose(actual: ArrayLike<number>, expected: readonly number[], what: string, tol = 1e-4) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) assert.ok(Math.abs(actual[i] - expected[i]) <= tol, `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
}

test("one batch mixing rows for different adapters, an average and the base model: each row equals its own golden", async () => {
  const rows: { case: string; b: number; choice?: { names: string[]; weights: number[] } }[] = [
    { case: "pfeiffer-sst", b: 0, choice: { names: ["pfeiffer-sst"], weights: [1] } },
    { case: "houlsby-ner", b: 1, choice: { names: ["houlsby-ner"], weights: [1] } },
    { case: "lora-squad", b: 0, choice: { names: ["lora-squad"], weights: [1] } },
    { case: "average(pfeiffer-sst,pfeiffer-sentiment)", b: 1, choice: { names: ["pfeiffer-sst", "pfeiffer-sentiment"], weights: [0.5, 0.5] } },
    { case: "pfeiffer-sst", b: 1 },
  ];
  const sequences = await Promise.all(rows.map(async (r) => withAdapter([await tokenize(adapted, golden[r.case], r.b)], r.choice)[0]));
  const before = adapted.batcher.stats.batches;
  const { items } = await adapted.forward(sequences, ["last_hidden_state"]);
  assert.equal(adapted.batcher.stats.batches - before, 1, "one batch");
  const base = await plain.forward([sequences[4]], ["last_hidden_state"]);
  rows.forEach((r, i) => {
    const hidden = items[i].last_hidden_state.data as Float32Array;
    if (!r.choice) return assertClose(hidden, Array.from(base.items[0].last_hidden_state.data as Float32Array), "no adapter = base", 1e-5);
    const g = golden[r.case].outputs.last_hidden_state;
    const [, T, H] = g.shape;
    assertClose(hidden, g.data.slice(r.b * T * H, r.b * T * H + hidden.length), `${r.case} row ${r.b}`);
  });
});

test("head outputs in a mixed batch: a classification row and an averaged row (averaged head) of one submission", async () => {
  const sst = golden["pfeiffer-sst"], avg = golden["average(pfeiffer-sst,pfeiffer-sentiment)"];
  const seqs = [
    withAdapter([await tokenize(adapted, sst, 1)], { names: ["pfeiffer-sst"], weights: [1] })[0],
    withAdapter([await tokenize(adapted, avg, 1)], { names: ["pfeiffer-sst", "pfeiffer-sentiment"], weights: [0.5, 0.5] })[0],
  ];
  const { items } = await adapted.forward(seqs, ["logits"]);
  assertClose(items[0].logits.data as Float32Array, sst.outputs.logits.data.slice(3, 6), "pfeiffer-sst logits");
  assertClose(items[1].logits.data as Float32Array, avg.outputs.logits.data.slice(3, 6), "averaged logits (averaged head)");
});

test("models file: adapters resolve relative to the file, like the model's path; bad entries are start errors", () => {
  const parse = (adapters: unknown, extra: Record<string, unknown> = {}) => parseModelsFile(JSON.stringify({ models: [{ id: "m", path: "base", adapters, ...extra }] }), "/srv/models");
  const [m] = parse([{ name: "a", path: "adapters/a" }, { name: "b", path: "/abs/b" }]);
  assert.equal(m.path, "/srv/models/base");
  assert.deepEqual(m.adapters, [{ name: "a", path: "/srv/models/adapters/a" }, { name: "b", path: "/abs/b" }]);
  assert.equal(parseModelsFile(JSON.stringify({ models: [{ id: "m", path: "base" }] }), "/srv")[0].adapters, undefined);
  assert.throws(() => parse("a"), /"adapters" must be a list/);
  assert.throws(() => parse([{ name: "", path: "x" }]), /non-empty/);
  assert.throws(() => parse([{ name: "a", path: "x" }, { name: "a", path: "y" }]), /duplicate name "a"/);
  assert.throws(() => parse([{ name: "a" }]), /needs string "name" and "path"/);
  assert.throws(() => parse([{ name: "a", path: "x", head: 1 }]), /unknown option "head"/);
  assert.equal(parse([], { preloaded_adapters: true })[0].preloaded_adapters, true);
  assert.throws(() => parse([], { preloaded_adapters: false }), /can only be true/);
});

test("a model whose adapter folder is missing or does not fit fails to load, naming the adapter", async () => {
  const path = await fixturePath("bert-tiny-base");
  await assert.rejects(ModelRuntime.load(withModelDefaults({ id: "x", path, adapters: [{ name: "gone", path: "/nonexistent/adapter" }] }), { kind: "cpu", id: 0 }), /adapter gone .*no adapter_config\.json/);
});
