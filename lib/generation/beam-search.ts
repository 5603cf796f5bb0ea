/**
 * Beam search with Hugging Face's semantics (the vectorised `_beam_search` of transformers ≥ 4.50,
 * PR #35802), as a step machine (types.ts), for a batch of prompts that each keep their own beams.
 *
 * Per prompt and step, with B = num_beams and V the vocabulary:
 *  1. each running beam's logits → log_softmax → processors (warpers too when sampling) → plus the
 *     beam's running score. At the first step the B beams are copies of the prompt with running
 *     scores [0, -1e9, …], so only beam 0 really counts; the prompt is computed once (one prefill
 *     row) and its row stands for all B copies.
 *  2. K = max(2, 1 + #eos) × B candidates over all B×V: the K best (ties: lower beam×V+token), or,
 *     when sampling, K drawn without replacement from the softmax of all B×V accumulated scores
 *     (kept in draw order, as torch.multinomial returns them).
 *  3. A candidate "hits" when its token is an eos or it reaches the prompt's maxNewTokens.
 *  4. Next running beams: the B best candidates after adding -1e9 to the hitting ones (so a
 *     finished candidate only runs on when fewer than B others exist, with that penalty).
 *  5. Finished hypotheses: a pool of B slots (placeholders at -1e9). Candidates among the first B
 *     of step 2 that hit are scored sum_logprobs / (generated incl. this token) ^ length_penalty and
 *     merged into the pool (best B kept), unless early_stopping is true and the pool is already all
 *     finished, or the heuristic below already said no improvement is possible.
 *  6. Heuristic (`_check_early_stop_heuristic`): improvement is possible while some pool slot is
 *     empty or best_running / L ^ length_penalty > worst finished, with L = generated so far, or
 *     maxNewTokens when early_stopping is "never" and length_penalty > 0. Once false, it stays false.
 *  7. The prompt is done when improvement is impossible, or early_stopping is true and all B slots
 *     hold finished hypotheses, or every candidate hit (the length limit).
 * The result is the best `num_return_sequences` finished hypotheses with their length-penalised
 * scores (HF's `sequences_scores`).
 *
 * Where this differs from HF, on purpose: HF runs a batch until every prompt is done and stops the
 * loop on batch-wide conditions; here each prompt stops on its own (the outcome is the same, since a
 * prompt that HF keeps running can no longer add hypotheses) and its rows leave the batch. Lengths
 * are per prompt and unpadded (HF counts left padding into max_length; with max_new_tokens the two
 * agree). Scores are float64 (HF: float32). HF errors when K exceeds B×V (tiny vocabularies) or when
 * sampling finds fewer than K candidates with non-zero probability; here K is capped at B×V and the
 * missing samples are the best remaining candidates.
 */
import { processRow, type ProcessorPlan } from "./logits-processors.ts";
import { logSoftmax, rankDescending, topKIndices } from "./row-math.ts";
import { sampleWithoutReplacement, type NoiseSource, type UniformSource } from "./random.ts";
import type { Decoding, DecodingPrompt, GeneratedSequence, PromptResult, StepOutcome, StepRow } from "./types.ts";
import type { EarlyStopping } from "./options.ts";

export interface BeamConfig {
  numBeams: number;
  numReturnSequences: number;
  lengthPenalty: number;
  earlyStopping: EarlyStopping;
  plan: ProcessorPlan;
  /** Beam sampling (do_sample with num_beams > 1): needs `noise`; one stream per prompt (sequence 0). */
  doSample?: boolean;
  noise?: NoiseSource;
  exposeProcessed?: boolean;
}

/** HF's "very large negative" that marks unusable scores. */
const NEG = -1e9;

interface Beam {
  tokens: number[];
  tokenScores: number[];
  score: number;
  /** This beam's row in the current `rows()`. */
  row: number;
}

interface Slot {
  score: number;
  finished: boolean;
  tokens: number[];
  tokenScores: number[];
}

interface PromptState {
  promptLength: number;
  maxNewTokens: number;
  generated: number;
  running: Beam[];
  pool: Slot[];
  improvable: boolean;
  done: boolean;
  first: boolean;
  rng?: UniformSource;
}

interface Candidate {
  beam: number;
  token: number;
  /** Running score + processed log-prob. */
  value: number;
  logprob: number;
  hit: boolean;
}

export class BeamSearch implements Decoding {
  private readonly prompts: PromptState[];
  private current: StepRow[] = [];
  private readonly eos: Set<number>;
  private readonly keep: number;

