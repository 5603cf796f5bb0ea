/** Preprocessed input helpers: context segments without token_type_ids, token_type_ids for models without that input. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { fromPreprocessed, contextTokens, type TokenVocabulary } from "../../lib/tokenization/preprocessed.ts";
import { tokenTypeProblem } from "../../lib/tokenization/preprocessed.ts";
import { preprocessedProblems } from "../../lib/validation/input-shape.ts";

// RoBERTa-style ids: <s>=0, <pad>=1, </s>=2; a pair is <s> q </s></s> c </s>
const roberta: TokenVocabulary = { specialIds: new Set([0, 1, 2]), separatorId: 2, decodeSpan: () => "" };

test("context tokens: between the separator run and the final separator when there are no segments", () => {
  const [seq] = fromPreprocessed({ input_ids: [[0, 10, 11, 2, 2, 20, 21, 22, 2, 1, 1]], attention_mask: [[1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]] }, roberta.specialIds);
  assert.equal(seq.ids.length, 9, "trailing padding dropped");
  assert.deepEqual(seq.specialTokensMask, [1, 0, 0, 1, 1, 0, 0, 0, 1]);
  assert.deepEqual(contextTokens(seq, roberta, 0), [false, false, false, false, false, true, true, true, false]);
  // a row cut before its final separator: the context runs to the end
  const [cut] = fromPreprocessed({ input_ids: [[0, 10, 2, 2, 20, 21]], attention_mask: [[1, 1, 1, 1, 1, 1]] }, roberta.specialIds);
  assert.deepEqual(contextTokens(cut, roberta, 0), [false, false, false, false, true, true]);
  // BERT-style segments win over separators
  const bert: TokenVocabulary = { specialIds: new Set([0, 2, 3]), separatorId: 3, decodeSpan: () => "" };
  const [pair] = fromPreprocessed({ input_ids: [[2, 10, 3, 20, 21, 3]], attention_mask: [[1, 1, 1, 1, 1, 1]], token_type_ids: [[0, 0, 0, 1, 1, 1]] }, bert.specialIds);
  assert.deepEqual(contextTokens(pair, bert, 0), [false, false, false, true, true, false]);
  const [none] = fromPreprocessed({ input_ids: [[2, 10, 11]], attention_mask: [[1, 1, 1]] }, bert.specialIds);
  assert.throws(() => contextTokens(none, bert, 4), /row 4 has no separator token/);
});

test("token_type_ids for a model without that input: all zeros are ignored, other segments refused", () => {
  const input = (types: number[][]) => ({ input_ids: [[0, 5, 2]], attention_mask: [[1, 1, 1]], token_type_ids: types });
  assert.equal(tokenTypeProblem(input([[0, 0, 0]]), ["input_ids", "attention_mask"]), undefined);
  assert.equal(tokenTypeProblem(input([[0, 1, 1]]), ["input_ids", "attention_mask", "token_type_ids"]), undefined);
  assert.deepEqual(tokenTypeProblem(input([[0, 1, 1]]), ["input_ids", "attention_mask"]), {
    field: "input.token_type_ids.0",
    message: "this model has no token_type_ids input; only all-zero token_type_ids are accepted (and ignored)",
  });
  assert.deepEqual(preprocessedProblems(input([[0, 1, 1]]), 50, 16, ["input_ids", "attention_mask"]).map((p) => p.field), ["input.token_type_ids.0"]);
  assert.deepEqual(preprocessedProblems(input([[0, 0, 0]]), 50, 16, ["input_ids", "attention_mask"]), []);
});
