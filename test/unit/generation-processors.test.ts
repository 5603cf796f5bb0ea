/**
 * Logits processors and warpers (lib/generation/logits-processors.ts): hand-computed rows for each,
 * HF's order and on/off conditions, and transformers.js 4.3.1's processor classes as an independent
 * reference on random rows. transformers.js 4.3.1 exports TopKLogitsWarper and TopPLogitsWarper
 * without an implementation (`_call` throws), so top-k and top-p are checked against references
 * written here from HF's definitions (sort, cumulative softmax) instead.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  Tensor,
  RepetitionPenaltyLogitsProcessor,
  NoRepeatNGramLogitsProcessor,
  MinLengthLogitsProcessor,
  MinNewTokensLengthLogitsProcessor,
  ForcedBOSTokenLogitsProcessor,
  ForcedEOSTokenLogitsProcessor,
  TemperatureLogitsWarper,
  TopKLogitsWarper,
  TopPLogitsWarper,
} from "@huggingface/transformers";
import {
  applyForcedBos,
  applyForcedEos,
  applyMinLength,
  applyMinNewTokens,
  applyNoRepeatNgram,
  applyRepetitionPenalty,
  applyTemperature,
  applyTopK,
  applyTopP,
  bannedNgramTokens,
  processorPlan,
  processRow,
} from "../../lib/generation/logits-processors.ts";
import { parseGenerationOptions } from "../../lib/generation/options.ts";

const row = (...xs: number[]) => Float32Array.from(xs);
const NEG = -Infinity;

/** Seeded rows and histories (a local LCG; independent of the library's PRNG). */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}
function randomRow(r: () => number, V: number): Float32Array {
  return Float32Array.from({ length: V }, () => (r() - 0.5) * 10);
}
function randomTokens(r: () => number, V: number, n: number): number[] {
  return Array.from({ length: n }, () => Math.floor(r() * Math.min(V, 6))); // few distinct ids, so repeats and n-gram matches happen
}

/** Runs a transformers.js processor on one row (a batch of one), returning the row it leaves. */
function tjs(processor: (ids: bigint[][], logits: Tensor) => Tensor, tokens: number[], scores: Float32Array): Float32Array {
  const t = new Tensor("float32", Float32Array.from(scores), [1, scores.length]);
  const out = processor([tokens.map(BigInt)], t);
  return Float32Array.from(out.data as Float32Array);
}

// ---- hand-computed -------------------------------------------------------------------------

test("repetition penalty: once per distinct token, negative × p, non-negative ÷ p", () => {
  const r = applyRepetitionPenalty(row(2, -1, 0, 3), [0, 1, 1, 2, 0], 2);
  assert.deepEqual([...r], [1, -2, 0, 3]);
  assert.deepEqual([...applyRepetitionPenalty(row(2, -1), [0, 1], 0.5)], [4, -0.5]); // < 1 rewards
});

test("no-repeat n-gram: bans what followed earlier occurrences of the last n-1 tokens", () => {
  // history 1 2 3 1 2 → the 3-grams (1,2)→3 and (2,3)→1, (3,1)→2; last two tokens (1,2) ban 3
  assert.deepEqual(bannedNgramTokens([1, 2, 3, 1, 2], 3), [3]);
  assert.deepEqual(bannedNgramTokens([1, 2, 1, 2, 1, 2], 3), [1, 1]);
  assert.deepEqual(bannedNgramTokens([5, 6], 4), []); // shorter than n-1: nothing
  assert.deepEqual(bannedNgramTokens([4, 1, 4], 1), [4, 1, 4]); // n = 1 bans every token seen
  assert.deepEqual([...applyNoRepeatNgram(row(0, 1, 2, 3), [1, 2, 3, 1, 2], 3)], [0, 1, 2, NEG]);
});

