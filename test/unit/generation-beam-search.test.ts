/**
 * Beam search (lib/generation/beam-search.ts) on synthetic "models": fixed tables of next-token
 * log-probabilities as a function of the prefix. Checked three ways, none of which calls the
 * library's own search code:
 *  - a hand-worked example (numbers in the comments);
 *  - brute force: with enough beams that nothing is pruned, and a stopping rule that is exact
 *    (length_penalty ≤ 0, or early_stopping "never"), the result must be the best complete sequences
 *    over all sequences enumerated;
 *  - a transcription of Hugging Face's vectorised `_beam_search` (transformers ≥ 4.50) in its own
 *    array style, on hundreds of random tables across lengths, penalties, early_stopping modes,
 *    eos counts, min_new_tokens and repetition penalty, and beam sampling with shared draws.
 * The driver also plays the caller's part: it keeps a per-row "KV cache" (the tokens it fed) that
 * it copies by `parent`, and checks that the cache always equals the row's history.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { BeamSearch, type BeamConfig } from "../../lib/generation/beam-search.ts";
import type { Decoding, DecodingPrompt, PromptResult } from "../../lib/generation/types.ts";
import type { EarlyStopping } from "../../lib/generation/options.ts";
import type { NoiseSource } from "../../lib/generation/random.ts";

type Model = (prefix: readonly number[]) => Float32Array;

/** A deterministic hash PRNG for the tables (independent of lib/generation/random.ts). */
function hashUnit(...parts: number[]): number {
  let h = 2166136261;
  for (const p of parts) {
    h ^= p + 0x9e37;
    h = Math.imul(h, 16777619);
    h ^= h >>> 13;
    h = Math.imul(h, 0x5bd1e995);
    h ^= h >>> 15;
  }
  return (h >>> 0) / 4294967296;
}

/** Random logits per prefix; eos ids get a bias so sequences end at varied lengths. */
function randomModel(seed: number, V: number, eos: readonly number[], eosBias = 0.5): Model {
  return (prefix) => {
    const row = new Float32Array(V);
    for (let v = 0; v < V; v++) row[v] = 4 * hashUnit(seed, prefix.length, ...prefix, -1, v) - 2 + (eos.includes(v) ? eosBias : 0);
    return row;
  };
}

/** A model given as probabilities per prefix (keys "a,b"); logits = log(p). */
function tableModel(table: Record<string, number[]>): Model {
  return (prefix) => {
    const p = table[prefix.join(",")];
    if (!p) throw new Error(`no table row for prefix ${prefix.join(",")}`);
    return Float32Array.from(p, Math.log);
  };
}

/** Plays the pipeline: runs the decoding with a simulated KV cache that follows `parent`. */
function drive(d: Decoding, model: Model, onStep?: (rows: number) => void): void {
  let caches: number[][] = [];
  for (let guard = 0; !d.done; guard++) {
    assert.ok(guard < 1000, "decoding does not end");
    const rows = d.rows();
    onStep?.(rows.length);
    const next = rows.map((row) => {
      const cache = row.parent === null ? [...row.tokens] : [...caches[row.parent], row.tokens[row.tokens.length - 1]];
      assert.deepEqual(cache, row.tokens, "the cache a row continues must hold exactly its history");
      return cache;
    });
    d.absorb(next.map((c) => model(c)));
    caches = next;
  }
}

function beamSearch(model: Model, prompts: DecodingPrompt[], config: Partial<BeamConfig> & { eos: number[] }): PromptResult[] {
  const d = new BeamSearch(
    { numBeams: 2, numReturnSequences: 1, lengthPenalty: 1, earlyStopping: false, plan: { eosTokenIds: config.eos }, ...config },
    prompts,
  );
  drive(d, model);
  return prompts.map((_, p) => d.result(p));
}

const close = (a: number, b: number, tol = 1e-9) => Math.abs(a - b) <= tol * Math.max(1, Math.abs(a), Math.abs(b));

