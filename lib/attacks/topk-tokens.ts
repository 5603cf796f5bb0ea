/** docs/attacks.md "topk_tokens": contexts of the 1..k most salient context words, in their original order. */
import type { AttackContext, AttackResult } from "./context.ts";
import { itemWords, withSegment } from "./words.ts";
import { wordSaliency, rankDescending } from "./saliency.ts";

export async function topkTokens({ original, options, backend }: AttackContext): Promise<AttackResult> {
  const words = itemWords(original.explain.sequence, original.texts);
  const saliency = await wordSaliency(original, words, options.saliencyMethod, backend);
  const context = words.flatMap((w, i) => (w.segment === original.contextSegment ? [i] : []));
  const ranked = rankDescending(saliency, context).slice(0, options.maxTokens);
  const variants = [[...original.texts]];
  for (let j = 1; j <= ranked.length; j++) {
    const kept = [...ranked.slice(0, j)].sort((a, b) => a - b);
    variants.push(withSegment(original.texts, original.contextSegment, kept.map((i) => words[i].text).join(" ")));
  }
  return { variants, adversarial: { indices: ranked.map((i) => words[i].index) } };
}
