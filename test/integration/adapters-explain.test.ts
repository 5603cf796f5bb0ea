/**
 * Explanations and attacks on an adapter model (issue #16): the gradient graph is the adapter-capable graph's,
 * differentiated at last_hidden_state with adapter_weights as a plain input, and the head (in JS) contributes its
 * exact vector-Jacobian product. Checked without our gradient code: ONNX Runtime runs the adapter graph with its
 * word-embedding table moved along a random direction D, the adapter's head (golden-tested in adapters-http)
 * gives the target (the predicted label's logit; a span's start+end logits), and the central difference must
 * equal sum_t grad[t] · D[ids[t]] — for a Pfeiffer adapter with a dense+tanh classification head and the LoRA
 * adapter with a QA head, at the input and at an integrated-gradients path point. Over HTTP: explanations with
 * adapter_name answer, and attacks (sub_span, hotflip) predict their variants with the request's adapter.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { ModelRuntime } from "../../lib/model/runtime.ts";
import { withModelDefaults } from "../../lib/config/model-settings.ts";
import { withAdapter, type AdapterChoice } from "../../lib/inference/adapters.ts";
import { applyHead, type AdapterSet } from "../../lib/model/adapters.ts";
import { decodeModel, encodeModel, floatTensor, tensorFloats, type ModelProto, type TensorProto } from "../../lib/onnx/graph-io.ts";
import { openSession, runSession } from "../../lib/onnx/session.ts";
import type { Encoded } from "../../lib/tokenization/encoded.ts";
import type { NdArray } from "../../lib/tensor.ts";
import { fixturePath } from "../helpers/fixtures.ts";
import { runTask } from "../helpers/http.ts";
import { startEmbedded, type Embedded } from "../helpers/embedded.ts";

const ADAPTERS = ["pfeiffer-sst", "pfeiffer-sentiment", "houlsby-ner", "lora-squad"];
/** As in torch-goldens-gradients.test.ts: float32 central differences agree to ~1e-4 relative; a wrong gradient is far off. */
const STEP = 1e-3;
const FD_TOL = 2e-3;

let model: ModelRuntime;
let graph: ModelProto;
let s: Embedded;

before(async () => {
  const path = await fixturePath("bert-tiny-base");
  const dir = await fixturePath("bert-tiny-base-adapters");
  const adapters = ADAPTERS.map((name) => ({ name, path: join(dir, name) }));
  model = await ModelRuntime.load(withModelDefaults({ id: "adapted", path, adapters }), { kind: "cpu", id: 0 });
  graph = decodeModel(await readFile((model as unknown as { adapterGraphPath: string }).adapterGraphPath));
  s = await startEmbedded([
    { id: "adapted", path: "bert-tiny-base", return_plaintext_arrays: true, adapters },
  ]);
});
after(async () => {
  await model?.close();
  await s?.stop();
});

function wordTable(m: ModelProto): TensorProto {
  const table = m.graph.initializer.find((t) => t.name?.endsWith("embeddings.word_embeddings.weight"));
  assert.ok(table, "the adapter graph keeps the word-embedding initializer");
  return table;
}

function direction(rows: number, hidden: number, ids: readonly number[], seed: number): Float32Array {
  const d = new Float32Array(rows * hidden);
  let x = seed >>> 0 || 1;
  const next = () => ((x ^= x << 13), (x ^= x >>> 17), (x ^= x << 5), ((x >>> 0) / 2 ** 32) * 2 - 1);
  for (const id of new Set(ids)) for (let h = 0; h < hidden; h++) d[id * hidden + h] = next();
  return d;
}

