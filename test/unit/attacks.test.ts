/** The pieces of the SPEC §8 attacks (docs/attacks.md) that need no model: text edits, ranking, candidates, the loss. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { readFile } from "node:fs/promises";
import { removeSpan, variantTexts } from "../../lib/attacks/words.ts";
import { topScoring } from "../../lib/attacks/hotflip.ts";
import { flipCandidates, englishStopWords } from "../../lib/attacks/candidates.ts";
import { lossCotangents, predictionLoss } from "../../lib/attacks/loss.ts";
import { fixturePath } from "../helpers/fixtures.ts";

test("removeSpan takes the word and one side's whitespace, nothing else", () => {
  const cases: [string, string, string][] = [
    ["a bb c", "bb", "a c"],
    ["a bb c", "a", "bb c"],
    ["a bb c", "c", "a bb"],
    ["is it good?", "good", "is it ?"], // punctuation keeps its place: only whitespace on both sides is merged
    ["is it good?", "?", "is it good"],
    ["good?", "good", "?"],
    ["x  y\tz", "y", "x\tz"],
    ["solo", "solo", ""],
    ["the (cat) sat", "cat", "the () sat"],
  ];
  for (const [text, word, expected] of cases) {
    const start = text.indexOf(word);
    assert.equal(removeSpan(text, start, start + word.length), expected, `${JSON.stringify(text)} without ${JSON.stringify(word)}`);
  }
});

test("topScoring keeps the n best allowed ids, best first, ties to the lower id (against a full sort)", () => {
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let round = 0; round < 50; round++) {
    const scores = Array.from({ length: 200 }, () => Math.round(random() * 20) / 4); // many ties
    const allowed = Array.from({ length: 200 }, (_, i) => i).filter(() => random() < 0.7);
    const keep = (id: number) => id % 5 !== 0;
    const n = 1 + Math.floor(random() * 25);
    const expected = allowed.filter(keep).sort((a, b) => scores[b] - scores[a] || a - b).slice(0, n);
    assert.deepEqual(topScoring(scores, allowed, keep, n), expected);
  }
});

test("HotFlip candidates: whole words of letters, no specials, no ## pieces, no stop words (WordPiece)", async () => {
  const path = join(await fixturePath("bert-tiny-sst"), "tokenizer.json");
  const vocab = JSON.parse(await readFile(path, "utf8")).model.vocab as Record<string, number>;
  const c = await flipCandidates(path);
  assert.equal(c.spaceMarked, false);
  const allowed = [...c.allowed(false)].map((id) => c.token(id)!);
  assert.ok(allowed.length > 400, `${allowed.length} candidates`);
  for (const token of allowed) assert.match(token, /^[a-z]{2,}$/);
  for (const excluded of ["[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]", "##ing", "the", "and", "with", "a", "b", "?", "[unused0]"]) {
    if (vocab[excluded] !== undefined) assert.ok(!c.allowed(false).has(vocab[excluded]), `${excluded} is not a candidate`);
  }
  for (const kept of ["music", "movie", "happy"]) assert.ok(c.allowed(false).has(vocab[kept]), `${kept} is a candidate`);
  assert.ok(englishStopWords().has("the") && englishStopWords().has("yourselves") && !englishStopWords().has("garden"));
});

test("HotFlip candidates: byte-level BPE keeps word-initial (Ġ) and plain forms apart, surfaces without the marker", async () => {
  const path = join(await fixturePath("roberta-tiny-sst"), "tokenizer.json");
  const vocab = JSON.parse(await readFile(path, "utf8")).model.vocab as Record<string, number>;
  const c = await flipCandidates(path);
  assert.equal(c.spaceMarked, true);
  const marked = [...c.allowed(true)].map((id) => c.token(id)!);
  assert.ok(marked.length > 50 && marked.every((t) => /^Ġ[A-Za-z]{2,}$/.test(t)));
  assert.ok([...c.allowed(false)].every((id) => /^[A-Za-z]{2,}$/.test(c.token(id)!)));
  assert.ok(c.allowed(true).has(vocab["Ġlanguage"]) && !c.allowed(true).has(vocab["Ġwith"]) && !c.allowed(true).has(vocab["Ġthey"]) && !c.allowed(false).has(vocab["<s>"]));
  assert.equal(c.surface(vocab["Ġlanguage"]), "language");
  // A flip keeps the form of the token it replaces.
  assert.equal(c.allowedFor(vocab["Ġlanguage"]), c.allowed(true));
  assert.equal(c.allowedFor(vocab["er"]), c.allowed(false));
  assert.notEqual(vocab["er"], undefined);
});

test("the attack loss is the cross-entropy of the fixed prediction; its cotangent is its gradient (finite differences)", () => {
  const subject = { logits: { start_logits: Float32Array.from([0.5, -1, 2, 0.25]), end_logits: Float32Array.from([1, 0, -0.5, 3]) } };
  const predicted = { start_logits: 2, end_logits: 1 };
  const logZ = (r: number[]) => Math.log(r.reduce((s, v) => s + Math.exp(v), 0));
  const byHand = -(2 - logZ([0.5, -1, 2, 0.25])) - (0 - logZ([1, 0, -0.5, 3]));
  assert.ok(Math.abs(predictionLoss(subject, predicted) - byHand) < 1e-6);
  const cot = lossCotangents(subject, predicted);
  for (const output of ["start_logits", "end_logits"] as const) {
    for (let i = 0; i < 4; i++) {
      const moved = (d: number) => {
        const logits = { ...subject.logits, [output]: Float32Array.from(subject.logits[output], (v, j) => (j === i ? v + d : v)) };
        return predictionLoss({ logits }, predicted);
      };
      const fd = (moved(1e-3) - moved(-1e-3)) / 2e-3;
      assert.ok(Math.abs(cot[output][i] - fd) < 1e-3, `${output}[${i}]: ${cot[output][i]} vs ${fd}`);
    }
  }
});

test("variant texts: QA and classification pairs name their question and context; a single text has no question", () => {
  const variants = [["q1", "c1"], ["q2", "c2"]];
  assert.deepEqual(variantTexts({ questionSegment: 0, contextSegment: 1 }, variants), { questions: ["q1", "q2"], contexts: ["c1", "c2"] });
  assert.deepEqual(variantTexts({ questionSegment: 1, contextSegment: 0 }, variants), { questions: ["c1", "c2"], contexts: ["q1", "q2"] });
  assert.deepEqual(variantTexts({ contextSegment: 0 }, [["t1"], ["t2"]]), { questions: [], contexts: ["t1", "t2"] });
});
