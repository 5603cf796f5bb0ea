/**
 * Tokenization with Hugging Face's Rust `tokenizers` binding. The binding keeps truncation as
 * tokenizer state, so every distinct option set gets its own tokenizer instance (cached) and
 * concurrent requests with different options never see each other's settings.
 *
 * Two traps of the binding are kept away from here (DESIGN "Stack"): its `overflowing` windows
 * are empty or stop short when truncation is on (upstream issue 2091), so they are never read
 * (question answering cuts windows itself, see pair-windows.ts); and an out-of-range truncation
 * setting is a Rust panic that aborts the process, so every value is range-checked (bounds.ts)
 * before it reaches the binding, and the stride, which only shapes those unread windows, is
 * never passed to it at all.
 */
import tokenizers from "tokenizers";
import { readFile } from "node:fs/promises";
import { invalid, invalidFields } from "../errors.ts";
import { utf16Indexer } from "./offsets.ts";
import { truncationProblems, kindsOf, SpecialTokenCounts } from "./bounds.ts";
import { learnPairTemplate, PairTemplate } from "./pair-template.ts";

import { BatchedEncoder, type RustEncoding } from "./batched-encoder.ts";

type RustTokenizer = InstanceType<typeof tokenizers.Tokenizer>;

export type { TextItem, Truncation, TokenizeOptions, Encoded } from "./encoded.ts";
import type { TextItem, Truncation, TokenizeOptions, Encoded } from "./encoded.ts";

const STRATEGY: Record<Exclude<Truncation, "do_not_truncate">, string> = {
  longest_first: "LongestFirst",
  only_first: "OnlyFirst",
  only_second: "OnlySecond",
};

/** Items tokenized per event-loop turn. */
const ENCODE_CHUNK = 32;

const MAX_CACHED_VARIANTS = 16;

/** The variant used for vocabulary queries, decoding and whole-text encodes, where truncation plays no part. */
const UNTRUNCATED: TokenizeOptions = { maxLength: 0, truncation: "do_not_truncate", addSpecialTokens: true };

/** Probe texts for learning the special tokens; the first that gives tokens for both texts is used. */
const PROBES: [string, string][] = [["a", "b"], ["the", "a"], ["1", "2"], ["hello", "world"]];

export class TextTokenizer {
  private readonly variants = new Map<string, RustTokenizer>();
  private readonly encoders = new Map<string, BatchedEncoder>();
  /** Special tokens the post-processor adds around one text and around a pair, as the tokenizer itself says. */
  specialTokens: SpecialTokenCounts = { single: 0, pair: 0 };
  /** The pair layout windows are assembled with; undefined (with the reason) when the tokenizer's is not a plain template. */
  pairTemplate: PairTemplate | undefined;
  pairTemplateProblem: string | undefined;

  private constructor(private readonly json: string) {}

  static async load(path: string): Promise<TextTokenizer> {
    const json = await readFile(path, "utf8");
    const tokenizer = new TextTokenizer(json);
    tokenizer.variant(UNTRUNCATED); // parses the file now: a broken tokenizer.json fails the load, not a request
    await tokenizer.learnSpecialTokens();
    return tokenizer;
  }

  get vocabSize(): number {
    return this.variant(UNTRUNCATED).getVocabSize(true);
  }

  async encode(items: readonly TextItem[], options: TokenizeOptions): Promise<Encoded[]> {
    checkOptions(options, items, this.specialTokens);
    const tok = this.variant(options);
    const batched = this.batchedEncoder(options);
    const encodeOptions = { addSpecialTokens: options.addSpecialTokens };
    const encodeOne = async (item: TextItem, index: number): Promise<Encoded> => {
      const [a, b] = typeof item === "string" ? [item, null] : item;
      let enc: RustEncoding;
      try {
        enc = await (b === null ? batched.encode(a) : tok.encode(a, b, encodeOptions));
      } catch (err) {
        throw invalid(`input[${index}] cannot be tokenized: ${(err as Error).message}`, "preprocessing_kwargs.truncation");
      }
      return toEncoded(enc, a, b);
    };
    // Copying encodings out of the binding runs on the event loop: a chunk at a time, with a turn
    // of the loop between chunks, so 1,024 items never hold it (and the gateway's HTTP) at once.
    const out: Encoded[] = [];
    for (let start = 0; start < items.length; start += ENCODE_CHUNK) {
      if (start > 0) await new Promise((resolve) => setImmediate(resolve));
      out.push(...(await Promise.all(items.slice(start, start + ENCODE_CHUNK).map((item, k) => encodeOne(item, start + k)))));
    }
    return out;
  }

  /** Each text whole, without special tokens: the material question-answering windows are cut from. */
  encodeWhole(texts: readonly string[]): Promise<Encoded[]> {
    return this.encode(texts, { ...UNTRUNCATED, addSpecialTokens: false });
  }

  async decode(ids: number[], skipSpecialTokens = true): Promise<string> {
    return this.variant(UNTRUNCATED).decode(ids, skipSpecialTokens);
  }

  /** Single texts of this option set, batched across concurrent requests (batched-encoder.ts). */
  private batchedEncoder(options: TokenizeOptions): BatchedEncoder {
    const key = `${variantKey(options)}|${options.addSpecialTokens}`;
    let encoder = this.encoders.get(key);
    if (!encoder) {
      encoder = new BatchedEncoder(this.variant(options), { addSpecialTokens: options.addSpecialTokens });
      if (this.encoders.size >= 2 * MAX_CACHED_VARIANTS) this.encoders.delete(this.encoders.keys().next().value as string);
      this.encoders.set(key, encoder);
    }
    return encoder;
  }

