/**
 * RoBERTa (byte-level BPE) and DistilBERT fixtures against transformers.js (local files, remote
 * loading off) on the same folders: task post-processing, tokenization (ids of tricky text), and
 * that character offsets from byte-level BPE are JavaScript string indices (entity words and QA
 * answers equal what transformers.js decodes from the same tokens).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { pipeline, AutoTokenizer } from "@huggingface/transformers";
import { useTransformersJs, assertClose, compareBestAnswers, compareSimpleEntities, PIPELINE_OPTIONS } from "../helpers/transformersjs.ts";
import { executeTask } from "../../lib/orchestration/execute.ts";
import { withDefaults } from "../../lib/request/request.ts";
import { TextTokenizer } from "../../lib/tokenization/tokenizer.ts";

const FAMILIES = ["roberta", "distilbert"] as const;
/** Accents, an emoji, runs of spaces, punctuation, a tab and a newline. */
const TRICKY = [
  "hello world",
  "The quick brown fox jumps over the lazy dog!",
  "naïve café,  résumé:   42 items",
  "John  lives in Paris... with Mary 😀 (and Anna)!",
  "Crème brûlée?\tYes,\nplease — it's 3.50€",
];

const { load, folder } = useTransformersJs();

/** transformers.js decodes a BPE token with its leading space (" Paris"), WordPiece ones with ## and lowercased. */
const theirWord = (family: string, word: string) => (family === "roberta" ? word.trim() : word.replace(/^##/, ""));
const ourWord = (family: string, word: string) => (family === "roberta" ? word : word.toLowerCase().normalize("NFD").replace(/\p{Mn}/gu, ""));

/**
 * Whether our text slice says what transformers.js decoded from the same tokens. BPE: its decode
 * keeps the leading space and shows a piece of a multi-byte character as U+FFFD, where our
 * offsets cover the whole character. WordPiece: its decode is lowercased, unaccented, starts
 * with ## mid-word and puts spaces around punctuation.
 */
function sameText(family: string, ours: string, theirs: string): boolean {
  if (family === "roberta") {
    const escape = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    return new RegExp(`^${theirs.trim().split(/\uFFFD+/).map(escape).join(".")}$`, "u").test(ours);
  }
  const spacing = (t: string) => t.replace(/\s+/g, " ").replace(/ ?([.,?!:;)'-]) ?/g, "$1").replace(/([(]) /g, "$1").trim();
  return spacing(ourWord(family, ours)) === spacing(theirs.replace(/^##/, ""));
}

for (const family of FAMILIES) {
  test(`${family}: text-classification scores equal transformers.js to 1e-5`, async () => {
    const ours = await load(`${family}-tiny-sst`);
    const clf = await pipeline("text-classification", `${family}-tiny-sst`, PIPELINE_OPTIONS);
    const { result } = await executeTask("sequence-classification", withDefaults({ input: TRICKY }), ours, { plaintext: true });
    const scores = (result.model_outputs as { logits: number[][] }).logits;
    const labels = Object.values(ours.capabilities.id2label);
    assert.deepEqual(labels, ["negative", "neutral", "positive"]);
    for (let i = 0; i < TRICKY.length; i++) {
      const theirs = (await clf(TRICKY[i], { top_k: null })) as { label: string; score: number }[];
      const byLabel = Object.fromEntries(theirs.map((t) => [t.label, t.score]));
      assertClose(scores[i], labels.map((l) => byLabel[l]), 1e-5, `item ${i}`);
      assert.equal(labels[(result.labels as number[])[i]], theirs[0].label, "same top label");
    }
    assert.notDeepEqual(scores[0], scores[1], "different texts, different scores");
  });

  test(`${family}: feature-extraction mean and cls pooling equal transformers.js to 1e-5`, async () => {
    const ours = await load(`${family}-tiny-base`);
    const extractor = await pipeline("feature-extraction", `${family}-tiny-base`, PIPELINE_OPTIONS);
    for (const mode of ["mean", "cls"] as const) {
      const { result } = await executeTask("embedding", withDefaults({ input: TRICKY, task_kwargs: { embedding_mode: mode } }), ours, { plaintext: true });
      const emb = (result.model_outputs as { embeddings: number[][] }).embeddings;
      // transformers.js pads the batch with the pad id too, so this also checks RoBERTa's positions under padding
      const rows = (await extractor(TRICKY, { pooling: mode, normalize: false })).tolist() as number[][];
      for (let i = 0; i < TRICKY.length; i++) assertClose(emb[i], rows[i], 1e-5, `${mode} item ${i}`);
    }
  });

  const NER_TEXTS = ["John lives in Paris with Mary", "The quick brown fox jumps over the lazy dog in London", "naïve café,  résumé:   Anna  met Peter... in Berlin!"];

  /** Texts whose non-O tokens are adjacent for both fixtures (transformers.js and we then group alike). */
  const SIMPLE_TEXTS = ["Mary Anna", "hello world", "Peter went home", "London... Paris", "a dog", "Anna, Mary", "yes  no", "we'll see"];

  test(`${family}: token-classification none equals transformers.js (entity, score, index, word)`, async () => {
    const ours = await load(`${family}-tiny-ner`);
    const ner = await pipeline("token-classification", `${family}-tiny-ner`, PIPELINE_OPTIONS);
    const { result } = await executeTask("token-classification", withDefaults({ input: NER_TEXTS }), ours, { plaintext: true });
    const entities = result.entities as { entity: string; score: number; index: number; word: string; start: number; end: number }[][];
    let words = 0;
    for (let i = 0; i < NER_TEXTS.length; i++) {
      const theirs = (await ner(NER_TEXTS[i])) as { entity: string; score: number; index: number; word: string }[];
      assert.deepEqual(entities[i].map((e) => [e.entity, e.index]), theirs.map((e) => [e.entity, e.index]), `item ${i}`);
      entities[i].forEach((e, k) => {
        assert.ok(Math.abs(e.score - theirs[k].score) < 1e-5, `score ${e.score} vs ${theirs[k].score}`);
        assert.equal(NER_TEXTS[i].slice(e.start, e.end), e.word);
        // a byte-level piece of a multi-byte character decodes to U+FFFD there; its offsets cover the whole character
        if (theirs[k].word.includes("\uFFFD")) return assert.equal([...e.word].length, 1, "the character the piece belongs to");
        assert.equal(ourWord(family, e.word), theirWord(family, theirs[k].word), `item ${i} token ${e.index}`);
        words++;
      });
    }
    assert.ok(words > 4, `compared ${words} words`);
  });

  test(`${family}: token-classification simple equals transformers.js where both group the same tokens`, async () => {
    const ours = await load(`${family}-tiny-ner`);
    const ner = await pipeline("token-classification", `${family}-tiny-ner`, PIPELINE_OPTIONS);
    const agreeing = await compareSimpleEntities(ours, ner, [...NER_TEXTS, ...SIMPLE_TEXTS], (o, t) => sameText(family, o, t));
    assert.ok(agreeing >= 3, `${agreeing} items compared exactly`);
  });

  test(`${family}: question-answering best answer and score equal transformers.js to 1e-5; answer == context.slice(start, end)`, async () => {
    const ours = await load(`${family}-tiny-qa`);
    const qa = await pipeline("question-answering", `${family}-tiny-qa`, PIPELINE_OPTIONS);
    const pairs: [string, string][] = [
      ["who went to paris?", "John went to Paris with Mary and Peter."],
      ["where is the cat?", "The cat sat on the mat in the house by the river."],
      ["what did they eat?", "naïve café,  résumé:   they ate crème brûlée... in Berlin!"],
      // WordPiece makes the emoji [UNK], which transformers.js (unlike the HF pipeline and us) drops from the context
      ["who came?", `Anna,  Peter and   John came (late) to the café ${family === "roberta" ? "😀 " : ""}today.`],
    ];
    await compareBestAnswers(ours, qa, pairs, (o, t) => sameText(family, o, t));
  });
}

test("roberta: our tokenizer's ids equal transformers.js's on tricky text, singles and pairs", async () => {
  const ours = await TextTokenizer.load(`${folder("roberta-tiny-base")}/tokenizer.json`);
  const theirs = await AutoTokenizer.from_pretrained("roberta-tiny-base", { local_files_only: true });
  const options = { maxLength: 512, truncation: "do_not_truncate", addSpecialTokens: true, stride: 0, returnOverflowing: false } as const;
  const encoded = await ours.encode(TRICKY, options);
  TRICKY.forEach((text, i) => assert.deepEqual(encoded[i].ids, theirs.encode(text), JSON.stringify(text)));
  const [pair] = await ours.encode([[TRICKY[2], TRICKY[3]]], options);
  const theirPair = theirs(TRICKY[2], { text_pair: TRICKY[3] });
  assert.deepEqual(pair.ids, (theirPair.input_ids.tolist() as bigint[][])[0].map(Number));
  // <s> A </s></s> B </s>
  const specials = pair.ids.flatMap((id, t) => (pair.specialTokensMask[t] ? [[t, id]] : []));
  const firstSep = pair.sequenceIds.indexOf(null, 1);
  assert.deepEqual(specials, [[0, 0], [firstSep, 2], [firstSep + 1, 2], [pair.ids.length - 1, 2]]);
  assert.ok(encoded.some((e) => e.ids.length > new Set(e.ids).size), "some token repeats");
});

test("roberta: every token's offsets are JS string indices of the text it decodes to (leading space trimmed)", async () => {
  const ours = await TextTokenizer.load(`${folder("roberta-tiny-base")}/tokenizer.json`);
  const theirs = await AutoTokenizer.from_pretrained("roberta-tiny-base", { local_files_only: true });
  const options = { maxLength: 512, truncation: "do_not_truncate", addSpecialTokens: true, stride: 0, returnOverflowing: false } as const;
  let whole = 0;
  let pieces = 0;
  for (const [i, e] of (await ours.encode(TRICKY, options)).entries()) {
    const text = TRICKY[i];
    e.ids.forEach((id, t) => {
      if (e.sequenceIds[t] === null) return;
      const slice = text.slice(...e.offsets[t]);
      const decoded = theirs.decode([id]);
      if (decoded.includes("\uFFFD")) {
        // part of a multi-byte character: the offsets cover exactly that character
        assert.equal([...slice].length, 1, `token ${t} of ${JSON.stringify(text)}`);
        assert.ok(slice.codePointAt(0)! > 0x7f);
        pieces++;
        return;
      }
      assert.equal(slice, decoded.replace(/^ +/, "").replace(/ +$/, ""), `token ${t} of ${JSON.stringify(text)}`);
      whole++;
    });
  }
  assert.ok(whole > 40 && pieces > 4, `${whole} whole tokens, ${pieces} pieces of characters`);
});
