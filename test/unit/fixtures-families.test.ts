/**
 * The RoBERTa- and DistilBERT-shaped fixtures: deterministic bytes, config and tokenizer files as
 * transformers writes them, a real byte-level BPE tokenizer (checked with the Rust tokenizers
 * library and against GPT-2's published byte alphabet), graph inputs and outputs, numerics equal to
 * an independent float64 forward pass written from each model's definition in transformers
 * (test/helpers/encoder-float64.ts: RoBERTa's positions counted from the input ids, DistilBERT's
 * layers and heads), and
 * the position table honouring `size.maxPositions`. Also pins the BERT fixtures' bytes, which
 * committed golden files depend on.
 */
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import ort from "onnxruntime-node";
import tokenizers from "tokenizers";
import { writeFixtures, writeFixture, DEMO_FIXTURES, SIZES, type FixtureSpec } from "../../lib/fixtures/index.ts";
import { decodeModel, valueInfoDims } from "../../lib/onnx/graph-io.ts";
import { readModelFolder } from "../../lib/model/model-folder.ts";
import { encoderTrace, readWeights, referenceForward, robertaPositionIds, type Weights } from "../helpers/encoder-float64.ts";
import { useTempDirs } from "../helpers/temp-dirs.ts";

const FILES = ["config.json", "model.onnx", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"];
const NEW_SPECS = DEMO_FIXTURES.filter((s) => s.family !== "bert");
let dirA: string;
let dirB: string;
const tempDir = useTempDirs();
const readJson = async (...p: string[]) => JSON.parse(await readFile(join(...p), "utf8"));

before(async () => {
  dirA = await tempDir("families-a-");
  dirB = await tempDir("families-b-");
  await writeFixtures(dirA, DEMO_FIXTURES);
  await writeFixtures(dirB, NEW_SPECS);
});

test("BERT fixtures keep their bytes (golden files are made from them)", async () => {
  const sha = async (p: string) => createHash("sha256").update(await readFile(join(dirA, p))).digest("hex");
  assert.deepEqual(
    {
      base: await sha("bert-tiny-base/model.onnx"),
      sst: await sha("bert-tiny-sst/model.onnx"),
      ner: await sha("bert-tiny-ner/model.onnx"),
      qa: await sha("bert-tiny-qa/model.onnx"),
      tokenizer: await sha("bert-tiny-base/tokenizer.json"),
      config: await sha("bert-tiny-sst/config.json"),
    },
    {
      base: "524bf7bd3a11e35bc5df3c5a69616926349a317c615395212fa27a75922fb467",
      sst: "81d3816ff29555fa238c4af712c4d6eb73009af81ef68c8ef4fb1a67c7729633",
      ner: "a7c6fafb12cd55653c962ccd57a9ba8181a3a686cc435b9aaf33abd9cabab789",
      qa: "bdda5565508eb23b836f0874718b9f4e274ab5c5420f234eb69a66d8743aa424",
      tokenizer: "bf9d8cd939d36b9527e00012d8fd5856252b5b342e5980a9c156cb141056d0ea",
      config: "98072fbeb2f13f89dc3e51e6a7270e219d1dd22222b156f086d834a4dd029df9",
    },
  );
});

test("two builds of the new families give byte-identical folders with the Optimum layout", async () => {
  assert.deepEqual(NEW_SPECS.map((s) => s.name), ["roberta", "distilbert"].flatMap((f) => ["base", "sst", "ner", "qa"].map((h) => `${f}-tiny-${h}`)));
  for (const { name } of NEW_SPECS) {
    assert.deepEqual((await readdir(join(dirA, name))).sort(), FILES, name);
    for (const file of FILES) {
      const [a, b] = [await readFile(join(dirA, name, file)), await readFile(join(dirB, name, file))];
      assert.ok(a.length > 0 && a.equals(b), `${name}/${file} differs between builds`);
    }
  }
});

test("config.json: RoBERTa and DistilBERT keys and values as transformers writes them", async () => {
  const roberta = await readJson(dirA, "roberta-tiny-sst", "config.json");
  assert.deepEqual(roberta.architectures, ["RobertaForSequenceClassification"]);
  assert.deepEqual(
    [roberta.model_type, roberta.pad_token_id, roberta.bos_token_id, roberta.eos_token_id, roberta.type_vocab_size, roberta.layer_norm_eps, roberta.max_position_embeddings],
    ["roberta", 1, 0, 2, 1, 1e-5, 130],
  );
  assert.deepEqual(roberta.id2label, { "0": "negative", "1": "neutral", "2": "positive" });
  assert.deepEqual(Object.keys(roberta), [...Object.keys(roberta)].sort(), "sorted keys");
  const distil = await readJson(dirA, "distilbert-tiny-qa", "config.json");
  assert.deepEqual(distil.architectures, ["DistilBertForQuestionAnswering"]);
  assert.deepEqual(
    [distil.model_type, distil.dim, distil.n_layers, distil.n_heads, distil.hidden_dim, distil.max_position_embeddings, distil.pad_token_id, distil.activation, distil.sinusoidal_pos_embds],
    ["distilbert", 32, 2, 4, 64, 128, 0, "gelu", false],
  );
  assert.equal(distil.type_vocab_size, undefined);
  const archs = await Promise.all(NEW_SPECS.map(async (s) => (await readJson(dirA, s.name, "config.json")).architectures[0]));
  assert.deepEqual(archs, ["Roberta", "DistilBert"].flatMap((p) => ["Model", "ForSequenceClassification", "ForTokenClassification", "ForQuestionAnswering"].map((h) => p + h)));

  const tc = await readJson(dirA, "roberta-tiny-base", "tokenizer_config.json");
  assert.deepEqual([tc.tokenizer_class, tc.model_max_length, tc.add_prefix_space, tc.trim_offsets, tc.pad_token, tc.cls_token, tc.sep_token], ["RobertaTokenizer", 128, false, true, "<pad>", "<s>", "</s>"]);
  assert.equal((await readJson(dirA, "distilbert-tiny-base", "tokenizer_config.json")).tokenizer_class, "DistilBertTokenizer");
  // DistilBERT shares BERT's WordPiece tokenizer.json byte for byte
  assert.ok((await readFile(join(dirA, "distilbert-tiny-base", "tokenizer.json"))).equals(await readFile(join(dirA, "bert-tiny-base", "tokenizer.json"))));
});

test("RoBERTa tokenizer.json is a byte-level BPE tokenizer the Rust library reads and writes back unchanged", async () => {
  const path = join(dirA, "roberta-tiny-base", "tokenizer.json");
  const tok = tokenizers.Tokenizer.fromFile(path);
  const resaved = join(await tempDir("bpe-resave-"), "tokenizer.json");
  tok.save(resaved, true);
  assert.equal(await readFile(resaved, "utf8"), await readFile(path, "utf8"));

  const size = tok.getVocabSize(true);
  assert.deepEqual([0, 1, 2, 3, size - 1].map((i) => tok.idToToken(i)), ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]);
  // GPT-2's byte alphabet in GPT-2's order (its vocab.json: "!" 0, "Ċ" 198, "Ġ" 220), after our 4 specials
  assert.deepEqual(["!", "Ċ", "Ġ", "Ā", "ÿ"].map((t) => tok.tokenToId(t)), [4, 4 + 198, 4 + 220, 4 + 188, 4 + 187]);
  const json = await readJson(path);
  for (const [a, b] of json.model.merges as [string, string][]) {
    assert.ok(a in json.model.vocab && b in json.model.vocab && a + b in json.model.vocab, `merge ${a} ${b}`);
  }
  assert.ok(json.model.merges.length >= 400, `${json.model.merges.length} merges`);

  const enc = async (a: string, b?: string) => tok.encode(a, b ?? null);
  const e = await enc("John lives in Paris with Mary.");
  assert.deepEqual(e.getTokens(), ["<s>", "John", "Ġlive", "s", "Ġin", "ĠParis", "Ġwith", "ĠMary", ".", "</s>"]);
  // trim_offsets: " Paris" starts at "P"
  assert.deepEqual(e.getOffsets()[5], [14, 19]);
  assert.deepEqual(e.getWordIds(), [null, 0, 1, 1, 2, 3, 4, 5, 6, null]);
  // é is two bytes, Ã and ©, joined by a learned merge; runs of spaces stay one Ġ token each
  assert.deepEqual((await enc("café  é")).getTokens(), ["<s>", "c", "a", "f", "Ã©", "Ġ", "Ġ", "Ã©", "</s>"]);
  const pair = await enc("Who went?", "John went.");
  assert.deepEqual(pair.getTokens(), ["<s>", "W", "h", "o", "Ġwent", "?", "</s>", "</s>", "John", "Ġwent", ".", "</s>"]);
  assert.deepEqual(pair.getSequenceIds(), [null, 0, 0, 0, 0, 0, null, null, 1, 1, 1, null]);
  assert.deepEqual(pair.getTypeIds(), new Array(12).fill(0), "RoBERTa has one token type");
  assert.deepEqual(pair.getSpecialTokensMask(), [1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1]);
  // a padded vocabulary tokenizes the same
  const big = await writeFixture(await tempDir("bpe-big-"), { name: "r", family: "roberta", head: "base", size: { ...SIZES.tiny, vocabSize: 2000 } });
  const bigTok = tokenizers.Tokenizer.fromFile(join(big, "tokenizer.json"));
  assert.equal(bigTok.getVocabSize(true), 2000);
  assert.equal(bigTok.idToToken(1999), "<mask>");
  assert.deepEqual((await bigTok.encode("naïve café 😀 <mask>", null)).getIds().slice(0, -2), (await enc("naïve café 😀 <mask>")).getIds().slice(0, -2));
});