test("min length and min new tokens ban every eos until reached", () => {
  assert.deepEqual([...applyMinLength(row(1, 2, 3), 2, 3, [0, 2])], [NEG, 2, NEG]);
  assert.deepEqual([...applyMinLength(row(1, 2, 3), 3, 3, [0, 2])], [1, 2, 3]);
  assert.deepEqual([...applyMinNewTokens(row(1, 2, 3), 1, 2, [1])], [1, NEG, 3]);
  assert.deepEqual([...applyMinNewTokens(row(1, 2, 3), 2, 2, [1])], [1, 2, 3]);
});

test("forced BOS at history length 1 and forced EOS on the last allowed token", () => {
  assert.deepEqual([...applyForcedBos(row(1, 2, 3), 1, 2)], [NEG, NEG, 0]);
  assert.deepEqual([...applyForcedBos(row(1, 2, 3), 2, 2)], [1, 2, 3]);
  assert.deepEqual([...applyForcedEos(row(1, 2, 3), 4, 5, [0, 1])], [0, 0, NEG]);
  assert.deepEqual([...applyForcedEos(row(1, 2, 3), 3, 5, [0])], [1, 2, 3]);
});

test("temperature divides; top-k keeps the k largest and their ties; min_tokens_to_keep raises k", () => {
  assert.deepEqual([...applyTemperature(row(1, -2, 4), 2)], [0.5, -1, 2]);
  assert.deepEqual([...applyTopK(row(1, 5, 3, 5, 2), 2)], [NEG, 5, NEG, 5, NEG]);
  assert.deepEqual([...applyTopK(row(1, 5, 3, 3, 2), 2)], [NEG, 5, 3, 3, NEG]); // tie with the 2nd largest survives
  assert.deepEqual([...applyTopK(row(1, 5, 3), 1, 2)], [NEG, 5, 3]);
  assert.deepEqual([...applyTopK(row(1, 5, 3), 10)], [1, 5, 3]);
});

test("top-p keeps the smallest top set reaching p; an exact sum does not pull in another token", () => {
  const logits = row(...[0.5, 0.3, 0.15, 0.05].map(Math.log));
  // ascending cumulative: .05, .20, .50, 1.0; removed where ≤ 1 - p
  assert.deepEqual(
    [...applyTopP(Float32Array.from(logits), 0.8)].map((x) => x > NEG),
    [true, true, false, false],
  );
  assert.deepEqual(
    [...applyTopP(Float32Array.from(logits), 0.5)].map((x) => x > NEG),
    [true, false, false, false],
  );
  assert.deepEqual(
    [...applyTopP(Float32Array.from(logits), 0.01)].map((x) => x > NEG),
    [true, false, false, false],
  );
  assert.deepEqual(
    [...applyTopP(Float32Array.from(logits), 0.01, 3)].map((x) => x > NEG),
    [true, true, true, false],
  ); // min_tokens_to_keep
  // two equal halves, p = 0.5: one token suffices; the lower index survives the tie
  assert.deepEqual([...applyTopP(row(0, 0), 0.5)], [0, NEG]);
});

// ---- order and conditions --------------------------------------------------------------------

const options = (kw: Record<string, unknown>) => {
  const { options, problems } = parseGenerationOptions({ task_kwargs: kw, model_kwargs: {} });
  assert.deepEqual(problems, []);
  return options!;
};

