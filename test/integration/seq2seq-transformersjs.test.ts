/**
 * transformers.js (local files only) on the T5- and BART-shaped fixtures as a second reference:
 * it loads each folder the way it loads a Hub export (encoder_model.onnx +
 * decoder_model_merged.onnx, config.json, generation_config.json with BART's forced bos/eos),
 * its tokenizer gives the golden's input ids, and its greedy `generate` on right-padded batches
 * gives the float64 PyTorch golden's sequences (test/goldens/generation/{t5,bart}-tiny.json).
 * transformers.js keeps generating after a row's eos where HF pads, so rows are compared up to
 * their first eos. It has no beam search, so beams are not compared here.
 */
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { env, AutoModelForSeq2SeqLM, AutoTokenizer, Tensor } from "@huggingface/transformers";
import { seq2seqFixtureDir } from "../helpers/seq2seq-fixtures.ts";
import { loadSeq2SeqGolden } from "../helpers/seq2seq-decoder.ts";

const OPTIONS = { subfolder: "", dtype: "fp32", local_files_only: true } as const;
const FIXTURES = ["t5-tiny", "bart-tiny"] as const;

before(async () => {
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = (await seq2seqFixtureDir()) + "/";
});

const int64 = (rows: number[][]) => new Tensor("int64", BigInt64Array.from(rows.flat(), (v) => BigInt(v)), [rows.length, rows[0].length]);

/** Each row up to and including its first eos after the start token. */
const untilEos = (rows: number[][], eos: number) =>
  rows.map((r) => {
    const end = r.indexOf(eos, 1);
    return end < 0 ? r : r.slice(0, end + 1);
  });

test("transformers.js's tokenizers encode the golden texts to the reference ids", async () => {
  for (const name of FIXTURES) {
    const golden = await loadSeq2SeqGolden(name);
    const tok = await AutoTokenizer.from_pretrained(name, { local_files_only: true });
    for (const input of Object.values(golden.inputs)) {
      for (const [i, text] of input.texts.entries()) {
        assert.deepEqual(tok.encode(text), input.input_ids[i].filter((_, k) => input.attention_mask[i][k] === 1), `${name}: ${text}`);
      }
    }
  }
});

test("transformers.js greedy generate on encoder_model + decoder_model_merged gives the PyTorch golden's sequences (batched, right-padded)", async () => {
  for (const name of FIXTURES) {
    const golden = await loadSeq2SeqGolden(name);
    const model = await AutoModelForSeq2SeqLM.from_pretrained(name, OPTIONS);
    try {
      const cases = golden.cases.filter((c) => (c.options.num_beams ?? 1) === 1);
      assert.ok(cases.some((c) => golden.inputs[c.input].texts.length > 1), "a batched case");
      for (const c of cases) {
        const input = golden.inputs[c.input];
        const out = (await model.generate({
          inputs: int64(input.input_ids),
          attention_mask: int64(input.attention_mask),
          max_new_tokens: c.options.max_new_tokens,
          do_sample: false,
        } as never)) as Tensor;
        const rows = (out.tolist() as bigint[][]).map((r) => r.map(Number));
        const eos = golden.generation_config.eos_token_id;
        assert.deepEqual(untilEos(rows, eos), untilEos(c.sequences, eos), `${name} ${c.name}`);
      }
    } finally {
      await model.dispose();
    }
  }
});
