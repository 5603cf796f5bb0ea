/**
 * Tokenization with Hugging Face's Rust `tokenizers` binding. The binding keeps truncation as
 * tokenizer state, so every distinct option set gets its own tokenizer instance (cached) and
 * concurrent requests with different options never see each other's settings.
 */
import tokenizers from "tokenizers";
import { readFile } from "node:fs/promises";
import { invalid } from "../errors.ts";
import { utf16Indexer } from "./offsets.ts";

type RustTokenizer = InstanceType<typeof tokenizers.Tokenizer>;
type RustEncoding = Awaited<ReturnType<RustTokenizer["encode"]>>;

export type TextItem = string | [string, string];
export type Truncation = "longest_first" | "only_first" | "only_second" | "do_not_truncate";

export interface TokenizeOptions {
  maxLength: number;
  truncation: Truncation;
  addSpecialTokens: boolean;
  /** Overlap between overflowing windows, in tokens; with `returnOverflowing` set. */
  stride: number;
  returnOverflowing: boolean;
}

/** One tokenized sequence; offsets are UTF-16 indices into the item's own text (JS string positions). */
export interface Encoded {
  ids: number[];
  typeIds: number[];
  attentionMask: number[];
  specialTokensMask: number[];
  tokens: string[];
  offsets: [number, number][];
  wordIds: (number | null)[];
  sequenceIds: (number | null)[];
  /** Further windows of the same item when overflow was requested. */
  overflowing: Encoded[];
}

const STRATEGY: Record<Exclude<Truncation, "do_not_truncate">, string> = {
  longest_first: "LongestFirst",
  only_first: "OnlyFirst",
  only_second: "OnlySecond",
};

const MAX_CACHED_VARIANTS = 16;

/** The variant used for vocabulary queries and decoding, where truncation plays no part. */
const UNTRUNCATED: TokenizeOptions = { maxLength: 0, truncation: "do_not_truncate", addSpecialTokens: true, stride: 0, returnOverflowing: false };

export class TextTokenizer {
  private readonly variants = new Map<string, RustTokenizer>();

  private constructor(private readonly json: string) {}

  static async load(path: string): Promise<TextTokenizer> {
    const json = await readFile(path, "utf8");
    const tokenizer = new TextTokenizer(json);
    tokenizer.variant(UNTRUNCATED); // parses the file now: a broken tokenizer.json fails the load, not a request
    return tokenizer;
  }

  get vocabSize(): number {
    return this.variant(UNTRUNCATED).getVocabSize(true);
  }

  async encode(items: readonly TextItem[], options: TokenizeOptions): Promise<Encoded[]> {
    const tok = this.variant(options);
    const encodeOptions = { addSpecialTokens: options.addSpecialTokens };
    return Promise.all(
      items.map(async (item, index) => {
        const [a, b] = typeof item === "string" ? [item, null] : item;
        let enc: RustEncoding;
        try {
          enc = await tok.encode(a, b, encodeOptions);
        } catch (err) {
          throw invalid(`input[${index}] cannot be tokenized: ${(err as Error).message}`, "preprocessing_kwargs.truncation");
        }
        return toEncoded(enc, a, b);
      }),
    );
  }

  async decode(ids: number[], skipSpecialTokens = true): Promise<string> {
    return this.variant(UNTRUNCATED).decode(ids, skipSpecialTokens);
  }

  private variant(options: TokenizeOptions): RustTokenizer {
    const key = options.truncation === "do_not_truncate" ? "none" : `${options.truncation}:${options.maxLength}:${options.stride}`;
    let tok = this.variants.get(key);
    if (!tok) {
      tok = tokenizers.Tokenizer.fromString(this.json);
      tok.disablePadding();
      if (options.truncation === "do_not_truncate") tok.disableTruncation();
      else tok.setTruncation(options.maxLength, { strategy: STRATEGY[options.truncation] as never, stride: options.stride });
      if (this.variants.size >= MAX_CACHED_VARIANTS) this.variants.delete(this.variants.keys().next().value as string);
      this.variants.set(key, tok);
    }
    return tok;
  }
}

function toEncoded(enc: RustEncoding, a: string, b: string | null): Encoded {
  const sequenceIds = enc.getSequenceIds().map((s) => (s === undefined ? null : s));
  const toUtf16 = [utf16Indexer(a), utf16Indexer(b ?? "")];
  const offsets = enc.getOffsets().map(([start, end], i): [number, number] => {
    const seq = sequenceIds[i];
    if (seq === null) return [0, 0];
    return [toUtf16[seq](start), toUtf16[seq](end)];
  });
  return {
    ids: enc.getIds(),
    typeIds: enc.getTypeIds(),
    attentionMask: enc.getAttentionMask(),
    specialTokensMask: enc.getSpecialTokensMask(),
    tokens: enc.getTokens(),
    offsets,
    wordIds: enc.getWordIds().map((w) => (w === undefined ? null : w)),
    sequenceIds,
    overflowing: enc.getOverflowing().map((o) => toEncoded(o, a, b)),
  };
}
