/**
 * The GPT-2 fixture (lib/fixtures/gpt2-fixture.ts) in both Optimum decoder-only layouts: file
 * names, graph inputs and outputs, deterministic bytes, the tokenizer, KV-cache correctness
 * (cached steps equal full re-runs for a left-padded batch), equal logits across layouts, and
 * ONNX Runtime against the float64 PyTorch golden (tools/goldens/generation_decoder.py): the
 * prefill logits, and greedy decoding with the cache giving the golden's token ids.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import tokenizers from "tokenizers";
import { decodeModel, valueInfoDims, DataType, type GraphProto, type ModelProto } from "../../lib/onnx/graph-io.ts";
import { writeGpt2Fixture, EOS_ROW_SCALE } from "../../lib/fixtures/gpt2-fixture.ts";
import { gpt2Bpe, ENDOFTEXT } from "../../lib/fixtures/gpt2-tokenizer.ts";
import { useTempDirs } from "../helpers/temp-dirs.ts";
import { sha256File } from "../helpers/goldens.ts";
import {
  Gpt2Runner, greedyWithCache, beamWithCache, loadGpt2Golden, logitsAt, argmax, GPT2_REGENERATE_COMMAND, type StepGraphs,
} from "../helpers/gpt2-decoder.ts";

const tempDir = useTempDirs();
let single = "";
let legacy = "";
const runners: Gpt2Runner[] = [];
const open = async (folder: string, graphs: StepGraphs) => {
  const r = await Gpt2Runner.open(folder, graphs);
  runners.push(r);
  return r;
};

before(async () => {
  const root = await tempDir("gpt2-fixture-");
  single = await writeGpt2Fixture(join(root, "gpt2-tiny"), { layout: "single" });
  legacy = await writeGpt2Fixture(join(root, "gpt2-tiny-legacy"), { layout: "legacy" });
});
after(async () => {
  for (const r of runners) await r.close();
});

const VOCAB = gpt2Bpe().vocab.length;
const EOS = VOCAB - 1;
const JSON_FILES = ["config.json", "generation_config.json", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"];
const load = async (folder: string, file: string): Promise<ModelProto> => decodeModel(await readFile(join(folder, file)));
const readJson = async (folder: string, file: string) => JSON.parse(await readFile(join(folder, file), "utf8"));
type Io = [string, number, (string | number | null)[]];
const io = (list: GraphProto["input"]): Io[] => list.map((v) => [v.name, v.type!.tensorType!.elemType, valueInfoDims(v)!]);

const PAST = ["0.key", "0.value", "1.key", "1.value"];
const TOTAL = "past_sequence_length + sequence_length";
const pastInputs: Io[] = PAST.map((p) => [`past_key_values.${p}`, DataType.FLOAT, ["batch_size", 4, "past_sequence_length", 8]]);
const outputs = (seq: string): Io[] => [["logits", DataType.FLOAT, ["batch_size", "sequence_length", VOCAB]], ...PAST.map((p): Io => [`present.${p}`, DataType.FLOAT, ["batch_size", 4, seq, 8]])];

test("the single layout is model.onnx with Optimum >= 1.14's inputs and outputs", async () => {
  assert.deepEqual((await readdir(single)).sort(), [...JSON_FILES, "model.onnx"].sort());
  const g = (await load(single, "model.onnx")).graph;
  assert.deepEqual(io(g.input), [
    ["input_ids", DataType.INT64, ["batch_size", "sequence_length"]],
    ["attention_mask", DataType.INT64, ["batch_size", TOTAL]],
    ["position_ids", DataType.INT64, ["batch_size", "sequence_length"]],
    ...pastInputs,
  ]);
  assert.deepEqual(io(g.output), outputs(TOTAL));
  assert.ok(!g.node.some((n) => n.opType === "If"), "one plain graph");
});

test("the legacy layout is the trio decoder_model / decoder_with_past_model / decoder_model_merged, without position_ids", async () => {
  assert.deepEqual((await readdir(legacy)).sort(), [...JSON_FILES, "decoder_model.onnx", "decoder_model_merged.onnx", "decoder_with_past_model.onnx"].sort());
  const ids: Io = ["input_ids", DataType.INT64, ["batch_size", "sequence_length"]];
  const noPast = (await load(legacy, "decoder_model.onnx")).graph;
  assert.deepEqual(io(noPast.input), [ids, ["attention_mask", DataType.INT64, ["batch_size", "sequence_length"]]]);
  assert.deepEqual(io(noPast.output), outputs("sequence_length"));
  const withPast = (await load(legacy, "decoder_with_past_model.onnx")).graph;
  assert.deepEqual(io(withPast.input), [ids, ["attention_mask", DataType.INT64, ["batch_size", TOTAL]], ...pastInputs]);
  assert.deepEqual(io(withPast.output), outputs(TOTAL));

  const merged = (await load(legacy, "decoder_model_merged.onnx")).graph;
  assert.deepEqual(io(merged.input), [
    ids, ["attention_mask", DataType.INT64, ["batch_size", "attention_mask_sequence_length"]], ...pastInputs, ["use_cache_branch", DataType.BOOL, [1]],
  ]);
  assert.deepEqual(io(merged.output), outputs("sequence_length"));
  assert.equal(merged.node.length, 1);
  const [ifNode] = merged.node;
  assert.equal(ifNode.opType, "If");
  assert.equal(ifNode.name, "optimum::if");
  assert.deepEqual(ifNode.input, ["use_cache_branch"]);
  const branch = (name: string) => ifNode.attribute!.find((a) => a.name === name)!.g!;
  assert.equal(branch("then_branch").name, "with_past");
  assert.equal(branch("else_branch").name, "no_past");
  for (const b of [branch("then_branch"), branch("else_branch")]) {
    assert.equal(b.input.length, 0, "branches read outer values by name");
    assert.deepEqual(b.output.map((o) => o.name), ifNode.output);
    assert.ok(b.initializer.every((t) => t.dims.length <= 1), "only scalars and 1-D constants stay in a branch");
  }
  assert.ok(merged.initializer.some((t) => t.name === "transformer.wte.weight"), "shared weights live in the outer graph");
  // same weights as the single layout
  const weights = new Map((await load(single, "model.onnx")).graph.initializer.map((t) => [t.name, t]));
  for (const t of merged.initializer) assert.deepEqual(t.rawData, weights.get(t.name!)?.rawData, t.name);
});

test("config, generation config and tokenizer files say GPT-2 with <|endoftext|> as bos, eos and pad", async () => {
  for (const folder of [single, legacy]) {
    const config = await readJson(folder, "config.json");
    assert.equal(config.model_type, "gpt2");
    assert.deepEqual([config.n_layer, config.n_head, config.n_embd, config.n_positions, config.vocab_size], [2, 4, 32, 128, VOCAB]);
    assert.deepEqual([config.bos_token_id, config.eos_token_id, config.activation_function], [EOS, EOS, "gelu_new"]);
    assert.deepEqual(await readJson(folder, "generation_config.json"), { _from_model_config: true, bos_token_id: EOS, eos_token_id: EOS, pad_token_id: EOS });
    const tc = await readJson(folder, "tokenizer_config.json");
    assert.deepEqual([tc.bos_token, tc.eos_token, tc.pad_token, tc.tokenizer_class], [ENDOFTEXT, ENDOFTEXT, ENDOFTEXT, "GPT2Tokenizer"]);
    const tj = await readJson(folder, "tokenizer.json");
    assert.equal(tj.model.vocab[ENDOFTEXT], EOS);
    assert.equal(tj.model.vocab["!"], 0, "GPT-2's byte order: '!' is id 0");
  }
  assert.equal(EOS_ROW_SCALE, 4);
});

test("the same bytes on every run, for every file of both layouts", async () => {
  const root = await tempDir("gpt2-fixture-again-");
  for (const [folder, layout] of [[single, "single"], [legacy, "legacy"]] as const) {
    const again = await writeGpt2Fixture(join(root, layout), { layout });
    const files = (await readdir(folder)).sort();
    assert.deepEqual((await readdir(again)).sort(), files);
    for (const f of files) assert.equal(await sha256File(join(again, f)), await sha256File(join(folder, f)), `${layout}/${f}`);
  }
});

test("the tokenizers library loads tokenizer.json, encodes the golden prompts to the reference ids and round-trips text", async () => {
  const tok = tokenizers.Tokenizer.fromFile(join(single, "tokenizer.json"));
  const golden = await loadGpt2Golden();
  for (const c of golden.cases) {
    for (const [i, prompt] of c.prompts.entries()) assert.deepEqual((await tok.encode(prompt)).getIds(), c.prompt_ids[i], prompt);
  }
  const texts = ["hello world", "John lives in Paris with Mary.", "naïve café,  résumé:   42 items\n\ttabs", "emoji 😀 and 中文 and ‽", "  leading and trailing  "];
  for (const text of texts) {
    const ids = (await tok.encode(text)).getIds();
    assert.ok(ids.length > 0 && !ids.includes(EOS), "no special token added");
    assert.equal(await tok.decode(ids, false), text);
  }
  assert.equal((await tok.encode(" Paris")).getIds().length, 1, "merges make common words single tokens");
  assert.deepEqual((await tok.encode(`the end${ENDOFTEXT}`)).getIds().at(-1), EOS, "<|endoftext|> is one special token");
  assert.equal(await tok.decode([...(await tok.encode("the end")).getIds(), EOS], true), "the end");
});

/** A batch of two left-padded prompts of different lengths, then `steps` greedy tokens with the cache. */
const PROMPTS = [[212, 95, 300, 17, 448, 73, 521], [64, 402, 9]];
const padded = () => {
  const width = Math.max(...PROMPTS.map((p) => p.length));
  return {
    ids: PROMPTS.map((p) => [...Array(width - p.length).fill(EOS), ...p]),
    mask: PROMPTS.map((p) => [...Array(width - p.length).fill(0), ...p.map(() => 1)]),
  };
};

