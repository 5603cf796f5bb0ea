/**
 * The layout the tokenizer's post-processor gives a pair (`[CLS] A [SEP] B [SEP]` for BERT,
 * `<s> A </s></s> B </s>` for RoBERTa, whatever a TemplateProcessing says elsewhere), learned by
 * encoding a probe pair, so question-answering windows can be assembled from token slices without
 * asking the binding to truncate (its overflow windows are broken, upstream issue 2091) and
 * without hard-coding any family's special tokens.
 */
import type { Encoded } from "./encoded.ts";

type TemplatePart =
  | { kind: "special"; id: number; typeId: number; token: string }
  | { kind: "sequence"; sequence: 0 | 1; typeId: number };

export interface PairTemplate {
  parts: TemplatePart[];
  /** Special tokens the template adds (the pair's special-token count). */
  specialCount: number;
}

/**
 * Reads the template off `pair` (the probe pair encoded with special tokens) given the two texts
 * encoded alone without them. Throws when the encoding is not "special tokens around two
 * contiguous runs of the texts' own tokens", the only shape windows can be cut from.
 */
export function learnPairTemplate(pair: Encoded, first: Encoded, second: Encoded): PairTemplate {
  const parts: TemplatePart[] = [];
  const alone = [first, second];
  for (let t = 0; t < pair.ids.length; ) {
    const seq = pair.sequenceIds[t];
    if (seq === null) {
      parts.push({ kind: "special", id: pair.ids[t], typeId: pair.typeIds[t], token: pair.tokens[t] });
      t++;
      continue;
    }
    if (seq !== 0 && seq !== 1) throw new Error(`the pair encoding has a sequence id ${seq}`);
    if (parts.some((p) => p.kind === "sequence" && p.sequence === seq)) throw new Error(`text ${seq} of the pair is split by special tokens`);
    const own = alone[seq];
    const run = pair.ids.slice(t, t + own.ids.length);
    const sameTypes = pair.typeIds.slice(t, t + own.ids.length).every((x) => x === pair.typeIds[t]);
    if (run.join() !== own.ids.join() || !sameTypes || pair.sequenceIds[t + own.ids.length] === seq) throw new Error(`text ${seq} of the pair is not its own tokens in one run`);
    parts.push({ kind: "sequence", sequence: seq, typeId: pair.typeIds[t] });
    t += own.ids.length;
  }
  if (parts.filter((p) => p.kind === "sequence").length !== 2) throw new Error("the pair encoding does not hold both texts");
  return { parts, specialCount: parts.filter((p) => p.kind === "special").length };
}

/** A token range [start, stop) of one text encoded alone, without special tokens. */
export interface TokenSlice {
  encoded: Encoded;
  start: number;
  stop: number;
}

/**
 * The pair sequence of two token slices, as the tokenizer encodes a pair: the template's special
 * tokens (mask 1, no offsets, no word), each text's tokens with the template's type id and its
 * sequence id, offsets and word ids kept from the text's own encoding (so they index the full
 * original texts, as the tokenizer's truncated windows do).
 */
export function assemblePair(template: PairTemplate, first: TokenSlice, second: TokenSlice): Encoded {
  const out: Encoded = { ids: [], typeIds: [], attentionMask: [], specialTokensMask: [], tokens: [], offsets: [], wordIds: [], sequenceIds: [] };
  const slices = [first, second];
  for (const part of template.parts) {
    if (part.kind === "special") {
      push(out, part.id, part.typeId, 1, part.token, [0, 0], null, null);
      continue;
    }
    const { encoded: e, start, stop } = slices[part.sequence];
    for (let t = start; t < stop; t++) push(out, e.ids[t], part.typeId, e.specialTokensMask[t], e.tokens[t], e.offsets[t], e.wordIds[t], part.sequence);
  }
  return out;
}

function push(out: Encoded, id: number, typeId: number, special: number, token: string, offsets: [number, number], word: number | null, sequence: number | null): void {
  out.ids.push(id);
  out.typeIds.push(typeId);
  out.attentionMask.push(1);
  out.specialTokensMask.push(special);
  out.tokens.push(token);
  out.offsets.push(offsets);
  out.wordIds.push(word);
  out.sequenceIds.push(sequence);
}
