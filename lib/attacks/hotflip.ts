/**
 * docs/attacks.md "hotflip": the most salient one-token context words (QA answer words protected
 * unless `include_answer`), each flipped in turn to the candidate token with the largest
 * first-order estimate of the loss increase, `(E[k] − E[current]) · ∂L/∂e`, where L is the loss of
 * the original prediction; flips accumulate. The estimate for the whole vocabulary is one product
 * of the embedding table with the gradient (GradientBackend.vocabularyScores, off the main thread).
 */
import type { AttackContext, AttackResult } from "./context.ts";
import type { AttackSubject } from "../tasks/types.ts";
import { itemWords, replaceSpan, withSegment, type AttackWord } from "./words.ts";
import { wordSaliency, rankDescending } from "./saliency.ts";
import { lossCotangents, predictionLoss } from "./loss.ts";
import { flipCandidates, type FlipCandidates } from "./candidates.ts";

/** Candidates tried per position before it is skipped (their flipped text tokenized differently). */
export const MAX_REFUSED = 20;

export interface Flip {
  index: number;
  from: string;
  to: string;
  from_id: number;
  to_id: number;
  estimated_loss_change: number;
  loss_change: number;
}

export async function hotflip(context: AttackContext): Promise<AttackResult> {
  const { original } = context;
  const candidates = await flipCandidates(context.tokenizerPath);
  const positions = await flipPositions(context);
  let current = original;
  let texts = [...original.texts];
  const variants = [texts];
  const used = new Set<number>();
  const flips: Flip[] = [];
  for (const index of positions) {
    const word = contextWord(current, texts, index);
    const t = word.tokens[0];
    const ids = current.explain.sequence.ids;
    const ranked = await rankedReplacements(context, current, t, candidates, used);
    const accepted = await firstFaithful(context, texts, word, ids, t, ranked, candidates);
    if (!accepted) continue;
    const [next] = await context.predict([accepted.texts]);
    flips.push({
      index,
      from: word.text,
      to: candidates.surface(accepted.id),
      from_id: ids[t],
      to_id: accepted.id,
      estimated_loss_change: accepted.estimate,
      loss_change: predictionLoss(next, original.predicted) - predictionLoss(current, original.predicted),
    });
    used.add(accepted.id);
    current = next;
    texts = accepted.texts;
    variants.push(texts);
  }
  return { variants, adversarial: { indices: flips.map((f) => f.index), flips } };
}

/** Context word indices to flip, most salient first: one token, a letter in it, outside a protected answer. */
async function flipPositions({ original, options, backend }: AttackContext): Promise<number[]> {
  const words = itemWords(original.explain.sequence, original.texts);
  const saliency = await wordSaliency(original, words, options.saliencyMethod, backend);
  const answer = Array.isArray(original.prediction) && !options.includeAnswer ? original.prediction : undefined;
  const flippable = words.flatMap((w, i) =>
    w.segment === original.contextSegment && w.tokens.length === 1 && /[A-Za-z]/.test(w.text) && !(answer && w.start < answer[1] && answer[0] < w.end) ? [i] : [],
  );
  return rankDescending(saliency, flippable)
    .slice(0, options.maxFlips)
    .map((i) => words[i].index);
}

/** The context word with this index in the current text (flips keep every word's index and token). */
function contextWord(subject: AttackSubject, texts: readonly string[], index: number): AttackWord {
  const word = itemWords(subject.explain.sequence, texts).find((w) => w.segment === subject.contextSegment && w.index === index);
  if (!word) throw new Error(`hotflip lost context word ${index}`);
  return word;
}

/** Candidate ids for token `t`, best estimate first (ties to the lower id), at most MAX_REFUSED of them. */
async function rankedReplacements({ original, backend }: AttackContext, current: AttackSubject, t: number, candidates: FlipCandidates, used: ReadonlySet<number>) {
  const sequence = current.explain.sequence;
  const [pass] = await backend.run([{ sequence, embeds: backend.embeddingRows(sequence.ids), cotangents: lossCotangents(current, original.predicted), wants: "gradient" }]);
  const gradient = pass.gradEmbeds!.slice(t * backend.hidden, (t + 1) * backend.hidden);
  const [scores] = await backend.vocabularyScores([gradient]);
  const currentId = sequence.ids[t];
  const best = topScoring(scores, candidates.allowedFor(currentId), (k) => k !== currentId && !used.has(k), MAX_REFUSED);
  return best.map((id) => ({ id, estimate: scores[id] - scores[currentId] }));
}

/** The `n` best-scoring ids of `allowed` that pass `keep`, best first, ties to the lower id. */
export function topScoring(scores: ArrayLike<number>, allowed: Iterable<number>, keep: (id: number) => boolean, n: number): number[] {
  const better = (a: number, b: number) => scores[a] > scores[b] || (scores[a] === scores[b] && a < b);
  const top: number[] = [];
  for (const id of allowed) {
    if (!keep(id) || (top.length === n && !better(id, top[n - 1]))) continue;
    let at = top.length === n ? n - 1 : top.length;
    while (at > 0 && better(id, top[at - 1])) at--;
    top.splice(at, 0, id);
    if (top.length > n) top.pop();
  }
  return top;
}

/** The first candidate whose flipped text tokenizes to exactly the current ids with that one id replaced. */
async function firstFaithful(context: AttackContext, texts: readonly string[], word: AttackWord, ids: readonly number[], t: number, ranked: { id: number; estimate: number }[], candidates: FlipCandidates) {
  const segment = context.original.contextSegment;
  for (const { id, estimate } of ranked) {
    const flipped = withSegment(texts, segment, replaceSpan(texts[segment], word.start, word.end, candidates.surface(id)));
    const sequences = await context.tokenize(flipped);
    if (sequences.length === 1 && sequences[0].ids.length === ids.length && sequences[0].ids.every((v, i) => v === (i === t ? id : ids[i]))) return { id, estimate, texts: flipped };
  }
  return undefined;
}
