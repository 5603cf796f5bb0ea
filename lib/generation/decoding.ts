/**
 * One entry point from parsed options to a decoding step machine: greedy, sampling, beam search or
 * beam sampling, as Hugging Face `generate` picks them (num_beams > 1 → beam methods; do_sample →
 * sampling). Sampling gets a per-request noise source: the request's seed, or a fresh one that is
 * returned so the caller can report or log it.
 */
import { processorPlan } from "./logits-processors.ts";
import { maxNewTokensFor, type GenerationOptions } from "./options.ts";
import { resolveSeed, seededNoise, type NoiseSource } from "./random.ts";
import { SampleDecoding } from "./greedy.ts";
import { BeamSearch } from "./beam-search.ts";
import type { Decoding, DecodingPrompt } from "./types.ts";

export type DecodingMethod = "greedy" | "sample" | "beam_search" | "beam_sample";

export function decodingMethod(o: Pick<GenerationOptions, "numBeams" | "doSample">): DecodingMethod {
  if (o.numBeams > 1) return o.doSample ? "beam_sample" : "beam_search";
  return o.doSample ? "sample" : "greedy";
}

export interface PromptInput {
  /** Prompt ids (decoder-only) or `[decoder_start_token_id]` (encoder-decoder). */
  tokens: readonly number[];
  /** What `max_length` counts besides new tokens; defaults to `tokens.length`. */
  promptLength?: number;
}

export interface DecodingSetup {
  /** Inject the noise (tests, goldens); otherwise seeded from `options.seed` or a fresh seed. */
  noise?: NoiseSource;
  /** Processed rows in each step's outcome. */
  exposeProcessed?: boolean;
}

/** The decoding for these options and prompts, with the seed it samples from (undefined when it does not sample or the noise was injected). */
export function createDecoding(options: GenerationOptions, prompts: readonly PromptInput[], setup: DecodingSetup = {}): { decoding: Decoding; method: DecodingMethod; seed?: number } {
  const method = decodingMethod(options);
  const sampling = options.doSample;
  const seed = sampling && !setup.noise ? resolveSeed(options.seed) : undefined;
  const noise = sampling ? (setup.noise ?? seededNoise(seed!)) : undefined;
  const plan = processorPlan(options);
  const resolved: DecodingPrompt[] = prompts.map((p) => {
    const promptLength = p.promptLength ?? p.tokens.length;
    return { tokens: p.tokens, promptLength, maxNewTokens: maxNewTokensFor(options, promptLength) };
  });
  const decoding: Decoding =
    options.numBeams > 1
      ? new BeamSearch(
          { numBeams: options.numBeams, numReturnSequences: options.numReturnSequences, lengthPenalty: options.lengthPenalty, earlyStopping: options.earlyStopping, plan, doSample: sampling, noise, exposeProcessed: setup.exposeProcessed },
          resolved,
        )
      : new SampleDecoding({ doSample: sampling, numReturnSequences: options.numReturnSequences, plan, noise, exposeProcessed: setup.exposeProcessed }, resolved);
  return { decoding, method, seed };
}
