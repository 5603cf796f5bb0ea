/**
 * GenerationModel on ONNX Runtime for the decoder-only layouts Optimum writes (GPT-2 fixture):
 * the single model.onnx (past_key_values + position_ids), the legacy merged decoder
 * (use_cache_branch, no position_ids) and the legacy pair decoder_model + decoder_with_past.
 * Greedy and beam search driven through `step` with lib/generation give the golden tokens
 * (test/goldens/generation/gpt2-tiny.json) whether prompts come in one request or as concurrent
 * requests whose rows share batches; a cached step equals a prefill of the whole sequence.
 */
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import { rm, copyFile, readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeGpt2Fixture } from "../../lib/fixtures/gpt2-fixture.ts";
import { ModelRuntime } from "../../lib/model/runtime.ts";
import { withModelDefaults } from "../../lib/config/model-settings.ts";
import type { BatchWork } from "../../lib/model/batch-work.ts";
import type { GenerationEngine } from "../../lib/model/generation-engine.ts";
import { loadGpt2Golden, type GenerationGolden } from "../helpers/gpt2-decoder.ts";
import { useTempDirs } from "../helpers/temp-dirs.ts";
import { generate, optionsFor, maxDiff } from "../helpers/generation-driver.ts";

const tempDir = useTempDirs();
const LAYOUTS = ["single", "legacy-merged", "legacy-split"] as const;
type Layout = (typeof LAYOUTS)[number];
const folders = {} as Record<Layout, string>;
const runtimes = new Map<Layout, ModelRuntime>();
let golden: GenerationGolden;

/** Every generation batch the runtime ran: its key group and each row's past length. */
const batches = new Map<Layout, { group: string; pasts: number[]; news: number[] }[]>();

before(async () => {
  golden = await loadGpt2Golden();
  const root = await tempDir("gen-decoder-");
  folders.single = await writeGpt2Fixture(join(root, "single"), { layout: "single" });
  folders["legacy-merged"] = await writeGpt2Fixture(join(root, "legacy"), { layout: "legacy" });
  folders["legacy-split"] = await writeGpt2Fixture(join(root, "split"), { layout: "legacy" });
  await rm(join(folders["legacy-split"], "decoder_model_merged.onnx"));
});

after(async () => {
  for (const r of runtimes.values()) await r.close();
});

async function runtime(layout: Layout): Promise<ModelRuntime> {
  let r = runtimes.get(layout);
  if (!r) {
    r = await ModelRuntime.load(withModelDefaults({ id: `gpt2-${layout}`, path: folders[layout], batch_size: 16, batch_wait_ms: 3, intra_op_threads: 1 }), { kind: "cpu", id: 0 });
    runtimes.set(layout, r);
    const engine = r.generation!;
    const run = engine.runBatch.bind(engine);
    const seen: { group: string; pasts: number[]; news: number[] }[] = [];
    batches.set(layout, seen);
    engine.runBatch = (work: readonly BatchWork[]) => {
      const items = work.flatMap((w) => (w.kind === "generate" ? [w] : []));
      if (items.length) seen.push({ group: items[0].group, pasts: items.map((w) => w.item.cache?.length ?? 0), news: items.map((w) => w.item.tokens.length) });
      return run(work);
    };
  }
  return r;
}

const caseNamed = (name: string) => golden.cases.find((c) => c.name === name)!;