  constructor(
    private readonly config: BeamConfig,
    prompts: readonly DecodingPrompt[],
  ) {
    const B = config.numBeams;
    if (!(Number.isInteger(B) && B >= 1)) throw new RangeError(`numBeams must be a positive integer, got ${B}`);
    if (!(config.numReturnSequences >= 1 && config.numReturnSequences <= B)) throw new RangeError(`numReturnSequences must be between 1 and numBeams ${B}`);
    if (config.doSample && !config.noise) throw new RangeError("beam sampling needs a noise source");
    this.eos = new Set(config.plan.eosTokenIds);
    this.keep = Math.max(2, 1 + this.eos.size) * B;
    this.prompts = prompts.map((p, i) => {
      if (!(p.maxNewTokens >= 1)) throw new RangeError(`prompt ${i}: maxNewTokens must be at least 1, got ${p.maxNewTokens}`);
      if (p.tokens.length === 0) throw new RangeError(`prompt ${i} has no tokens`);
      return {
        promptLength: p.promptLength ?? p.tokens.length,
        maxNewTokens: p.maxNewTokens,
        generated: 0,
        running: Array.from({ length: B }, (_, b) => ({ tokens: [...p.tokens], tokenScores: [], score: b === 0 ? 0 : NEG, row: -1 })),
        pool: Array.from({ length: B }, () => ({ score: NEG, finished: false, tokens: [], tokenScores: [] })),
        improvable: true,
        done: false,
        first: true,
        rng: config.doSample ? config.noise!({ prompt: i, sequence: 0 }) : undefined,
      };
    });
    this.current = this.planRows();
  }

  get done(): boolean {
    return this.current.length === 0;
  }

  rows(): readonly StepRow[] {
    return this.current;
  }

  isFinished(prompt: number): boolean {
    return this.prompts[prompt].done;
  }

  result(prompt: number): PromptResult {
    const state = this.prompts[prompt];
    if (!state.done) throw new Error(`prompt ${prompt} is still searching`);
    const finished = state.pool.filter((s) => s.finished).slice(0, this.config.numReturnSequences);
    // Degenerate scores (every candidate -Infinity, e.g. forced BOS and forced EOS on the same step)
    // can leave slots unfinished: the best running beams fill them, so a prompt always gets
    // num_return_sequences sequences.
    const fillers: Slot[] = state.running.slice(0, this.config.numReturnSequences - finished.length).map((b) => ({
      score: b.score / Math.pow(Math.max(1, b.tokenScores.length), this.config.lengthPenalty),
      finished: false,
      tokens: b.tokens,
      tokenScores: b.tokenScores,
    }));
    const sequences: GeneratedSequence[] = [...finished, ...fillers]
      .map((s) => {
        const tokens = s.tokens.slice(s.tokens.length - s.tokenScores.length);
        return { tokens, finishReason: this.eos.has(tokens[tokens.length - 1]) ? "eos" : "length", tokenScores: s.tokenScores.slice(), score: s.score };
      });
    return { prompt, sequences };
  }

  absorb(logits: readonly ArrayLike<number>[]): StepOutcome {
    const rows = this.current;
    if (logits.length !== rows.length) throw new RangeError(`expected ${rows.length} logits rows, got ${logits.length}`);
    const processed = rows.map((row, r) => {
      const state = this.prompts[row.prompt];
      return processRow(logSoftmax(logits[r]), { tokens: row.tokens, promptLength: state.promptLength, maxNewTokens: state.maxNewTokens }, this.config.plan);
    });
    const outcome: StepOutcome = { emitted: [], finished: [] };
    if (this.config.exposeProcessed) outcome.processed = processed;
    const stepped = new Set<number>();
    for (const row of rows) {
      if (stepped.has(row.prompt)) continue;
      stepped.add(row.prompt);
      const state = this.prompts[row.prompt];
      // each running beam's processed row (at the first step all beams share the prefill row)
      const beamRows = state.running.map((beam) => processed[beam.row]);
      this.step(state, beamRows);
      if (state.done) outcome.finished.push(row.prompt);
    }
    this.current = this.planRows();
    return outcome;
  }

  /** Rows for the next step: one prefill row per prompt at first, then one row per running beam. */
  private planRows(): StepRow[] {
    const rows: StepRow[] = [];
    this.prompts.forEach((state, p) => {
      if (state.done) return;
      if (state.first) {
        const row = rows.length;
        rows.push({ prompt: p, slot: 0, parent: null, tokens: state.running[0].tokens.slice() });
        for (const beam of state.running) beam.row = row;
        return;
      }
      state.running.forEach((beam, b) => {
        rows.push({ prompt: p, slot: b, parent: beam.row, tokens: beam.tokens.slice() });
        beam.row = rows.length - 1;
      });
    });
    return rows;
  }

