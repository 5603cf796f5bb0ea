/**
 * The generated fixture models: deterministic bytes, real Hugging Face tokenizer files, ONNX
 * graphs that load and run in ONNX Runtime, and numerics equal to an independent float64 BERT
 * forward pass (test/helpers/encoder-float64.ts, written from the model's definition, reading the
 * weights back from the .onnx file).
 */
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import ort from "onnxruntime-node";
import tokenizers from "tokenizers";
import { writeFixtures, writeFixture, DEMO_FIXTURES, GENERATIVE_FIXTURES, SIZES, type FixtureHead } from "../../lib/fixtures/index.ts";
import { decodeModel, encodeModel, tensorInt64s, valueInfoDims, DataType } from "../../lib/onnx/graph-io.ts";
import { readWeights, referenceForward, type BertConfig, type Weights } from "../helpers/encoder-float64.ts";
import { useTempDirs } from "../helpers/temp-dirs.ts";

const TINY_VOCAB = 799;
const FILES = ["config.json", "model.onnx", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"];

let dirA: string;
let dirB: string;
const tempDir = useTempDirs();

before(async () => {
  dirA = await tempDir("fixtures-a-");
  dirB = await tempDir("fixtures-b-");
  await writeFixtures(dirA);
  await writeFixtures(dirB);
});

const readJson = async (...p: string[]) => JSON.parse(await readFile(join(...p), "utf8"));

// ---------------------------------------------------------------------------------------------
// 1. Determinism and folder contents

test("two builds give byte-identical folders with the Optimum layout", async () => {
  assert.deepEqual(DEMO_FIXTURES.map((s) => s.name), ["bert-tiny-base", "bert-tiny-sst", "bert-tiny-ner", "bert-tiny-qa"].concat(
    ...["roberta", "distilbert"].map((f) => ["base", "sst", "ner", "qa"].map((h) => `${f}-tiny-${h}`)),
  ));
  const generative = GENERATIVE_FIXTURES.map((f) => f.name);
  // …and the demo base model's AdapterHub adapters (test/unit/adapters-fixture.test.ts checks their bytes).
  assert.deepEqual((await readdir(dirA)).sort(), [...DEMO_FIXTURES.map((s) => s.name), ...generative, "bert-tiny-base-adapters"].sort());
  // The generation fixtures (their own tests check their layouts): every file byte-identical too.
  for (const folder of generative) {
    const files = (await readdir(join(dirA, folder))).sort();
    assert.deepEqual((await readdir(join(dirB, folder))).sort(), files, folder);
    for (const file of files) assert.ok((await readFile(join(dirA, folder, file))).equals(await readFile(join(dirB, folder, file))), `${folder}/${file} differs between builds`);
  }
  for (const folder of DEMO_FIXTURES.map((s) => s.name)) {
    assert.deepEqual((await readdir(join(dirA, folder))).sort(), FILES, folder);
    assert.deepEqual((await readdir(join(dirB, folder))).sort(), FILES, folder);
    for (const file of FILES) {
      const a = await readFile(join(dirA, folder, file));
      const b = await readFile(join(dirB, folder, file));
      assert.ok(a.length > 0 && a.equals(b), `${folder}/${file} differs between builds`);
    }
  }
});

test("config.json and the tokenizer configs describe the model", async () => {
  const expected: Record<string, { arch: string; labels?: string[] }> = {
    "bert-tiny-base": { arch: "BertModel" },
    "bert-tiny-sst": { arch: "BertForSequenceClassification", labels: ["negative", "neutral", "positive"] },
    "bert-tiny-ner": { arch: "BertForTokenClassification", labels: ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"] },
    "bert-tiny-qa": { arch: "BertForQuestionAnswering" },
  };
  for (const [name, { arch, labels }] of Object.entries(expected)) {
    const cfg = await readJson(dirA, name, "config.json");
    assert.deepEqual(cfg.architectures, [arch]);
    assert.equal(cfg.model_type, "bert");
    assert.deepEqual(
      [cfg.hidden_size, cfg.num_attention_heads, cfg.num_hidden_layers, cfg.intermediate_size, cfg.max_position_embeddings],
      [32, 4, 2, 64, 128],
    );
    assert.deepEqual([cfg.vocab_size, cfg.type_vocab_size, cfg.layer_norm_eps, cfg.pad_token_id, cfg.hidden_act], [TINY_VOCAB, 2, 1e-12, 0, "gelu"]);
    if (labels) {
      assert.deepEqual(cfg.id2label, Object.fromEntries(labels.map((l, i) => [String(i), l])));
      assert.deepEqual(cfg.label2id, Object.fromEntries(labels.map((l, i) => [l, i])));
    } else {
      assert.equal(cfg.id2label, undefined);
      assert.equal(cfg.label2id, undefined);
    }
    const tc = await readJson(dirA, name, "tokenizer_config.json");
    assert.deepEqual([tc.tokenizer_class, tc.do_lower_case, tc.model_max_length], ["BertTokenizer", true, 128]);
    assert.deepEqual(Object.values(tc.added_tokens_decoder).map((t) => (t as { content: string }).content), ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]);
    assert.deepEqual(await readJson(dirA, name, "special_tokens_map.json"), {
      cls_token: "[CLS]", mask_token: "[MASK]", pad_token: "[PAD]", sep_token: "[SEP]", unk_token: "[UNK]",
    });
  }
  // The vocabulary is written ordered by id (digits included, which plain JSON objects would reorder).
  const tj = await readJson(dirA, "bert-tiny-base", "tokenizer.json");
  const ids = Object.values(tj.model.vocab) as number[];
  assert.equal(ids.length, TINY_VOCAB);
  const text = await readFile(join(dirA, "bert-tiny-base", "tokenizer.json"), "utf8");
  const vocabText = text.slice(text.indexOf('"vocab": {'));
  const order = [...vocabText.matchAll(/^ {6}".*": (\d+),?$/gm)].map((m) => Number(m[1]));
  assert.deepEqual(order, Array.from({ length: TINY_VOCAB }, (_, i) => i));
});

// ---------------------------------------------------------------------------------------------
// 2. tokenizer.json with the Rust tokenizers library

test("tokenizer.json is a real WordPiece tokenizer for Hugging Face tokenizers", async () => {
  const path = join(dirA, "bert-tiny-base", "tokenizer.json");
  const tok = tokenizers.Tokenizer.fromFile(path);
  assert.equal(tok.getVocabSize(true), TINY_VOCAB);
  assert.deepEqual([0, 1, 2, 3, 4].map((i) => tok.idToToken(i)), ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]);

  // The library writes back exactly the file we wrote: no field is unknown, missing or defaulted.
  const resaved = join(await tempDir("tokenizer-resave-"), "tokenizer.json");
  tok.save(resaved, true);
  assert.equal(await readFile(resaved, "utf8"), await readFile(path, "utf8"));

  const tokens = async (text: string) => (await tok.encode(text)).getTokens();
  assert.deepEqual(await tokens("Hello, world!"), ["[CLS]", "hello", ",", "world", "!", "[SEP]"]);
  assert.deepEqual(await tokens("The quick brown fox jumps over the lazy dog."), [
    "[CLS]", "the", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog", ".", "[SEP]",
  ]);
  assert.deepEqual(await tokens("I walked to the river bank yesterday"), ["[CLS]", "i", "walk", "##ed", "to", "the", "river", "bank", "yesterday", "[SEP]"]);
  // Unknown-ish words split into ## pieces; a character outside the vocabulary makes the word [UNK].
  assert.deepEqual(await tokens("Tokenization is surprisingly unbelievable"), [
    "[CLS]", "token", "##ization", "is", "s", "##u", "##r", "##p", "##r", "##i", "##s", "##ing", "##ly",
    "un", "##b", "##e", "##l", "##i", "##e", "##v", "##able", "[SEP]",
  ]);
  assert.deepEqual(await tokens("cat 😀 dog"), ["[CLS]", "cat", "[UNK]", "dog", "[SEP]"]);

  const pair = await tok.encode("is it good?", "great movie");
  assert.deepEqual(pair.getTokens(), ["[CLS]", "is", "it", "good", "?", "[SEP]", "great", "movie", "[SEP]"]);
  assert.deepEqual(pair.getTypeIds(), [0, 0, 0, 0, 0, 0, 1, 1, 1]);
  assert.deepEqual(pair.getAttentionMask(), [1, 1, 1, 1, 1, 1, 1, 1, 1]);
  assert.deepEqual(pair.getIds().slice(0, 1).concat(pair.getIds().slice(-1)), [2, 3]);
});

