/**
 * `is_preprocessed` input (SPEC §3): already tokenized arrays instead of texts. No text means no
 * character offsets and no word ids; special tokens are recognised by id, and spans are turned
 * back into text with the model's own tokenizer decoder.
 */
import tokenizers from "tokenizers";
import { readFile } from "node:fs/promises";
import type { PreprocessedInput } from "../request/request.ts";
import type { Encoded } from "./tokenizer.ts";
import { invalid } from "../errors.ts";
import { OnceCache } from "../base/once-cache.ts";

type RustTokenizer = InstanceType<typeof tokenizers.Tokenizer>;

/** What preprocessed input needs from the tokenizer: special ids, the separator, span decoding. */
export interface TokenVocabulary {
  specialIds: ReadonlySet<number>;
  /** The token between the two texts of a pair ([SEP], `</s>`). */
  separatorId: number | undefined;
  /** The text of `ids` as the tokenizer's decoder writes it, special tokens skipped, outer spaces trimmed. */
  decodeSpan(ids: readonly number[]): string;
}

const vocabularies = new OnceCache<string, TokenVocabulary>();

/** The vocabulary facts of the tokenizer.json at `path` (loaded once per path). */
export function tokenVocabulary(path: string): Promise<TokenVocabulary> {
  return vocabularies.get(path, () => loadVocabulary(path));
}

async function loadVocabulary(path: string): Promise<TokenVocabulary> {
  const json = await readFile(path, "utf8");
  const tok: RustTokenizer = tokenizers.Tokenizer.fromString(json);
  tok.disableTruncation();
  tok.disablePadding();
  const added = (JSON.parse(json).added_tokens ?? []) as { id: number; special?: boolean }[];
  const specialIds = new Set(added.filter((t) => t.special).map((t) => t.id));
  // The separator is the special token the post-processor puts right after the first text.
  const pair = await tok.encode("a", "b");
  const seq = pair.getSequenceIds();
  const afterFirst = seq.findIndex((s, i) => i > 0 && seq[i - 1] === 0 && s !== 0);
  const separatorId = afterFirst >= 0 && pair.getSpecialTokensMask()[afterFirst] === 1 ? pair.getIds()[afterFirst] : undefined;
  pair.getIds().forEach((id, i) => pair.getSpecialTokensMask()[i] === 1 && specialIds.add(id));
  const decoder = tok.getDecoder();
  return {
    specialIds,
    separatorId,
    decodeSpan(ids) {
      const tokens = ids.filter((id) => !specialIds.has(id)).map((id) => tok.idToToken(id) ?? "");
      // Byte-level BPE decodes a word-initial token with its leading space; an answer has none.
      return (decoder ? decoder.decode(tokens) : tokens.join(" ")).trim();
    },
  };
}

/**
 * One sequence per row. Trailing zeros of the mask are padding the caller added and are dropped
 * (the batcher pads again as needed); other mask zeros are kept and fed as given.
 */
export function fromPreprocessed(input: PreprocessedInput, specialIds: ReadonlySet<number> = new Set()): Encoded[] {
  return input.input_ids.map((ids, i) => {
    const mask = input.attention_mask[i];
    const types = input.token_type_ids?.[i] ?? ids.map(() => 0);
    let length = ids.length;
    while (length > 0 && mask[length - 1] === 0) length--;
    const kept = ids.slice(0, length);
    return {
      ids: kept,
      typeIds: types.slice(0, length),
      attentionMask: mask.slice(0, length),
      specialTokensMask: kept.map((id) => (specialIds.has(id) ? 1 : 0)),
      tokens: [],
      offsets: kept.map((): [number, number] => [0, 0]),
      wordIds: kept.map(() => null),
      sequenceIds: kept.map(() => null),
    };
  });
}

/**
 * Which tokens of a preprocessed [question, context] row are context: segment 1 of
 * token_type_ids when the row has one; otherwise (RoBERTa-style, no segments) the tokens between
 * the first run of separators and the final separator. Special tokens are never context.
 */
export function contextTokens(seq: Encoded, vocabulary: TokenVocabulary, row: number): boolean[] {
  const special = (t: number) => vocabulary.specialIds.has(seq.ids[t]) || seq.attentionMask[t] === 0;
  if (seq.typeIds.some((s, t) => s === 1 && !special(t))) return seq.ids.map((_, t) => seq.typeIds[t] === 1 && !special(t));
  const seps = seq.ids.flatMap((id, t) => (id === vocabulary.separatorId ? [t] : []));
  if (seps.length === 0) {
    throw invalid(`row ${row} has no separator token and no token_type_ids segment 1, so the context cannot be told from the question`, `input.input_ids.${row}`);
  }
  let start = seps[0];
  while (seps.includes(start)) start++;
  const end = seps.at(-1)! >= start ? seps.at(-1)! : seq.ids.length;
  return seq.ids.map((_, t) => t >= start && t < end && !special(t));
}

/**
 * A model without a token_type_ids input (RoBERTa, DistilBERT) ignores all-zero token_type_ids,
 * which is what tokenizers that return them anyway send; non-zero segments would be silently
 * lost, so they are refused (at the gateway, and again before the model).
 */
export function tokenTypeProblem(input: Pick<PreprocessedInput, "token_type_ids">, inputNames: readonly string[]): { field: string; message: string } | undefined {
  if (!input.token_type_ids || inputNames.includes("token_type_ids")) return undefined;
  const row = input.token_type_ids.findIndex((r) => r.some((v) => v !== 0));
  if (row < 0) return undefined;
  return { field: `input.token_type_ids.${row}`, message: "this model has no token_type_ids input; only all-zero token_type_ids are accepted (and ignored)" };
}