// ---------------------------------------------------------------------------------------------
// Hand-worked example. Tokens: a=0, b=1, eos=2; prompt [7]; prefixes include the prompt.
//  step 1: P(a)=.5 P(b)=.4 P(eos)=.1
//  after a: P(a)=.3 P(b)=.3 P(eos)=.4      after b: P(a)=.05 P(b)=.05 P(eos)=.9
//  after a a: P(a)=.05 P(b)=.05 P(eos)=.9  after a b: P(a)=.25 P(b)=.25 P(eos)=.5
// Greedy: a (.5) then eos (.4) → "a eos".
// Beam, B=2, lp=1: step 1 keeps a (ln .5 = -0.693), b (ln .4 = -0.916); eos ranks 3rd, not among
// the first B, so it is not a hypothesis. Step 2 candidates: b·eos -1.021, a·eos -1.609, a·a -1.897,
// a·b -1.897: the first two finish with scores -1.021/2 = -0.511 and -1.609/2 = -0.805; a·a and a·b
// run on. Heuristic (early_stopping false): best running -1.897/2 = -0.949 ≤ worst finished -0.805,
// so the search stops: [b eos (-0.511), a eos (-0.805)].
// With early_stopping "never" (lp > 0 → the bound uses max_new_tokens 3): -1.897/3 = -0.632 > -0.805,
// so it goes on; at step 3 everything hits the length limit: a·a·eos = (-1.897 - 0.105)/3 = -0.667 and
// a·b·eos = (-1.897 - 0.693)/3 = -0.863 finish; best two overall: [b eos (-0.511), a a eos (-0.667)].
const handTable = tableModel({
  "7": [0.5, 0.4, 0.1],
  "7,0": [0.3, 0.3, 0.4],
  "7,1": [0.05, 0.05, 0.9],
  "7,0,0": [0.05, 0.05, 0.9],
  "7,0,1": [0.25, 0.25, 0.5],
});

test("hand-worked beam search: early_stopping false stops on the heuristic", () => {
  const [r] = beamSearch(handTable, [{ tokens: [7], maxNewTokens: 3 }], { eos: [2], numReturnSequences: 2 });
  assert.deepEqual(
    r.sequences.map((s) => s.tokens),
    [
      [1, 2],
      [0, 2],
    ],
  );
  assert.ok(close(r.sequences[0].score!, Math.log(0.4 * 0.9) / 2, 1e-6));
  assert.ok(close(r.sequences[1].score!, Math.log(0.5 * 0.4) / 2, 1e-6));
  assert.deepEqual(
    r.sequences[0].tokenScores.map((x) => +x.toFixed(5)),
    [Math.log(0.4), Math.log(0.9)].map((x) => +x.toFixed(5)),
  );
  assert.equal(r.sequences[0].finishReason, "eos");
});

test("hand-worked beam search: early_stopping \"never\" explores to max length", () => {
  const [r] = beamSearch(handTable, [{ tokens: [7], maxNewTokens: 3 }], { eos: [2], numReturnSequences: 2, earlyStopping: "never" });
  assert.deepEqual(
    r.sequences.map((s) => s.tokens),
    [
      [1, 2],
      [0, 0, 2],
    ],
  );
  assert.ok(close(r.sequences[1].score!, Math.log(0.5 * 0.3 * 0.9) / 3, 1e-6));
});

test("hand-worked beam search: length_penalty 0 ranks by the plain log-probability sum", () => {
  // scores: b eos ln .36 = -1.022; a eos ln .2 = -1.609; a a eos ln .135 = -2.002
  const [r] = beamSearch(handTable, [{ tokens: [7], maxNewTokens: 3 }], { eos: [2], numReturnSequences: 2, lengthPenalty: 0 });
  assert.deepEqual(
    r.sequences.map((s) => s.tokens),
    [
      [1, 2],
      [0, 2],
    ],
  );
  assert.ok(close(r.sequences[0].score!, Math.log(0.36), 1e-6));
});

test("a sequence that reaches max_new_tokens without eos finishes with reason length", () => {
  const [r] = beamSearch(handTable, [{ tokens: [7], maxNewTokens: 1 }], { eos: [2], numReturnSequences: 2 });
  // one step: the first B candidates (a, b) hit the length limit and finish, scored / 1
  assert.deepEqual(
    r.sequences.map((s) => [s.tokens, s.finishReason]),
    [
      [[0], "length"],
      [[1], "length"],
    ],
  );
  assert.ok(close(r.sequences[0].score!, Math.log(0.5), 1e-6));
});

// ---------------------------------------------------------------------------------------------
// Brute force