test("offsets from the tokenizers binding are Unicode code point offsets (not bytes, not UTF-16)", async () => {
  const tok = tokenizers.Tokenizer.fromFile(join(dirA, "bert-tiny-base", "tokenizer.json"));
  // BertNormalizer lowercases and (strip_accents null + lowercase) strips accents: café -> cafe.
  const cafe = await tok.encode("café au lait");
  assert.deepEqual(cafe.getTokens(), ["[CLS]", "cafe", "a", "##u", "lait", "[SEP]"]);
  // Byte offsets would be [0,5] [6,7] [7,8] [9,13]: é is two UTF-8 bytes but one character.
  assert.deepEqual(cafe.getOffsets(), [[0, 0], [0, 4], [5, 6], [6, 7], [8, 12], [0, 0]]);
  // 😀 is one code point but two UTF-16 units: "dog" is at JS string index 7..10, code points 6..9.
  const emoji = await tok.encode("cat 😀 dog");
  assert.deepEqual(emoji.getOffsets(), [[0, 0], [0, 3], [4, 5], [6, 9], [0, 0]]);
  assert.equal([..."cat 😀 dog"].slice(6, 9).join(""), "dog");
});

// ---------------------------------------------------------------------------------------------
// The ONNX graphs

type Feeds = Record<string, ort.Tensor>;
const int64 = (rows: number[][]) => new ort.Tensor("int64", BigInt64Array.from(rows.flat(), (v) => BigInt(v)), [rows.length, rows[0].length]);
const feeds = (ids: number[][], masks: number[][], types: number[][]): Feeds => ({
  input_ids: int64(ids), attention_mask: int64(masks), token_type_ids: int64(types),
});
const floats = (t: ort.Tensor) => Array.from(t.data as Float32Array);