/** The adapted model's head output for one sequence with the word table replaced by `values` (ONNX Runtime + the JS head). */
async function headOutputsWithTable(values: Float32Array, sequence: Encoded, choice: AdapterChoice): Promise<Record<string, NdArray>> {
  const table = wordTable(graph);
  const replaced = floatTensor(table.name!, table.dims.map(Number), values);
  const edited: ModelProto = { ...graph, graph: { ...graph.graph, initializer: graph.graph.initializer.map((t) => (t === table ? replaced : t)) } };
  const session = await openSession({ modelPath: "(edited)", providers: ["cpu"], intraOpThreads: 1 }, encodeModel(edited));
  try {
    const T = sequence.ids.length;
    const int64 = (xs: readonly number[]) => ({ dtype: "int64" as const, shape: [1, T], data: BigInt64Array.from(xs.map(BigInt)) });
    const adapters = model.adapters as AdapterSet;
    const weights = new Float32Array(adapters.names.length);
    adapters.row(choice, weights, 0);
    const feeds: Record<string, NdArray> = {
      input_ids: int64(sequence.ids),
      attention_mask: int64(sequence.ids.map(() => 1)),
      token_type_ids: int64(sequence.typeIds),
      adapter_weights: { dtype: "float32", shape: [1, weights.length], data: weights },
    };
    const names = new Set(session.inputs.map((i) => i.name));
    const out = await runSession(session, Object.fromEntries(Object.entries(feeds).filter(([k]) => names.has(k))));
    const h = out.last_hidden_state;
    const item = { last_hidden_state: { dtype: "float32" as const, shape: h.shape.slice(1), data: h.data } } as Record<string, NdArray>;
    return applyHead(adapters.headOf(choice)!, item);
  } finally {
    await session.session.release();
  }
}

async function encode(item: string | [string, string]): Promise<Encoded> {
  const [seq] = await model.tokenizer.encode([item], { maxLength: 128, truncation: "longest_first", addSpecialTokens: true });
  return seq;
}

const argmax = (xs: ArrayLike<number>) => Array.from(xs).reduce((best, x, i, a) => (x > a[best] ? i : best), 0);

async function checkAgainstFiniteDifferences(adapter: string, item: string | [string, string], target: (outputs: Record<string, NdArray>) => { cotangents: Record<string, Float32Array>; value: (o: Record<string, NdArray>) => number }) {
  const choice: AdapterChoice = { names: [adapter], weights: [1] };
  const [sequence] = withAdapter([await encode(item)], choice);
  const outputNames = adapter === "lora-squad" ? ["start_logits", "end_logits"] : ["logits"];
  const { items } = await model.forward([sequence], outputNames);
  const { cotangents, value } = target(items[0]);
  const backend = await model.gradientBackend();
  const embeds = backend.embeddingRows(sequence.ids);
  const table = tensorFloats(wordTable(graph));
  const [rows, hidden] = wordTable(graph).dims.map(Number);
  const d = direction(rows, hidden, sequence.ids, 11);
  for (const alpha of [1, 0.4]) {
    const [result] = await backend.run([{ sequence, embeds: embeds.map((v) => alpha * v), cotangents, wants: "gradient" }]);
    const grad = result.gradEmbeds!;
    let directional = 0;
    sequence.ids.forEach((id, t) => {
      for (let h = 0; h < hidden; h++) directional += grad[t * hidden + h] * d[id * hidden + h];
    });
    const moved = (sign: number) => table.map((v, i) => alpha * v + sign * STEP * d[i]);
    const fd = (value(await headOutputsWithTable(moved(1), sequence, choice)) - value(await headOutputsWithTable(moved(-1), sequence, choice))) / (2 * STEP);
    assert.ok(Math.abs(fd) > 1e-3, `${adapter}: a meaningful derivative (${fd})`);
    assert.ok(Math.abs(fd - directional) <= FD_TOL * (1 + Math.abs(fd)), `${adapter} α=${alpha}: finite difference ${fd}, gradient ${directional}`);
  }
}

test("Pfeiffer adapter, dense+tanh classification head: the gradient of the predicted logit equals finite differences of the adapted model", async () => {
  await checkAgainstFiniteDifferences("pfeiffer-sst", "a slow and boring film with bad actors", (out) => {
    const label = argmax(out.logits.data as Float32Array);
    const cotangent = new Float32Array(out.logits.shape[0]);
    cotangent[label] = 1;
    return { cotangents: { logits: cotangent }, value: (o) => (o.logits.data as Float32Array)[label] };
  });
});