test("HF's conditions: neutral values build no processor; warpers only when sampling; beam sampling keeps eos+1", () => {
  assert.deepEqual(processorPlan(options({})), { eosTokenIds: [] });
  assert.deepEqual(processorPlan(options({ temperature: 0.5, top_k: 3, top_p: 0.9 })), { eosTokenIds: [] }); // greedy ignores warpers
  assert.deepEqual(processorPlan(options({ min_new_tokens: 3 })), { eosTokenIds: [] }); // no eos → no min-length processors
  assert.deepEqual(processorPlan(options({ do_sample: true })).warpers, { topK: 50, minTokensToKeep: 1 }); // HF's top_k default
  assert.deepEqual(processorPlan(options({ do_sample: true, top_k: 0, temperature: 0.7, top_p: 0.9 })).warpers, { temperature: 0.7, topP: 0.9, minTokensToKeep: 1 });
  assert.deepEqual(processorPlan(options({ do_sample: true, num_beams: 3, eos_token_id: [4, 5, 6] })).warpers?.minTokensToKeep, 4);
  assert.deepEqual(processorPlan(options({ do_sample: true, num_beams: 3 })).warpers?.minTokensToKeep, 2);
  assert.deepEqual(processorPlan(options({ repetition_penalty: 1.2, no_repeat_ngram_size: 2, min_length: 3, min_new_tokens: 1, eos_token_id: 1 })), {
    eosTokenIds: [1],
    repetitionPenalty: 1.2,
    noRepeatNgramSize: 2,
    minLength: 3,
    minNewTokens: 1,
  });
});

test("processRow applies HF's order: repetition penalty before temperature, top-k before top-p, and leaves its input alone", () => {
  // penalty 2 on token 0 (logit 4 → 2), then T = 0.5 (→ 4), so token 1 (3 → 6) leads; top_k 2 keeps 1 and 0
  const input = row(4, 3, -1, 1);
  const plan = processorPlan(options({ do_sample: true, repetition_penalty: 2, temperature: 0.5, top_k: 2 }));
  const out = processRow(input, { tokens: [0], promptLength: 1, maxNewTokens: 5 }, plan);
  assert.deepEqual([...out], [4, 6, NEG, NEG]);
  assert.deepEqual([...input], [4, 3, -1, 1]);
  // temperature before top-p (0.8): at T = 0.05 (logits 20, 16, 0) the runner-up holds 1.8% ≤ 20%, so the
  // top token stays alone; without the temperature the probabilities are .457 .374 .168 and two stay
  const ctx = { tokens: [2], promptLength: 1, maxNewTokens: 5 };
  const sharp = processRow(row(1, 0.8, 0), ctx, processorPlan(options({ do_sample: true, top_k: 0, temperature: 0.05, top_p: 0.8 })));
  assert.deepEqual([...sharp].map((x) => x > NEG), [true, false, false]);
  const flat = processRow(row(1, 0.8, 0), ctx, processorPlan(options({ do_sample: true, top_k: 0, top_p: 0.8 })));
  assert.deepEqual([...flat].map((x) => x > NEG), [true, true, false]);
  // n-gram ban, then min_new_tokens, then forced EOS on the last step overrides everything
  const plan2 = processorPlan({ ...options({ no_repeat_ngram_size: 1, min_new_tokens: 5, eos_token_id: 2 }), forcedEosTokenIds: [2] });
  assert.deepEqual([...processRow(row(1, 1, 1), { tokens: [0, 1], promptLength: 1, maxNewTokens: 2 }, plan2)], [NEG, NEG, 0]);
  assert.deepEqual([...processRow(row(1, 1, 1), { tokens: [0], promptLength: 1, maxNewTokens: 3 }, plan2)], [NEG, 1, NEG]);
});

// ---- transformers.js as a reference on random rows --------------------------------------------