interface Item { ids: number[]; types: number[] }
/** Right-pads items into one batch; `padId` fills the padded input_ids (0 = [PAD]). */
function batch(items: Item[], padId = 0): { feeds: Feeds; length: number } {
  const length = Math.max(...items.map((i) => i.ids.length));
  const pad = (row: number[], v: number) => [...row, ...new Array(length - row.length).fill(v)];
  return {
    length,
    feeds: feeds(items.map((i) => pad(i.ids, padId)), items.map((i) => pad(i.ids.map(() => 1), 0)), items.map((i) => pad(i.types, 0))),
  };
}

async function tokenized(text: string, pair?: string): Promise<Item> {
  const tok = tokenizers.Tokenizer.fromFile(join(dirA, "bert-tiny-base", "tokenizer.json"));
  const e = await tok.encode(text, pair ?? null);
  return { ids: e.getIds(), types: e.getTypeIds() };
}

type Dim = number | string;
/** Each head's outputs and their dims for batch `b` and sequence length `s`. */
const HEAD_OUTPUTS: Record<string, (b: Dim, s: Dim) => Record<string, Dim[]>> = {
  "bert-tiny-base": (b, s) => ({ last_hidden_state: [b, s, 32], pooler_output: [b, 32] }),
  "bert-tiny-sst": (b) => ({ logits: [b, 3] }),
  "bert-tiny-ner": (b, s) => ({ logits: [b, s, 5] }),
  "bert-tiny-qa": (b, s) => ({ start_logits: [b, s], end_logits: [b, s] }),
};

