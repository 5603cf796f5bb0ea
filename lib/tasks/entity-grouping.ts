/**
 * Token classification post-processing (SPEC §6.2): per-token entities and their aggregation
 * into entity spans, with character offsets into the item's text. Follows the Hugging Face
 * pipeline's strategies: `simple` groups tokens, `first`/`average`/`max` first merge sub-word
 * pieces into words, then group words. BIO and BIOES tags; `O` breaks a group and is dropped.
 */
import { argmax } from "../math/softmax.ts";

export type Aggregation = "none" | "simple" | "first" | "average" | "max";
export const AGGREGATIONS: readonly Aggregation[] = Object.freeze(["none", "simple", "first", "average", "max"]);

/** One real (non-special) token of an item. */
export interface ScoredToken {
  index: number;
  probs: number[];
  start: number;
  end: number;
  /** Word and segment the token belongs to (segment 0 or 1 of a pair). */
  wordId: number;
  segment: number;
}

export interface TokenEntity {
  entity: string;
  score: number;
  index: number;
  word: string;
  start: number;
  end: number;
}

export interface EntitySpan {
  entity_group: string;
  score: number;
  word: string;
  start: number;
  end: number;
}

interface Unit {
  label: string;
  score: number;
  start: number;
  end: number;
  segment: number;
}

const OUTSIDE = "O";

function splitTag(label: string): [prefix: string, tag: string] {
  const p = label[0];
  return label[1] === "-" && "BIES".includes(p) ? [p, label.slice(2)] : ["I", label];
}

export function tokenEntities(tokens: readonly ScoredToken[], labels: Record<string, string>, texts: readonly string[]): TokenEntity[] {
  return tokens.flatMap((t) => {
    const best = argmax(t.probs);
    const entity = labels[String(best)] ?? `LABEL_${best}`;
    if (entity === OUTSIDE) return [];
    return [{ entity, score: t.probs[best], index: t.index, word: texts[t.segment].slice(t.start, t.end), start: t.start, end: t.end }];
  });
}

/** Merge the pieces of each word by the strategy: the first piece's scores, their mean, or the most confident piece's. */
function wordUnits(tokens: readonly ScoredToken[], strategy: "first" | "average" | "max", labels: Record<string, string>): Unit[] {
  const words: ScoredToken[][] = [];
  for (const t of tokens) {
    const last = words[words.length - 1];
    if (last && last[0].wordId === t.wordId && last[0].segment === t.segment) last.push(t);
    else words.push([t]);
  }
  return words.map((pieces) => {
    let probs: number[];
    if (strategy === "first") probs = pieces[0].probs;
    else if (strategy === "max") probs = pieces.reduce((a, b) => (Math.max(...b.probs) > Math.max(...a.probs) ? b : a)).probs;
    else probs = pieces[0].probs.map((_, k) => pieces.reduce((s, p) => s + p.probs[k], 0) / pieces.length);
    const best = argmax(probs);
    return { label: labels[String(best)] ?? `LABEL_${best}`, score: probs[best], start: pieces[0].start, end: pieces[pieces.length - 1].end, segment: pieces[0].segment };
  });
}

function tokenUnits(tokens: readonly ScoredToken[], labels: Record<string, string>): Unit[] {
  return tokens.map((t) => {
    const best = argmax(t.probs);
    return { label: labels[String(best)] ?? `LABEL_${best}`, score: t.probs[best], start: t.start, end: t.end, segment: t.segment };
  });
}

/** Adjacent units with the same tag form one span; B/S start a new one, E closes it, O breaks it. */
function groupUnits(units: readonly Unit[], texts: readonly string[]): EntitySpan[] {
  const groups: Unit[][] = [];
  let open: string | null = null;
  for (const u of units) {
    if (u.label === OUTSIDE) {
      open = null;
      continue;
    }
    const [prefix, tag] = splitTag(u.label);
    const last = groups[groups.length - 1];
    if (open === tag && prefix !== "B" && prefix !== "S" && last[0].segment === u.segment) last.push(u);
    else groups.push([u]);
    open = prefix === "S" || prefix === "E" ? null : tag;
  }
  return groups.map((g) => {
    const start = g[0].start;
    const end = g[g.length - 1].end;
    return { entity_group: splitTag(g[0].label)[1], score: g.reduce((s, u) => s + u.score, 0) / g.length, word: texts[g[0].segment].slice(start, end), start, end };
  });
}

export function aggregateEntities(
  tokens: readonly ScoredToken[],
  strategy: Aggregation,
  labels: Record<string, string>,
  texts: readonly string[],
): TokenEntity[] | EntitySpan[] {
  if (strategy === "none") return tokenEntities(tokens, labels, texts);
  const units = strategy === "simple" ? tokenUnits(tokens, labels) : wordUnits(tokens, strategy, labels);
  return groupUnits(units, texts);
}