/** Every complete continuation (ends at an eos, or has maxNew tokens) with its sum of log-probs. */
function enumerate(model: Model, prompt: number[], maxNew: number, eos: number[]): { tokens: number[]; sum: number }[] {
  const out: { tokens: number[]; sum: number }[] = [];
  const walk = (gen: number[], sum: number) => {
    const logits = model([...prompt, ...gen]);
    const max = Math.max(...logits);
    const logZ = max + Math.log(logits.reduce((s, x) => s + Math.exp(x - max), 0));
    for (let v = 0; v < logits.length; v++) {
      const s = sum + Math.fround(logits[v] - logZ);
      const seq = [...gen, v];
      if (eos.includes(v) || seq.length === maxNew) out.push({ tokens: seq, sum: s });
      else walk(seq, s);
    }
  };
  walk([], 0);
  return out;
}

test("brute force: with no pruning and an exact stopping rule, beam search returns the best complete sequences", () => {
  // V = 3 (one eos), max 3 new tokens: at most 2^2 live prefixes × 3 tokens = 12 candidates, so 12
  // beams keep every candidate among the first B and lose nothing.
  const V = 3;
  const eos = [2];
  const cases: { lp: number; es: EarlyStopping }[] = [
    { lp: 0, es: false },
    { lp: -1, es: false },
    { lp: -0.5, es: "never" },
    { lp: 0.5, es: "never" },
    { lp: 1, es: "never" },
    { lp: 2, es: "never" },
  ];
  let checked = 0;
  for (let seed = 0; seed < 40; seed++) {
    const model = randomModel(seed, V, eos, seed % 3 === 0 ? 1.5 : 0);
    const prompt = [3 + (seed % 4)];
    for (const { lp, es } of cases) {
      const all = enumerate(model, prompt, 3, eos)
        .map((c) => ({ ...c, score: c.sum / Math.pow(c.tokens.length, lp) }))
        .sort((a, b) => b.score - a.score);
      const [r] = beamSearch(model, [{ tokens: prompt, maxNewTokens: 3 }], { eos, numBeams: 12, numReturnSequences: 3, lengthPenalty: lp, earlyStopping: es });
      assert.equal(r.sequences.length, 3);
      r.sequences.forEach((s, i) => {
        assert.ok(close(s.score!, all[i].score, 1e-6), `seed ${seed} lp ${lp} es ${es} rank ${i}: ${s.score} vs ${all[i].score}`);
        // ties in score may order differently; the sequence must at least be one with that score
        assert.ok(all.some((c) => close(c.score, s.score!, 1e-6) && c.tokens.join() === s.tokens.join()), `seed ${seed}: ${s.tokens} is not a complete sequence with score ${s.score}`);
      });
      checked++;
    }
  }
  assert.equal(checked, 240);
});

// ---------------------------------------------------------------------------------------------
// Hugging Face's `_beam_search`, transcribed in its tensor style (one prompt; the batch dimension
// is checked separately by comparing batched runs with single ones).

interface RefConfig {
  B: number;
  maxNew: number;
  lp: number;
  es: EarlyStopping;
  eos: number[];
  nRet: number;
  minNew?: number;
  repetition?: number;
  /** Beam sampling: the uniforms, consumed K per step in draw order. */
  draws?: () => number;
}

