/** SPEC §7 post-processing on hand-built tokens and scores: word merging, normalisation, top-k, options, noise. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { wordScores, sliceWordText } from "../../lib/explain/words.ts";
import { squareAttributions, topIndices } from "../../lib/explain/attributions.ts";
import { rowDot, meanOf, firstTokenAttention, scaledFirstTokenAttention, scaledAllQueriesAttention } from "../../lib/explain/token-scores.ts";
import { checkExplainKwargs, explainOptions } from "../../lib/explain/options.ts";
import { gaussianSource, withNoise } from "../../lib/explain/noise.ts";
import type { Encoded } from "../../lib/tokenization/tokenizer.ts";

/** "[CLS] who ' s there [SEP] un ##believ ##able cats [SEP] [PAD]" as a tokenizer would give it. */
function pairEncoding(): Encoded {
  const tokens = ["[CLS]", "who", "'", "s", "[SEP]", "un", "##believ", "##able", "cats", "[SEP]", "[PAD]"];
  return {
    tokens,
    ids: tokens.map((_, i) => 100 + i),
    typeIds: [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0],
    attentionMask: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0],
    specialTokensMask: [1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1],
    wordIds: [null, 0, 1, 2, null, 0, 0, 0, 1, null, null],
    sequenceIds: [null, 0, 0, 0, null, 1, 1, 1, 1, null, null],
    offsets: [[0, 0], [0, 3], [3, 4], [4, 5], [0, 0], [0, 2], [2, 8], [8, 12], [13, 17], [0, 0], [0, 0]],
    overflowing: [],
  };
}

test("word scores: |v| summed over pieces, specials and padding dropped, normalised to 1 per item, split by segment", () => {
  const enc = pairEncoding();
  const scores = [9, 1, -2, 1, 9, 0.5, -1.5, 2, -4, 9, 9];
  const words = wordScores(scores, enc, sliceWordText(enc, ["who's", "unbelievable cats"]));
  const total = 1 + 2 + 1 + (0.5 + 1.5 + 2) + 4;
  assert.deepEqual(words.question, [[0, "who", 1 / total], [1, "'", 2 / total], [2, "s", 1 / total]]);
  assert.deepEqual(words.context, [[0, "unbelievable", 4 / total], [1, "cats", 4 / total]]);
  const sum = [...words.question, ...words.context].reduce((a, w) => a + w[2], 0);
  assert.ok(Math.abs(sum - 1) < 1e-12);
});

test("word scores: a single text is all context; all-zero scores give zeros, not NaN", () => {
  const enc: Encoded = { ...pairEncoding(), sequenceIds: [null, 0, 0, 0, null, 0, 0, 0, 0, null, null], wordIds: [null, 0, 1, 2, null, 3, 3, 3, 4, null, null] };
  const words = wordScores(new Array(11).fill(0), enc, (_, pieces) => pieces.map((t) => enc.tokens[t]).join(""));
  assert.deepEqual(words.question, []);
  assert.deepEqual(words.context.map((w) => w[1]), ["who", "'", "s", "un##believ##able", "cats"]);
  assert.ok(words.context.every((w) => w[2] === 0));
});

test("SQuARE attribution shape: one object, lists per item, top-k indices best first following mode", () => {
  const a = { question: [[0, "q0", 0.1], [1, "q1", 0.3]] as [number, string, number][], context: [[0, "c0", 0.2], [1, "c1", 0.2], [2, "c2", 0.2]] as [number, string, number][] };
  const b = { question: [], context: [[0, "x", 1]] as [number, string, number][] };
  const [all] = squareAttributions([a, b], 2, "all");
  assert.deepEqual(all.topk_question_idx, [[1, 0], []]);
  assert.deepEqual(all.topk_context_idx, [[0, 1], [0]], "ties keep text order");
  assert.deepEqual(all.context_tokens[1], [[0, "x", 1]]);
  const [question] = squareAttributions([a, b], 5, "question");
  assert.deepEqual(question.topk_context_idx, [[], []]);
  assert.deepEqual(question.topk_question_idx[0], [1, 0]);
  assert.deepEqual(topIndices(a.context, 1), [0]);
});

