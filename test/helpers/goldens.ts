/**
 * Loader for the PyTorch golden files in test/goldens (written by tools/goldens/torch_reference.py,
 * which needs python3-torch; CI only reads the committed JSON). Tensors are {shape, data} in C order.
 */
import { createHash } from "node:crypto";
import { readFile, readdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import assert from "node:assert/strict";
import { ndarray, type NdArray } from "../../lib/tensor.ts";

export const GOLDEN_DIR = fileURLToPath(new URL("../goldens/", import.meta.url));
export const REGENERATE_COMMAND = "/usr/bin/python3 tools/goldens/torch_reference.py";

export interface GoldenTensor {
  shape: number[];
  data: number[];
}

/** The padded batch a golden was computed on: [batch][sequence] each. */
export interface GoldenInputs {
  input_ids: number[][];
  attention_mask: number[][];
  token_type_ids: number[][];
}

interface GoldenHeader {
  fixture: string;
  family: string;
  head: string;
  model_sha256: string;
  notes: string;
}

export interface ForwardGolden extends GoldenHeader {
  /** Per item: one text, or a [first, second] pair. */
  texts: string[][];
  inputs: GoldenInputs;
  outputs: Record<string, GoldenTensor>;
  /** Per layer: [B, heads, S, S] softmax probabilities. */
  attentions: GoldenTensor[];
  /** Embedding output, then each layer's output: [B, S, H]. */
  hidden_states: GoldenTensor[];
}

/** [segment, word id within its text, word, normalised score]. */
export type WordScore = [("question" | "context"), number, string, number];

export interface GradientItem {
  texts: string[];
  tokens: string[];
  input_ids: number[];
  token_type_ids: number[];
  sequence_ids: (number | null)[];
  word_ids: (number | null)[];
  target: { kind: "label"; label: number; value: number } | { kind: "span"; start: number; end: number; value: number };
  grad_inputs_embeds: GoldenTensor;
  grad_attentions: GoldenTensor[];
  integrated_grads: { steps: number; alphas: number[]; mean_gradient: GoldenTensor };
  smooth_grads: { sigma: number; noise: GoldenTensor; gradients: GoldenTensor };
  /** Signed per-token values before word scoring, by method. */
  token_values: Record<string, GoldenTensor>;
  /** null where every token value is exactly zero (see the file's notes). */
  word_scores: Record<string, WordScore[] | null>;
}

export interface GradientGolden extends GoldenHeader {
  items: GradientItem[];
}

export interface TorchExportGolden {
  model: string;
  model_sha256: string;
  source_fixture: string;
  opset: number;
  notes: string;
  texts: string[][];
  inputs: GoldenInputs;
  labels: number[];
  logits: GoldenTensor;
  grad_logits: GoldenTensor;
  grad_inputs_embeds: GoldenTensor;
}

const readJson = async <T>(...parts: string[]): Promise<T> => JSON.parse(await readFile(join(GOLDEN_DIR, ...parts), "utf8")) as T;

/** Fixture names that have a golden of this kind. */
export async function goldenFixtures(kind: "forward" | "gradients"): Promise<string[]> {
  return (await readdir(join(GOLDEN_DIR, kind))).filter((f) => f.endsWith(".json")).map((f) => f.slice(0, -5)).sort();
}

export const loadForwardGolden = (fixture: string): Promise<ForwardGolden> => readJson("forward", `${fixture}.json`);
export const loadGradientGolden = (fixture: string): Promise<GradientGolden> => readJson("gradients", `${fixture}.json`);
export const loadTorchExportGolden = (): Promise<TorchExportGolden> => readJson("torch-export", "bert-tiny-sst-torch.json");
export const TORCH_EXPORT_MODEL = join(GOLDEN_DIR, "torch-export", "bert-tiny-sst-torch.onnx");

export async function sha256File(path: string): Promise<string> {
  return createHash("sha256").update(await readFile(path)).digest("hex");
}

/** Fails with a clear message when the model is not the one the golden was computed from. */
export async function assertGoldenModel(golden: { model_sha256: string }, modelPath: string): Promise<void> {
  const actual = await sha256File(modelPath);
  assert.equal(actual, golden.model_sha256,
    `${modelPath} is not the model the PyTorch goldens were computed from (sha256 ${actual}, golden ${golden.model_sha256}): ` +
    `the fixture generator changed. If that was intended, regenerate the goldens with \`${REGENERATE_COMMAND}\` and review the diff.`);
}

/** The golden's padded batch as int64 feeds, for the inputs the graph has. */
export function goldenFeeds(inputs: GoldenInputs, inputNames: readonly string[]): Record<string, NdArray> {
  const feeds: Record<string, NdArray> = {};
  for (const name of inputNames) {
    const rows = inputs[name as keyof GoldenInputs];
    if (!rows) throw new Error(`the golden has no input ${name}`);
    feeds[name] = ndarray("int64", [rows.length, rows[0].length], BigInt64Array.from(rows.flat(), (v) => BigInt(v)));
  }
  return feeds;
}

/** Within rtol·|expected| + atol, elementwise; reports the first mismatch with its index. */
export function assertClose(actual: ArrayLike<number>, expected: GoldenTensor, label: string, tol = 1e-4): void {
  assert.equal(actual.length, expected.data.length, `${label}: ${actual.length} values, golden has ${expected.data.length}`);
  for (let i = 0; i < actual.length; i++) {
    const e = expected.data[i];
    const a = actual[i];
    if (!(Math.abs(a - e) <= tol + tol * Math.abs(e))) assert.fail(`${label}[${i}] = ${a}, golden ${e} (tolerance ${tol} relative + absolute)`);
  }
}

/** Item `b` of a batched golden tensor with the given axes (counted after the batch axis) cut to `length`. */
export function goldenItem(t: GoldenTensor, b: number, cropAxes: readonly number[], length: number): GoldenTensor {
  const inner = t.shape.slice(1);
  const shape = inner.map((n, ax) => (cropAxes.includes(ax) ? length : n));
  const strides = inner.map((_, ax) => inner.slice(ax + 1).reduce((p, n) => p * n, 1));
  const base = b * inner.reduce((p, n) => p * n, 1);
  const data: number[] = [];
  const walk = (ax: number, offset: number): void => {
    if (ax === shape.length) {
      data.push(t.data[offset]);
      return;
    }
    for (let i = 0; i < shape[ax]; i++) walk(ax + 1, offset + i * strides[ax]);
  };
  walk(0, base);
  return { shape, data };
}
