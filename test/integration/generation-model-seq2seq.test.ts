/**
 * GenerationModel on ONNX Runtime for the encoder-decoder layouts Optimum writes: T5 with the
 * merged decoder (use_cache_branch; its encoder presents are empty on the cache branch, so the
 * first step's cross-attention cache is kept) and with the split pair under onnx/, BART with all
 * three decoders under onnx/ (the merged one is preferred) and with the split pair (its
 * decoder_with_past declares no encoder_hidden_states, so it is not fed). Greedy and beam search through `encode` + `step` give the golden
 * tokens (test/goldens/generation/{t5,bart}-tiny.json), one request or concurrent requests
 * sharing batches; a cached step equals a first step over the whole decoder sequence.
 */
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import { copyFile } from "node:fs/promises";
import { join } from "node:path";
import { writeBartFixture, writeT5Fixture } from "../../lib/fixtures/seq2seq-fixture.ts";
import { ModelRuntime } from "../../lib/model/runtime.ts";
import { withModelDefaults } from "../../lib/config/model-settings.ts";
import type { BatchWork } from "../../lib/model/batch-work.ts";
import type { GenerationEngine } from "../../lib/model/generation-engine.ts";
import type { EncoderState } from "../../lib/inference/generation.ts";
import { loadSeq2SeqGolden, type Seq2SeqGolden } from "../helpers/seq2seq-decoder.ts";
import { useTempDirs } from "../helpers/temp-dirs.ts";
import { generate, optionsFor, maxDiff } from "../helpers/generation-driver.ts";
import { idsSequence } from "../helpers/fake-backend.ts";

const tempDir = useTempDirs();
const LAYOUTS = [
  { id: "t5-merged", family: "t5", layout: "merged", subfolder: "", expect: "seq2seq-merged", vocab: 682 },
  { id: "t5-split", family: "t5", layout: "split", subfolder: "onnx", expect: "seq2seq-split", vocab: 682 },
  { id: "bart-all", family: "bart", layout: "all", subfolder: "onnx", expect: "seq2seq-merged", vocab: 861 },
  { id: "bart-split", family: "bart", layout: "split", subfolder: "", expect: "seq2seq-split", vocab: 861 },
] as const;
type Entry = (typeof LAYOUTS)[number];

const goldens = {} as Record<"t5" | "bart", Seq2SeqGolden>;
const folders = new Map<string, string>();
const runtimes = new Map<string, ModelRuntime>();
const batches = new Map<string, { group: string; pasts: number[]; encoders: number[] }[]>();

before(async () => {
  goldens.t5 = await loadSeq2SeqGolden("t5-tiny");
  goldens.bart = await loadSeq2SeqGolden("bart-tiny");
  const root = await tempDir("gen-seq2seq-");
  for (const e of LAYOUTS) {
    const write = e.family === "t5" ? writeT5Fixture : writeBartFixture;
    folders.set(e.id, await write(join(root, e.id), { layout: e.layout, subfolder: e.subfolder }));
  }
});

after(async () => {
  for (const r of runtimes.values()) await r.close();
});

async function runtime(e: Entry): Promise<ModelRuntime> {
  let r = runtimes.get(e.id);
  if (!r) {
    r = await ModelRuntime.load(withModelDefaults({ id: e.id, path: folders.get(e.id)!, batch_size: 16, batch_wait_ms: 3, intra_op_threads: 1 }), { kind: "cpu", id: 0 });
    runtimes.set(e.id, r);
    const engine = r.generation!;
    const run = engine.runBatch.bind(engine);
    const seen: { group: string; pasts: number[]; encoders: number[] }[] = [];
    batches.set(e.id, seen);
    engine.runBatch = (work: readonly BatchWork[]) => {
      const items = work.flatMap((w) => (w.kind === "generate" ? [w] : []));
      if (items.length) seen.push({ group: items[0].group, pasts: items.map((w) => w.item.cache?.length ?? 0), encoders: items.map((w) => w.item.encoder!.length) });
      return run(work);
    };
  }
  return r;
}