test("token scores: dot with embeddings, means and first-token attention, by hand", () => {
  const g = [1, 2, 3, 4]; // 2 tokens × 2 hidden
  const e = [0.5, -1, 2, 0];
  assert.deepEqual([...rowDot(g, e, 2, 2)], [1 * 0.5 + 2 * -1, 3 * 2 + 4 * 0]);
  assert.deepEqual([...meanOf([[1, 2], [3, 6]])], [2, 4]);
  // 2 heads × 2 tokens × 2 tokens; the first query row of each head is [0.2, 0.8] and [0.6, 0.4]
  const attn = [0.2, 0.8, 0.5, 0.5, 0.6, 0.4, 0.1, 0.9];
  const grad = [1, -1, 9, 9, 2, 3, 9, 9];
  assert.deepEqual([...firstTokenAttention(attn, 2, 2)].map((x) => +x.toFixed(12)), [0.4, 0.6]);
  const round = (xs: Iterable<number>) => [...xs].map((x) => +x.toFixed(12));
  assert.deepEqual(round(scaledFirstTokenAttention(attn, grad, 2, 2)), round([0.4 * ((1 + 2) / 2), 0.6 * ((-1 + 3) / 2)]));
  // every query row: head 0 rows [0.2 0.8]·[1 -1] and [0.5 0.5]·[9 9]; head 1 rows [0.6 0.4]·[2 3] and [0.1 0.9]·[9 9]
  assert.deepEqual(round(scaledAllQueriesAttention(attn, grad, 2, 2)), round([(0.2 + 4.5 + 1.2 + 0.9) / 2, (-0.8 + 4.5 + 1.2 + 8.1) / 2]));
});

test("explain_kwargs: defaults, and 422-style problems naming each bad field", () => {
  assert.deepEqual(checkExplainKwargs({}), []);
  assert.equal(explainOptions({}), undefined);
  assert.deepEqual(explainOptions({ method: "smooth_grads" }), { method: "smooth_grads", topK: 10, mode: "all", steps: 10, samples: 10, noise: 0.01, seed: undefined });
  const problems = checkExplainKwargs({ method: "lime", top_k: 0, mode: "both", steps: 1.5, noise: -1, colour: "red" });
  assert.deepEqual(problems.map((p) => p.field), ["explain_kwargs.method", "explain_kwargs.top_k", "explain_kwargs.mode", "explain_kwargs.steps", "explain_kwargs.noise", "explain_kwargs.colour"]);
  assert.match(problems[0].message, /must be one of simple_grads, integrated_grads, smooth_grads, attention, scaled_attention/);
  assert.match(checkExplainKwargs({ top_k: 3 })[0].message, /is required/);
});

test("noise: seeded streams repeat, samples differ, and the spread is scale × (max − min)", () => {
  const a = gaussianSource(7);
  const b = gaussianSource(7);
  const first = Array.from({ length: 5 }, a);
  assert.deepEqual(Array.from({ length: 5 }, b), first);
  assert.notDeepEqual(Array.from({ length: 5 }, a), first, "the next sample draws fresh noise");
  const values = new Float32Array(20000).map((_, i) => (i % 2 ? 1 : -1)); // range 2
  const noisy = withNoise(values, 0.1, gaussianSource(1));
  const deltas = noisy.map((v, i) => v - values[i]);
  const mean = deltas.reduce((x, y) => x + y, 0) / deltas.length;
  const sd = Math.sqrt(deltas.reduce((x, y) => x + (y - mean) ** 2, 0) / deltas.length);
  assert.ok(Math.abs(mean) < 0.01 && Math.abs(sd - 0.2) < 0.01, `mean ${mean}, sd ${sd} (want 0, 0.2)`);
});

test("classification targets: each item's own argmax label; a one-output regression head explains its raw output", async () => {
  const { sequenceClassification } = await import("../../lib/tasks/sequence-classification.ts");
  const { withDefaults } = await import("../../lib/request/request.ts");
  const { float32 } = await import("../../lib/tensor.ts");
  const enc = pairEncoding();
  const request = withDefaults({ input: [["who's", "unbelievable cats"], ["who's", "unbelievable cats"]] });
  const run = (sequences: typeof enc[], items: { logits: ReturnType<typeof float32> }[], req: typeof request) => ({ request: req, options: { isRegression: false, extraOutputs: [], tokenize: { maxLength: 128, truncation: "longest_first" as const, addSpecialTokens: true } }, prepared: { sequences }, items, done: true });
  const targets = sequenceClassification.explainTargets!(run([enc, enc], [{ logits: float32([3], [0.1, 2, -1]) }, { logits: float32([3], [5, 2, -1]) }], request));
  assert.deepEqual(targets.map((t) => Array.from(t.cotangents.logits)), [[0, 1, 0], [1, 0, 0]]);
  const regression = sequenceClassification.explainTargets!(run([enc], [{ logits: float32([1], [-3.5]) }], withDefaults({ input: [["a", "b"]] })));
  assert.deepEqual(Array.from(regression[0].cotangents.logits), [1], "d(raw output)/d(embeddings), whatever its sign");
  assert.equal(targets[0].wordText(1, [5, 6, 7]), "unbelievable");
});
