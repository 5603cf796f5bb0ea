/**
 * Independent reference: transformers.js (local files, remote loading off) on the same fixture
 * folders. It shares ONNX Runtime with us, so this checks tokenization, padding, post-processing
 * (softmax, pooling), not the runtime's numerics.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { pipeline } from "@huggingface/transformers";
import { useTransformersJs, assertClose, compareBestAnswers, compareSimpleEntities, PIPELINE_OPTIONS } from "../helpers/transformersjs.ts";
import { executeTask } from "../../lib/orchestration/execute.ts";
import { withDefaults } from "../../lib/request/request.ts";

const TEXTS = ["hello world", "The quick brown fox jumps over the lazy dog!", "naïve café, résumé: 42 items"];
const { load } = useTransformersJs();

test("text-classification scores equal transformers.js to 1e-5", async () => {
  const ours = await load("bert-tiny-sst");
  const clf = await pipeline("text-classification", "bert-tiny-sst", PIPELINE_OPTIONS);
  const { result } = await executeTask("sequence-classification", withDefaults({ input: TEXTS }), ours, { plaintext: true });
  const logits = (result.model_outputs as { logits: number[][] }).logits;
  const labels = Object.values(ours.capabilities.id2label);
  for (let i = 0; i < TEXTS.length; i++) {
    const theirs = (await clf(TEXTS[i], { top_k: null })) as { label: string; score: number }[];
    const byLabel = Object.fromEntries(theirs.map((t) => [t.label, t.score]));
    assertClose(logits[i], labels.map((l) => byLabel[l]), 1e-5, `item ${i}`);
    assert.equal(labels[(result.labels as number[])[i]], theirs[0].label, "same top label");
  }
});

test("feature-extraction mean and cls pooling equal transformers.js to 1e-5", async () => {
  const ours = await load("bert-tiny-base");
  const extractor = await pipeline("feature-extraction", "bert-tiny-base", PIPELINE_OPTIONS);
  for (const [mode, pooling] of [["mean", "mean"], ["cls", "cls"]] as const) {
    const { result } = await executeTask("embedding", withDefaults({ input: TEXTS, task_kwargs: { embedding_mode: mode } }), ours, { plaintext: true });
    const emb = (result.model_outputs as { embeddings: number[][] }).embeddings;
    const theirs = await extractor(TEXTS, { pooling, normalize: false });
    const rows = theirs.tolist() as number[][];
    for (let i = 0; i < TEXTS.length; i++) assertClose(emb[i], rows[i], 1e-5, `${mode} item ${i}`);
  }
});

const NER_TEXTS = ["John lives in Paris with Mary", "The quick brown fox jumps over the lazy dog in London", "anna and peter went to berlin today"];

test("token-classification none equals transformers.js (entity, score, index, word) to 1e-5", async () => {
  const ours = await load("bert-tiny-ner");
  const ner = await pipeline("token-classification", "bert-tiny-ner", PIPELINE_OPTIONS);
  const { result } = await executeTask("token-classification", withDefaults({ input: NER_TEXTS }), ours, { plaintext: true });
  const entities = result.entities as { entity: string; score: number; index: number; word: string }[][];
  let compared = 0;
  for (let i = 0; i < NER_TEXTS.length; i++) {
    const theirs = (await ner(NER_TEXTS[i])) as { entity: string; score: number; index: number; word: string }[];
    assert.deepEqual(entities[i].map((e) => [e.entity, e.index]), theirs.map((e) => [e.entity, e.index]), `item ${i}`);
    entities[i].forEach((e, k) => {
      assert.ok(Math.abs(e.score - theirs[k].score) < 1e-5);
      assert.equal(e.word.toLowerCase(), theirs[k].word.replace(/^##/, ""), "our word is the text under the token");
      compared++;
    });
  }
  assert.ok(compared > 3, `compared ${compared} entities`);
});

test("token-classification simple equals transformers.js where both group the same tokens", async () => {
  const ours = await load("bert-tiny-ner");
  const ner = await pipeline("token-classification", "bert-tiny-ner", PIPELINE_OPTIONS);
  // transformers.js lowercases WordPiece words and joins them with single spaces
  const agreeing = await compareSimpleEntities(ours, ner, NER_TEXTS, (o, t) => o.toLowerCase().replace(/\s+/g, " ") === t);
  assert.ok(agreeing > 0, "at least one item is compared exactly");
});

test("question-answering best answer and score equal transformers.js to 1e-5 (contexts within one window)", async () => {
  const ours = await load("bert-tiny-qa");
  const qa = await pipeline("question-answering", "bert-tiny-qa", PIPELINE_OPTIONS);
  const pairs: [string, string][] = [
    ["who went to paris?", "John went to Paris with Mary and Peter."],
    ["where is the cat?", "The cat sat on the mat in the house by the river."],
  ];
  // transformers.js lowercases and puts spaces before punctuation
  const unspaced = (text: string) => text.replace(/ ([.,?!])/g, "$1");
  await compareBestAnswers(ours, qa, pairs, (o, t) => unspaced(o.toLowerCase().replace(/\s+/g, " ")) === unspaced(t));
});
