/**
 * Greedy decoding, multinomial sampling (lib/generation/greedy.ts), the per-request PRNG and fixed
 * draws (lib/generation/random.ts), and the entry point createDecoding (lib/generation/decoding.ts).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { SampleDecoding, chooseToken } from "../../lib/generation/greedy.ts";
import { fixedNoise, resolveSeed, sampleIndex, sampleWithoutReplacement, seededNoise, Xoshiro128 } from "../../lib/generation/random.ts";
import { createDecoding, decodingMethod } from "../../lib/generation/decoding.ts";
import { parseGenerationOptions } from "../../lib/generation/options.ts";
import type { Decoding, PromptResult } from "../../lib/generation/types.ts";

type Model = (prefix: readonly number[]) => Float32Array;

function randomModel(seed: number, V: number): Model {
  return (prefix) =>
    Float32Array.from({ length: V }, (_, v) => {
      let h = seed ^ 0x811c9dc5;
      for (const t of [prefix.length, ...prefix, -1, v]) h = Math.imul(h ^ (t + 0x9e37), 16777619) ^ (h >>> 15);
      return ((h >>> 0) / 4294967296) * 4 - 2;
    });
}

/** Runs a decoding with a simulated per-row cache that follows `parent`. */
function drive(d: Decoding, model: Model, rowsPerStep: number[] = []): void {
  let caches: number[][] = [];
  while (!d.done) {
    const rows = d.rows();
    rowsPerStep.push(rows.length);
    caches = rows.map((row) => {
      const cache = row.parent === null ? [...row.tokens] : [...caches[row.parent], row.tokens[row.tokens.length - 1]];
      assert.deepEqual(cache, row.tokens);
      return cache;
    });
    d.absorb(caches.map((c) => model(c)));
  }
}

const results = (d: Decoding, n: number): PromptResult[] => Array.from({ length: n }, (_, p) => d.result(p));

const options = (kw: Record<string, unknown>) => {
  const { options, problems } = parseGenerationOptions({ task_kwargs: kw, model_kwargs: {} });
  assert.deepEqual(problems, []);
  return options!;
};

// ---- random.ts -------------------------------------------------------------------------------

test("inverse CDF: the smallest index whose running sum exceeds u × total; zero weights never picked", () => {
  const w = [0.5, 0.3, 0.2];
  assert.equal(sampleIndex(w, 0), 0);
  assert.equal(sampleIndex(w, 0.49), 0);
  assert.equal(sampleIndex(w, 0.5), 1); // cum 0.5 is not > 0.5
  assert.equal(sampleIndex(w, 0.79), 1);
  assert.equal(sampleIndex(w, 0.81), 2);
  assert.equal(sampleIndex([0, 2, 0, 2], 0.5), 3);
  assert.equal(sampleIndex([0, 0], 0.3), -1);
  assert.equal(sampleIndex([1, 1, 0], 0.9999999999999999), 1);
});

test("sampling without replacement: one draw each, in draw order, stops when the mass runs out", () => {
  const draws = [0.9, 0.0, 0.5];
  let i = 0;
  const picked = sampleWithoutReplacement([0.1, 0.6, 0.3, 0], 4, { next: () => draws[i++] });
  // draw 0.9 of 1.0 → index 2 (cum .1 .7 1.0); then weights .1 .6 → 0 → index 0; then .6 alone → 1; no mass left for index 3
  assert.deepEqual(picked, [2, 0, 1]);
  assert.equal(i, 3);
});

test("the PRNG: reproducible per seed, independent streams, uniform in [0, 1)", () => {
  const take = (src: { next(): number }, n: number) => Array.from({ length: n }, () => src.next());
  const a = seededNoise(1234);
  assert.deepEqual(take(a({ prompt: 0, sequence: 0 }), 20), take(seededNoise(1234)({ prompt: 0, sequence: 0 }), 20));
  const streams = [seededNoise(1234)({ prompt: 0, sequence: 1 }), seededNoise(1234)({ prompt: 1, sequence: 0 }), seededNoise(1235)({ prompt: 0, sequence: 0 }), seededNoise(-1234)({ prompt: 0, sequence: 0 })];
  const first = take(a({ prompt: 0, sequence: 0 }), 8).join();
  for (const s of streams) assert.notEqual(take(s, 8).join(), first);
  // a coarse uniformity check: 10 bins of 20 000 draws, each within 5% of the expected count
  const bins = new Array(10).fill(0);
  const src = new Xoshiro128(99);
  for (let i = 0; i < 20_000; i++) {
    const u = src.next();
    assert.ok(u >= 0 && u < 1);
    bins[Math.floor(u * 10)]++;
  }
  for (const b of bins) assert.ok(Math.abs(b - 2000) < 100, `bin count ${b}`);
  assert.throws(() => seededNoise(1.5), /safe integer/);
});

