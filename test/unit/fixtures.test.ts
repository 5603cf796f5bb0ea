/** The generated fixture models: deterministic bytes, real tokenizers, and numerics equal to an independent float64 BERT. */
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ort from "onnxruntime-node";
import tokenizers from "tokenizers";
import { writeFixtures, writeFixture, SIZES } from "../../tools/fixtures/index.ts";
import { fixtureDir } from "../helpers/fixtures.ts";
import { loadWeights, bertEncode, denseRow } from "../helpers/bert-reference.ts";

let dir: string;
before(async () => {
  dir = await fixtureDir();
});

test("two builds give byte-identical folders", async () => {
  const [a, b] = await Promise.all([mkdtemp(join(tmpdir(), "fx-a-")), mkdtemp(join(tmpdir(), "fx-b-"))]);
  await writeFixtures(a);
  await writeFixtures(b);
  for (const folder of await readdir(a)) {
    for (const file of await readdir(join(a, folder))) {
      assert.ok((await readFile(join(a, folder, file))).equals(await readFile(join(b, folder, file))), `${folder}/${file}`);
    }
  }
});

test("tokenizer.json is a real WordPiece tokenizer for the Rust library", async () => {
  const tok = tokenizers.Tokenizer.fromFile(join(dir, "bert-tiny-base", "tokenizer.json"));
  assert.deepEqual((await tok.encode("Hello, world!")).getTokens(), ["[CLS]", "hello", ",", "world", "!", "[SEP]"]);
  const pair = await tok.encode("is it good?", "great");
  assert.deepEqual(pair.getTokens(), ["[CLS]", "is", "it", "good", "?", "[SEP]", "great", "[SEP]"]);
  assert.deepEqual(pair.getTypeIds(), [0, 0, 0, 0, 0, 0, 1, 1]);
  assert.deepEqual((await tok.encode("walked zebras")).getTokens(), ["[CLS]", "w", "##al", "##k", "##ed", "z", "##e", "##b", "##r", "##a", "##s", "[SEP]"]);
  assert.deepEqual((await tok.encode("Café")).getTokens(), ["[CLS]", "cafe", "[SEP]"], "BERT normalizer strips accents");
});

const feeds = (ids: number[][], masks: number[][], types: number[][]) => {
  const t = (rows: number[][]) => new ort.Tensor("int64", BigInt64Array.from(rows.flat().map(BigInt)), [rows.length, rows[0].length]);
  return { input_ids: t(ids), attention_mask: t(masks), token_type_ids: t(types) };
};

test("every head loads in ONNX Runtime with the expected outputs and shapes, and matches a float64 BERT to 1e-4", async () => {
  const cfg = JSON.parse(await readFile(join(dir, "bert-tiny-base", "config.json"), "utf8"));
  const expected: Record<string, Record<string, number[]>> = {
    "bert-tiny-base": { last_hidden_state: [2, 6, 32], pooler_output: [2, 32] },
    "bert-tiny-sst": { logits: [2, 3] },
    "bert-tiny-ner": { logits: [2, 6, 5] },
    "bert-tiny-qa": { start_logits: [2, 6], end_logits: [2, 6] },
  };
  // item 0 has 6 real tokens; item 1 has 4 and 2 padding positions
  const ids = [[2, 60, 70, 80, 90, 3], [2, 100, 110, 3, 0, 0]];
  const masks = [[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]];
  const types = [[0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 0, 0]];
  for (const [name, shapes] of Object.entries(expected)) {
    const path = join(dir, name, "model.onnx");
    const session = await ort.InferenceSession.create(path);
    const out = await session.run(feeds(ids, masks, types));
    assert.deepEqual(Object.keys(out).sort(), Object.keys(shapes).sort(), name);
    for (const [o, shape] of Object.entries(shapes)) assert.deepEqual(out[o].dims, shape, `${name} ${o}`);
    const w = loadWeights(path);
    for (let b = 0; b < 2; b++) {
      const len = masks[b].filter(Boolean).length;
      const hidden = bertEncode(w, cfg, ids[b].slice(0, len), types[b].slice(0, len));
      const pooled = () => denseRow(w, "pooler.dense", hidden[0]).map(Math.tanh);
      const want: Record<string, number[]> = {};
      if (name === "bert-tiny-base") Object.assign(want, { last_hidden_state: hidden.flat(), pooler_output: pooled() });
      if (name === "bert-tiny-sst") want.logits = denseRow(w, "classifier", pooled());
      if (name === "bert-tiny-ner") want.logits = hidden.flatMap((h) => denseRow(w, "classifier", h));
      if (name === "bert-tiny-qa") {
        const qa = hidden.map((h) => denseRow(w, "qa_outputs", h));
        Object.assign(want, { start_logits: qa.map((r) => r[0]), end_logits: qa.map((r) => r[1]) });
      }
      for (const [o, values] of Object.entries(want)) {
        const dims = out[o].dims;
        const per = dims.slice(1).reduce((a, c) => a * c, 1);
        const rowData = Array.from(out[o].data as Float32Array).slice(b * per, (b + 1) * per);
        // token-level outputs: compare only the real tokens
        const got = dims.length >= 2 && dims[1] === ids[0].length ? rowData.slice(0, (per / dims[1]) * len) : rowData;
        assert.equal(got.length, values.length, `${name} ${o} item ${b} length`);
        got.forEach((v, i) => assert.ok(Math.abs(v - values[i]) < 1e-4, `${name} ${o} item ${b} [${i}]: ${v} vs ${values[i]}`));
      }
    }
  }
});

test("the MiniLM-sized fixture builds with vocab 30522 and runs", async () => {
  const out = await mkdtemp(join(tmpdir(), "fx-minilm-"));
  const started = performance.now();
  const folder = await writeFixture(out, { name: "minilm", family: "bert", head: "base", size: SIZES.minilm });
  const buildMs = performance.now() - started;
  const cfg = JSON.parse(await readFile(join(folder, "config.json"), "utf8"));
  assert.equal(cfg.vocab_size, 30522);
  assert.equal(cfg.hidden_size, 384);
  const session = await ort.InferenceSession.create(join(folder, "model.onnx"));
  const res = await session.run(feeds([[2, 30000, 3]], [[1, 1, 1]], [[0, 0, 0]]));
  assert.deepEqual(res.last_hidden_state.dims, [1, 3, 384]);
  console.log(`# minilm fixture built in ${buildMs.toFixed(0)} ms`);
});
