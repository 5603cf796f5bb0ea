/**
 * The vocabulary tokens HotFlip may flip a word to (docs/attacks.md "hotflip" 3): whole words of
 * two or more ASCII letters, no special token, no sub-word continuation piece, no English stop
 * word (lib/attacks/english-stopwords.txt). Byte-level BPE keeps two lists, word-initial tokens
 * with the `Ġ` space marker and those without, since a flip keeps the form of the token it replaces.
 */
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tokenVocabulary } from "../tokenization/preprocessed.ts";
import { OnceCache } from "../base/once-cache.ts";

/** GPT-2's byte-level marker of a leading space. */
const SPACE_MARKER = "Ġ";
const WORD = /^[A-Za-z]{2,}$/;

let stopWords: ReadonlySet<string> | undefined;
export function englishStopWords(): ReadonlySet<string> {
  stopWords ??= new Set(
    readFileSync(new URL("./english-stopwords.txt", import.meta.url), "utf8")
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith("#")),
  );
  return stopWords;
}

export interface FlipCandidates {
  /** Whether the vocabulary marks word-initial spaces (byte-level BPE). */
  spaceMarked: boolean;
  /** Allowed ids for a token of this form: with the space marker, or without it (WordPiece: all whole words). */
  allowed(marked: boolean): ReadonlySet<number>;
  /** Allowed ids to replace token `id` with: those of its form (docs/attacks.md "hotflip" 3). */
  allowedFor(id: number): ReadonlySet<number>;
  /** The text a token puts in place of the word (without the space marker). */
  surface(id: number): string;
  token(id: number): string | undefined;
}

const candidates = new OnceCache<string, FlipCandidates>();

/** The candidates of the tokenizer.json at `path` (computed once per path). */
export function flipCandidates(path: string): Promise<FlipCandidates> {
  return candidates.get(path, () => loadCandidates(path));
}

async function loadCandidates(path: string): Promise<FlipCandidates> {
  const json = JSON.parse(await readFile(path, "utf8")) as { model?: { type?: string; vocab?: unknown; continuing_subword_prefix?: string } };
  const model = json.model ?? {};
  if (!model.vocab || typeof model.vocab !== "object" || Array.isArray(model.vocab)) throw new Error(`${path}: HotFlip reads word-level vocabularies (WordPiece, BPE); this tokenizer's model is ${model.type ?? "unknown"}`);
  const { specialIds } = await tokenVocabulary(path);
  const vocab = model.vocab as Record<string, number>;
  const spaceMarked = model.type === "BPE";
  const continuation = model.continuing_subword_prefix ?? "##";
  const tokens = new Map<number, string>();
  const marked = new Set<number>();
  const plain = new Set<number>();
  const stop = englishStopWords();
  for (const [token, id] of Object.entries(vocab)) {
    tokens.set(id, token);
    if (specialIds.has(id) || (!spaceMarked && token.startsWith(continuation))) continue;
    const isMarked = spaceMarked && token.startsWith(SPACE_MARKER);
    const word = isMarked ? token.slice(SPACE_MARKER.length) : token;
    if (!WORD.test(word) || stop.has(word.toLowerCase())) continue;
    (isMarked ? marked : plain).add(id);
  }
  const surface = (id: number) => {
    const token = tokens.get(id) ?? "";
    return spaceMarked && token.startsWith(SPACE_MARKER) ? token.slice(SPACE_MARKER.length) : token;
  };
  const allowed = (isMarked: boolean) => (isMarked ? marked : plain);
  const allowedFor = (id: number) => allowed(spaceMarked && (tokens.get(id) ?? "").startsWith(SPACE_MARKER));
  return { spaceMarked, allowed, allowedFor, surface, token: (id) => tokens.get(id) };
}