test("LoRA adapter, QA head: the gradient of start+end logits of a span equals finite differences of the adapted model", async () => {
  await checkAgainstFiniteDifferences("lora-squad", ["who went to London?", "John went to London with Mary today"], (out) => {
    const T = out.start_logits.shape[0];
    const a = T - 4, b = T - 2; // a context span
    const start = new Float32Array(T), end = new Float32Array(T);
    start[a] = 1;
    end[b] = 1;
    return { cotangents: { start_logits: start, end_logits: end }, value: (o) => (o.start_logits.data as Float32Array)[a] + (o.end_logits.data as Float32Array)[b] };
  });
});

const run = (task: string, body: Record<string, unknown>) => runTask(s, `/adapted/${task}`, body, 60_000);

test("explanations with adapter_name answer over HTTP (classification and QA, every method family)", async () => {
  for (const method of ["simple_grads", "integrated_grads", "scaled_attention"]) {
    const c = await run("sequence-classification", { input: ["a slow and boring film with bad actors"], adapter_name: "pfeiffer-sst", explain_kwargs: { method, top_k: 3 } });
    assert.equal(c.attributions[0].topk_context_idx[0].length, 3, method);
    assert.ok(c.attributions[0].context_tokens[0].every((w: [number, string, number]) => Number.isFinite(w[2])), method);
    const q = await run("question-answering", { input: [["who went to London?", "John went to London with Mary today"]], adapter_name: "lora-squad", explain_kwargs: { method, top_k: 2 } });
    assert.equal(q.attributions[0].topk_question_idx[0].length, 2, method);
  }
  // Different adapters explain different functions.
  const sst = await run("sequence-classification", { input: ["a slow and boring film with bad actors"], adapter_name: "pfeiffer-sst", explain_kwargs: { method: "simple_grads" } });
  const senti = await run("sequence-classification", { input: ["a slow and boring film with bad actors"], adapter_name: "pfeiffer-sentiment", explain_kwargs: { method: "simple_grads" } });
  assert.notDeepEqual(sst.attributions[0].context_tokens[0], senti.attributions[0].context_tokens[0]);
});

test("attacks with an adapter: every variant's prediction equals a separate request for it with the same adapter", async () => {
  const text = "a slow and boring film with bad actors";
  for (const attack of [{ method: "sub_span", max_tokens: 3 }, { method: "hotflip", max_flips: 2 }]) {
    const r = await run("sequence-classification", { input: [text], adapter_name: "pfeiffer-sst", attack_kwargs: attack });
    assert.ok(r.contexts.length >= 2, `${attack.method}: variants ${JSON.stringify(r.contexts)}`);
    assert.equal(r.model_outputs.logits.length, r.contexts.length);
    for (const [i, variant] of r.contexts.entries()) {
      const alone = await run("sequence-classification", { input: [variant], adapter_name: "pfeiffer-sst" });
      assert.equal(r.labels[i], alone.labels[0], `${attack.method} variant ${i}`);
      alone.model_outputs.logits[0].forEach((p: number, k: number) => assert.ok(Math.abs(p - r.model_outputs.logits[i][k]) < 1e-5, `${attack.method} variant ${i} class ${k}`));
    }
  }
  const question = "who went to London?";
  const r = await run("question-answering", { input: [[question, "John went to London with Mary and they played in the garden today"]], adapter_name: "lora-squad", attack_kwargs: { method: "sub_span", max_tokens: 3 } });
  assert.ok(r.contexts.length >= 2);
  for (const [i, context] of r.contexts.entries()) {
    const alone = await run("question-answering", { input: [[question, context]], adapter_name: "lora-squad" });
    assert.deepEqual(r.answers[i].map((a: { answer: string }) => a.answer), alone.answers[0].map((a: { answer: string }) => a.answer), `variant ${i}`);
    r.answers[i].forEach((a: { score: number }, k: number) => assert.ok(Math.abs(a.score - alone.answers[0][k].score) < 1e-5, `variant ${i} answer ${k}`));
  }
});