let maxCacheDiff = 0;
for (const graphs of ["single", "legacy-merged", "legacy-split"] as const) {
  test(`${graphs}: the logits of every cached step equal a full re-run without the cache (left-padded batch of 2), to 1e-4`, async () => {
    const runner = await open(graphs === "single" ? single : legacy, graphs);
    const { ids, mask } = padded();
    const { sequences, steps } = await greedyWithCache(runner, ids, mask, 10, -1, EOS); // eos -1: never stop early
    assert.equal(steps.length, 10);
    let worst = 0;
    for (let t = 1; t < steps.length; t++) {
      const len = ids[0].length + t;
      const fullMask = mask.map((r) => [...r, ...Array(t).fill(1)]);
      const full = await runner.step(sequences.map((r) => r.slice(0, len)), fullMask);
      for (let b = 0; b < ids.length; b++) {
        const ref = logitsAt(full.logits, b, len - 1);
        steps[t][b].forEach((v, i) => (worst = Math.max(worst, Math.abs(v - ref[i]))));
      }
    }
    assert.ok(worst < 1e-4, `max |cached - full| = ${worst}`);
    maxCacheDiff = Math.max(maxCacheDiff, worst);
    console.log(`# ${graphs}: max |cached - full re-run| logit difference over 9 steps: ${worst.toExponential(2)}`);
  });
}

