/**
 * Deterministic benchmark texts of a given token length (special tokens included), built from
 * words of the fixture vocabulary and checked with the model's own tokenizer, so "about 16" and
 * "about 128" tokens are measured facts, not estimates.
 */
import { join } from "node:path";
import { TextTokenizer, Encoded } from "../../lib/tokenization/tokenizer.ts";
import { WORDS } from "../../lib/fixtures/vocab.ts";

export interface BenchInputs {
  /** Target length in tokens, [CLS] and [SEP] included. */
  targetTokens: number;
  texts: string[];
  /** The texts tokenized (for the ONNX Runtime ceiling, which skips tokenization). */
  encoded: Encoded[];
  meanTokens: number;
}

/** A small linear congruential generator: the same texts on every run and machine. */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

const TOKENIZE = { maxLength: 0, truncation: "do_not_truncate", addSpecialTokens: true, stride: 0, returnOverflowing: false } as const;

export async function benchInputs(modelDir: string, targetTokens: number, count = 64): Promise<BenchInputs> {
  const tokenizer = await TextTokenizer.load(join(modelDir, "tokenizer.json"));
  const random = lcg(targetTokens * 7919 + 17);
  const texts: string[] = [];
  const encoded: Encoded[] = [];
  for (let i = 0; i < count; i++) {
    const words: string[] = [];
    // Add words until the next would pass the target; most vocabulary words are one token.
    for (;;) {
      const candidate = [...words, WORDS[Math.floor(random() * WORDS.length)]];
      const [enc] = await tokenizer.encode([candidate.join(" ")], TOKENIZE);
      if (enc.ids.length > targetTokens) break;
      words.push(candidate[candidate.length - 1]);
      if (enc.ids.length === targetTokens) break;
    }
    const text = words.join(" ");
    texts.push(text);
    encoded.push((await tokenizer.encode([text], TOKENIZE))[0]);
  }
  const meanTokens = encoded.reduce((sum, e) => sum + e.ids.length, 0) / encoded.length;
  return { targetTokens, texts, encoded, meanTokens };
}
