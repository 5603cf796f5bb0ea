/**
 * Sampling with fixed noise against the float64 PyTorch references (issue #13): the
 * `sampling_cases` of test/goldens/generation/{gpt2,t5,bart}-tiny.json (written by
 * tools/goldens/generation_decoder.py and generation_seq2seq.py, which implement HF's processors
 * and warpers independently) store the uniforms each sequence consumes (`draws[prompt][sequence]`)
 * and the tokens they give. Each case is driven through the model's ONNX graphs (ModelRuntime, KV
 * cache, the replica's batcher; all cases of a family at once, so their rows share batches) with
 * `noise: fixedNoise(draws)`: the sampled ids, the beam-sampling scores, and the number of draws
 * every stream consumes equal the golden. Over HTTP, a request's `seed` makes sampling
 * reproducible: the same seed gives the same ids (also when the requests run concurrently), a
 * different seed other ids.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { ModelRuntime } from "../../lib/model/runtime.ts";
import { withModelDefaults } from "../../lib/config/model-settings.ts";
import { fixedNoise, type NoiseSource } from "../../lib/generation/random.ts";
import type { GenerationModel } from "../../lib/inference/generation.ts";
import { generate, optionsFor, type DriverPrompt } from "../helpers/generation-driver.ts";
import { GOLDEN_DIR } from "../helpers/goldens.ts";
import { fixturePath } from "../helpers/fixtures.ts";
import { startEmbedded, type Embedded } from "../helpers/embedded.ts";
import { idsSequence } from "../helpers/fake-backend.ts";

const REGENERATE = { "gpt2-tiny": "/usr/bin/python3 tools/goldens/generation_decoder.py", "t5-tiny": "/usr/bin/python3 tools/goldens/generation_seq2seq.py", "bart-tiny": "/usr/bin/python3 tools/goldens/generation_seq2seq.py" };
const MODELS = ["gpt2-tiny", "t5-tiny", "bart-tiny"] as const;
type ModelName = (typeof MODELS)[number];

interface SamplingCase {
  name: string;
  options: Record<string, unknown> & { max_new_tokens: number; num_beams?: number; num_return_sequences?: number };
  /** Decoder-only: the prompt ids; encoder-decoder: the unpadded encoder input ids. */
  prompt_ids: number[][];
  seed: number;
  draws: number[][][];
  generated_ids: number[][][];
  sequences_scores?: number[][];
  margins: { sample: number; top_k_gap: number | null; top_p_cum: number | null; top_p_gap: number | null; rank?: number | null };
}

interface Golden {
  model_sha256: string | Record<string, string>;
  generation_config?: { decoder_start_token_id: number };
  sampling_draw_delta: number;
  sampling_cut_margin: number;
  sampling_cases: SamplingCase[];
}

const goldens = {} as Record<ModelName, Golden>;
const runtimes = new Map<ModelName, ModelRuntime>();
let server: Embedded | undefined;

before(async () => {
  for (const name of MODELS) goldens[name] = JSON.parse(await readFile(join(GOLDEN_DIR, "generation", `${name}.json`), "utf8")) as Golden;
});

after(async () => {
  await server?.stop();
  for (const r of runtimes.values()) await r.close();
});

const sha256 = async (path: string) => createHash("sha256").update(await readFile(path)).digest("hex");

async function runtime(name: ModelName): Promise<ModelRuntime> {
  let r = runtimes.get(name);
  if (!r) {
    const folder = await fixturePath(name);
    // The goldens were computed from these exact weights: a changed fixture generator must regenerate them.
    const sums = goldens[name].model_sha256;
    // (the seq2seq goldens list every Optimum file; the served folder holds the encoder and the merged decoder)
    const files = typeof sums === "string" ? { "model.onnx": sums } : sums;
    const present = (await readdir(folder)).filter((f) => f in files);
    assert.ok(present.length >= (typeof sums === "string" ? 1 : 2), `${name}: the fixture's ONNX files are among the golden's ${Object.keys(files)}`);
    for (const file of present) {
      assert.equal(await sha256(join(folder, file)), files[file], `${name}/${file} changed since the golden was written: rerun \`${REGENERATE[name]}\` and review the diff`);
    }
    r = await ModelRuntime.load(withModelDefaults({ id: name, path: folder, batch_size: 16, batch_wait_ms: 3, intra_op_threads: 1 }), { kind: "cpu", id: 0 });
    runtimes.set(name, r);
  }
  return r;
}

/** fixedNoise, counting what each stream consumed. */
function countingNoise(draws: number[][][]): { noise: NoiseSource; used: Map<string, number> } {
  const inner = fixedNoise(draws);
  const used = new Map<string, number>();
  const noise: NoiseSource = (stream) => {
    const source = inner(stream);
    const key = `${stream.prompt}/${stream.sequence}`;
    used.set(key, 0);
    return { next: () => (used.set(key, used.get(key)! + 1), source.next()) };
  };
  return { noise, used };
}

