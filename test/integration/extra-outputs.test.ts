/**
 * model_kwargs.output_attentions / output_hidden_states over HTTP (SPEC §3, §5): one array per
 * layer, values equal to an independent float64 BERT, padding cropped per item, results
 * independent of the rest of the batch; 422 when the graph is not recognised.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, writeFile, copyFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import tokenizers from "tokenizers";
import { runTask } from "../helpers/http.ts";
import { startEmbedded, decodeNpy, Embedded } from "../helpers/embedded.ts";
import { fixtureDir, fixturePath } from "../helpers/fixtures.ts";
import { decodeModel, encodeModel } from "../../lib/onnx/graph-io.ts";
import { encoderTrace, readWeights, type EncoderTrace } from "../helpers/encoder-float64.ts";

let s: Embedded;
let unrecognised: string;

before(async () => {
  // A copy of bert-tiny-base whose attention Softmax became a Sigmoid: still runs, no longer recognised.
  unrecognised = await mkdtemp(join(tmpdir(), "no-softmax-"));
  const base = await fixturePath("bert-tiny-base");
  for (const f of ["config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]) await copyFile(join(base, f), join(unrecognised, f));
  const model = decodeModel(await readFile(join(base, "model.onnx")));
  for (const n of model.graph.node) if (n.opType === "Softmax") Object.assign(n, { opType: "Sigmoid", attribute: [] });
  await writeFile(join(unrecognised, "model.onnx"), encodeModel(model));
  s = await startEmbedded([
    { id: "bert-tiny-base", path: "bert-tiny-base" },
    { id: "bert-tiny-sst", path: "bert-tiny-sst", return_plaintext_arrays: true },
    { id: "bert-tiny-qa", path: "bert-tiny-qa" },
    { id: "no-softmax", path: relative(await fixtureDir(), unrecognised) },
  ]);
});
after(async () => {
  await s.stop();
  await rm(unrecognised, { recursive: true, force: true });
});

const run = (path: string, body: unknown) => runTask(s, path, body);

async function references(model: string, items: (string | [string, string])[]): Promise<{ trace: EncoderTrace; length: number }[]> {
  const dir = await fixturePath(model);
  const tok = tokenizers.Tokenizer.fromFile(join(dir, "tokenizer.json"));
  const cfg = JSON.parse(await readFile(join(dir, "config.json"), "utf8"));
  const w = readWeights(decodeModel(await readFile(join(dir, "model.onnx"))));
  return Promise.all(
    items.map(async (item) => {
      const e = typeof item === "string" ? await tok.encode(item) : await tok.encode(item[0], item[1]);
      return { trace: encoderTrace(w, "bert", cfg, e.getIds(), e.getTypeIds()), length: e.getIds().length };
    }),
  );
}

/** Flat values → nested index helper for an array of `shape`. */
const at = (values: number[], shape: number[]) => (...idx: number[]) => values[idx.reduce((acc, i, ax) => acc * shape[ax] + i, 0)];

const TEXTS = ["hello world", "the quick brown fox jumps over the lazy dog"];

test("embedding: attentions and hidden_states per layer as .npy, equal to a float64 BERT, padding zero, last layer = token embeddings", async () => {
  const result = await run("/bert-tiny-base/embedding", {
    input: TEXTS,
    model_kwargs: { output_attentions: true, output_hidden_states: true },
    task_kwargs: { embedding_mode: "token" },
  });
  const { attentions, hidden_states: hidden, embeddings } = result.model_outputs;
  assert.equal(result.model_output_is_encoded, true);
  assert.ok(Array.isArray(attentions) && attentions.length === 2, "one array per layer");
  assert.ok(Array.isArray(hidden) && hidden.length === 3, "embeddings + one per layer");
  const refs = await references("bert-tiny-base", TEXTS);
  const longest = Math.max(...refs.map((r) => r.length));
  for (let l = 0; l < 2; l++) {
    const { shape, values } = decodeNpy(attentions[l]);
    assert.deepEqual(shape, [2, 4, longest, longest]);
    const a = at(values, shape);
    refs.forEach(({ trace, length }, b) => {
      for (let h = 0; h < 4; h++) for (let i = 0; i < longest; i++) {
        let sum = 0;
        for (let j = 0; j < longest; j++) {
          const want = i < length && j < length ? trace.attentions[l][h][i][j] : 0;
          assert.ok(Math.abs(a(b, h, i, j) - want) <= 1e-4, `attentions.${l}[${b},${h},${i},${j}] ${a(b, h, i, j)} vs ${want}`);
          sum += a(b, h, i, j);
        }
        if (i < length) assert.ok(Math.abs(sum - 1) < 1e-5, "each real row sums to 1 over the real tokens");
      }
    });
  }
  for (let k = 0; k < 3; k++) {
    const { shape, values } = decodeNpy(hidden[k]);
    assert.deepEqual(shape, [2, longest, 32]);
    const v = at(values, shape);
    refs.forEach(({ trace, length }, b) => {
      for (let t = 0; t < longest; t++) for (let d = 0; d < 32; d++) {
        const want = t < length ? trace.hiddenStates[k][t][d] : 0;
        assert.ok(Math.abs(v(b, t, d) - want) <= 1e-4, `hidden_states.${k}[${b},${t},${d}]`);
      }
    });
  }
  assert.deepEqual(decodeNpy(hidden[2]).values, decodeNpy(embeddings).values, "the last hidden state is what embedding_mode token returns");
});