// ---------------------------------------------------------------------------------------------
// Graphs and an independent float64 forward pass (test/helpers/encoder-float64.ts)

/** Each head's outputs for one unpadded item, flattened; token-level ones cover its tokens (test/helpers/encoder-float64.ts). */
const reference = (spec: FixtureSpec, w: Weights, cfg: object, ids: number[]) => referenceForward(w, spec.family, spec.head, cfg, ids).outputs;

const int64 = (rows: number[][]) => new ort.Tensor("int64", BigInt64Array.from(rows.flat(), (v) => BigInt(v)), [rows.length, rows[0].length]);

async function encodeIds(folder: string, a: string, b?: string): Promise<number[]> {
  return (await tokenizers.Tokenizer.fromFile(join(folder, "tokenizer.json")).encode(a, b ?? null)).getIds();
}

/** Item `b`'s outputs from a batch, token-level ones cut to `tokens`. */
function itemOutputs(out: ort.InferenceSession.OnnxValueMapType, b: number, tokens: number): Record<string, number[]> {
  return Object.fromEntries(Object.entries(out).map(([name, t]) => {
    const per = t.dims.slice(1).reduce((x, y) => x * y, 1);
    const rows = Array.from((t.data as Float32Array).slice(b * per, (b + 1) * per));
    return [name, t.dims.length >= 2 && name !== "pooler_output" && (t.dims.length === 3 || name.endsWith("_logits")) ? rows.slice(0, (per / t.dims[1]) * tokens) : rows];
  }));
}

