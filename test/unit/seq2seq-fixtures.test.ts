/**
 * The T5- and BART-shaped encoder-decoder fixtures (lib/fixtures/seq2seq-fixture.ts): Optimum's
 * file names, input/output names and dtypes, the merged decoder's `If`, deterministic bytes, the
 * tokenizers, float64 PyTorch numerics (test/goldens/generation/{t5,bart}-tiny.json), and the KV
 * cache: logits of cached steps equal a full re-run without cache, in both decoder layouts.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import tokenizers from "tokenizers";
import { decodeModel, valueInfoDims, DataType, type ValueInfoProto } from "../../lib/onnx/graph-io.ts";
import { writeBartFixture, writeT5Fixture } from "../../lib/fixtures/seq2seq-fixture.ts";
import { useTempDirs } from "../helpers/temp-dirs.ts";
import { seq2seqFixture, type Seq2SeqFixture } from "../helpers/seq2seq-fixtures.ts";
import {
  greedyWithCache, loadSeq2SeqGolden, logitsAt, logSoftmax, Seq2SeqOrt, SEQ2SEQ_REGENERATE_COMMAND,
  type DecoderLayout, type Seq2SeqGolden, type Step,
} from "../helpers/seq2seq-decoder.ts";

const tempDir = useTempDirs();
const FIXTURES: Seq2SeqFixture[] = ["t5-tiny", "bart-tiny"];
const LAYOUTS: DecoderLayout[] = ["merged", "split"];
const folders: Record<string, string> = {};
const goldens: Record<string, Seq2SeqGolden> = {};
const models: Seq2SeqOrt[] = [];

before(async () => {
  for (const name of FIXTURES) {
    folders[name] = await seq2seqFixture(name);
    goldens[name] = await loadSeq2SeqGolden(name);
  }
});
after(async () => {
  for (const m of models) await m.release();
});

async function open(name: Seq2SeqFixture, layout: DecoderLayout): Promise<Seq2SeqOrt> {
  const m = await Seq2SeqOrt.open(folders[name], layout);
  models.push(m);
  return m;
}

const sha256 = async (path: string) => createHash("sha256").update(await readFile(path)).digest("hex");

function expectedNames(layers: number, withPast: boolean, encoderStates: boolean) {
  const inputs = ["encoder_attention_mask", "input_ids", ...(!withPast || encoderStates ? ["encoder_hidden_states"] : [])];
  const outputs = ["logits"];
  for (let i = 0; i < layers; i++) {
    if (withPast) inputs.push(...["decoder.key", "decoder.value", "encoder.key", "encoder.value"].map((s) => `past_key_values.${i}.${s}`));
    outputs.push(`present.${i}.decoder.key`, `present.${i}.decoder.value`);
    if (!withPast) outputs.push(`present.${i}.encoder.key`, `present.${i}.encoder.value`);
  }
  return { inputs, outputs };
}

test("each folder has Optimum's files, and each graph's inputs and outputs carry Optimum's exact names", async () => {
  for (const name of FIXTURES) {
    const dir = folders[name];
    assert.deepEqual((await readdir(dir)).sort(), [
      "config.json", "decoder_model.onnx", "decoder_model_merged.onnx", "decoder_with_past_model.onnx", "encoder_model.onnx",
      "generation_config.json", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json",
    ]);
    const enc = (await open(name, "merged")).encoder;
    assert.deepEqual([enc.inputNames, enc.outputNames], [["input_ids", "attention_mask"], ["last_hidden_state"]]);
    const noPast = expectedNames(2, false, true);
    // T5's with-past decoder still declares encoder_hidden_states; BART's export drops the unused input.
    const withPast = expectedNames(2, true, name === "t5-tiny");
    const split = await open(name, "split");
    assert.deepEqual([split.first.inputNames, split.first.outputNames], [noPast.inputs, noPast.outputs], `${name} decoder_model`);
    assert.deepEqual([split.cached.inputNames, split.cached.outputNames], [withPast.inputs, withPast.outputs], `${name} decoder_with_past_model`);
    const merged = (await open(name, "merged")).first;
    const union = expectedNames(2, true, true).inputs;
    assert.deepEqual([merged.inputNames, merged.outputNames], [[...union, "use_cache_branch"], noPast.outputs], `${name} decoder_model_merged`);
  }
});

test("dtypes and dims follow Optimum: int64 ids and masks, float pasts [batch_size, heads, seq, head_dim], bool[1] use_cache_branch, If optimum::if", async () => {
  for (const name of FIXTURES) {
    const model = decodeModel(await readFile(join(folders[name], "decoder_model_merged.onnx")));
    const info = (n: string) => model.graph.input.find((i) => i.name === n) as ValueInfoProto;
    const type = (n: string) => info(n).type!.tensorType!.elemType;
    assert.deepEqual(["encoder_attention_mask", "input_ids", "encoder_hidden_states", "past_key_values.1.decoder.value", "use_cache_branch"].map(type),
      [DataType.INT64, DataType.INT64, DataType.FLOAT, DataType.FLOAT, DataType.BOOL]);
    assert.deepEqual(valueInfoDims(info("use_cache_branch")), [1]);
    assert.deepEqual(valueInfoDims(info("input_ids")), ["batch_size", "decoder_sequence_length"]);
    assert.deepEqual(valueInfoDims(info("past_key_values.0.decoder.key")), ["batch_size", 4, "past_decoder_sequence_length", 8]);
    assert.deepEqual(valueInfoDims(info("past_key_values.0.encoder.key")), ["batch_size", 4, "encoder_sequence_length_out", 8]);
    assert.deepEqual(model.graph.node.map((n) => [n.opType, n.name]), [["If", "optimum::if"]]);
    const [then, otherwise] = ["then_branch", "else_branch"].map((a) => model.graph.node[0].attribute!.find((x) => x.name === a)!.g!);
    assert.deepEqual([then.name, otherwise.name, then.input.length, otherwise.input.length], ["with_past", "no_past", 0, 0]);
    const constants = then.node.filter((n) => n.opType === "Constant" && n.output[0].startsWith("present."));
    assert.deepEqual(constants.map((n) => n.output[0]), ["present.0.encoder.key", "present.0.encoder.value", "present.1.encoder.key", "present.1.encoder.value"]);
    assert.deepEqual(constants[0].attribute![0].t!.dims, [0, 4, 1, 8], "empty encoder presents on the cache branch");
  }
});

test("the fixtures are deterministic: two writes give identical bytes, layouts share their files, and the goldens were computed from these bytes", async () => {
  for (const [name, write] of [["t5-tiny", writeT5Fixture], ["bart-tiny", writeBartFixture]] as const) {
    const a = await write(join(await tempDir("s2s-a-"), name), { layout: "merged" });
    const b = await write(join(await tempDir("s2s-b-"), name), { layout: "split", subfolder: "onnx" });
    for (const file of await readdir(a)) {
      const other = file.endsWith(".onnx") ? join(b, "onnx", file) : join(b, file);
      if (file !== "decoder_model_merged.onnx") assert.equal(await sha256(join(a, file)), await sha256(other), `${name}/${file}`);
      assert.equal(await sha256(join(a, file)), await sha256(join(folders[name], file)), `${name}/${file} vs the "all" layout`);
    }
    for (const [file, digest] of Object.entries(goldens[name].model_sha256)) {
      assert.equal(await sha256(join(folders[name], file)), digest, `${name}/${file} changed: regenerate the goldens with ${SEQ2SEQ_REGENERATE_COMMAND}`);
    }
  }
});

test("the tokenizers library loads each tokenizer.json, encodes the golden texts to the independent Python tokenizer's ids and decodes them back", async () => {
  for (const name of FIXTURES) {
    const tok = tokenizers.Tokenizer.fromFile(join(folders[name], "tokenizer.json"));
    const golden = goldens[name];
    const pad = golden.generation_config.pad_token_id;
    for (const input of Object.values(golden.inputs)) {
      for (const [i, text] of input.texts.entries()) {
        const enc = await tok.encode(text);
        const want = input.input_ids[i].filter((_, k) => input.attention_mask[i][k] === 1);
        assert.deepEqual(enc.getIds(), want, `${name}: ${text}`);
        assert.equal(await tok.decode(enc.getIds(), true), text, `${name} round trip`);
        assert.ok(want.every((id) => id !== pad));
      }
    }
  }
  const t5 = tokenizers.Tokenizer.fromFile(join(folders["t5-tiny"], "tokenizer.json"));
  const enc = await t5.encode("the  cats sat, Zed");
  assert.deepEqual(enc.getTokens(), ["▁the", "▁cat", "s", "▁sat", ",", "▁", "Z", "ed", "</s>"], "Unigram/Metaspace: whole words, suffix pieces, characters");
  assert.deepEqual((await t5.encode("ü")).getIds(), [3, 2, 1], "an uncovered character is <unk> (id 2)");
  const bart = tokenizers.Tokenizer.fromFile(join(folders["bart-tiny"], "tokenizer.json"));
  const ids = (await bart.encode("hello world")).getIds();
  assert.deepEqual([ids[0], ids.at(-1)], [0, 2], "<s> ... </s> as BART");
});

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

test("encoder states and decoder logits (both layouts, no cache) equal the float64 PyTorch forward within 1e-4", async (t) => {
  for (const name of FIXTURES) {
    const { forward, inputs } = goldens[name];
    const input = inputs[forward.input];
    for (const layout of LAYOUTS) {
      const m = await open(name, layout);
      const enc = await m.encode(input.input_ids, input.attention_mask);
      assert.deepEqual(enc.dims, forward.last_hidden_state.shape);
      const encDiff = maxDiff(enc.data as Float32Array, forward.last_hidden_state.data);
      const step = await m.decode(forward.decoder_input_ids, enc, input.attention_mask);
      assert.deepEqual(step.dims, forward.logits.shape);
      const logitDiff = maxDiff(step.logits, forward.logits.data);
      t.diagnostic(`${name} ${layout}: max |diff| encoder ${encDiff.toExponential(2)}, logits ${logitDiff.toExponential(2)}`);
      assert.ok(encDiff <= 1e-4 && logitDiff <= 1e-4, `${name} ${layout}: ${encDiff} ${logitDiff}`);
      // 40 encoder / 30 decoder tokens: T5's position buckets past max_exact take their log branch.
      const long = goldens[name].forward_long;
      const ones = [long.input_ids[0].map(() => 1)];
      const longEnc = await m.encode(long.input_ids, ones);
      const longStep = await m.decode(long.decoder_input_ids, longEnc, ones);
      const longDiff = Math.max(maxDiff(longEnc.data as Float32Array, long.last_hidden_state.data),
        maxDiff(logitsAt(longStep, 0, long.decoder_input_ids[0].length - 1), long.last_logits.data));
      t.diagnostic(`${name} ${layout}: long sequences max |diff| ${longDiff.toExponential(2)}`);
      assert.ok(longDiff <= 1e-4, `${name} ${layout} long: ${longDiff}`);
    }
  }
});

/**
 * Feeds the decoder ids in chunks (the first chunk without past, the others with the cache) and
 * compares each chunk's logits with a full no-cache run on the same prefix.
 */