/** The golden input's prompts, unpadded. */
const promptsOf = (g: Seq2SeqGolden, input: string): number[][] => g.inputs[input].input_ids.map((row, b) => row.filter((_, j) => g.inputs[input].attention_mask[b][j] === 1));

/** HF's sequence without the decoder start token, cut after its first eos (the pads after it dropped). */
function generatedOf(g: Seq2SeqGolden, sequence: number[]): number[] {
  const gen = sequence.slice(1);
  const eos = gen.indexOf(g.generation_config.eos_token_id);
  return eos >= 0 ? gen.slice(0, eos + 1) : gen;
}

async function run(r: ModelRuntime, g: Seq2SeqGolden, options: Record<string, unknown>, prompts: number[][]) {
  const model = r.generation!;
  const states: EncoderState[] = await model.encode(prompts.map((ids: number[]) => idsSequence(ids)));
  const start = g.generation_config.decoder_start_token_id;
  return generate(model, optionsFor(model, options), states.map((encoder) => ({ tokens: [start], promptLength: 1, encoder })));
}

for (const e of LAYOUTS) {
  const g = () => goldens[e.family];

  test(`${e.id}: loads as an encoder-decoder generator (${e.expect})`, async () => {
    const r = await runtime(e);
    const model = r.generation as GenerationEngine;
    assert.equal(model.architecture, "encoder-decoder");
    assert.equal(model.layout.name, e.expect);
    assert.deepEqual(r.capabilities.tasks, ["generation"], "not an embedding model although the encoder emits last_hidden_state");
    const fwd = await r.forward([idsSequence(promptsOf(g(), "single")[0])]);
    assert.equal(fwd.items[0].logits.shape[0], e.vocab, "warm-up's forward pass: encoder, then the first decoder step");
    assert.equal(model.vocabSize, e.vocab);
    assert.equal(model.generationConfig.decoder_start_token_id, g().generation_config.decoder_start_token_id);
    assert.equal(model.maxPositions, e.family === "t5" ? 512 : 64, e.family === "t5" ? "T5: relative positions, config n_positions" : "BART: max_position_embeddings");
    // BART's decoder_with_past_model.onnx does not declare encoder_hidden_states (fed only where declared); the merged decoder does.
    assert.equal(model.layout.cached.encoderHiddenStates, !(e.family === "bart" && e.layout === "split"));
  });

  test(`${e.id}: greedy decoding gives the golden tokens, one request or concurrent requests sharing batches`, async (t) => {
    const r = await runtime(e);
    for (const c of g().cases.filter((c) => c.name.startsWith("greedy"))) {
      const results = await run(r, g(), c.options, promptsOf(g(), c.input));
      assert.deepEqual(results.map((res) => res.sequences[0].tokens), c.sequences.map((s) => generatedOf(g(), s)), `${c.name}, one request`);
    }
    const seen = batches.get(e.id)!;
    const from = seen.length;
    const before = { ...r.batcher.stats };
    const requests = g().cases.filter((c) => c.name.startsWith("greedy")).flatMap((c) => promptsOf(g(), c.input).map((p, i) => ({ prompt: p, options: c.options, want: generatedOf(g(), c.sequences[i]) })));
    const results = await Promise.all(requests.map((q) => run(r, g(), q.options, [q.prompt])));
    results.forEach((res, i) => assert.deepEqual(res[0].sequences[0].tokens, requests[i].want, `concurrent request ${i}`));
    const items = r.batcher.stats.items - before.items;
    const count = r.batcher.stats.batches - before.batches;
    assert.ok(count < items, `${items} rows and prompts of ${requests.length} concurrent requests ran in ${count} batches`);
    t.diagnostic(`${items} rows and prompts of ${requests.length} concurrent requests in ${count} batches`);
    const ran = seen.slice(from);
    for (const b of ran) assert.equal(new Set(b.pasts).size, 1, `a decoder batch holds equal decoder lengths (${b.group})`);
    assert.ok(ran.some((b) => new Set(b.encoders).size > 1), "rows of prompts with different encoder lengths shared a batch (encoder side right-padded)");
  });

  test(`${e.id}: beam search gives the golden hypotheses and scores (all cases concurrently)`, async () => {
    const r = await runtime(e);
    const cases = g().cases.filter((c) => c.options.num_beams);
    const outcomes = await Promise.all(cases.map((c) => run(r, g(), c.options, promptsOf(g(), c.input))));
    cases.forEach((c, k) => {
      const hyps = outcomes[k].flatMap((res) => res.sequences);
      assert.deepEqual(hyps.map((h) => h.tokens), c.sequences.map((s) => generatedOf(g(), s)), c.name);
      hyps.forEach((h, i) => assert.ok(Math.abs(h.score! - c.scores[i]) <= 1e-4 * Math.max(1, Math.abs(c.scores[i])), `${c.name} score ${i}: ${h.score} vs ${c.scores[i]}`));
    });
  });

  test(`${e.id}: cached steps equal a first step over the whole decoder sequence (1e-4); padded encoder batches equal lone prompts`, async (t) => {
    const r = await runtime(e);
    const model = r.generation!;
    const [long, short] = promptsOf(g(), "pair");
    const [el, es] = await model.encode([idsSequence(long), idsSequence(short)]);
    const [alone] = await model.encode([idsSequence(short)]);
    const start = g().generation_config.decoder_start_token_id;
    const [fl, fs, fa] = await model.step([{ tokens: [start], encoder: el }, { tokens: [start], encoder: es }, { tokens: [start], encoder: alone }]);
    assert.ok(maxDiff(fs.logits, fa.logits) <= 1e-4, "a prompt encoded and decoded next to a longer one equals it alone");
    const [l1, s1] = await model.step([{ tokens: [17], cache: fl.cache }, { tokens: [29], cache: fs.cache }]);
    const [l2, l2b] = await model.step([{ tokens: [5], cache: l1.cache }, { tokens: [6], cache: l1.cache }]);
    const full = await model.step([{ tokens: [start, 17], encoder: el }, { tokens: [start, 29], encoder: es }, { tokens: [start, 17, 5], encoder: el }, { tokens: [start, 17, 6], encoder: el }]);
    const diffs = [maxDiff(l1.logits, full[0].logits), maxDiff(s1.logits, full[1].logits), maxDiff(l2.logits, full[2].logits), maxDiff(l2b.logits, full[3].logits)];
    for (const d of diffs) assert.ok(d <= 1e-4, `cached vs full: ${diffs}`);
    t.diagnostic(`max |cached - full| logits: ${Math.max(...diffs).toExponential(2)}`);
    assert.equal(l2.cache.length, 3);
    // The golden forward pass: the encoder's hidden states of the first pair prompt.
    const want = g().forward.last_hidden_state;
    const dModel = want.shape[2];
    const hidden = (el as unknown as { hidden: Float32Array }).hidden;
    assert.ok(maxDiff(hidden, want.data.slice(0, long.length * dModel)) <= 1e-4, "encoder hidden states equal the float64 reference");
  });
}

test("an encoder-decoder folder whose merged decoder lacks use_cache_branch fails at load naming the file and the input", async () => {
  const dir = await tempDir("gen-broken-s2s-");
  await writeT5Fixture(dir, { layout: "all" });
  await copyFile(join(dir, "decoder_model.onnx"), join(dir, "decoder_model_merged.onnx"));
  await assert.rejects(
    ModelRuntime.load(withModelDefaults({ id: "broken", path: dir, intra_op_threads: 1 }), { kind: "cpu", id: 0 }),
    (err: Error) => /decoder_model_merged\.onnx is missing the input "use_cache_branch"/.test(err.message) || assert.fail(err.message),
  );
});