test("model.onnx: opset 17 / IR 8, int64 inputs with symbolic dims, a plain Gather on input_ids, encode/decode round trip", async () => {
  for (const [name, shapes] of Object.entries(HEAD_OUTPUTS)) {
    const bytes = await readFile(join(dirA, name, "model.onnx"));
    const model = decodeModel(bytes);
    assert.equal(model.irVersion, 8);
    assert.deepEqual(model.opsetImport, [{ domain: "", version: 17 }], "default (ai.onnx) domain");
    assert.deepEqual(model.graph.input.map((i) => [i.name, i.type?.tensorType?.elemType, valueInfoDims(i)]), [
      ["input_ids", DataType.INT64, ["batch_size", "sequence_length"]],
      ["attention_mask", DataType.INT64, ["batch_size", "sequence_length"]],
      ["token_type_ids", DataType.INT64, ["batch_size", "sequence_length"]],
    ]);
    assert.deepEqual(Object.fromEntries(model.graph.output.map((o) => [o.name, valueInfoDims(o)])), shapes("batch_size", "sequence_length"));
    const gather = model.graph.node.filter((n) => n.opType === "Gather" && n.input[1] === "input_ids");
    assert.equal(gather.length, 1);
    assert.deepEqual(gather[0].input, ["embeddings.word_embeddings.weight", "input_ids"]);
    assert.deepEqual(gather[0].attribute, [], "no attributes: axis 0 by default");
    const table = model.graph.initializer.find((t) => t.name === "embeddings.word_embeddings.weight")!;
    assert.deepEqual(table.dims, [TINY_VOCAB, 32]);
    assert.equal(model.graph.node.filter((n) => n.opType === "LayerNormalization").length, 1 + 2 * 2);
    assert.equal(model.graph.node.filter((n) => n.opType === "Softmax").length, 2);
    // dynamic reshapes only: 0 copies batch and sequence dims, -1 infers
    const int64Init = (n: string) => Array.from(tensorInt64s(model.graph.initializer.find((t) => t.name === n)!), Number);
    const reshapes = new Set(model.graph.node.filter((n) => n.opType === "Reshape").map((n) => JSON.stringify(int64Init(n.input[1]))));
    assert.deepEqual([...reshapes].sort(), ["[0,0,-1]", "[0,0,4,8]"]);
    // re-encoding the decoded model gives the same bytes
    assert.ok(Buffer.from(encodeModel(model)).equals(bytes), `${name} round trip`);
  }
  // Heads never change the shared tensors: every encoder initializer is identical across models.
  const inits = async (name: string) =>
    new Map(decodeModel(await readFile(join(dirA, name, "model.onnx"))).graph.initializer.map((t) => [t.name!, Buffer.from(t.rawData!).toString("base64")]));
  const base = await inits("bert-tiny-base");
  for (const name of ["bert-tiny-sst", "bert-tiny-ner", "bert-tiny-qa"]) {
    const other = await inits(name);
    let shared = 0;
    for (const [k, v] of other) if (base.has(k) && !k.startsWith("const_")) (shared++, assert.equal(v, base.get(k), `${name} ${k}`));
    assert.ok(shared >= 5 + 2 * 16, `${name} shares ${shared} tensors`);
  }
});

// 3. ONNX Runtime: every head loads and runs on a padded batch of two

