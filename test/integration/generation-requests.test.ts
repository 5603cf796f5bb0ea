/**
 * Generation requests at the edges (found by the route fuzzer): prompts longer than the encoder,
 * pre-tokenized prompts, length penalties whose powers overflow, forced tokens that leave no
 * finite candidate. Each gets a clear refusal or a full answer, never an internal error or a
 * short result.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startEmbedded, Embedded } from "../helpers/embedded.ts";

let s: Embedded;
before(async () => {
  s = await startEmbedded(["gpt2-tiny", "t5-tiny", "bart-tiny"].map((id) => ({ id, path: id, return_plaintext_arrays: true })));
});
after(() => s?.stop());

async function run(model: string, body: unknown) {
  const q = await s.post(`/${model}/generation`, body);
  if (q.status !== 200) return q;
  return s.result(q.body.task_id, 30_000);
}

test("a prompt longer than the encoder's positions fails naming the prompt; truncation: true cuts it", async () => {
  const long = Array.from({ length: 300 }, () => "word").join(" ");
  const refused = await run("bart-tiny", { input: [long] });
  assert.equal(refused.status, 500, JSON.stringify(refused.body));
  assert.equal(refused.body.error.type, "invalid_request");
  assert.match(refused.body.error.message, /input\.0|the model's encoder takes at most 64/);
  const cut = await run("bart-tiny", { input: [long], preprocessing_kwargs: { truncation: true }, task_kwargs: { max_new_tokens: 4 } });
  assert.equal(cut.status, 200, JSON.stringify(cut.body));
  assert.equal(cut.body.result.generated_texts[0].length, 1);
});

test("pre-tokenized prompts are refused for generation", async () => {
  const r = await s.post("/gpt2-tiny/generation", { input: { input_ids: [[0]], attention_mask: [[1]] }, is_preprocessed: true });
  assert.equal(r.status, 422);
  assert.match(JSON.stringify(r.body), /generation takes text prompts, not token arrays/);
});

test("a length penalty whose powers would overflow is refused", async () => {
  const r = await s.post("/t5-tiny/generation", { input: ["the"], task_kwargs: { num_beams: 2, length_penalty: -1000 } });
  assert.equal(r.status, 422);
  assert.match(JSON.stringify(r.body), /task_kwargs\.length_penalty.*must be between -10 and 10/);
});

test("beam search returns num_return_sequences sequences even when forced bos and eos leave no finite candidate", async () => {
  const r = await run("bart-tiny", { input: ["a"], task_kwargs: { num_beams: 2, num_return_sequences: 2, max_new_tokens: 1 } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.result.generated_texts[0].length, 2);
  assert.equal(r.body.result.model_outputs.sequences[0].length, 2);
});