  /** One step of one prompt; `rows[b]` is beam b's processed log-prob row. */
  private step(state: PromptState, rows: Float32Array[]): void {
    const B = this.config.numBeams;
    const V = rows[0].length;
    const K = Math.min(this.keep, B * V);
    const candidates = this.config.doSample ? this.sampleCandidates(state, rows, K) : this.topCandidates(state, rows, K);
    const lastStep = state.generated + 1 >= state.maxNewTokens;
    for (const c of candidates) c.hit = lastStep || this.eos.has(c.token);

    // next running beams: the B best after pushing the hitting candidates down by 1e9
    const runScore = (c: Candidate) => c.value + (c.hit ? NEG : 0);
    const nextRunning: Beam[] = rankDescending(candidates.length, (k) => runScore(candidates[k]))
      .slice(0, B)
      .map((k) => this.extend(state, candidates[k], runScore(candidates[k])));

    // finished pool: merge the pool with the candidates, only the first B that hit count as finished
    const penalty = Math.pow(state.generated + 1, this.config.lengthPenalty);
    const poolFull = state.pool.every((s) => s.finished);
    const blocked = (this.config.earlyStopping === true && poolFull ? NEG : 0) + (state.improvable ? 0 : NEG);
    const merged = [
      ...state.pool.map((s) => ({ score: s.score, finished: s.finished, slot: s as Slot | null, k: -1 })),
      ...candidates.map((c, k) => {
        const eligible = k < B && c.hit;
        return { score: c.value / penalty + blocked + (eligible ? 0 : NEG), finished: eligible, slot: null, k };
      }),
    ];
    state.pool = rankDescending(merged.length, (i) => merged[i].score)
      .slice(0, B)
      .map((i) => {
        const m = merged[i];
        if (m.slot) return m.slot;
        const beam = this.extend(state, candidates[m.k], 0);
        return { score: m.score, finished: m.finished, tokens: beam.tokens, tokenScores: beam.tokenScores };
      });

    state.running = nextRunning;
    state.first = false;
    state.generated += 1;
    const lp = this.config.lengthPenalty;
    const hypotheticalLength = this.config.earlyStopping === "never" && lp > 0 ? state.maxNewTokens : state.generated;
    const bestPossible = state.running[0].score / Math.pow(hypotheticalLength, lp);
    const worstFinished = Math.min(...state.pool.map((s) => s.score));
    state.improvable = state.improvable && state.pool.some((s) => bestPossible > (s.finished ? worstFinished : NEG));
    state.done = !state.improvable || (this.config.earlyStopping === true && state.pool.every((s) => s.finished)) || candidates.every((c) => c.hit);
  }

  private extend(state: PromptState, c: Candidate, score: number): Beam {
    const parent = state.running[c.beam];
    return { tokens: [...parent.tokens, c.token], tokenScores: [...parent.tokenScores, c.logprob], score, row: parent.row };
  }

  /** The K best of running score + log-prob over all beams; per-beam top-K first, so no B×V array is built. */
  private topCandidates(state: PromptState, rows: Float32Array[], K: number): Candidate[] {
    const pool: Candidate[] = [];
    let shared: number[] | null = null;
    rows.forEach((row, b) => {
      const best = state.first ? (shared ??= topKIndices(row, K)) : topKIndices(row, K);
      for (const v of best) pool.push({ beam: b, token: v, value: state.running[b].score + row[v], logprob: row[v], hit: false });
    });
    const V = rows[0].length;
    return pool
      .sort((a, b) => b.value - a.value || a.beam * V + a.token - (b.beam * V + b.token) || 0)
      .slice(0, K);
  }

  /** K candidates drawn without replacement from softmax over all B×V accumulated scores, in draw order. */
  private sampleCandidates(state: PromptState, rows: Float32Array[], K: number): Candidate[] {
    const V = rows[0].length;
    const B = rows.length;
    const acc = new Float64Array(B * V);
    let max = -Infinity;
    rows.forEach((row, b) => {
      for (let v = 0; v < V; v++) {
        const x = state.running[b].score + row[v];
        acc[b * V + v] = x;
        if (x > max) max = x;
      }
    });
    const weights = acc.map((x) => (max === -Infinity ? 0 : Math.exp(x - max)));
    const picked = sampleWithoutReplacement(weights, K, state.rng!);
    if (picked.length < K) {
      const taken = new Set(picked);
      const rest = topKIndices(
        acc.map((x, i) => (taken.has(i) ? -Infinity : x)),
        K,
      ).filter((i) => !taken.has(i));
      picked.push(...rest.slice(0, K - picked.length));
    }
    return picked.map((f) => {
      const b = Math.floor(f / V);
      const v = f % V;
      return { beam: b, token: v, value: acc[f], logprob: rows[b][v], hit: false };
    });
  }
}