  private variant(options: TokenizeOptions): RustTokenizer {
    const key = variantKey(options);
    let tok = this.variants.get(key);
    if (!tok) {
      tok = tokenizers.Tokenizer.fromString(this.json);
      tok.disablePadding();
      if (options.truncation === "do_not_truncate") tok.disableTruncation();
      // stride 0 always: overflow windows are never read, and 0 is below every window of ≥ 1 token
      else tok.setTruncation(options.maxLength, { strategy: STRATEGY[options.truncation] as never, stride: 0 });
      if (this.variants.size >= MAX_CACHED_VARIANTS) this.variants.delete(this.variants.keys().next().value as string);
      this.variants.set(key, tok);
    }
    return tok;
  }

  /** Counts by encoding probes with and without special tokens; the pair's layout comes from the same probe. */
  private async learnSpecialTokens(): Promise<void> {
    const tok = this.variant(UNTRUNCATED);
    const encode = async (a: string, b: string | null, addSpecialTokens: boolean) => toEncoded(await tok.encode(a, b, { addSpecialTokens }), a, b);
    const [a, b, firstAlone, secondAlone] = await firstProbe(async ([x, y]) => [await encode(x, null, false), await encode(y, null, false)]);
    const single = (await encode(a, null, true)).ids.length - firstAlone.ids.length;
    const pairEncoding = await encode(a, b, true);
    const pair = pairEncoding.ids.length - (await encode(a, b, false)).ids.length;
    this.specialTokens = { single, pair };
    try {
      this.pairTemplate = learnPairTemplate(pairEncoding, firstAlone, secondAlone);
      if (this.pairTemplate.specialCount !== pair) throw new Error(`the template adds ${this.pairTemplate.specialCount} tokens, the tokenizer ${pair}`);
    } catch (err) {
      this.pairTemplate = undefined;
      this.pairTemplateProblem = (err as Error).message;
    }
  }
}

const variantKey = (options: TokenizeOptions) => (options.truncation === "do_not_truncate" ? "none" : `${options.truncation}:${options.maxLength}`);

/** The first probe pair whose texts both have tokens on their own, with those encodings. */
async function firstProbe(alone: (probe: [string, string]) => Promise<[Encoded, Encoded]>): Promise<[string, string, Encoded, Encoded]> {
  for (const probe of PROBES) {
    const [x, y] = await alone(probe);
    if (x.ids.length > 0 && y.ids.length > 0) return [...probe, x, y];
  }
  throw new Error("the tokenizer gives no tokens for any probe text, so its special tokens cannot be counted");
}

/** Defence in depth behind the gateway's checks: nothing out of range is handed to the binding. */
function checkOptions(options: TokenizeOptions, items: readonly TextItem[], specials: SpecialTokenCounts): void {
  if (options.returnOverflowing) {
    throw invalid("overflow windows are not produced by the tokenizer; question answering windows long contexts itself", "preprocessing_kwargs.return_overflowing_tokens");
  }
  if (options.truncation === "do_not_truncate") return; // neither max_length nor stride reaches the binding
  const values = { maxLength: options.maxLength, stride: options.stride, truncating: true, addSpecialTokens: options.addSpecialTokens };
  const problems = truncationProblems(values, kindsOf(items), specials, Infinity);
  if (problems.length) throw invalidFields(problems);
}

function toEncoded(enc: RustEncoding, a: string, b: string | null): Encoded {
  // What every forward pass feeds is copied out now; the rest (offsets, tokens, word and sequence
  // ids: read by QA, token classification, explanations) on first use. Each copy out of the
  // binding is a native call that builds a JS array, about 4 µs apiece, on the event loop.
  const encoded = { ids: enc.getIds(), typeIds: enc.getTypeIds(), attentionMask: enc.getAttentionMask() } as Encoded;
  const sequenceIds = () => enc.getSequenceIds().map((s) => (s === undefined || s === null ? null : s));
  lazyField(encoded, "sequenceIds", sequenceIds);
  lazyField(encoded, "specialTokensMask", () => enc.getSpecialTokensMask());
  lazyField(encoded, "tokens", () => enc.getTokens());
  lazyField(encoded, "wordIds", () => enc.getWordIds().map((w) => (w === undefined || w === null ? null : w)));
  lazyField(encoded, "offsets", () => {
    const sequence = encoded.sequenceIds;
    const toUtf16 = [utf16Indexer(a), utf16Indexer(b ?? "")];
    return enc.getOffsets().map(([start, end], i): [number, number] => {
      const seq = sequence[i];
      if (seq === null) return [0, 0];
      return [toUtf16[seq](start), toUtf16[seq](end)];
    });
  });
  return encoded;
}

/**
 * An own, enumerable property computed on first read and then stored as a plain value (so
 * spreading, JSON, structured cloning and deep equality see it like any field); assigning
 * replaces it.
 */
function lazyField<K extends keyof Encoded>(target: Encoded, key: K, compute: () => Encoded[K]): void {
  const settle = (value: Encoded[K]) => Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
  Object.defineProperty(target, key, {
    enumerable: true,
    configurable: true,
    get: () => {
      const value = compute();
      settle(value);
      return value;
    },
    set: settle,
  });
}