function hfReference(model: Model, prompt: number[], c: RefConfig): { tokens: number[]; score: number }[] {
  const NEG = -1e9;
  const promptLen = prompt.length;
  const maxLength = promptLen + c.maxNew;
  let runSeqs: number[][] = Array.from({ length: c.B }, () => [...prompt]);
  let runScores: number[] = Array.from({ length: c.B }, (_, b) => (b === 0 ? 0 : NEG));
  let seqs: number[][] = Array.from({ length: c.B }, () => [...prompt]);
  let scores = Array.from({ length: c.B }, () => NEG);
  let fin = Array.from({ length: c.B }, () => false);
  let unsat = true;
  let curLen = promptLen;
  const topk = (xs: number[], k: number) =>
    xs
      .map((x, i) => [x, i] as const)
      .sort((a, b) => b[0] - a[0] || a[1] - b[1])
      .slice(0, k)
      .map(([, i]) => i);
  for (;;) {
    const V = model(runSeqs[0]).length;
    const K = Math.min(Math.max(2, 1 + c.eos.length) * c.B, c.B * V);
    // b. log-probs (float32, as torch), processors, plus running scores
    const acc: number[] = [];
    runSeqs.forEach((s, b) => {
      const logits = model(s);
      const max = Math.max(...logits);
      const logZ = max + Math.log(logits.reduce((t, x) => t + Math.exp(x - max), 0));
      const lps = Array.from(logits, (x) => Math.fround(x - logZ));
      if (c.repetition !== undefined) for (const t of new Set(s)) lps[t] = Math.fround(lps[t] < 0 ? lps[t] * c.repetition : lps[t] / c.repetition);
      if (c.minNew !== undefined && s.length - promptLen < c.minNew) for (const e of c.eos) lps[e] = -Infinity;
      for (let v = 0; v < V; v++) acc.push(lps[v] + runScores[b]);
    });
    // c. top-K continuations (or K sampled without replacement, in draw order)
    let idx: number[];
    if (c.draws) {
      const m = Math.max(...acc);
      const w = acc.map((x) => (m === -Infinity ? 0 : Math.exp(x - m)));
      idx = [];
      while (idx.length < K) {
        const total = w.reduce((s, x) => s + x, 0);
        if (!(total > 0)) break;
        const target = c.draws() * total;
        let cum = 0;
        let pick = -1;
        for (let i = 0; i < w.length; i++) {
          if (w[i] <= 0) continue;
          cum += w[i];
          pick = i;
          if (cum > target) break;
        }
        idx.push(pick);
        w[pick] = 0;
      }
      if (idx.length < K) idx.push(...topk(acc.map((x, i) => (idx.includes(i) ? -Infinity : x)), K).filter((i) => !idx.includes(i)).slice(0, K - idx.length));
    } else idx = topk(acc, K);
    const topLP = idx.map((i) => acc[i]);
    const topSeqs = idx.map((i) => [...runSeqs[Math.floor(i / V)], i % V]);
    // d. stopping criteria per candidate
    const hits = topSeqs.map((s) => c.eos.includes(s[s.length - 1]) || s.length >= maxLength);
    // e. running beams for the next iteration
    const runLP = topLP.map((x, k) => x + (hits[k] ? NEG : 0));
    const nextRun = topk(runLP, c.B);
    const newRunSeqs = nextRun.map((k) => topSeqs[k]);
    const newRunScores = nextRun.map((k) => runLP[k]);
    // f. finished beams
    const did = hits.map((h, k) => h && k < c.B);
    const allFin = fin.every(Boolean);
    const t = topLP.map((x, k) => x / Math.pow(curLen + 1 - promptLen, c.lp) + (allFin && c.es === true ? NEG : 0) + (unsat ? 0 : NEG) + (did[k] ? 0 : NEG));
    const mScores = [...scores, ...t];
    const mSeqs = [...seqs, ...topSeqs];
    const mFin = [...fin, ...did];
    const keep = topk(mScores, c.B);
    seqs = keep.map((i) => mSeqs[i]);
    scores = keep.map((i) => mScores[i]);
    fin = keep.map((i) => mFin[i]);
    runSeqs = newRunSeqs;
    runScores = newRunScores;
    curLen += 1;
    // g. early-stop heuristic and loop condition
    const hyp = c.es === "never" && c.lp > 0 ? maxLength - promptLen : curLen - promptLen;
    const best = runScores[0] / Math.pow(hyp, c.lp);
    const worst = Math.min(...scores);
    unsat = unsat && fin.some((f) => best > (f ? worst : NEG));
    const improvementPossible = unsat;
    const existsOpenBeam = !(fin.every(Boolean) && c.es === true);
    const validContinuations = !hits.every(Boolean);
    if (!(improvementPossible && existsOpenBeam && validContinuations)) break;
  }
  return seqs
    .slice(0, c.nRet)
    .map((s, i) => ({ tokens: s.slice(promptLen), score: scores[i], finished: fin[i] }))
    .filter((s) => s.finished)
    .map(({ tokens, score }) => ({ tokens, score }));
}

/** A small deterministic PRNG for picking test cases. */
function cases(seed: number) {
  let s = seed >>> 0 || 1;
  return (n: number) => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s % n;
  };
}

function randomCase(seed: number) {
  const pick = cases(seed * 7919 + 13);
  const V = 4 + pick(5);
  const nEos = 1 + pick(2);
  const eos = nEos === 1 ? [pick(V)] : [0, V - 1];
  const B = 1 + pick(4);
  const lp = [-1, 0, 0.5, 1, 2][pick(5)];
  const es: EarlyStopping = ([false, true, "never"] as const)[pick(3)];
  const maxNew = 1 + pick(6);
  const nRet = 1 + pick(B);
  const prompt = Array.from({ length: 1 + pick(3) }, () => pick(V));
  const minNew = pick(3) === 0 ? pick(maxNew + 1) : undefined;
  const repetition = pick(4) === 0 ? [0.7, 1.3, 2][pick(3)] : undefined;
  return { V, eos, B, lp, es, maxNew, nRet, prompt, minNew, repetition, bias: [0, 0.5, 1.5][pick(3)] };
}

