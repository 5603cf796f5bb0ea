/**
 * `npm run bench:tokenize`: the main thread's busy time per tokenized text (event-loop
 * utilisation over the loop, min and median of 15 rounds), MiniLM-sized bench model's tokenizer,
 * 16-token texts:
 * - the bare Rust binding: `encode` plus the three arrays every forward pass reads, 1000 texts at once;
 * - TextTokenizer, one text per call, 1000 calls at once (each call is a request's tokenization:
 *   texts of the same turn share one `encodeBatch`, lib/tokenization/batched-encoder.ts);
 * - TextTokenizer, 32 texts per call, 64 calls at once.
 * To see the per-text path this replaced, run it with lib/tokenization/tokenizer.ts of 910e05d
 * (`git checkout 910e05d -- lib/tokenization/tokenizer.ts`, then restore it).
 */
import { readFile } from "node:fs/promises";
import { performance } from "node:perf_hooks";
import tokenizers from "tokenizers";
import { benchModelDir } from "./fixtures.ts";
import { benchInputs } from "./inputs.ts";
import { TextTokenizer } from "../../lib/tokenization/tokenizer.ts";

const ROUNDS = 15;
const OPTIONS = { maxLength: 128, truncation: "longest_first" as const, addSpecialTokens: true };

/** Busy microseconds of the main thread per text over `calls` concurrent calls of `texts` texts each. */
async function busyPerText(calls: number, texts: number, call: (i: number) => Promise<unknown>): Promise<{ min: number; median: number }> {
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const start = performance.eventLoopUtilization();
    await Promise.all(Array.from({ length: calls }, (_, i) => call(i)));
    rounds.push((performance.eventLoopUtilization(start).active * 1000) / (calls * texts));
  }
  rounds.sort((a, b) => a - b);
  return { min: round(rounds[0]), median: round(rounds[ROUNDS >> 1]) };
}

const round = (x: number) => Math.round(x * 10) / 10;

const dir = await benchModelDir("minilm", (m) => process.stderr.write(`${m}\n`));
const texts = (await benchInputs(dir, 16)).texts;
const path = `${dir}/tokenizer.json`;
const bare = tokenizers.Tokenizer.fromString(await readFile(path, "utf8"));
bare.disablePadding();
bare.setTruncation(OPTIONS.maxLength, { strategy: "LongestFirst" as never, stride: 0 });
const tokenizer = await TextTokenizer.load(path);
const text = (i: number) => texts[i % texts.length];

const rows = [
  ["bare binding: encode + ids, type ids, mask", await busyPerText(1000, 1, async (i) => {
    const e = await bare.encode(text(i), null, { addSpecialTokens: true });
    e.getIds(), e.getTypeIds(), e.getAttentionMask();
  })],
  ["TextTokenizer, 1 text per call", await busyPerText(1000, 1, (i) => tokenizer.encode([text(i)], OPTIONS))],
  ["TextTokenizer, 32 texts per call", await busyPerText(64, 32, (i) => tokenizer.encode(Array.from({ length: 32 }, (_, k) => text(i * 32 + k)), OPTIONS))],
] as const;
console.log("| path | main thread µs per text, min | median |\n|---|---|---|");
for (const [name, { min, median }] of rows) console.log(`| ${name} | ${min} | ${median} |`);