test("every head runs in ONNX Runtime on a padded batch of 2 with the listed output names and shapes", async () => {
  const items = [await tokenized("where is the cat?", "the cat sat on the mat."), await tokenized("hello world")];
  const { feeds: f, length } = batch(items);
  assert.deepEqual([length, items[1].ids.length], [15, 4]);
  for (const [name, shapes] of Object.entries(HEAD_OUTPUTS)) {
    const session = await ort.InferenceSession.create(join(dirA, name, "model.onnx"));
    assert.deepEqual(session.inputNames, ["input_ids", "attention_mask", "token_type_ids"]);
    assert.deepEqual(session.outputNames, Object.keys(shapes(2, length)));
    const out = await session.run(f);
    assert.deepEqual(Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.dims])), shapes(2, length), name);
    for (const v of Object.values(out)) {
      assert.equal(v.type, "float32");
      assert.ok(floats(v).every(Number.isFinite), `${name}: finite outputs`);
    }
  }
});

// ---------------------------------------------------------------------------------------------
// 4. An independent float64 BERT (test/helpers/encoder-float64.ts)

const HEADS: Record<string, FixtureHead> = {
  "bert-tiny-base": "base",
  "bert-tiny-sst": "sequence-classification",
  "bert-tiny-ner": "token-classification",
  "bert-tiny-qa": "question-answering",
};

/** The head outputs of one item, flattened per output, for its real tokens only (test/helpers/encoder-float64.ts). */
const reference = (name: string, w: Weights, cfg: BertConfig, item: Item) => referenceForward(w, "bert", HEADS[name], cfg, item.ids, item.types).outputs;

/** Outputs with a sequence axis (dim 1). */
const tokenLevel = (model: string, output: string) => output === "last_hidden_state" || output.endsWith("_logits") || model === "bert-tiny-ner";

/** Item `b`'s part of a batched output; token-level outputs are cut to its first `tokens` positions. */
function itemSlice(model: string, output: string, t: ort.Tensor, b: number, tokens: number): number[] {
  const per = t.dims.slice(1).reduce((a, c) => a * c, 1);
  const rows = floats(t).slice(b * per, (b + 1) * per);
  return tokenLevel(model, output) ? rows.slice(0, (per / t.dims[1]) * tokens) : rows;
}

function assertClose(got: number[], want: number[], tol: number, what: string): number {
  assert.equal(got.length, want.length, `${what}: length`);
  let worst = 0;
  got.forEach((v, i) => {
    const d = Math.abs(v - want[i]);
    worst = Math.max(worst, d);
    assert.ok(d <= tol, `${what}[${i}]: ${v} vs ${want[i]} (|d| = ${d})`);
  });
  return worst;
}

test("ONNX Runtime agrees with a float64 reference BERT to 1e-4 on every head (optimized and unoptimized graphs)", async (t) => {
  const items = [await tokenized("where is the cat?", "the cat sat on the mat."), await tokenized("hello world")];
  const { feeds: f } = batch(items);
  let worst = 0;
  for (const name of Object.keys(HEAD_OUTPUTS)) {
    const path = join(dirA, name, "model.onnx");
    const cfg = (await readJson(dirA, name, "config.json")) as BertConfig;
    const w = readWeights(decodeModel(await readFile(path)));
    const want = items.map((item) => reference(name, w, cfg, item));
    for (const level of ["all", "disabled"] as const) {
      const session = await ort.InferenceSession.create(path, { graphOptimizationLevel: level });
      const out = await session.run(f);
      for (const [o, tensor] of Object.entries(out)) {
        items.forEach((item, b) => {
          worst = Math.max(worst, assertClose(itemSlice(name, o, tensor, b, item.ids.length), want[b][o], 1e-4, `${name} ${level} ${o} item ${b}`));
        });
      }
    }
    // the outputs are not degenerate: items differ and values vary
    const out = await (await ort.InferenceSession.create(path)).run(f);
    for (const [o, tensor] of Object.entries(out)) {
      const a = itemSlice(name, o, tensor, 0, 1), b = itemSlice(name, o, tensor, 1, 1);
      assert.ok(a.some((v, i) => Math.abs(v - b[i]) > 1e-3), `${name}: output depends on the input`);
    }
  }
  t.diagnostic(`largest |ORT - float64| = ${worst.toExponential(2)}`);
});