test("transformers.js reference: repetition penalty, no-repeat n-gram, min length, min new tokens, forced BOS/EOS, temperature", () => {
  const r = rng(42);
  for (let trial = 0; trial < 300; trial++) {
    const V = 3 + Math.floor(r() * 30);
    const tokens = randomTokens(r, V, 1 + Math.floor(r() * 12));
    const scores = randomRow(r, V);
    const eos = [Math.floor(r() * V)];
    const penalty = [0.5, 1.3, 2][trial % 3];
    const n = 1 + (trial % 4);
    const where = `trial ${trial}`;
    assert.deepEqual(applyRepetitionPenalty(Float32Array.from(scores), tokens, penalty), tjs(new RepetitionPenaltyLogitsProcessor(penalty), tokens, scores), where);
    assert.deepEqual(applyNoRepeatNgram(Float32Array.from(scores), tokens, n), tjs(new NoRepeatNGramLogitsProcessor(n), tokens, scores), where);
    const minLength = Math.floor(r() * 15);
    assert.deepEqual(applyMinLength(Float32Array.from(scores), tokens.length, minLength, eos), tjs(new MinLengthLogitsProcessor(minLength, eos), tokens, scores), where);
    const promptLength = Math.floor(r() * tokens.length);
    const minNew = Math.floor(r() * 8);
    assert.deepEqual(
      applyMinNewTokens(Float32Array.from(scores), tokens.length - promptLength, minNew, eos),
      tjs(new MinNewTokensLengthLogitsProcessor(promptLength, minNew, eos), tokens, scores),
      where,
    );
    assert.deepEqual(applyForcedBos(Float32Array.from(scores), tokens.length, eos[0]), tjs(new ForcedBOSTokenLogitsProcessor(eos[0]), tokens, scores), where);
    // HF's ForcedEOS fires at total length max_length - 1, i.e. when generated = maxNewTokens - 1
    const maxLength = promptLength + 1 + Math.floor(r() * 10);
    assert.deepEqual(
      applyForcedEos(Float32Array.from(scores), tokens.length - promptLength, maxLength - promptLength, eos),
      tjs(new ForcedEOSTokenLogitsProcessor(maxLength, eos), tokens, scores),
      where,
    );
    const temperature = 0.2 + r() * 2;
    assert.deepEqual(applyTemperature(Float32Array.from(scores), temperature), tjs(new TemperatureLogitsWarper(temperature), tokens, scores), where);
  }
});

/** HF TopK by definition: remove scores below the k-th largest (k clamped to [min_keep, V]). */
function refTopK(scores: Float32Array, k: number, minKeep: number): Float32Array {
  const kk = Math.min(Math.max(k, minKeep), scores.length);
  const kth = [...scores].sort((a, b) => b - a)[kk - 1];
  return scores.map((x) => (x < kth ? NEG : x));
}

/** HF TopP by definition: ascending sort, cumulative softmax, remove ≤ 1 - p except the top min_keep. */
function refTopP(scores: Float32Array, p: number, minKeep: number): Float32Array {
  const order = [...scores.keys()].sort((a, b) => scores[a] - scores[b] || b - a);
  const max = Math.max(...scores);
  const w = order.map((i) => Math.exp(scores[i] - max));
  const z = w.reduce((s, x) => s + x, 0);
  const out = Float32Array.from(scores);
  let cum = 0;
  order.forEach((i, r) => {
    cum += w[r] / z;
    if (cum <= 1 - p && r < order.length - minKeep) out[i] = NEG;
  });
  return out;
}

test("top-k and top-p against references from HF's definitions on random rows (transformers.js 4.3.1 has no implementation)", (t) => {
  const probe = new Tensor("float32", new Float32Array([1, 2]), [1, 2]);
  for (const warper of [new TopKLogitsWarper(1), new TopPLogitsWarper(0.5)]) {
    try {
      warper([[0n]], probe);
      t.diagnostic(`${warper.constructor.name} now has an implementation: use it as a reference here`);
    } catch (e) {
      assert.match((e as Error).message, /_call/);
    }
  }
  const r = rng(7);
  for (let trial = 0; trial < 400; trial++) {
    const V = 2 + Math.floor(r() * 40);
    const scores = randomRow(r, V);
    if (trial % 5 === 0) scores[Math.floor(r() * V)] = scores[0]; // ties
    const k = Math.floor(r() * (V + 3));
    const minKeep = 1 + Math.floor(r() * 3);
    assert.deepEqual(applyTopK(Float32Array.from(scores), k, minKeep), refTopK(scores, k, minKeep), `top-k trial ${trial}`);
    const p = r();
    assert.deepEqual(applyTopP(Float32Array.from(scores), p, minKeep), refTopP(scores, p, minKeep), `top-p trial ${trial}`);
  }
});
