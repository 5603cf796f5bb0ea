/**
 * The five methods on an analytic "model" whose gradients are known in closed form:
 * target = c · ½ Σ_t (w·e_t)², so ∂target/∂e_t = c (w·e_t) w, with c the row's own cotangent.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { tokenScores } from "../../lib/explain/methods.ts";
import { explainTargets } from "../../lib/explain/explain.ts";
import { explainOptions } from "../../lib/explain/options.ts";
import type { GradientBackend, GradientRow } from "../../lib/inference/gradients.ts";
import type { Encoded } from "../../lib/tokenization/tokenizer.ts";

const H = 3;
const w = [0.5, -1, 2];
const TABLE: Record<number, number[]> = { 1: [1, 0, 0], 2: [0, 1, 1], 3: [2, 2, -1], 4: [0.1, 0.2, 0.3] };
const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((s, x, i) => s + x * b[i], 0);
const HEADS = 2;

function analyticBackend() {
  const calls: GradientRow[][] = [];
  const backend: GradientBackend = {
    hidden: H,
    vocabularySize: 5,
    embeddingRows: (ids) => Float32Array.from(ids.flatMap((id) => TABLE[id])),
    vocabularyScores: () => Promise.reject(new Error("explanations never ask for vocabulary scores")),
    async run(rows) {
      calls.push([...rows]);
      return rows.map((row) => {
        const T = row.sequence.ids.length;
        const c = row.cotangents.logits[0];
        const grad = new Float32Array(T * H);
        for (let t = 0; t < T; t++) {
          const wx = dot(row.embeds.subarray(t * H, t * H + H), w);
          for (let h = 0; h < H; h++) grad[t * H + h] = c * wx * w[h];
        }
        // Attention from the first token: uniform in head 0, all on the last token in head 1.
        const attn = new Float32Array(HEADS * T * T);
        for (let t = 0; t < T; t++) attn[t] = 1 / T;
        attn[T * T + T - 1] = 1;
        const gradAttn = new Float32Array(HEADS * T * T).map((_, k) => c * (k % T));
        return { gradEmbeds: grad, lastAttention: attn, gradLastAttention: gradAttn };
      });
    },
  };
  return { backend, calls };
}

const seq = (ids: number[]): Encoded => ({
  ids,
  typeIds: ids.map(() => 0),
  attentionMask: ids.map(() => 1),
  specialTokensMask: ids.map(() => 0),
  tokens: ids.map(String),
  offsets: ids.map(() => [0, 0]),
  wordIds: ids.map((_, i) => i),
  sequenceIds: ids.map(() => 0),
  overflowing: [],
});
const items = [
  { sequence: seq([1, 2, 3]), cotangents: { logits: Float32Array.of(1) } },
  { sequence: seq([4, 3]), cotangents: { logits: Float32Array.of(-2) } },
];
const close = (actual: Float64Array, expected: number[], what: string) =>
  expected.forEach((e, i) => assert.ok(Math.abs(actual[i] - e) <= 1e-5 * Math.max(1, Math.abs(e)), `${what}[${i}]: ${actual[i]} vs ${e}`));
const wx = (id: number) => dot(TABLE[id], w);

test("simple_grads: (∂target/∂e_t)·e_t = c (w·e_t)², each item with its own target, one batched call", async () => {
  const { backend, calls } = analyticBackend();
  const [a, b] = await tokenScores(items, explainOptions({ method: "simple_grads" })!, backend);
  close(a, [1, 2, 3].map((id) => wx(id) ** 2), "item 0");
  close(b, [4, 3].map((id) => -2 * wx(id) ** 2), "item 1");
  assert.equal(calls.length, 1);
  assert.equal(calls[0].length, 2);
});

test("integrated_grads: right Riemann sum over k/steps gives (steps+1)/(2·steps) c (w·e_t)², all points in one call", async () => {
  const { backend, calls } = analyticBackend();
  const steps = 4;
  const [a] = await tokenScores(items, explainOptions({ method: "integrated_grads", steps })!, backend);
  close(a, [1, 2, 3].map((id) => ((steps + 1) / (2 * steps)) * wx(id) ** 2), "item 0");
  assert.equal(calls[0].length, 2 * steps);
  assert.deepEqual(Array.from(calls[0][0].embeds), TABLE[1].concat(TABLE[2], TABLE[3]).map((v) => Math.fround(v / steps)), "first point is α = 1/steps");
});

test("smooth_grads: without noise it equals simple_grads; with noise a seed repeats and samples differ", async () => {
  const { backend } = analyticBackend();
  const [quiet] = await tokenScores(items, explainOptions({ method: "smooth_grads", noise: 0, samples: 3 })!, backend);
  close(quiet, [1, 2, 3].map((id) => wx(id) ** 2), "noise 0");
  const noisy = { method: "smooth_grads", noise: 0.5, samples: 5, seed: 42 };
  const [x] = await tokenScores(items, explainOptions(noisy)!, backend);
  const [y] = await tokenScores(items, explainOptions(noisy)!, backend);
  const [z] = await tokenScores(items, explainOptions({ ...noisy, seed: 43 })!, backend);
  assert.deepEqual(x, y);
  assert.notDeepEqual(x, z);
  const { backend: b2, calls } = analyticBackend();
  await tokenScores(items, explainOptions(noisy)!, b2);
  const samples = calls[0].slice(0, 5).map((r) => Array.from(r.embeds).join());
  assert.equal(new Set(samples).size, 5, "fresh noise for every sample");
});

test("attention and scaled_attention: head-averaged first-token row, times its head-averaged gradient; QA reads every row", async () => {
  const { backend } = analyticBackend();
  const [a] = await tokenScores(items, explainOptions({ method: "attention" })!, backend);
  close(a, [1 / 3 / 2, 1 / 3 / 2, (1 / 3 + 1) / 2], "attention");
  const [, s] = await tokenScores(items, explainOptions({ method: "scaled_attention" })!, backend);
  // T = 2, c = -2: rows from token 0 are [½, ½] (head 0) and [0, 1] (head 1), gradients [0, -2] in both
  close(s, [((0.5 + 0) / 2) * 0, ((0.5 + 1) / 2) * -2], "scaled_attention");
  const qaItems = items.map((it) => ({ ...it, attentionRows: "all" as const }));
  const [, q] = await tokenScores(qaItems, explainOptions({ method: "scaled_attention" })!, backend);
  // only the first rows carry attention in this fake model, so every-row sums equal the first-row products
  close(q, [0, (0.5 * -2 + 1 * -2) / 2], "scaled_attention over every query row");
});

test("explainTargets: word scores per item sum to 1 and come back in SQuARE's shape", async () => {
  const { backend } = analyticBackend();
  const targets = items.map((it) => ({ ...it, wordText: (_s: number, pieces: number[]) => pieces.map((t) => `w${it.sequence.ids[t]}`).join("") }));
  const [attr] = await explainTargets(targets, explainOptions({ method: "simple_grads", top_k: 2 })!, backend);
  const squares = [1, 2, 3].map((id) => wx(id) ** 2);
  const total = squares.reduce((x, y) => x + y);
  assert.deepEqual(attr.context_tokens[0].map((w) => w[1]), ["w1", "w2", "w3"]);
  close(Float64Array.from(attr.context_tokens[0].map((w) => w[2])), squares.map((v) => v / total), "normalised");
  assert.equal(attr.topk_context_idx[0].length, 2);
  assert.equal(attr.topk_context_idx[0][0], squares.indexOf(Math.max(...squares)));
  assert.deepEqual(attr.question_tokens, [[], []]);
});
