/** Entity aggregation on hand-built token scores (labels O, B-PER, I-PER, B-LOC, I-LOC). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { aggregateEntities, ScoredToken } from "../../lib/tasks/entity-grouping.ts";

const LABELS = { "0": "O", "1": "B-PER", "2": "I-PER", "3": "B-LOC", "4": "I-LOC" };
const text = "Anna Karenina went to Sankt Petersburg";
// tokens: anna | kar ##enina | went | to | sankt | peters ##burg
const one = (k: number, p = 0.8) => [0, 1, 2, 3, 4].map((i) => (i === k ? p : (1 - p) / 4));
const tok = (index: number, start: number, end: number, wordId: number, probs: number[]): ScoredToken => ({ index, start, end, wordId, segment: 0, probs });
const tokens: ScoredToken[] = [
  tok(1, 0, 4, 0, one(1, 0.9)), // anna B-PER
  tok(2, 5, 8, 1, one(2, 0.6)), // kar I-PER
  tok(3, 8, 13, 1, one(0, 0.7)), // ##enina O (a sub-word disagreeing with its word)
  tok(4, 14, 18, 2, one(0)), // went O
  tok(5, 19, 21, 3, one(0)), // to O
  tok(6, 22, 27, 4, one(3, 0.7)), // sankt B-LOC
  tok(7, 28, 34, 5, one(4, 0.5)), // peters I-LOC
  tok(8, 34, 38, 5, one(4, 0.9)), // ##burg I-LOC
];

test("none: one entry per non-O token, words are slices of the text", () => {
  const e = aggregateEntities(tokens, "none", LABELS, [text]) as { entity: string; index: number; word: string; score: number }[];
  assert.deepEqual(e.map((x) => [x.entity, x.index, x.word]), [["B-PER", 1, "Anna"], ["I-PER", 2, "Kar"], ["B-LOC", 6, "Sankt"], ["I-LOC", 7, "Peters"], ["I-LOC", 8, "burg"]]);
  assert.equal(e[0].score, 0.9);
});

test("simple: adjacent tokens of one tag form a span; O breaks it; the score is the mean", () => {
  const e = aggregateEntities(tokens, "simple", LABELS, [text]) as { entity_group: string; word: string; score: number; start: number; end: number }[];
  assert.deepEqual(e.map((x) => [x.entity_group, x.word, x.start, x.end]), [["PER", "Anna Kar", 0, 8], ["LOC", "Sankt Petersburg", 22, 38]]);
  assert.ok(Math.abs(e[0].score - 0.75) < 1e-12);
  assert.ok(Math.abs(e[1].score - (0.7 + 0.5 + 0.9) / 3) < 1e-12);
  for (const x of e) assert.equal(text.slice(x.start, x.end), x.word);
});

test("first / average / max: words take one label from their pieces, then group", () => {
  const first = aggregateEntities(tokens, "first", LABELS, [text]) as { entity_group: string; word: string; score: number }[];
  assert.deepEqual(first.map((x) => [x.entity_group, x.word]), [["PER", "Anna Karenina"], ["LOC", "Sankt Petersburg"]]);
  assert.ok(Math.abs(first[0].score - (0.9 + 0.6) / 2) < 1e-12, "the first piece's score for the word");
  const max = aggregateEntities(tokens, "max", LABELS, [text]) as { entity_group: string; word: string }[];
  // "Karenina": ##enina (O, 0.7) beats kar (I-PER, 0.6): the word is O and ends the person
  assert.deepEqual(max.map((x) => [x.entity_group, x.word]), [["PER", "Anna"], ["LOC", "Sankt Petersburg"]]);
  const avg = aggregateEntities(tokens, "average", LABELS, [text]) as { entity_group: string; word: string; score: number }[];
  // Karenina averaged: O = (0.1 + 0.7)/2 = 0.4, I-PER = (0.6 + 0.075)/2 = 0.3375 → O
  assert.deepEqual(avg.map((x) => [x.entity_group, x.word]), [["PER", "Anna"], ["LOC", "Sankt Petersburg"]]);
  assert.ok(Math.abs(avg[1].score - (0.7 + (0.5 + 0.9) / 2) / 2) < 1e-12);
});

test("B starts a new span even after the same tag; BIOES E and S close spans", () => {
  const labels = { "0": "O", "1": "B-PER", "2": "S-PER", "3": "E-PER" };
  const ts = [tok(1, 0, 1, 0, [0, 0.9, 0, 0.1]), tok(2, 2, 3, 1, [0, 0.9, 0, 0.1]), tok(3, 4, 5, 2, [0, 0, 0.9, 0.1]), tok(4, 6, 7, 3, [0, 0.2, 0, 0.8])];
  const e = aggregateEntities(ts, "simple", labels, ["a b c d"]) as { word: string }[];
  assert.deepEqual(e.map((x) => x.word), ["a", "b", "c", "d"]);
});