test("graphs: only input_ids and attention_mask, the listed outputs, HF parameter names", async () => {
  for (const spec of NEW_SPECS) {
    const model = decodeModel(await readFile(join(dirA, spec.name, "model.onnx")));
    assert.deepEqual(model.graph.input.map((i) => [i.name, valueInfoDims(i)]), [
      ["input_ids", ["batch_size", "sequence_length"]],
      ["attention_mask", ["batch_size", "sequence_length"]],
    ], spec.name);
    const outputs = model.graph.output.map((o) => o.name);
    const want = { base: spec.family === "roberta" ? ["last_hidden_state", "pooler_output"] : ["last_hidden_state"], "sequence-classification": ["logits"], "token-classification": ["logits"], "question-answering": ["start_logits", "end_logits"] };
    assert.deepEqual(outputs, want[spec.head], spec.name);
    const names = new Set(model.graph.initializer.map((t) => t.name));
    const expected = spec.family === "roberta"
      ? ["roberta.embeddings.word_embeddings.weight", "roberta.embeddings.token_type_embeddings.weight", "roberta.encoder.layer.1.attention.self.query.weight", "roberta.encoder.layer.1.output.LayerNorm.bias"]
      : ["distilbert.embeddings.position_embeddings.weight", "distilbert.transformer.layer.1.attention.q_lin.weight", "distilbert.transformer.layer.1.sa_layer_norm.weight", "distilbert.transformer.layer.1.ffn.lin2.bias", "distilbert.transformer.layer.1.output_layer_norm.weight"];
    for (const n of expected) assert.ok(names.has(n), `${spec.name} has ${n}`);
    if (spec.family === "roberta") {
      const positions = model.graph.initializer.find((t) => t.name === "roberta.embeddings.position_embeddings.weight")!;
      assert.deepEqual(positions.dims.map(Number), [130, 32], "max_len + 2 rows");
      assert.deepEqual(model.graph.initializer.find((t) => t.name === "roberta.embeddings.token_type_embeddings.weight")!.dims.map(Number), [1, 32]);
    }
    if (spec.head === "sequence-classification") {
      const head = spec.family === "roberta" ? ["classifier.dense.weight", "classifier.out_proj.weight"] : ["pre_classifier.weight", "classifier.weight"];
      for (const n of head) assert.ok(names.has(n), `${spec.name} has ${n}`);
    }
  }
});

