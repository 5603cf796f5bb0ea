/**
 * transformers.js as an independent reference on the generated fixture folders: local files only,
 * remote loading off, float32 weights, so its pipelines and our runtime read the same model files.
 */
import { before, after } from "node:test";
import assert from "node:assert/strict";
import { env } from "@huggingface/transformers";
import { fixtureDir } from "./fixtures.ts";
import { ModelRuntime } from "../../lib/model/runtime.ts";
import { withModelDefaults } from "../../lib/config/model-settings.ts";
import { executeTask } from "../../lib/orchestration/execute.ts";
import { withDefaults } from "../../lib/request/request.ts";

/** Options for `pipeline(task, fixtureName, PIPELINE_OPTIONS)`: the fixture folder itself, fp32, no downloads. */
export const PIPELINE_OPTIONS = { subfolder: "", dtype: "fp32", local_files_only: true } as const;

export interface ReferenceSetup {
  /** Our runtime on a fixture (plaintext arrays), closed after the file's tests. */
  load(name: string): Promise<ModelRuntime>;
  /** A fixture's folder (valid once the file's `before` hooks ran). */
  folder(name: string): string;
}

/** Registers the file's before/after hooks: points transformers.js at the fixtures and closes the runtimes `load` opened. */
export function useTransformersJs(): ReferenceSetup {
  let dir = "";
  const runtimes: ModelRuntime[] = [];
  before(async () => {
    dir = await fixtureDir();
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    env.localModelPath = dir + "/";
  });
  after(async () => {
    for (const r of runtimes) await r.close();
  });
  return {
    async load(name) {
      const r = await ModelRuntime.load(withModelDefaults({ id: name, path: `${dir}/${name}`, return_plaintext_arrays: true }), { kind: "cpu", id: 0 });
      runtimes.push(r);
      return r;
    },
    folder: (name) => `${dir}/${name}`,
  };
}

/** Element-wise |ours - theirs| <= tol, with equal lengths. */
export function assertClose(ours: number[], theirs: number[], tol: number, what: string): void {
  assert.equal(ours.length, theirs.length, `${what}: lengths`);
  ours.forEach((v, i) => assert.ok(Math.abs(v - theirs[i]) <= tol, `${what}[${i}]: ${v} vs ${theirs[i]}`));
}

/** A transformers.js pipeline called on one input (its options and result types differ per task). */
type Pipe = (...input: any[]) => Promise<unknown>;
/** Whether our text equals what transformers.js decoded for the same tokens (tokenizers differ in how they decode). */
type SameText = (ours: string, theirs: string) => boolean;

/**
 * Our token-classification spans with `aggregation: "simple"` against transformers.js's
 * `aggregation_strategy: "simple"` on each text; every span's word is its text slice. transformers.js
 * groups the non-O tokens it kept, so it also joins same-tag tokens across an O token, where the
 * Hugging Face pipeline (and we) break a span: such items are only checked for having no fewer
 * spans. Returns how many items had at least one span compared exactly (group, score to 1e-5, word).
 */
export async function compareSimpleEntities(ours: ModelRuntime, ner: Pipe, texts: string[], sameWord: SameText): Promise<number> {
  const { result } = await executeTask("token-classification", withDefaults({ input: texts, task_kwargs: { aggregation: "simple" } }), ours, { plaintext: true });
  const spans = result.entities as { entity_group: string; score: number; word: string; start: number; end: number }[][];
  let agreeing = 0;
  for (let i = 0; i < texts.length; i++) {
    const tokens = (await ner(texts[i])) as { index: number }[];
    const theirs = (await ner(texts[i], { aggregation_strategy: "simple" })) as { entity_group: string; score: number; word: string }[];
    for (const s of spans[i]) assert.equal(texts[i].slice(s.start, s.end), s.word);
    const contiguous = tokens.every((t, k) => k === 0 || t.index === tokens[k - 1].index + 1);
    if (!contiguous) {
      assert.ok(spans[i].length >= theirs.length, "breaking at O never gives fewer spans");
      continue;
    }
    assert.deepEqual(spans[i].map((s) => s.entity_group), theirs.map((s) => s.entity_group), `item ${i}`);
    spans[i].forEach((s, k) => {
      assert.ok(Math.abs(s.score - theirs[k].score) < 1e-5);
      assert.ok(sameWord(s.word, theirs[k].word), `item ${i}: ${JSON.stringify(s.word)} vs ${JSON.stringify(theirs[k].word)}`);
    });
    // An item where both found no entity compared no span: it agrees, but proves nothing.
    if (spans[i].length > 0) agreeing++;
  }
  return agreeing;
}

/** Our best question-answering answer per pair against transformers.js's: score to 1e-5, answer == context.slice(start, end), same text. */
export async function compareBestAnswers(ours: ModelRuntime, qa: Pipe, pairs: [string, string][], sameAnswer: SameText): Promise<void> {
  const { result } = await executeTask("question-answering", withDefaults({ input: pairs, task_kwargs: { show_null_answers: false } }), ours, { plaintext: true });
  const answers = result.answers as { score: number; answer: string; start: number; end: number }[][];
  for (let i = 0; i < pairs.length; i++) {
    const theirs = (await qa(pairs[i][0], pairs[i][1])) as { answer: string; score: number };
    const best = answers[i][0];
    assert.ok(Math.abs(best.score - theirs.score) < 1e-5, `${best.score} vs ${theirs.score}`);
    assert.equal(pairs[i][1].slice(best.start, best.end), best.answer);
    assert.ok(sameAnswer(best.answer, theirs.answer), `item ${i}: ${JSON.stringify(best.answer)} vs ${JSON.stringify(theirs.answer)}`);
  }
}