test("single and legacy layouts give equal logits (same position ids); legacy's arange positions differ on left-padded rows", async () => {
  const one = await open(single, "single");
  const merged = await open(legacy, "legacy-merged");
  const split = await open(legacy, "legacy-split");
  const { ids, mask } = padded();
  const arange = ids.map((r) => r.map((_, i) => i));
  const ref = await one.step(ids, mask, undefined, arange);
  for (const other of [merged, split]) {
    const theirs = await other.step(ids, mask);
    const diff = Math.max(...(theirs.logits.data as Float32Array).map((v, i) => Math.abs(v - (ref.logits.data as Float32Array)[i])));
    assert.ok(diff < 1e-5, `max diff ${diff}`);
    for (const name of Object.keys(ref.cache)) assert.deepEqual(theirs.cache[name].dims, ref.cache[name].dims, name);
  }
  // unpadded prompts: positions from the mask are 0..S-1, so all layouts agree on their own
  const unpadded = await one.step([PROMPTS[0]], [PROMPTS[0].map(() => 1)]);
  const legacyUnpadded = await merged.step([PROMPTS[0]], [PROMPTS[0].map(() => 1)]);
  assert.deepEqual(Array.from(legacyUnpadded.logits.data as Float32Array).map((v) => Math.round(v * 1e4)), Array.from(unpadded.logits.data as Float32Array).map((v) => Math.round(v * 1e4)));
  // the pitfall real legacy exports have: the padded row is shifted by its pad count
  const fromMask = await one.step(ids, mask);
  const row = 1;
  const last = ids[0].length - 1;
  const shifted = Math.max(...logitsAt(fromMask.logits, row, last).map((v, i) => Math.abs(v - logitsAt(ref.logits, row, last)[i])));
  assert.ok(shifted > 1e-2, "legacy (arange) positions differ from mask positions on a left-padded row");
  assert.deepEqual(Array.from(logitsAt(fromMask.logits, 0, last)), Array.from(logitsAt(ref.logits, 0, last)), "the unpadded row agrees");
});

