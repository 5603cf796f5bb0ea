/**
 * Drives a GenerationModel (lib/inference/generation.ts) with lib/generation's step machines, as
 * the generation task does: a prefill row feeds its whole prompt (or decoder start token), a row
 * with a parent feeds its last token with the cache of the parent's result.
 */
import { createDecoding, type DecodingSetup } from "../../lib/generation/decoding.ts";
import { parseGenerationOptions, type GenerationOptions } from "../../lib/generation/options.ts";
import type { PromptResult } from "../../lib/generation/types.ts";
import type { EncoderState, GenerationModel, GenerationRowResult } from "../../lib/inference/generation.ts";

export interface DriverPrompt {
  tokens: readonly number[];
  promptLength?: number;
  encoder?: EncoderState;
}

/** Options from HF-style kwargs over the model's generation config. */
export function optionsFor(model: GenerationModel, kwargs: Record<string, unknown>): GenerationOptions {
  const { options, problems } = parseGenerationOptions({ task_kwargs: kwargs, model_kwargs: {} }, { modelDefaults: model.generationConfig as Record<string, unknown>, vocabSize: model.vocabSize });
  if (!options) throw new Error(JSON.stringify(problems));
  return options;
}

/** Runs one decoding (one "request") to the end; returns each prompt's result. `setup` reaches createDecoding (e.g. `{ noise: fixedNoise(draws) }`). */
export async function generate(model: GenerationModel, options: GenerationOptions, prompts: readonly DriverPrompt[], priority?: "interactive" | "background", setup?: DecodingSetup): Promise<PromptResult[]> {
  const { decoding } = createDecoding(options, prompts.map((p) => ({ tokens: p.tokens, promptLength: p.promptLength })), setup);
  let previous: GenerationRowResult[] = [];
  while (!decoding.done) {
    const rows = decoding.rows();
    previous = await model.step(
      rows.map((r) =>
        r.parent === null
          ? { tokens: r.tokens, encoder: prompts[r.prompt].encoder }
          : { tokens: [r.tokens[r.tokens.length - 1]], cache: previous[r.parent].cache, encoder: prompts[r.prompt].encoder },
      ),
      priority,
    );
    decoding.absorb(previous.map((r) => r.logits));
  }
  return prompts.map((_, i) => decoding.result(i));
}

/** Largest absolute difference of two equally long arrays. */
export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}