for (const layout of LAYOUTS) {
  test(`${layout}: loads as a decoder-only generator with the folder's generation config`, async () => {
    const r = await runtime(layout);
    const g = r.generation as GenerationEngine;
    assert.ok(g, "generation is exposed");
    assert.equal(g.architecture, "decoder-only");
    assert.equal(g.layout.name, layout);
    assert.deepEqual(r.capabilities.tasks, ["generation"], "3-D logits of a decoder are not token classes");
    assert.deepEqual(r.facts.tasks, ["generation"]);
    assert.equal(g.vocabSize, 857);
    assert.equal(g.maxPositions, 128, "n_positions");
    assert.equal(g.generationConfig.eos_token_id, golden.eos_token_id);
    assert.equal(g.generationConfig.pad_token_id, golden.pad_token_id, "generation_config.json overlays config.json");
    assert.equal(g.layout.first.positionIds, layout === "single");
    // Warm-up's forward pass: the prompt's prefill logits.
    const [seq] = await r.tokenizer.encode(["warm up"], { maxLength: 32, truncation: "longest_first", addSpecialTokens: true });
    const fwd = await r.forward([seq]);
    assert.equal(fwd.items[0].logits.shape[0], 857);
  });

  test(`${layout}: greedy decoding gives the golden tokens, one request or concurrent requests sharing batches`, async (t) => {
    const r = await runtime(layout);
    const g = r.generation!;
    for (const name of ["greedy-single", "greedy-batch"]) {
      const c = caseNamed(name);
      const results = await generate(g, optionsFor(g, c.options), c.prompt_ids.map((tokens) => ({ tokens })));
      assert.deepEqual(results.map((res) => res.sequences[0].tokens), c.generated_ids, `${name}, one request`);
    }
    // Concurrent requests: every prompt of both cases, and the first prompt twice (equal lengths batch even without position_ids).
    const single = caseNamed("greedy-single");
    const batch = caseNamed("greedy-batch");
    const requests = [
      [single.prompt_ids[0], single.generated_ids[0], single.options],
      [single.prompt_ids[0], single.generated_ids[0], single.options],
      [batch.prompt_ids[0], batch.generated_ids[0], batch.options],
      [batch.prompt_ids[1], batch.generated_ids[1], batch.options],
    ] as const;
    const before = { ...r.batcher.stats };
    const seen = batches.get(layout)!;
    const firstBatch = seen.length;
    const results = await Promise.all(requests.map(([tokens, , options]) => generate(g, optionsFor(g, options), [{ tokens }])));
    results.forEach((res, i) => assert.deepEqual(res[0].sequences[0].tokens, requests[i][1], `concurrent request ${i}`));
    const ran = seen.slice(firstBatch);
    const items = r.batcher.stats.items - before.items;
    const count = r.batcher.stats.batches - before.batches;
    assert.ok(count < items, `${items} rows of 4 concurrent requests ran in ${count} batches: rows of different requests shared batches`);
    t.diagnostic(`${items} rows of 4 concurrent requests in ${count} batches`);
    assert.ok(ran.some((b) => b.pasts.length > 1), "some batch held several rows (each request has one row per step)");
    if (layout === "single") {
      assert.ok(ran.some((b) => b.group.endsWith(":prefill") && new Set(b.news).size > 1), "prompts of different lengths prefilled together (left-padded)");
      assert.ok(ran.some((b) => b.group.endsWith(":decode:1") && new Set(b.pasts).size > 1), "rows with different past lengths decoded together (pasts left-padded)");
    } else {
      for (const b of ran) assert.ok(new Set(b.pasts).size === 1 && new Set(b.news).size === 1, `without position_ids a batch holds equal lengths only (${b.group}: ${b.pasts})`);
    }
  });

  test(`${layout}: beam search (cache reordered by parent) gives the golden hypotheses and scores, concurrent requests`, async (t) => {
    const r = await runtime(layout);
    const g = r.generation!;
    const names = ["beam4-batch", "beam4-early-true", "beam3-lp2", "beam3-lp0-never"];
    const before = { ...r.batcher.stats };
    // Each case as one request holding both prompts, all cases at once.
    const outcomes = await Promise.all(names.map((name) => generate(g, optionsFor(g, caseNamed(name).options), caseNamed(name).prompt_ids.map((tokens) => ({ tokens })))));
    names.forEach((name, k) => {
      const c = caseNamed(name);
      const hyps = outcomes[k].flatMap((res) => res.sequences);
      assert.deepEqual(hyps.map((h) => h.tokens), c.generated_ids, name);
      hyps.forEach((h, i) => assert.ok(Math.abs(h.score! - c.sequences_scores![i]) < 1e-3, `${name} score ${i}: ${h.score} vs ${c.sequences_scores![i]}`));
    });
    const items = r.batcher.stats.items - before.items;
    const count = r.batcher.stats.batches - before.batches;
    assert.ok(count < items / 2, `${items} beam rows ran in ${count} batches`);
    t.diagnostic(`${items} beam rows of 4 concurrent requests in ${count} batches`);
  });

  test(`${layout}: a cached step equals a prefill of the whole sequence (1e-4), alone and batched with other past lengths`, async (t) => {
    const r = await runtime(layout);
    const g = r.generation!;
    const a = [442, 569, 82, 324, 439, 432];
    const b = [817, 373, 70];
    const [pa, pb] = await g.step([{ tokens: a }, { tokens: b }]);
    assert.equal(pa.cache.length, a.length);
    assert.equal(pb.cache.length, b.length);
    // Continue both (one batch when position_ids allow padding), two steps, a branching continuation of `pa` too.
    const [sa, sb, sa2] = await g.step([{ tokens: [183], cache: pa.cache }, { tokens: [63], cache: pb.cache }, { tokens: [307], cache: pa.cache }]);
    const [ta] = await g.step([{ tokens: [99], cache: sa.cache }]);
    const full = await g.step([{ tokens: [...a, 183] }, { tokens: [...b, 63] }, { tokens: [...a, 307] }, { tokens: [...a, 183, 99] }]);
    const diffs = [maxDiff(sa.logits, full[0].logits), maxDiff(sb.logits, full[1].logits), maxDiff(sa2.logits, full[2].logits), maxDiff(ta.logits, full[3].logits)];
    for (const d of diffs) assert.ok(d <= 1e-4, `cached vs full logits differ by ${diffs}`);
    t.diagnostic(`max |cached - full| logits: ${Math.max(...diffs).toExponential(2)}`);
    assert.equal(ta.cache.length, a.length + 2);
    // The prefill logits are the golden's last-position logits.
    const c = caseNamed("greedy-single");
    const [p] = await g.step([{ tokens: c.prompt_ids[0] }]);
    assert.ok(maxDiff(p.logits, c.prefill_last_logits.data) <= 1e-4, "prefill logits equal the float64 reference");
  });
}

test("a folder whose decoder_with_past graph lacks the past inputs fails at load naming the file and the input", async () => {
  const dir = await tempDir("gen-broken-");
  await writeGpt2Fixture(dir, { layout: "legacy" });
  await rm(join(dir, "decoder_model_merged.onnx"));
  await copyFile(join(dir, "decoder_model.onnx"), join(dir, "decoder_with_past_model.onnx"));
  await assert.rejects(
    ModelRuntime.load(withModelDefaults({ id: "broken", path: dir, intra_op_threads: 1 }), { kind: "cpu", id: 0 }),
    (err: Error) => /decoder_with_past_model\.onnx is missing the input "past_key_values\.0\.key"/.test(err.message) || assert.fail(err.message),
  );
  // Without any cache graph: the error says how to export.
  await rm(join(dir, "decoder_with_past_model.onnx"));
  await assert.rejects(
    ModelRuntime.load(withModelDefaults({ id: "broken", path: dir, intra_op_threads: 1 }), { kind: "cpu", id: 0 }),
    (err: Error) => /decoder_model\.onnx cannot generate: .*text-generation-with-past/.test(err.message) || assert.fail(err.message),
  );
  assert.ok(JSON.parse(await readFile(join(dir, "config.json"), "utf8")).n_positions > 0);
});
