/** Single texts of concurrent calls share one encodeBatch; a text the binding refuses fails alone. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import tokenizers from "tokenizers";
import { BatchedEncoder } from "../../lib/tokenization/batched-encoder.ts";
import { TextTokenizer } from "../../lib/tokenization/tokenizer.ts";
import { fixturePath } from "../helpers/fixtures.ts";

/** A stand-in binding that records its calls and refuses the text "bad". */
function fakeBinding() {
  const calls: string[][] = [];
  const encoding = (text: string) => ({ text });
  const refuse = (text: string) => text === "bad";
  return {
    calls,
    binding: {
      encodeBatch: async (texts: string[]) => {
        calls.push(texts);
        if (texts.some(refuse)) throw new Error("batch refused");
        return texts.map(encoding);
      },
      encode: async (text: string) => {
        calls.push([`alone:${text}`]);
        if (refuse(text)) throw new Error(`cannot encode ${text}`);
        return encoding(text);
      },
    },
  };
}

test("texts asked for in one event-loop turn go to the binding as one batch; the next turn starts another", async () => {
  const { calls, binding } = fakeBinding();
  const encoder = new BatchedEncoder(binding as never, { addSpecialTokens: true });
  const first = await Promise.all(["a", "b", "c"].map((t) => encoder.encode(t)));
  assert.deepEqual(first, [{ text: "a" }, { text: "b" }, { text: "c" }]);
  const second = await encoder.encode("d");
  assert.deepEqual(second, { text: "d" });
  assert.deepEqual(calls, [["a", "b", "c"], ["d"]]);
});

test("a text the binding refuses fails alone; the others of its batch still get their encodings", async () => {
  const { calls, binding } = fakeBinding();
  const encoder = new BatchedEncoder(binding as never, { addSpecialTokens: false });
  const settled = await Promise.allSettled(["x", "bad", "y"].map((t) => encoder.encode(t)));
  assert.deepEqual(settled.map((s) => s.status), ["fulfilled", "rejected", "fulfilled"]);
  assert.match(String((settled[1] as PromiseRejectedResult).reason.message), /cannot encode bad/);
  assert.deepEqual(calls, [["x", "bad", "y"], ["alone:x"], ["alone:bad"], ["alone:y"]]);
});

/**
 * Each text tokenized through TextTokenizer, all at once (one request each, so they share a
 * batch), beside the bare binding's encoding of the text alone, with the same truncation.
 */
async function besideAlone(fixture: string, texts: string[], maxLength: number) {
  const path = `${await fixturePath(fixture)}/tokenizer.json`;
  const tok = await TextTokenizer.load(path);
  const reference = tokenizers.Tokenizer.fromString(await readFile(path, "utf8"));
  reference.disablePadding();
  reference.setTruncation(maxLength, { strategy: "LongestFirst" as never, stride: 0 });
  const requests = await Promise.all(texts.map((t) => tok.encode([t], { maxLength, truncation: "longest_first", addSpecialTokens: true })));
  return Promise.all(texts.map(async (text, k) => {
    const alone = await reference.encode(text, null, { addSpecialTokens: true });
    const [e] = requests[k];
    assert.deepEqual(e.ids, alone.getIds(), text);
    assert.deepEqual(e.tokens, alone.getTokens(), text);
    assert.deepEqual(e.wordIds, alone.getWordIds().map((w) => w ?? null), text);
    return { text, e, alone };
  }));
}

test("concurrent requests through TextTokenizer give what the binding gives each text alone (ids, offsets with astral characters, word ids)", async () => {
  const texts = ["a great movie", "😀 smiles 😀 all round, and more words past the limit", "", "the plot was thin"];
  for (const { text, e } of await besideAlone("bert-tiny-base", texts, 12)) {
    // Offsets are UTF-16 positions (each 😀 is two code units where the binding counts one code point):
    // the text under every ordinary token is that token.
    e.tokens.forEach((token, i) => {
      if (e.specialTokensMask[i] === 1 || token === "[UNK]") return;
      assert.equal(text.slice(...e.offsets[i]).toLowerCase(), token.replace(/^##/, ""), `${text}: token ${i}`);
    });
  }
});

// Every tokenizer kind of the fixtures: WordPiece (BERT, DistilBERT), byte-level BPE (RoBERTa, GPT-2,
// BART) and Unigram/Metaspace (T5). Texts without astral characters, so the binding's code-point
// offsets are the UTF-16 offsets and compare as they are.
for (const fixture of ["distilbert-tiny-sst", "roberta-tiny-sst", "gpt2-tiny", "bart-tiny", "t5-tiny"]) {
  test(`${fixture}: concurrent requests give what the binding gives each text alone (ids, tokens, word ids, offsets)`, async () => {
    const texts = ["a great movie", "the plot was thin and slow, with more words than ten tokens hold", "", " leading and trailing spaces  "];
    for (const { text, e, alone } of await besideAlone(fixture, texts, 10)) {
      const sequence = alone.getSequenceIds();
      assert.deepEqual(e.offsets, alone.getOffsets().map(([s, end], i): [number, number] => (sequence[i] === null || sequence[i] === undefined ? [0, 0] : [s, end])), text);
    }
  });
}
