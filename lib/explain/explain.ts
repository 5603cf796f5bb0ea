/** SPEC §7 end to end: items with their targets → token scores → word scores → SQuARE attributions. */
import type { GradientBackend } from "../inference/gradients.ts";
import type { ExplainOptions } from "./options.ts";
import { tokenScores, ExplainItem } from "./methods.ts";
import { wordScores, WordText } from "./words.ts";
import { squareAttributions, SquareAttributions } from "./attributions.ts";

export interface ExplainTarget extends ExplainItem {
  /** Text of a word of this item, from its pieces. */
  wordText: WordText;
}

export async function explainTargets(targets: readonly ExplainTarget[], options: ExplainOptions, backend: GradientBackend): Promise<[SquareAttributions]> {
  const scores = await tokenScores(targets, options, backend);
  const words = targets.map((t, i) => wordScores(scores[i], t.sequence, t.wordText));
  return squareAttributions(words, options.topK, options.mode);
}
