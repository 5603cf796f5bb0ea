/**
 * docs/attacks.md "input_reduction" (Feng et al. 2018): remove the least salient question word,
 * predict again and recompute saliency, until the prediction changes or `max_reductions`.
 * A single classification text has no question: the text itself is reduced.
 */
import type { AttackContext, AttackResult } from "./context.ts";
import { samePrediction } from "./context.ts";
import { itemWords, removeSpan, withSegment } from "./words.ts";
import { wordSaliency } from "./saliency.ts";

export async function inputReduction({ original, options, backend, predict }: AttackContext): Promise<AttackResult> {
  const segment = original.questionSegment ?? original.contextSegment;
  let current = original;
  let texts = [...original.texts];
  const variants = [texts];
  /** Original indices of the words still there, in order. */
  const alive = itemWords(original.explain.sequence, texts).filter((w) => w.segment === segment).map((w) => w.index);
  const removed: number[] = [];
  let changed = false;
  while (removed.length < options.maxReductions) {
    const words = itemWords(current.explain.sequence, texts);
    const reducible = words.flatMap((w, i) => (w.segment === segment ? [i] : []));
    // A removal that merged or split words (rare) would lose track of the original indices: stop there.
    if (reducible.length !== alive.length || reducible.length <= 1) break;
    const saliency = await wordSaliency(current, words, options.saliencyMethod, backend);
    const victim = words[reducible.reduce((low, i) => (saliency[i] < saliency[low] ? i : low))];
    texts = withSegment(texts, segment, removeSpan(texts[segment], victim.start, victim.end));
    removed.push(...alive.splice(victim.index, 1));
    [current] = await predict([texts]);
    variants.push(texts);
    if (!samePrediction(current.prediction, original.prediction)) {
      changed = true;
      break;
    }
  }
  return { variants, adversarial: { indices: removed, prediction_changed: changed } };
}