async function prompts(model: GenerationModel, golden: Golden, c: SamplingCase): Promise<DriverPrompt[]> {
  if (model.architecture === "decoder-only") return c.prompt_ids.map((tokens) => ({ tokens }));
  const start = golden.generation_config!.decoder_start_token_id;
  const states = await model.encode(c.prompt_ids.map((ids: number[]) => idsSequence(ids)));
  return states.map((encoder) => ({ tokens: [start], promptLength: 1, encoder }));
}

for (const name of MODELS) {
  test(`${name}: sampling with the golden's fixed draws gives the PyTorch reference's tokens (all cases concurrently, rows sharing batches)`, async (t) => {
    const golden = goldens[name];
    const cases = golden.sampling_cases;
    assert.ok(cases.length >= 3, "sampling cases exist");
    assert.ok(cases.some((c) => c.prompt_ids.length > 1 && new Set(c.prompt_ids.map((p) => p.length)).size > 1), "batched prompts of different lengths");
    assert.ok(cases.some((c) => (c.options.num_return_sequences ?? 1) > 1 && (c.options.num_beams ?? 1) === 1), "several sampled sequences per prompt");
    assert.ok(cases.some((c) => c.options.repetition_penalty !== undefined), "a case with the repetition penalty");
    for (const c of cases) {
      // The reference kept every draw and every top-k / top-p cut away from its boundary, so float32 cannot flip a choice.
      assert.ok(c.margins.sample >= golden.sampling_draw_delta, `${c.name}: draws ${c.margins.sample} from a boundary`);
      for (const [what, m] of Object.entries(c.margins)) if (m !== null && m !== undefined) assert.ok(m >= golden.sampling_cut_margin, `${c.name}: ${what} margin ${m}`);
    }
    const r = await runtime(name);
    const model = r.generation!;
    const before = { ...r.batcher.stats };
    const runs = await Promise.all(
      cases.map(async (c) => {
        const counting = countingNoise(c.draws);
        const results = await generate(model, optionsFor(model, c.options), await prompts(model, golden, c), undefined, { noise: counting.noise });
        return { results, used: counting.used };
      }),
    );
    cases.forEach((c, k) => {
      const { results, used } = runs[k];
      assert.deepEqual(
        results.map((res) => res.sequences.map((s) => s.tokens)),
        c.generated_ids,
        `${name} ${c.name}: sampled ids`,
      );
      // Every stream consumed exactly its draws: one per sampled token, or K = 2 × num_beams per beam-sampling step.
      c.draws.forEach((perPrompt, p) => perPrompt.forEach((list, s) => assert.equal(used.get(`${p}/${s}`), list.length, `${c.name}: draws consumed by prompt ${p}, sequence ${s}`)));
      if (c.sequences_scores) {
        c.sequences_scores.forEach((scores, p) =>
          scores.forEach((want, i) => {
            const got = results[p].sequences[i].score!;
            assert.ok(Math.abs(got - want) <= 1e-4 * Math.max(1, Math.abs(want)), `${c.name} prompt ${p} score ${i}: ${got}, PyTorch ${want}`);
          }),
        );
      }
    });
    const items = r.batcher.stats.items - before.items;
    const batches = r.batcher.stats.batches - before.batches;
    assert.ok(batches < items, `the cases' rows shared batches (${items} rows in ${batches} batches)`);
    t.diagnostic(`${cases.map((c) => c.name).join(", ")}: ${items} rows in ${batches} batches; smallest draw margin ${Math.min(...cases.map((c) => c.margins.sample))}`);
  });
}

test("HTTP: sampling with a seed is reproducible (same seed → same ids, also concurrently; another seed → other ids)", async () => {
  await fixturePath("gpt2-tiny");
  server = await startEmbedded(MODELS.map((id) => ({ id, path: id, return_plaintext_arrays: true })));
  const s = server;
  const sample = async (model: ModelName, seed: number) => {
    const q = await s.post(`/${model}/generation`, {
      input: model === "gpt2-tiny" ? ["John lives in Paris with", "the dog"] : ["john lives in paris with mary .", "hello world"],
      task_kwargs: { do_sample: true, seed, top_k: 0, min_new_tokens: 8, max_new_tokens: 10, num_return_sequences: 2 },
    });
    assert.equal(q.status, 200, JSON.stringify(q.body));
    const r = await s.result(q.body.task_id, 60_000);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.result.seed, seed, "the seed is reported");
    return r.body.result.model_outputs.sequences as number[][][];
  };
  for (const model of MODELS) {
    const [a, b, other] = await Promise.all([sample(model, 1234), sample(model, 1234), sample(model, 98765)]);
    const again = await sample(model, 1234);
    assert.equal(a.length, 2);
    for (const rows of a) assert.equal(rows.length, 2, "two sequences per prompt");
    assert.deepEqual(b, a, `${model}: the same seed, concurrent requests`);
    assert.deepEqual(again, a, `${model}: the same seed, a later request`);
    assert.notDeepEqual(other, a, `${model}: another seed`);
    assert.notDeepEqual(a[0][0], a[0][1], `${model}: a prompt's sequences draw from their own streams`);
  }
});