test("ONNX Runtime equals the float64 RoBERTa / DistilBERT definitions to 1e-4 on a padded batch, every head", async (t) => {
  let worst = 0;
  for (const spec of NEW_SPECS) {
    const folder = join(dirA, spec.name);
    const cfg = await readJson(folder, "config.json");
    const pad = cfg.pad_token_id as number;
    const items = [await encodeIds(folder, "where is the café?", "The cat sat on the mat... 😀"), await encodeIds(folder, "hello world")];
    const length = Math.max(...items.map((i) => i.length));
    const padded = (row: number[], v: number) => [...row, ...new Array(length - row.length).fill(v)];
    const feeds = { input_ids: int64(items.map((i) => padded(i, pad))), attention_mask: int64(items.map((i) => padded(i.map(() => 1), 0))) };
    const w = readWeights(decodeModel(await readFile(join(folder, "model.onnx"))));
    for (const level of ["all", "disabled"] as const) {
      const out = await (await ort.InferenceSession.create(join(folder, "model.onnx"), { graphOptimizationLevel: level })).run(feeds);
      items.forEach((ids, b) => {
        const want = reference(spec, w, cfg, ids);
        const got = itemOutputs(out, b, ids.length);
        assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort());
        for (const [name, values] of Object.entries(want)) {
          assert.equal(got[name].length, values.length, `${spec.name} ${name}`);
          values.forEach((v, i) => {
            const d = Math.abs(got[name][i] - v);
            worst = Math.max(worst, d);
            assert.ok(d <= 1e-4, `${spec.name} ${level} ${name}[${i}] item ${b}: ${got[name][i]} vs ${v}`);
          });
        }
      });
    }
  }
  t.diagnostic(`largest |ORT - float64| = ${worst.toExponential(2)}`);
});

test("RoBERTa positions come from input_ids: a pad id inside the mask shifts what follows; outside it, nothing", async () => {
  const folder = join(dirA, "roberta-tiny-base");
  const session = await ort.InferenceSession.create(join(folder, "model.onnx"));
  const ids = await encodeIds(folder, "John lives in Paris");
  const run = async (rows: number[][], masks: number[][]) => session.run({ input_ids: int64(rows), attention_mask: int64(masks) });
  const alone = await run([ids], [ids.map(() => 1)]);
  // the same item after a longer one, padded with <pad> (1): identical (the padding is masked and gets position padding_idx)
  const long = [...ids, ...ids];
  const both = await run([long, [...ids, ...ids.map(() => 1)]], [long.map(() => 1), [...ids.map(() => 1), ...ids.map(() => 0)]]);
  const a = itemOutputs(alone, 0, ids.length).last_hidden_state, b = itemOutputs(both, 1, ids.length).last_hidden_state;
  assert.ok(a.every((v, i) => Math.abs(v - b[i]) < 1e-5), "padding never changes the real tokens");
  // HF counts positions over non-pad ids, not the mask: a <pad> id at position 2 (attended) moves the later tokens down one position
  const withPad = [ids[0], ids[1], 1, ...ids.slice(2)];
  const w = readWeights(decodeModel(await readFile(join(folder, "model.onnx"))));
  const cfg = await readJson(folder, "config.json");
  const got = itemOutputs(await run([withPad], [withPad.map(() => 1)]), 0, withPad.length).last_hidden_state;
  // reference: the float64 RoBERTa on withPad, whose positions count non-pad ids: [2, 3, 1, 4, 5, ...]
  assert.deepEqual(robertaPositionIds(withPad, 1).slice(0, 5), [2, 3, 1, 4, 5]);
  const hidden = encoderTrace(w, "roberta", cfg, withPad).hiddenStates;
  const x = hidden[hidden.length - 1];
  x.flat().forEach((v, i) => assert.ok(Math.abs(got[i] - v) < 1e-4, `[${i}] ${got[i]} vs ${v}`));
});

test("size.maxPositions is honoured: RoBERTa gets max_len + 2 position rows, DistilBERT max_len; the server reads max_len", async () => {
  const out = await tempDir("families-short-");
  const size = { ...SIZES.tiny, maxPositions: 16 };
  for (const family of ["roberta", "distilbert"] as const) {
    const folder = await writeFixture(out, { name: `${family}-short`, family, head: "base", size });
    const cfg = await readJson(folder, "config.json");
    assert.equal(cfg.max_position_embeddings, family === "roberta" ? 18 : 16);
    assert.equal((await readJson(folder, "tokenizer_config.json")).model_max_length, 16);
    assert.equal((await readModelFolder(folder)).maxLength, 16, "the server's token limit");
    const session = await ort.InferenceSession.create(join(folder, "model.onnx"));
    const ids = (n: number) => [Array.from({ length: n }, (_, i) => (i === 0 ? 0 : 100 + i))];
    const ok = await session.run({ input_ids: int64(ids(16)), attention_mask: int64([new Array(16).fill(1)]) });
    assert.deepEqual(ok.last_hidden_state.dims, [1, 16, 32]);
    await assert.rejects(session.run({ input_ids: int64(ids(17)), attention_mask: int64([new Array(17).fill(1)]) }), `${family}: 17 tokens exceed the table`);
  }
});
