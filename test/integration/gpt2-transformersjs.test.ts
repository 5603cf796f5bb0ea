/**
 * transformers.js (local files only) on the GPT-2 fixture as a second reference: it loads the
 * single-layout folder (model.onnx with past inputs and position_ids) and the legacy merged file,
 * its tokenizer gives the golden's prompt ids, and its greedy `generate` gives the token ids of the
 * float64 PyTorch golden (test/goldens/generation/gpt2-tiny.json), batched left-padded prompts
 * included. transformers.js keeps generating after a row's eos (HF pads instead), so rows are
 * compared up to their first eos. Its repetition_penalty, no_repeat_ngram_size and min_new_tokens
 * processors are compared too. It has no beam search, so beams are not compared here.
 */
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { env, AutoModelForCausalLM, AutoTokenizer, Tensor } from "@huggingface/transformers";
import { writeGpt2Fixture } from "../../lib/fixtures/gpt2-fixture.ts";
import { useTempDirs } from "../helpers/temp-dirs.ts";
import { loadGpt2Golden, type GenerationCase } from "../helpers/gpt2-decoder.ts";

const tempDir = useTempDirs();
const OPTIONS = { subfolder: "", dtype: "fp32", local_files_only: true } as const;

before(async () => {
  const root = await tempDir("gpt2-tjs-");
  await writeGpt2Fixture(join(root, "gpt2-tiny"), { layout: "single" });
  await writeGpt2Fixture(join(root, "gpt2-tiny-legacy"), { layout: "legacy" });
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = root + "/";
});

const int64 = (rows: number[][]) => new Tensor("int64", BigInt64Array.from(rows.flat(), (v) => BigInt(v)), [rows.length, rows[0].length]);

/** Each row's generated ids up to and including its first eos. */
const untilEos = (rows: number[][], promptLength: number, eos: number) =>
  rows.map((r) => {
    const generated = r.slice(promptLength);
    const end = generated.indexOf(eos);
    return end < 0 ? generated : generated.slice(0, end + 1);
  });

async function greedy(model: Awaited<ReturnType<typeof AutoModelForCausalLM.from_pretrained>>, c: GenerationCase): Promise<number[][]> {
  const out = (await model.generate({
    input_ids: int64(c.input_ids),
    attention_mask: int64(c.attention_mask),
    max_new_tokens: c.options.max_new_tokens,
    do_sample: false,
    repetition_penalty: c.options.repetition_penalty ?? 1,
    no_repeat_ngram_size: c.options.no_repeat_ngram_size ?? 0,
    min_new_tokens: c.options.min_new_tokens ?? null,
  } as never)) as Tensor;
  return (out.tolist() as bigint[][]).map((r) => r.map(Number));
}

test("transformers.js's tokenizer encodes the golden prompts to the reference ids", async () => {
  const golden = await loadGpt2Golden();
  const tok = await AutoTokenizer.from_pretrained("gpt2-tiny", { local_files_only: true });
  for (const c of golden.cases) {
    for (const [i, prompt] of c.prompts.entries()) assert.deepEqual(tok.encode(prompt), c.prompt_ids[i], prompt);
  }
});

test("transformers.js greedy generate on model.onnx gives the PyTorch golden's token ids (batched, left-padded, with and without processors)", async () => {
  const golden = await loadGpt2Golden();
  const model = await AutoModelForCausalLM.from_pretrained("gpt2-tiny", OPTIONS);
  try {
    const cases = golden.cases.filter((c) => (c.options.num_beams ?? 1) === 1);
    assert.ok(cases.some((c) => c.prompts.length > 1), "a batched case");
    assert.ok(cases.some((c) => c.options.repetition_penalty && c.options.no_repeat_ngram_size && c.options.min_new_tokens), "a case with processors");
    for (const c of cases) {
      const rows = await greedy(model, c);
      assert.deepEqual(untilEos(rows, c.input_ids[0].length, golden.eos_token_id), c.generated_ids, c.name);
    }
  } finally {
    await model.dispose();
  }
});

test("transformers.js loads the legacy decoder_model_merged.onnx (use_cache_branch) and agrees on an unpadded prompt", async () => {
  const golden = await loadGpt2Golden();
  const model = await AutoModelForCausalLM.from_pretrained("gpt2-tiny-legacy", { ...OPTIONS, model_file_name: "decoder_model_merged" });
  try {
    const c = golden.cases.find((x) => x.name === "greedy-single")!;
    assert.ok(c.attention_mask[0].every((m) => m === 1), "no padding: legacy graphs have no position_ids input");
    const rows = await greedy(model, c);
    assert.deepEqual(untilEos(rows, c.input_ids[0].length, golden.eos_token_id), c.generated_ids);
  } finally {
    await model.dispose();
  }
});