function libraryRun(model: Model, k: ReturnType<typeof randomCase>, noise?: NoiseSource): { tokens: number[]; score: number }[] {
  const [r] = beamSearch(model, [{ tokens: k.prompt, maxNewTokens: k.maxNew }], {
    eos: k.eos,
    numBeams: k.B,
    numReturnSequences: k.nRet,
    lengthPenalty: k.lp,
    earlyStopping: k.es,
    plan: { eosTokenIds: k.eos, minNewTokens: k.minNew || undefined, repetitionPenalty: k.repetition },
    doSample: noise !== undefined,
    noise,
  });
  return r.sequences.map((s) => ({ tokens: s.tokens, score: s.score! }));
}

test("matches Hugging Face's vectorised beam search on 600 random tables (all early_stopping modes, penalties, eos counts)", () => {
  let differingModes = 0;
  for (let seed = 0; seed < 600; seed++) {
    const k = randomCase(seed);
    const model = randomModel(seed, k.V, k.eos, k.bias);
    const expected = hfReference(model, k.prompt, { B: k.B, maxNew: k.maxNew, lp: k.lp, es: k.es, eos: k.eos, nRet: k.nRet, minNew: k.minNew || undefined, repetition: k.repetition });
    const got = libraryRun(model, k);
    const where = `seed ${seed} ${JSON.stringify(k)}`;
    assert.deepEqual(
      got.map((s) => s.tokens),
      expected.map((s) => s.tokens),
      where,
    );
    got.forEach((s, i) => assert.ok(close(s.score, expected[i].score, 1e-9), `${where}: score ${s.score} vs ${expected[i].score}`));
    // the modes must matter somewhere, or this test would not tell them apart
    const other: EarlyStopping = k.es === true ? false : true;
    const alt = hfReference(model, k.prompt, { B: k.B, maxNew: k.maxNew, lp: k.lp, es: other, eos: k.eos, nRet: k.nRet, minNew: k.minNew || undefined, repetition: k.repetition });
    if (JSON.stringify(alt) !== JSON.stringify(expected)) differingModes++;
  }
  assert.ok(differingModes > 10, `early_stopping changed the result in only ${differingModes} cases`);
});

test("beam sampling matches the reference when both consume the same uniform draws", () => {
  for (let seed = 0; seed < 200; seed++) {
    const k = randomCase(seed + 10_000);
    const model = randomModel(seed, k.V, k.eos, k.bias);
    const stream = () => {
      const pick = cases(seed * 31 + 7);
      return () => pick(1_000_000) / 1_000_000;
    };
    const refDraws = stream();
    const expected = hfReference(model, k.prompt, { B: k.B, maxNew: k.maxNew, lp: k.lp, es: k.es, eos: k.eos, nRet: k.nRet, minNew: k.minNew || undefined, repetition: k.repetition, draws: refDraws });
    const libDraws = stream();
    const got = libraryRun(model, k, () => ({ next: libDraws }));
    // The finished hypotheses equal the reference's; when degenerate scores leave fewer than
    // num_return_sequences finished, the best running beams fill the rest (HF pads with empty rows).
    assert.deepEqual(
      got.slice(0, expected.length).map((s) => s.tokens),
      expected.map((s) => s.tokens),
      `seed ${seed} ${JSON.stringify(k)}`,
    );
    assert.equal(got.length, k.nRet, `seed ${seed}: every prompt gets num_return_sequences sequences`);
  }
});

test("a batch of prompts of different lengths and limits gives each prompt its single-prompt result; finished prompts leave the batch", () => {
  const V = 7;
  const eos = [3];
  const model = randomModel(99, V, eos, 0.3);
  const prompts: DecodingPrompt[] = [
    { tokens: [1], maxNewTokens: 6 },
    { tokens: [2, 5, 6, 0], maxNewTokens: 2 },
    { tokens: [4, 4], maxNewTokens: 5 },
    { tokens: [0, 1, 2], maxNewTokens: 1 },
  ];
  const config = { eos, numBeams: 3, numReturnSequences: 2, lengthPenalty: 1.2, earlyStopping: "never" as const };
  const d = new BeamSearch({ ...config, plan: { eosTokenIds: eos } }, prompts);
  const rowCounts: number[] = [];
  drive(d, model, (n) => rowCounts.push(n));
  prompts.forEach((p, i) => assert.deepEqual(d.result(i), { ...beamSearch(model, [p], config)[0], prompt: i }));
  // first step: one prefill row per prompt; then 3 beams per running prompt, fewer as prompts finish
  assert.equal(rowCounts[0], 4);
  assert.equal(rowCounts[1], 9); // the max_new_tokens 1 prompt finished in step 1
  assert.ok(rowCounts.every((n, i) => i === 0 || n <= 9) && rowCounts[rowCounts.length - 1] <= 3);
});