test("fresh seeds differ; a given seed is kept", () => {
  assert.equal(resolveSeed(7), 7);
  const fresh = new Set(Array.from({ length: 20 }, () => resolveSeed()));
  assert.equal(fresh.size, 20);
  for (const s of fresh) assert.ok(Number.isSafeInteger(s) && s >= 0);
});

test("fixed draws replay per stream and fail loudly when they run out or leave [0, 1)", () => {
  const noise = fixedNoise([[[0.1, 0.2]], [[0.3], [0.4]]]);
  const s = noise({ prompt: 1, sequence: 1 });
  assert.equal(s.next(), 0.4);
  assert.throws(() => s.next(), /ran out/);
  assert.throws(() => noise({ prompt: 2, sequence: 0 }), /no fixed draws/);
  assert.throws(() => fixedNoise([[[1]]])({ prompt: 0, sequence: 0 }).next(), /outside/);
});

// ---- greedy ----------------------------------------------------------------------------------

test("greedy follows the argmax chain (first index on ties) and stops at eos or max_new_tokens", () => {
  const V = 6;
  const eos = 5;
  for (let seed = 0; seed < 50; seed++) {
    const model = randomModel(seed, V);
    const prompt = [seed % V, 1];
    // independent expectation: a plain loop
    const expected: number[] = [];
    let reason = "length";
    while (expected.length < 8) {
      const logits = model([...prompt, ...expected]);
      let best = 0;
      for (let v = 1; v < V; v++) if (logits[v] > logits[best]) best = v;
      expected.push(best);
      if (best === eos) {
        reason = "eos";
        break;
      }
    }
    const d = new SampleDecoding({ doSample: false, numReturnSequences: 1, plan: { eosTokenIds: [eos] } }, [{ tokens: prompt, maxNewTokens: 8 }]);
    drive(d, model);
    const [seq] = d.result(0).sequences;
    assert.deepEqual(seq.tokens, expected, `seed ${seed}`);
    assert.equal(seq.finishReason, reason);
    assert.deepEqual(
      seq.tokenScores,
      expected.map((t, i) => model([...prompt, ...expected.slice(0, i)])[t]),
    );
  }
  assert.equal(chooseToken([1, 3, 3]), 1);
  assert.equal(chooseToken([-Infinity, -Infinity]), 0);
});

test("a batch: prompts of different lengths finish independently and leave the batch; results equal single runs", () => {
  const model = randomModel(3, 8);
  const prompts = [
    { tokens: [1], maxNewTokens: 7 },
    { tokens: [2, 3, 4], maxNewTokens: 2 },
    { tokens: [5, 6], maxNewTokens: 4 },
  ];
  const plan = { eosTokenIds: [7], repetitionPenalty: 1.5 };
  const d = new SampleDecoding({ doSample: false, numReturnSequences: 1, plan }, prompts);
  const rowsPerStep: number[] = [];
  drive(d, model, rowsPerStep);
  prompts.forEach((p, i) => {
    const alone = new SampleDecoding({ doSample: false, numReturnSequences: 1, plan }, [p]);
    drive(alone, model);
    assert.deepEqual(d.result(i).sequences, alone.result(0).sequences);
  });
  assert.deepEqual(rowsPerStep.slice(0, 2), [3, 3]);
  assert.ok(rowsPerStep[2] <= 2 && rowsPerStep.length <= 7);
});

test("min_new_tokens keeps eos out until reached; streaming outcome reports each token and finished prompts", () => {
  // a model that always prefers eos (token 0)
  const model: Model = () => Float32Array.from([5, 1, 0]);
  const d = new SampleDecoding({ doSample: false, numReturnSequences: 1, plan: { eosTokenIds: [0], minNewTokens: 2 } }, [{ tokens: [1], maxNewTokens: 5 }]);
  const emitted: number[] = [];
  let finished: number[] = [];
  while (!d.done) {
    const o = d.absorb(d.rows().map((r) => model(r.tokens)));
    emitted.push(...o.emitted.map((e) => e.token));
    finished = o.finished;
  }
  assert.deepEqual(emitted, [1, 1, 0]);
  assert.deepEqual(finished, [0]);
  assert.deepEqual(d.result(0).sequences[0].tokens, [1, 1, 0]);
});

// ---- sampling --------------------------------------------------------------------------------

test("sampling with fixed draws picks by inverse CDF over softmax of the processed row", () => {
  // logits ln(.5), ln(.3), ln(.2): draws 0.6 → 1, 0.1 → 0, 0.95 → 2
  const model: Model = () => Float32Array.from([0.5, 0.3, 0.2], Math.log);
  const d = new SampleDecoding({ doSample: true, numReturnSequences: 1, plan: { eosTokenIds: [], warpers: { minTokensToKeep: 1 } }, noise: fixedNoise([[[0.6, 0.1, 0.95]]]) }, [{ tokens: [0], maxNewTokens: 3 }]);
  drive(d, model);
  assert.deepEqual(d.result(0).sequences[0].tokens, [1, 0, 2]);
  // with top_k 1 every draw gives the top token
  const k1 = new SampleDecoding({ doSample: true, numReturnSequences: 1, plan: { eosTokenIds: [], warpers: { topK: 1, minTokensToKeep: 1 } }, noise: fixedNoise([[[0.6, 0.1, 0.95]]]) }, [{ tokens: [0], maxNewTokens: 3 }]);
  drive(k1, model);
  assert.deepEqual(k1.result(0).sequences[0].tokens, [0, 0, 0]);
});

