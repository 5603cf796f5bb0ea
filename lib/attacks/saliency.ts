/** Word saliency for attacks (docs/attacks.md "Terms"): SPEC §7 word scores of an item against its current prediction. */
import { tokenScores } from "../explain/methods.ts";
import type { ExplainMethod } from "../explain/options.ts";
import type { GradientBackend } from "../inference/gradients.ts";
import type { AttackSubject } from "../tasks/types.ts";
import type { AttackWord } from "./words.ts";

/** Fixed noise for smooth_grads, so an attack is reproducible. */
const SMOOTH_SEED = 0;

/** One score per word: |token value| summed over its pieces, normalised over the item's words. */
export async function wordSaliency(subject: AttackSubject, words: readonly AttackWord[], method: ExplainMethod, backend: GradientBackend): Promise<Float64Array> {
  const options = { method, topK: 1, mode: "all" as const, steps: 10, samples: 10, noise: 0.01, seed: SMOOTH_SEED };
  const [tokens] = await tokenScores([subject.explain], options, backend);
  const scores = Float64Array.from(words, (w) => w.tokens.reduce((sum, t) => sum + Math.abs(tokens[t]), 0));
  const total = scores.reduce((a, b) => a + b, 0);
  return total > 0 ? scores.map((s) => s / total) : scores;
}

/** Word positions by score, highest first; ties to the lower index (docs/attacks.md "Ties"). */
export function rankDescending(scores: ArrayLike<number>, among: readonly number[]): number[] {
  return [...among].sort((a, b) => scores[b] - scores[a] || a - b);
}