test("two decodings interleaved in one batch (continuous batching) give the same results as alone", () => {
  const eos = [0];
  const model = randomModel(5, 6, eos);
  const a = new BeamSearch({ numBeams: 2, numReturnSequences: 2, lengthPenalty: 1, earlyStopping: false, plan: { eosTokenIds: eos } }, [{ tokens: [1, 2], maxNewTokens: 5 }]);
  const b = new BeamSearch({ numBeams: 4, numReturnSequences: 1, lengthPenalty: 0.5, earlyStopping: true, plan: { eosTokenIds: eos } }, [{ tokens: [3], maxNewTokens: 4 }]);
  while (!a.done || !b.done) {
    const ra = a.rows();
    const rb = b.rows();
    const logits = [...ra, ...rb].map((r) => model(r.tokens));
    if (!a.done) a.absorb(logits.slice(0, ra.length));
    if (!b.done) b.absorb(logits.slice(ra.length));
  }
  assert.deepEqual(a.result(0), beamSearch(model, [{ tokens: [1, 2], maxNewTokens: 5 }], { eos, numBeams: 2, numReturnSequences: 2 })[0]);
  assert.deepEqual(b.result(0), beamSearch(model, [{ tokens: [3], maxNewTokens: 4 }], { eos, numBeams: 4, lengthPenalty: 0.5, earlyStopping: true })[0]);
});

test("step protocol: parents point into the previous step, results only once finished, wrong row counts refused", () => {
  const eos = [2];
  const d = new BeamSearch({ numBeams: 2, numReturnSequences: 1, lengthPenalty: 1, earlyStopping: false, plan: { eosTokenIds: eos } }, [{ tokens: [7], maxNewTokens: 3 }]);
  assert.deepEqual(d.rows(), [{ prompt: 0, slot: 0, parent: null, tokens: [7] }]);
  assert.throws(() => d.result(0), /still searching/);
  assert.throws(() => d.absorb([]), /expected 1 logits rows/);
  const outcome = d.absorb([handTable([7])]);
  assert.deepEqual(outcome, { emitted: [], finished: [] });
  assert.deepEqual(
    d.rows().map((r) => [r.parent, r.tokens]),
    [
      [0, [7, 0]],
      [0, [7, 1]],
    ],
  );
  const second = d.absorb(d.rows().map((r) => handTable(r.tokens)));
  assert.deepEqual(second.finished, [0]);
  assert.equal(d.done, true);
  assert.deepEqual(d.rows(), []);
});

test("exposeProcessed returns the processed log-prob rows of the step", () => {
  const d = new BeamSearch({ numBeams: 2, numReturnSequences: 1, lengthPenalty: 1, earlyStopping: false, plan: { eosTokenIds: [2], minNewTokens: 1 }, exposeProcessed: true }, [{ tokens: [7], maxNewTokens: 3 }]);
  const { processed } = d.absorb([handTable([7])]);
  assert.equal(processed!.length, 1);
  assert.ok(close(processed![0][0], Math.log(0.5), 1e-6));
  assert.equal(processed![0][2], -Infinity); // eos banned before the first new token
});

test("invalid configurations are refused", () => {
  const plan = { eosTokenIds: [1] };
  assert.throws(() => new BeamSearch({ numBeams: 2, numReturnSequences: 3, lengthPenalty: 1, earlyStopping: false, plan }, []), /numReturnSequences/);
  assert.throws(() => new BeamSearch({ numBeams: 2, numReturnSequences: 1, lengthPenalty: 1, earlyStopping: false, plan }, [{ tokens: [1], maxNewTokens: 0 }]), /maxNewTokens/);
  assert.throws(() => new BeamSearch({ numBeams: 2, numReturnSequences: 1, lengthPenalty: 1, earlyStopping: false, plan, doSample: true }, []), /noise/);
});
