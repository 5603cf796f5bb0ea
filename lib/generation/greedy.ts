/**
 * Greedy decoding and multinomial sampling (HF `_sample`), as a step machine (types.ts).
 *
 * Per step and row: processors (warpers only when sampling) → argmax, or softmax and one uniform
 * draw from the sequence's own stream (random.ts `sampleIndex`). A sequence ends at an eos or at its
 * prompt's `maxNewTokens`, and then leaves the batch (HF keeps finished rows and feeds them pad
 * tokens until every row is done; the tokens up to the end are the same).
 *
 * `num_return_sequences` copies of a prompt (sampling only) share the prompt's prefill row: its
 * processed row is computed once and each copy draws its first token from it with its own stream,
 * which is what HF's `repeat_interleave` expansion amounts to. From the second step each copy is
 * its own row continuing its own cache.
 */
import { processRow, type ProcessorPlan } from "./logits-processors.ts";
import { argmax, softmax } from "./row-math.ts";
import { sampleIndex, type NoiseSource, type UniformSource } from "./random.ts";
import type { Decoding, DecodingPrompt, FinishReason, GeneratedSequence, PromptResult, StepOutcome, StepRow } from "./types.ts";

export interface SamplingConfig {
  doSample: boolean;
  /** Copies per prompt; must be 1 for greedy decoding. */
  numReturnSequences: number;
  plan: ProcessorPlan;
  /** Required when `doSample` (random.ts `seededNoise` / `fixedNoise`). */
  noise?: NoiseSource;
  /** Return the processed rows in each step's outcome (for `output_scores` as full rows). */
  exposeProcessed?: boolean;
}

/** Greedy: the first maximal index. Sampling: inverse CDF of softmax(row) at a fresh draw; argmax when the row has no mass. */
export function chooseToken(processed: ArrayLike<number>, rng?: UniformSource): number {
  if (!rng) return argmax(processed);
  const picked = sampleIndex(softmax(processed), rng.next());
  return picked >= 0 ? picked : argmax(processed);
}

interface Sequence {
  tokens: number[];
  tokenScores: number[];
  finish: FinishReason | null;
  rng?: UniformSource;
}

interface PromptState {
  promptLength: number;
  maxNewTokens: number;
  sequences: Sequence[];
}

export class SampleDecoding implements Decoding {
  private readonly prompts: PromptState[];
  private current: StepRow[] = [];
  private readonly eos: Set<number>;

  constructor(
    private readonly config: SamplingConfig,
    prompts: readonly DecodingPrompt[],
  ) {
    if (!config.doSample && config.numReturnSequences !== 1) throw new RangeError("greedy decoding returns one sequence per prompt");
    if (config.doSample && !config.noise) throw new RangeError("sampling needs a noise source");
    this.eos = new Set(config.plan.eosTokenIds);
    this.prompts = prompts.map((p, i) => {
      if (!(p.maxNewTokens >= 1)) throw new RangeError(`prompt ${i}: maxNewTokens must be at least 1, got ${p.maxNewTokens}`);
      if (p.tokens.length === 0) throw new RangeError(`prompt ${i} has no tokens`);
      const sequences = Array.from({ length: config.numReturnSequences }, (_, s) => ({
        tokens: [...p.tokens],
        tokenScores: [],
        finish: null,
        rng: config.doSample ? config.noise!({ prompt: i, sequence: s }) : undefined,
      }));
      return { promptLength: p.promptLength ?? p.tokens.length, maxNewTokens: p.maxNewTokens, sequences };
    });
    this.current = this.prompts.map((state, i) => ({ prompt: i, slot: 0, parent: null, tokens: state.sequences[0].tokens.slice() }));
  }

  get done(): boolean {
    return this.current.length === 0;
  }

  rows(): readonly StepRow[] {
    return this.current;
  }

  absorb(logits: readonly ArrayLike<number>[]): StepOutcome {
    const rows = this.current;
    if (logits.length !== rows.length) throw new RangeError(`expected ${rows.length} logits rows, got ${logits.length}`);
    const processedRows = rows.map((row, r) => {
      const state = this.prompts[row.prompt];
      return processRow(logits[r], { tokens: row.tokens, promptLength: state.promptLength, maxNewTokens: state.maxNewTokens }, this.config.plan);
    });
    const outcome: StepOutcome = { emitted: [], finished: [] };
    if (this.config.exposeProcessed) outcome.processed = processedRows;
    const next: StepRow[] = [];
    const touched = new Set<number>();
    rows.forEach((row, r) => {
      const state = this.prompts[row.prompt];
      // a prefill row speaks for every copy of its prompt; a later row for its own sequence
      const slots = row.parent === null ? state.sequences.map((_, s) => s) : [row.slot];
      for (const s of slots) {
        const seq = state.sequences[s];
        const token = chooseToken(processedRows[r], seq.rng);
        seq.tokens.push(token);
        seq.tokenScores.push(processedRows[r][token]);
        outcome.emitted.push({ prompt: row.prompt, sequence: s, token });
        if (this.eos.has(token)) seq.finish = "eos";
        else if (seq.tokens.length - state.promptLength >= state.maxNewTokens) seq.finish = "length";
        if (seq.finish === null) next.push({ prompt: row.prompt, slot: s, parent: r, tokens: seq.tokens.slice() });
      }
      touched.add(row.prompt);
    });
    for (const p of touched) if (this.isFinished(p)) outcome.finished.push(p);
    this.current = next;
    return outcome;
  }

  isFinished(prompt: number): boolean {
    return this.prompts[prompt].sequences.every((s) => s.finish !== null);
  }

  result(prompt: number): PromptResult {
    if (!this.isFinished(prompt)) throw new Error(`prompt ${prompt} is still generating`);
    const state = this.prompts[prompt];
    const sequences: GeneratedSequence[] = state.sequences.map((s) => ({
      tokens: s.tokens.slice(s.tokens.length - s.tokenScores.length),
      finishReason: s.finish as FinishReason,
      tokenScores: s.tokenScores.slice(),
    }));
    return { prompt, sequences };
  }
}
