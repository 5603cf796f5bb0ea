/**
 * Independent reference: transformers.js (local files, remote loading off) on the same fixture
 * folders. It shares ONNX Runtime with us, so this checks tokenization, padding, post-processing
 * (softmax, pooling), not the runtime's numerics.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { env, pipeline } from "@huggingface/transformers";
import { fixtureDir } from "../helpers/fixtures.ts";
import { ModelRuntime } from "../../lib/model/runtime.ts";
import { withModelDefaults } from "../../lib/config/model-settings.ts";
import { executeTask } from "../../lib/tasks/execute.ts";
import { withDefaults } from "../../lib/tasks/request.ts";

const TEXTS = ["hello world", "The quick brown fox jumps over the lazy dog!", "naïve café, résumé: 42 items"];
let dir: string;
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

async function load(name: string): Promise<ModelRuntime> {
  const r = await ModelRuntime.load(withModelDefaults({ id: name, path: `${dir}/${name}`, return_plaintext_arrays: true }), { kind: "cpu", id: 0 });
  runtimes.push(r);
  return r;
}

const assertClose = (ours: number[], theirs: number[], tol: number, what: string) => {
  assert.equal(ours.length, theirs.length, `${what}: lengths`);
  ours.forEach((v, i) => assert.ok(Math.abs(v - theirs[i]) <= tol, `${what}[${i}]: ${v} vs ${theirs[i]}`));
};

test("text-classification scores equal transformers.js to 1e-5", async () => {
  const ours = await load("bert-tiny-sst");
  const clf = await pipeline("text-classification", "bert-tiny-sst", { subfolder: "", dtype: "fp32", local_files_only: true });
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
  const extractor = await pipeline("feature-extraction", "bert-tiny-base", { subfolder: "", dtype: "fp32", local_files_only: true });
  for (const [mode, pooling] of [["mean", "mean"], ["cls", "cls"]] as const) {
    const { result } = await executeTask("embedding", withDefaults({ input: TEXTS, task_kwargs: { embedding_mode: mode } }), ours, { plaintext: true });
    const emb = (result.model_outputs as { embeddings: number[][] }).embeddings;
    const theirs = await extractor(TEXTS, { pooling, normalize: false });
    const rows = theirs.tolist() as number[][];
    for (let i = 0; i < TEXTS.length; i++) assertClose(emb[i], rows[i], 1e-5, `${mode} item ${i}`);
  }
});