async function cachedAgainstFull(m: Seq2SeqOrt, ids: number[][], mask: number[][], decoder: number[][], chunks: number[]): Promise<{ diff: number; logits: Float32Array[] }> {
  const enc = await m.encode(ids, mask);
  let cache: Step["cache"] | undefined;
  let done = 0;
  let diff = 0;
  const logits: Float32Array[] = [];
  for (const size of chunks) {
    const step = await m.decode(decoder.map((r) => r.slice(done, done + size)), enc, mask, cache);
    cache = step.cache;
    done += size;
    const full = await m.decode(decoder.map((r) => r.slice(0, done)), enc, mask);
    for (let b = 0; b < decoder.length; b++) {
      for (let k = 0; k < size; k++) {
        const ours = logitsAt(step, b, k);
        diff = Math.max(diff, maxDiff(ours, logitsAt(full, b, done - size + k)));
        logits.push(ours);
      }
    }
    assert.equal(cache["past_key_values.0.decoder.key"].dims[2], done, "the self-attention cache grows by the chunk");
    assert.equal(cache["past_key_values.0.encoder.key"].dims[2], ids[0].length, "the cross-attention cache keeps the encoder length");
  }
  return { diff, logits };
}

test("KV cache: logits of every cached step equal a full re-run without cache (1e-4), batch of 2 right-padded inputs of different lengths; merged and split agree", async (t) => {
  for (const name of FIXTURES) {
    const golden = goldens[name];
    const input = golden.inputs.pair;
    assert.notEqual(input.attention_mask[0].indexOf(0) === -1, input.attention_mask[1].indexOf(0) === -1, "one row is padded");
    const decoder = golden.cases.find((c) => c.name === "greedy-batch")!.sequences;
    const length = decoder[0].length;
    const schedules = [Array.from({ length }, () => 1), [3, 1, 2, 1, length - 7]];
    const byLayout: Float32Array[][] = [];
    for (const layout of LAYOUTS) {
      const m = await open(name, layout);
      for (const chunks of schedules) {
        const { diff, logits } = await cachedAgainstFull(m, input.input_ids, input.attention_mask, decoder, chunks);
        t.diagnostic(`${name} ${layout} chunks [${chunks}]: max |cached - full| = ${diff.toExponential(2)} over ${length} positions x 2 rows`);
        assert.ok(diff <= 1e-4, `${name} ${layout}: ${diff}`);
        if (chunks.length === length) byLayout.push(logits);
      }
    }
    const split = byLayout[1];
    const mergedVsSplit = Math.max(...byLayout[0].map((l, i) => maxDiff(l, split[i])));
    t.diagnostic(`${name}: max |merged - split| = ${mergedVsSplit.toExponential(2)}`);
    assert.ok(mergedVsSplit <= 1e-5);
  }
});

