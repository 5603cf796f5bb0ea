/** docs/attacks.md "sub_span": the context's window of `max_tokens` consecutive words with the highest saliency. */
import type { AttackContext, AttackResult } from "./context.ts";
import { itemWords, withSegment } from "./words.ts";
import { wordSaliency } from "./saliency.ts";

export async function subSpan({ original, options, backend }: AttackContext): Promise<AttackResult> {
  const words = itemWords(original.explain.sequence, original.texts);
  const saliency = await wordSaliency(original, words, options.saliencyMethod, backend);
  const context = words.flatMap((w, i) => (w.segment === original.contextSegment ? [{ word: w, score: saliency[i] }] : []));
  const width = Math.min(options.maxTokens, context.length);
  if (width === 0) return { variants: [[...original.texts]], adversarial: { indices: [] } };
  let best = 0;
  let bestSum = -Infinity;
  for (let start = 0; start + width <= context.length; start++) {
    const sum = context.slice(start, start + width).reduce((s, c) => s + c.score, 0);
    if (sum > bestSum) [best, bestSum] = [start, sum];
  }
  const window = context.slice(best, best + width).map((c) => c.word);
  const text = original.texts[original.contextSegment].slice(window[0].start, window[window.length - 1].end);
  return { variants: [[...original.texts], withSegment(original.texts, original.contextSegment, text)], adversarial: { indices: window.map((w) => w.index) } };
}