test("ONNX Runtime matches the float64 PyTorch golden: prefill logits to 1e-4, and greedy decoding with the cache gives its token ids", async () => {
  const golden = await loadGpt2Golden();
  assert.equal(await sha256File(join(single, "model.onnx")), golden.model_sha256,
    `the fixture generator changed since the generation golden was written: rerun \`${GPT2_REGENERATE_COMMAND}\` and review the diff`);
  assert.equal(golden.eos_token_id, EOS);
  const runner = await open(single, "single");
  for (const c of golden.cases) {
    const { logits } = await runner.step(c.input_ids, c.attention_mask);
    const S = c.input_ids[0].length;
    const [, V] = c.prefill_last_logits.shape;
    c.input_ids.forEach((_, b) => logitsAt(logits, b, S - 1).forEach((v, i) => {
      const expected = c.prefill_last_logits.data[b * V + i];
      assert.ok(Math.abs(v - expected) <= 1e-4 + 1e-4 * Math.abs(expected), `${c.name}[${b}][${i}]: ${v} vs ${expected}`);
    }));
    assert.ok(c.min_decision_margin > 1e-4, `${c.name}: the golden's decisions are far from ties (${c.min_decision_margin})`);
    if ((c.options.num_beams ?? 1) > 1 || c.options.repetition_penalty || c.options.no_repeat_ngram_size || c.options.min_new_tokens) continue;
    const { sequences } = await greedyWithCache(runner, c.input_ids, c.attention_mask, c.options.max_new_tokens, golden.eos_token_id, golden.pad_token_id);
    const width = Math.max(...sequences.map((r) => r.length));
    assert.deepEqual(sequences.map((r) => [...r, ...Array(width - r.length).fill(golden.pad_token_id)]), c.sequences, c.name);
  }
  const cases = golden.cases.map((c) => c.name);
  for (const name of ["greedy-single", "greedy-batch", "beam4-batch", "beam4-early-true", "beam3-lp2"]) assert.ok(cases.includes(name), name);
  assert.ok(golden.cases.some((c) => c.finished_by_eos.some(Boolean) && c.finished_by_eos.some((f) => !f)), "some rows end by eos, others by max_new_tokens");
  assert.ok(golden.cases.some((c) => (c.options.num_beams ?? 1) > 1 && c.finished_by_eos.some(Boolean)), "some beams finish by eos");
  assert.equal(argmax([1, 3, 3]), 1, "first index on ties, like torch.argmax");
});

test("beam search on ONNX Runtime with the KV cache reordered by beam gives the golden's hypotheses and scores (cases without processors)", async () => {
  const golden = await loadGpt2Golden();
  const runner = await open(single, "single");
  const cases = golden.cases.filter((c) => (c.options.num_beams ?? 1) > 1 && !c.options.repetition_penalty && !c.options.no_repeat_ngram_size && !c.options.min_new_tokens);
  assert.ok(cases.length >= 4);
  for (const c of cases) {
    const { generated, scores } = await beamWithCache(runner, c.input_ids, c.attention_mask, {
      numBeams: c.options.num_beams!, maxNew: c.options.max_new_tokens, lengthPenalty: c.options.length_penalty ?? 1,
      earlyStopping: c.options.early_stopping ?? false, numReturn: c.options.num_return_sequences ?? 1, eos: golden.eos_token_id,
    });
    assert.deepEqual(generated, c.generated_ids, c.name);
    scores.forEach((s, i) => assert.ok(Math.abs(s - c.sequences_scores![i]) < 1e-4, `${c.name}[${i}]: ${s} vs ${c.sequences_scores![i]}`));
  }
});