test("num_return_sequences copies share the prefill row, then run as their own rows with their own streams", () => {
  const model = randomModel(11, 50);
  const { decoding } = createDecoding(options({ do_sample: true, num_return_sequences: 3, max_new_tokens: 4, seed: 5, top_k: 0 }), [{ tokens: [1, 2] }]);
  const rowsPerStep: number[] = [];
  drive(decoding, model, rowsPerStep);
  assert.deepEqual(rowsPerStep, [1, 3, 3, 3]);
  const seqs = decoding.result(0).sequences.map((s) => s.tokens.join());
  assert.equal(new Set(seqs).size, 3, "three copies drawing independently should differ on a 50-token vocabulary");
});

test("a seed reproduces a request; requests with other seeds, or interleaved with others, are unaffected", () => {
  const model = randomModel(21, 30);
  const prompts = [{ tokens: [1] }, { tokens: [4, 2, 9] }];
  const run = (kw: Record<string, unknown>) => {
    const { decoding } = createDecoding(options({ do_sample: true, max_new_tokens: 12, ...kw }), prompts);
    drive(decoding, model);
    return results(decoding, 2);
  };
  const a = run({ seed: 42, num_return_sequences: 2 });
  assert.deepEqual(run({ seed: 42, num_return_sequences: 2 }), a);
  assert.notDeepEqual(run({ seed: 43, num_return_sequences: 2 }), a);
  // two requests stepped in one batch, alternating which goes first
  const x = createDecoding(options({ do_sample: true, max_new_tokens: 12, seed: 42, num_return_sequences: 2 }), prompts).decoding;
  const y = createDecoding(options({ do_sample: true, max_new_tokens: 12, seed: 42, num_return_sequences: 2, temperature: 3 }), prompts).decoding;
  for (let step = 0; !x.done || !y.done; step++) {
    const order = step % 2 ? [x, y] : [y, x];
    const rows = order.map((d) => d.rows());
    const logits = rows.flat().map((r) => model(r.tokens));
    let at = 0;
    order.forEach((d, i) => {
      const n = rows[i].length;
      if (n) d.absorb(logits.slice(at, at + n));
      at += n;
    });
  }
  assert.deepEqual(results(x, 2), a);
  assert.notDeepEqual(results(y, 2), a);
  // no seed: a fresh one is drawn and reported, and replaying it reproduces the run
  const fresh = createDecoding(options({ do_sample: true, max_new_tokens: 12 }), prompts);
  drive(fresh.decoding, model);
  assert.ok(Number.isSafeInteger(fresh.seed));
  assert.deepEqual(run({ seed: fresh.seed }), results(fresh.decoding, 2));
});

test("createDecoding picks the method as HF does and resolves max_length per prompt", () => {
  assert.equal(decodingMethod({ numBeams: 1, doSample: false }), "greedy");
  assert.equal(decodingMethod({ numBeams: 1, doSample: true }), "sample");
  assert.equal(decodingMethod({ numBeams: 4, doSample: false }), "beam_search");
  assert.equal(decodingMethod({ numBeams: 4, doSample: true }), "beam_sample");
  const model: Model = () => Float32Array.from([0, 1]); // never eos (none set): always token 1
  const { decoding, seed } = createDecoding(options({ max_length: 6 }), [{ tokens: [0, 0] }, { tokens: [0, 0, 0, 0, 0] }, { tokens: [0], promptLength: 1 }]);
  assert.equal(seed, undefined);
  drive(decoding, model);
  assert.deepEqual(
    results(decoding, 3).map((r) => r.sequences[0].tokens.length),
    [4, 1, 5],
  );
  const beam = createDecoding(options({ num_beams: 3, num_return_sequences: 2, max_new_tokens: 2 }), [{ tokens: [0] }]);
  assert.equal(beam.method, "beam_search");
  drive(beam.decoding, randomModel(1, 9));
  assert.equal(beam.decoding.result(0).sequences.length, 2);
});

test("greedy refuses several return sequences; sampling needs noise", () => {
  assert.throws(() => new SampleDecoding({ doSample: false, numReturnSequences: 2, plan: { eosTokenIds: [] } }, []), /one sequence/);
  assert.throws(() => new SampleDecoding({ doSample: true, numReturnSequences: 1, plan: { eosTokenIds: [] } }, []), /noise/);
  assert.throws(() => new SampleDecoding({ doSample: false, numReturnSequences: 1, plan: { eosTokenIds: [] } }, [{ tokens: [], maxNewTokens: 1 }]), /no tokens/);
});