test("greedy decoding on the graphs with the cache (both layouts) gives the PyTorch golden's sequences, batches included", async () => {
  for (const name of FIXTURES) {
    const golden = goldens[name];
    const cases = golden.cases.filter((c) => (c.options.num_beams ?? 1) === 1);
    assert.ok(cases.some((c) => golden.inputs[c.input].texts.length > 1));
    for (const layout of LAYOUTS) {
      const m = await open(name, layout);
      for (const c of cases) {
        const input = golden.inputs[c.input];
        assert.deepEqual(await greedyWithCache(m, golden, input.input_ids, input.attention_mask, c.options.max_new_tokens), c.sequences, `${name} ${layout} ${c.name}`);
      }
    }
  }
});

test("every golden beam's score equals its log-probability under the ONNX decoder divided by length ** length_penalty (1e-4), and some beams end with eos", async () => {
  for (const name of FIXTURES) {
    const golden = goldens[name];
    const gen = golden.generation_config;
    const m = await open(name, "merged");
    let finishedByEos = 0;
    for (const c of golden.cases.filter((x) => (x.options.num_beams ?? 1) > 1)) {
      const input = golden.inputs[c.input];
      const n = c.options.num_return_sequences ?? 1;
      const maxLength = 1 + c.options.max_new_tokens;
      for (const [r, seq] of c.sequences.entries()) {
        const row = Math.floor(r / n);
        const eosAt = seq.indexOf(gen.eos_token_id, 1);
        const end = eosAt < 0 ? seq.length : eosAt + 1;
        if (eosAt > 0 && eosAt < maxLength - 1) finishedByEos++;
        const enc = await m.encode([input.input_ids[row]], [input.attention_mask[row]]);
        const step = await m.decode([seq.slice(0, end - 1)], enc, [input.attention_mask[row]]);
        let sum = 0;
        for (let k = 1; k < end; k++) {
          const forced = (gen.forced_bos_token_id !== undefined && k === 1) || (gen.forced_eos_token_id !== undefined && k === maxLength - 1);
          if (!forced) sum += logSoftmax(logitsAt(step, 0, k - 1))[seq[k]];
        }
        const score = sum / (end - 1) ** (c.options.length_penalty ?? 1);
        assert.ok(Math.abs(score - c.scores[r]) <= 1e-4, `${name} ${c.name} row ${r}: ${score} vs ${c.scores[r]}`);
      }
    }
    assert.ok(finishedByEos > 0, `${name}: some beams finish with eos before max_length`);
  }
});
