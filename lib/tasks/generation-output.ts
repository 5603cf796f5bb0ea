/**
 * SPEC §6.5 result of a generation: `generated_texts` per prompt (decoder-only text starts with the
 * prompt unless `return_full_text` is false), `model_outputs.sequences` (the token ids as Hugging
 * Face returns them: prompt + new tokens for decoder-only models, decoder start + new tokens for
 * encoder-decoder models, padded with the pad id), `scores` / `sequences_scores` with
 * `output_scores`, and each sequence's finish reason.
 */
import type { GenerationOptions } from "../generation/options.ts";
import type { PromptResult } from "../generation/types.ts";
import type { GenerationArchitecture } from "../inference/generation.ts";
import type { TextTokenizer } from "../tokenization/tokenizer.ts";
import { ndarray, type NdArray } from "../tensor.ts";
import type { TaskOutput } from "./types.ts";

export interface GeneratedPrompt {
  /** The ids the decoder started from: the prompt (decoder-only) or the decoder start token. */
  start: readonly number[];
  result: PromptResult;
}

/**
 * Hugging Face's `clean_up_tokenization_spaces`: the spaces a word-piece decode leaves before
 * punctuation and English contractions.
 */
export function cleanUpTokenizationSpaces(text: string): string {
  return text
    .replaceAll(" .", ".")
    .replaceAll(" ?", "?")
    .replaceAll(" !", "!")
    .replaceAll(" ,", ",")
    .replaceAll(" ' ", "'")
    .replaceAll(" n't", "n't")
    .replaceAll(" 'm", "'m")
    .replaceAll(" 's", "'s")
    .replaceAll(" 've", "'ve")
    .replaceAll(" 're", "'re");
}

/** The text of new tokens after `start`, decoded as a continuation (HF's pipeline: decode all, cut the decoded start off). */
export async function continuationText(tokenizer: TextTokenizer, start: readonly number[], tokens: readonly number[]): Promise<string> {
  if (start.length === 0) return tokenizer.decode([...tokens]);
  const [whole, head] = await Promise.all([tokenizer.decode([...start, ...tokens]), tokenizer.decode([...start])]);
  return whole.startsWith(head) ? whole.slice(head.length) : tokenizer.decode([...tokens]);
}

export async function generationOutput(
  prompts: readonly GeneratedPrompt[],
  texts: readonly string[],
  options: GenerationOptions,
  architecture: GenerationArchitecture,
  tokenizer: TextTokenizer,
  seed: number | undefined,
): Promise<TaskOutput> {
  const pad = options.padTokenId ?? options.eosTokenIds[0] ?? 0;
  const generatedTexts: string[][] = [];
  for (const [i, p] of prompts.entries()) {
    const decoderOnly = architecture === "decoder-only";
    const out: string[] = [];
    for (const s of p.result.sequences) {
      const added = decoderOnly ? await continuationText(tokenizer, p.start, s.tokens) : await tokenizer.decode([...s.tokens]);
      const text = decoderOnly && options.returnFullText ? texts[i] + added : added;
      out.push(options.cleanUpTokenizationSpaces ? cleanUpTokenizationSpaces(text) : text);
    }
    generatedTexts.push(out);
  }
  const arrays: TaskOutput["arrays"] = { sequences: prompts.map((p) => paddedIds(p, pad)) };
  if (options.outputScores) {
    arrays.scores = prompts.map((p) => paddedScores(p));
    if (options.numBeams > 1) arrays.sequences_scores = prompts.map((p) => ndarray("float32", [p.result.sequences.length], Float32Array.from(p.result.sequences, (s) => s.score ?? NaN)));
  }
  const fields: Record<string, unknown> = {
    generated_texts: generatedTexts,
    finish_reasons: prompts.map((p) => p.result.sequences.map((s) => s.finishReason)),
  };
  if (seed !== undefined) fields.seed = seed;
  return { fields, arrays };
}

/** [sequences, longest] int64: start ids then new tokens, right-padded with `pad`. */
function paddedIds({ start, result }: GeneratedPrompt, pad: number): NdArray {
  const rows = result.sequences.map((s) => [...start, ...s.tokens]);
  const width = Math.max(0, ...rows.map((r) => r.length));
  const data = new BigInt64Array(rows.length * width).fill(BigInt(pad));
  rows.forEach((r, i) => r.forEach((id, t) => (data[i * width + t] = BigInt(id))));
  return ndarray("int64", [rows.length, width], data);
}

/** [sequences, most new tokens] float32: each new token's processed score, NaN past a sequence's end. */
function paddedScores({ result }: GeneratedPrompt): NdArray {
  const width = Math.max(0, ...result.sequences.map((s) => s.tokenScores.length));
  const data = new Float32Array(result.sequences.length * width).fill(NaN);
  result.sequences.forEach((s, i) => data.set(s.tokenScores, i * width));
  return ndarray("float32", [result.sequences.length, width], data);
}