test("results do not depend on the rest of the batch: alone, with a longer item, and with a concurrent request", async () => {
  const body = (input: string[]) => ({ input, model_kwargs: { output_attentions: true, output_hidden_states: true } });
  const alone = (await run("/bert-tiny-sst/sequence-classification", body(["a fine film"]))).model_outputs;
  const [together, other] = await Promise.all([
    run("/bert-tiny-sst/sequence-classification", body(["a fine film", "a much longer second sentence that pads the first one a lot"])),
    run("/bert-tiny-sst/sequence-classification", body(["some concurrent request text of another length entirely"])),
  ]);
  assert.ok(other.labels.length === 1);
  const first = together.model_outputs;
  // plaintext arrays: attentions[l] is items × heads × seq × seq nested lists
  for (const key of ["attentions", "hidden_states"] as const) {
    alone[key].forEach((layer: any, l: number) => {
      const mine = layer[0];
      const batched = first[key][l][0];
      const flat = (x: any): number[] => (Array.isArray(x) ? x.flatMap(flat) : [x]);
      if (key === "attentions") {
        const n = mine[0].length;
        const cropped = batched.map((head: number[][]) => head.slice(0, n).map((row) => row.slice(0, n)));
        flat(cropped).forEach((v, i) => assert.ok(Math.abs(v - flat(mine)[i]) <= 1e-6, `${key}.${l}[${i}]`));
        flat(batched.map((head: number[][]) => head.map((row) => row.slice(n)))).forEach((v) => assert.equal(v, 0));
      } else {
        const cropped = batched.slice(0, mine.length);
        flat(cropped).forEach((v, i) => assert.ok(Math.abs(v - flat(mine)[i]) <= 1e-6, `${key}.${l}[${i}]`));
      }
    });
  }
  alone.logits[0].forEach((v: number, i: number) => assert.ok(Math.abs(v - first.logits[0][i]) <= 1e-6));
});

test("question answering returns extra outputs for each item's first window; only what was asked comes back", async () => {
  const result = await run("/bert-tiny-qa/question-answering", { input: [["where is the cat?", "the cat sat on the mat."]], model_kwargs: { output_hidden_states: true } });
  assert.equal(result.model_outputs.attentions, undefined);
  assert.equal(result.model_outputs.hidden_states.length, 3);
  const [{ trace, length }] = await references("bert-tiny-qa", [["where is the cat?", "the cat sat on the mat."]]);
  const { shape, values } = decodeNpy(result.model_outputs.hidden_states[1]);
  assert.deepEqual(shape, [1, length, 32]);
  values.forEach((v, i) => assert.ok(Math.abs(v - trace.hiddenStates[1].flat()[i]) <= 1e-4));
  const plain = await run("/bert-tiny-qa/question-answering", { input: [["where is the cat?", "the cat sat on the mat."]] });
  assert.deepEqual(Object.keys(plain.model_outputs).sort(), ["end_logits", "start_logits"]);
  assert.ok(Math.abs(plain.answers[0][0].score - result.answers[0][0].score) < 1e-6 && plain.answers[0][0].answer === result.answers[0][0].answer, `same answer from the extended graph: ${JSON.stringify([plain.answers, result.answers])}`);
});

test("422 when the graph is not recognised, and for options the forward pass does not know", async () => {
  for (const key of ["output_attentions", "output_hidden_states"]) {
    const r = await s.post("/no-softmax/embedding", { input: ["x"], model_kwargs: { [key]: true } });
    assert.equal(r.status, 422, JSON.stringify(r.body));
    assert.equal(r.body.error.details[0].field, `model_kwargs.${key}`);
    assert.match(r.body.error.message, /structure was not recognised/);
    assert.match(r.body.error.message, /no attention Softmax feeding a MatMul was found/, "the 422 quotes why surgery could not add them");
  }
  const ok = await run("/no-softmax/embedding", { input: ["x"] });
  assert.equal(decodeNpy(ok.model_outputs.embeddings).shape[1], 32, "the unrecognised model still serves plain requests");
  const r = await s.post("/bert-tiny-base/embedding", { input: ["x"], model_kwargs: { output_attentions: "yes" } });
  assert.equal(r.status, 422);
  assert.match(r.body.error.message, /model_kwargs.output_attentions: must be a boolean/);
});
