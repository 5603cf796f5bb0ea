/**
 * SPEC §6.5 generation over HTTP on the GPT-2-, T5- and BART-shaped fixtures against independent
 * float64 PyTorch references (tools/goldens/generation_decoder.py, generation_seq2seq.py): the
 * token ids of greedy decoding and beam search (length penalty, early stopping modes, several
 * return sequences), batched prompts of different lengths, and the beams' length-penalised scores.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { startEmbedded, Embedded } from "../helpers/embedded.ts";
import { fixturePath } from "../helpers/fixtures.ts";

const GOLDENS = new URL("../goldens/generation/", import.meta.url);
let s: Embedded;

before(async () => {
  await fixturePath("gpt2-tiny");
  s = await startEmbedded(["gpt2-tiny", "t5-tiny", "bart-tiny"].map((id) => ({ id, path: id, return_plaintext_arrays: true })));
});
after(() => s?.stop());

async function generate(model: string, input: string[], task_kwargs: Record<string, unknown>) {
  const q = await s.post(`/${model}/generation`, { input, task_kwargs: { ...task_kwargs, output_scores: true } });
  assert.equal(q.status, 200, JSON.stringify(q.body));
  const r = await s.result(q.body.task_id, 60_000);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.result;
}

/** New tokens of a returned row: after `skip` start ids, up to and including the first eos. */
function newTokens(row: number[], skip: number, eos: number): number[] {
  const rest = row.slice(skip);
  const end = rest.indexOf(eos);
  return end >= 0 ? rest.slice(0, end + 1) : rest;
}

const close = (a: number, b: number, label: string) => assert.ok(Math.abs(a - b) <= 1e-4 + 1e-4 * Math.abs(b), `${label}: ${a}, PyTorch ${b}`);

test("gpt2-tiny: greedy and beam search token ids and beam scores equal the PyTorch reference", async () => {
  const golden = JSON.parse(await readFile(new URL("gpt2-tiny.json", GOLDENS), "utf8"));
  const eos = golden.eos_token_id as number;
  for (const c of golden.cases) {
    const result = await generate("gpt2-tiny", c.prompts, c.options);
    const returns = (c.options.num_return_sequences as number | undefined) ?? 1;
    const ours = result.model_outputs.sequences.flatMap((rows: number[][], i: number) => rows.map((row) => newTokens(row, c.prompt_ids[i].length, eos)));
    // Every prompt decodes as if alone (continuous batching must not let batch-mates change a
    // result): HF's left-padded batch differs only where the repetition penalty reads pad tokens.
    const theirs = (c.alone_generated_ids ?? c.generated_ids).map((ids: number[]) => newTokens(ids, 0, eos));
    assert.deepEqual(ours, theirs, `${c.name}: generated ids`);
    assert.equal(result.generated_texts.length, c.prompts.length);
    result.generated_texts.forEach((texts: string[], i: number) => {
      assert.equal(texts.length, returns);
      for (const t of texts) assert.ok(t.startsWith(c.prompts[i]), `${c.name}: decoder-only text starts with the prompt: ${JSON.stringify(t)}`);
    });
    if (c.sequences_scores) {
      const scores = result.model_outputs.sequences_scores.flat();
      (c.alone_sequences_scores ?? c.sequences_scores).forEach((g: number, k: number) => close(scores[k], g, `${c.name} score ${k}`));
    }
  }
});

for (const model of ["t5-tiny", "bart-tiny"]) {
  test(`${model}: greedy and beam search token ids and beam scores equal the PyTorch reference`, async () => {
    const golden = JSON.parse(await readFile(new URL(`${model}.json`, GOLDENS), "utf8"));
    const eos = golden.generation_config.eos_token_id as number;
    const config = JSON.parse(await readFile(join(await fixturePath(model), "config.json"), "utf8"));
    assert.equal(config.eos_token_id, eos);
    for (const c of golden.cases) {
      const texts = golden.inputs[c.input].texts as string[];
      const result = await generate(model, texts, c.options);
      const ours = result.model_outputs.sequences.flatMap((rows: number[][]) => rows.map((row) => newTokens(row, 1, eos)));
      const theirs = c.sequences.map((row: number[]) => newTokens(row, 1, eos));
      assert.deepEqual(ours, theirs, `${model} ${c.name}: generated ids`);
      if ((c.options.num_beams ?? 1) > 1) {
        const scores = result.model_outputs.sequences_scores.flat();
        c.scores.forEach((g: number, k: number) => close(scores[k], g, `${model} ${c.name} score ${k}`));
      }
    }
  });
}