// 5. Padding invariance

test("padding invariance: an item alone and padded in a batch give the same outputs on its real tokens (1e-6)", async (t) => {
  const short = await tokenized("hello world");
  const long = await tokenized("The quick brown fox jumps over the lazy dog.", "where is the cat?");
  let worst = 0;
  for (const name of Object.keys(HEAD_OUTPUTS)) {
    const session = await ort.InferenceSession.create(join(dirA, name, "model.onnx"));
    const alone = await session.run(batch([short]).feeds);
    for (const padId of [0, 123]) { // padded ids never matter, whatever they are
      const padded = batch([long, short], padId);
      const out = await session.run(padded.feeds);
      for (const [o, tensor] of Object.entries(out)) {
        const got = itemSlice(name, o, tensor, 1, short.ids.length);
        const want = itemSlice(name, o, alone[o], 0, short.ids.length);
        worst = Math.max(worst, assertClose(got, want, 1e-6, `${name} ${o} pad ${padId}`));
      }
    }
    // control: without the mask the padding positions do change the short item's outputs
    const unmasked = batch([long, short], 123).feeds;
    unmasked.attention_mask = int64([long.ids.map(() => 1), long.ids.map(() => 1)]);
    const out = await session.run(unmasked);
    for (const [o, tensor] of Object.entries(out)) {
      const got = itemSlice(name, o, tensor, 1, short.ids.length);
      const want = itemSlice(name, o, alone[o], 0, short.ids.length);
      assert.ok(got.some((v, i) => Math.abs(v - want[i]) > 1e-3), `${name} ${o}: attending to padding changes the result`);
    }
  }
  t.diagnostic(`largest |alone - padded| = ${worst.toExponential(2)}`);
});

// 6. The MiniLM-sized fixture

test("the MiniLM-sized fixture builds with vocab 30522 and runs", async (t) => {
  const out = await tempDir("fixtures-minilm-");
  const started = performance.now();
  const folder = await writeFixture(out, { name: "minilm-base", family: "bert", head: "base", size: SIZES.minilm });
  const buildMs = performance.now() - started;
  const cfg = await readJson(folder, "config.json");
  assert.deepEqual(
    [cfg.vocab_size, cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads, cfg.intermediate_size, cfg.max_position_embeddings],
    [30522, 384, 6, 12, 1536, 512],
  );
  assert.equal((await readJson(folder, "tokenizer_config.json")).model_max_length, 512);
  const tok = tokenizers.Tokenizer.fromFile(join(folder, "tokenizer.json"));
  assert.equal(tok.getVocabSize(true), 30522);
  assert.equal(tok.idToToken(30521), `[unused${30521 - TINY_VOCAB}]`);
  // padding the vocabulary never changes how text tokenizes
  const text = "Tokenization is surprisingly unbelievable, said Mary in Paris.";
  const tiny = tokenizers.Tokenizer.fromFile(join(dirA, "bert-tiny-base", "tokenizer.json"));
  assert.deepEqual((await tok.encode(text)).getIds(), (await tiny.encode(text)).getIds());

  const session = await ort.InferenceSession.create(join(folder, "model.onnx"));
  const item = await tokenized("hello world, this is a longer test sentence");
  const res = await session.run(batch([item, { ids: [2, 30000, 3], types: [0, 0, 0] }]).feeds);
  assert.deepEqual(res.last_hidden_state.dims, [2, item.ids.length, 384]);
  assert.deepEqual(res.pooler_output.dims, [2, 384]);
  assert.ok(floats(res.pooler_output).every((v) => Number.isFinite(v) && Math.abs(v) <= 1));
  t.diagnostic(`minilm fixture (vocab 30522, 6 x 384) built in ${buildMs.toFixed(0)} ms`);
});
