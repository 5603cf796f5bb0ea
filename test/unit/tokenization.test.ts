import { test, before } from "node:test";
import assert from "node:assert/strict";
import { TextTokenizer, TokenizeOptions } from "../../lib/tokenization/tokenizer.ts";
import { codePointToUtf16, utf16Indexer } from "../../lib/tokenization/offsets.ts";
import { encodeQaWindows } from "../../lib/tokenization/pair-windows.ts";
import { fixturePath } from "../helpers/fixtures.ts";

let tok: TextTokenizer;
const opts = (o: Partial<TokenizeOptions> = {}): TokenizeOptions => ({ maxLength: 128, truncation: "longest_first", addSpecialTokens: true, stride: 0, returnOverflowing: false, ...o });

before(async () => {
  tok = await TextTokenizer.load(`${await fixturePath("bert-tiny-base")}/tokenizer.json`);
});

/** The text under each token's offsets, lowercased, is the token without its ## prefix. */
function assertOffsetsCover(text: string, tokens: string[], offsets: [number, number][], sequenceIds: (number | null)[], seq = 0) {
  tokens.forEach((t, i) => {
    if (sequenceIds[i] !== seq || t === "[UNK]") return;
    assert.equal(text.slice(...offsets[i]).toLowerCase().normalize("NFD").replace(/\p{Mn}/gu, ""), t.replace(/^##/, ""), `token ${i} "${t}"`);
  });
}

test("single text: special tokens, word ids, offsets into the text", async () => {
  const text = "Hello, world!";
  const [e] = await tok.encode([text], opts());
  assert.equal(e.tokens[0], "[CLS]");
  assert.equal(e.tokens.at(-1), "[SEP]");
  assert.deepEqual(e.ids.length, e.tokens.length);
  assert.deepEqual(e.attentionMask, e.ids.map(() => 1));
  assert.deepEqual(e.typeIds, e.ids.map(() => 0));
  assert.equal(e.wordIds[0], null);
  assert.equal(e.wordIds.at(-1), null);
  assert.deepEqual(e.specialTokensMask.filter((x) => x === 1).length, 2);
  assertOffsetsCover(text, e.tokens, e.offsets, e.sequenceIds);
  const words = e.wordIds.filter((w) => w !== null);
  assert.deepEqual([...new Set(words)], [0, 1, 2, 3], "hello , world !");
});

test("pairs: type ids 0 then 1, sequence ids, offsets into each text", async () => {
  const a = "where is the cat?";
  const b = "The cat sat on the mat.";
  const [e] = await tok.encode([[a, b]], opts());
  const sep = e.tokens.indexOf("[SEP]");
  assert.ok(sep > 0);
  assert.deepEqual(e.typeIds.slice(0, sep + 1), new Array(sep + 1).fill(0));
  assert.deepEqual(e.typeIds.slice(sep + 1), new Array(e.ids.length - sep - 1).fill(1));
  assert.equal(e.sequenceIds[1], 0);
  assert.equal(e.sequenceIds[sep + 1], 1);
  assertOffsetsCover(a, e.tokens, e.offsets, e.sequenceIds, 0);
  assertOffsetsCover(b, e.tokens, e.offsets, e.sequenceIds, 1);
});

test("truncation: longest_first trims to max_length; only_second keeps the first text", async () => {
  const long = "the cat sat on the mat and the dog sat on the log all day long";
  const [single] = await tok.encode([long], opts({ maxLength: 8 }));
  assert.equal(single.ids.length, 8);
  assert.equal(single.tokens.at(-1), "[SEP]");
  const [pair] = await tok.encode([["is the cat here?", long]], opts({ maxLength: 12, truncation: "only_second" }));
  assert.equal(pair.ids.length, 12);
  const [full] = await tok.encode([["is the cat here?", long]], opts());
  const firstLen = full.typeIds.filter((t) => t === 0).length;
  assert.deepEqual(pair.ids.slice(0, firstLen), full.ids.slice(0, firstLen), "first text untouched");
  const [none] = await tok.encode([long], opts({ truncation: "do_not_truncate", maxLength: 4 }));
  assert.equal(none.ids.length, full.ids.length - firstLen + 1);
});

test("add_special_tokens false leaves them out", async () => {
  const [e] = await tok.encode(["hello world"], opts({ addSpecialTokens: false }));
  assert.ok(!e.tokens.includes("[CLS]") && !e.tokens.includes("[SEP]"));
});

test("impossible truncation is a 422-typed error naming the item", async () => {
  await assert.rejects(tok.encode([["a b c d e f g", "h"]], opts({ maxLength: 4, truncation: "only_second" })), (err: Error & { type?: string }) => {
    assert.equal(err.type, "invalid_request");
    assert.match(err.message, /input\[0\] cannot be tokenized/);
    return true;
  });
});

test("offsets are JavaScript string positions even after astral characters", async () => {
  const text = "cat 😀 dog";
  const [e] = await tok.encode([text], opts());
  const dog = e.tokens.indexOf("dog");
  assert.ok(dog > 0, JSON.stringify(e.tokens));
  assert.equal(text.slice(...e.offsets[dog]), "dog");
  assert.equal(codePointToUtf16("a😀b", 2), 3);
  assert.equal(codePointToUtf16("abc", 2), 2);
  // a😀b😀c: code points a 0, 😀 1, b 2, 😀 3, c 4, end 5 start at UTF-16 units 0, 1, 3, 4, 6, 7
  const index = utf16Indexer("a😀b😀c");
  assert.deepEqual([0, 1, 2, 3, 4, 5].map(index), [0, 1, 3, 4, 6, 7]);
  assert.equal(index(9), 7, "past the end clamps to the length");
});

// Byte-level BPE (the RoBERTa fixture): offsets after trim_offsets, in JavaScript string indices.

const bpe = async () => TextTokenizer.load(`${await fixturePath("roberta-tiny-base")}/tokenizer.json`);

test("BPE: offsets are UTF-16 indices with the leading space trimmed; pieces of a character cover that character", async () => {
  const text = "😀 Paris,  naïve";
  const [e] = await (await bpe()).encode([text], opts());
  // 😀 is 4 UTF-8 bytes (4 byte tokens) and 2 UTF-16 units; "Paris" is text[3..8], "naïve" text[11..16], ï text[13..14]
  assert.deepEqual(e.tokens, ["<s>", "ð", "Ł", "ĺ", "Ģ", "ĠParis", ",", "Ġ", "Ġn", "a", "Ã", "¯", "ve", "</s>"]);
  assert.deepEqual(e.offsets, [[0, 0], [0, 2], [0, 2], [0, 2], [0, 2], [3, 8], [8, 9], [10, 10], [11, 12], [12, 13], [13, 14], [13, 14], [14, 16], [0, 0]]);
  assert.deepEqual(e.wordIds, [null, 0, 0, 0, 0, 1, 2, 3, 4, 4, 4, 4, 4, null]);
  assert.deepEqual(e.specialTokensMask, [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
});

test("BPE pairs: <s> A </s></s> B </s>, one token type, offsets into each text; windows keep that shape, overlap by the stride and cover the context", async () => {
  const tok = await bpe();
  const q = "Who went?";
  const c = "John went to Paris with Mary and Peter, and Anna went to Berlin.";
  const [e] = await tok.encode([[q, c]], opts());
  const sep = e.sequenceIds.indexOf(null, 1);
  assert.deepEqual([e.tokens[0], e.tokens[sep], e.tokens[sep + 1], e.tokens.at(-1)], ["<s>", "</s>", "</s>", "</s>"]);
  assert.deepEqual(e.typeIds, e.ids.map(() => 0));
  const paris = e.tokens.indexOf("ĠParis");
  assert.equal(e.sequenceIds[paris], 1);
  assert.equal(c.slice(...e.offsets[paris]), "Paris");

  // 14 tokens per window: 4 special, the question's tokens, the rest context; overlap 3
  const [context] = await tok.encodeWhole([c]);
  const questionTokens = e.sequenceIds.filter((s) => s === 0).length;
  const capacity = 14 - 4 - questionTokens;
  const windows = (await encodeQaWindows(tok, [[q, c]], { maxSeqLen: 14, questionLimit: 64, docStride: { value: 3, field: "doc_stride" }, firstWindowOnly: false }))[0];
  const expectedCount = 1 + Math.ceil((context.ids.length - capacity) / (capacity - 3));
  assert.equal(windows.length, expectedCount, `${context.ids.length} context tokens, ${capacity} per window, step ${capacity - 3}`);
  assert.ok(windows.length >= 3);
  const starts: number[] = [];
  windows.forEach((w, k) => {
    assert.ok(w.ids.length <= 14);
    const s = w.sequenceIds.indexOf(null, 1);
    assert.deepEqual(w.tokens.slice(0, s + 2).filter((t) => t.startsWith("<") || t.startsWith("</")), ["<s>", "</s>", "</s>"]);
    w.tokens.forEach((t, i) => w.sequenceIds[i] === 1 && assert.equal(c.slice(...w.offsets[i]), t.replace(/^Ġ/, "")));
    // the window's context tokens are a run of the whole context's tokens
    const ids = w.ids.filter((_, i) => w.sequenceIds[i] === 1);
    const start = k === 0 ? 0 : starts[k - 1] + capacity - 3;
    starts.push(start);
    assert.deepEqual(ids, context.ids.slice(start, start + capacity), `window ${k}`);
    if (k > 0) {
      const previous = windows[k - 1].ids.filter((_, i) => windows[k - 1].sequenceIds[i] === 1);
      assert.deepEqual(ids.slice(0, 3), previous.slice(-3), `window ${k} repeats the last 3 tokens of window ${k - 1}`);
    }
  });
  const lastIds = windows.at(-1)!.ids.filter((_, i) => windows.at(-1)!.sequenceIds[i] === 1);
  assert.equal(starts.at(-1)! + lastIds.length, context.ids.length, "the last window ends at the context's last token");
  assert.deepEqual(windows[0].ids, (await tok.encode([[q, c]], opts({ maxLength: 14, truncation: "only_second" })))[0].ids, "the first window is the tokenizer's own truncation");
});
