/**
 * Adapter bank benchmark (issue #16): throughput of one batch of 32 sequences on
 *   - the base graph (no adapter surgery),
 *   - the adapter-capable graph with every row on one adapter,
 *   - the same batch with rows mixing 4 adapters (row b on adapter b mod 4),
 *   - every row averaging the 4 adapters (0.25 each), and every row on no adapter (zeros),
 * for a bank of 4 Pfeiffer (seq_bn, relu, reduction factor 16) adapters, and the same for 4 LoRA (q,v, r 8)
 * adapters; plus the bytes each added adapter costs (stacked float32 weights, and the growth of the
 * serialised model). Prints numbers only, no thresholds.
 *
 *   node --import tsx tools/bench/adapters.ts [--model minilm|tiny] [--tokens 64] [--iterations 20] [--storage initializers|inputs]
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import ort from "onnxruntime-node";
import { decodeModel, encodeModel, type ModelProto } from "../../lib/onnx/graph-io.ts";
import { buildAdapterGraph, type Adapter } from "../../lib/onnx/adapters/index.ts";
import { randomBottleneck, randomLora } from "../../test/helpers/adapter-graph-reference.ts";
import { benchModelDir, isBenchModel } from "./fixtures.ts";

function arg(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && process.argv[at + 1] ? process.argv[at + 1] : fallback;
}

const BATCH = 32;
const modelKey = arg("model", "minilm");
const tokens = Number(arg("tokens", "64"));
const iterations = Number(arg("iterations", "20"));
const storage = arg("storage", "initializers") as "initializers" | "inputs";
if (!isBenchModel(modelKey)) throw new Error(`--model must be tiny or minilm, not ${modelKey}`);

function feedsFor(model: ModelProto): Record<string, ort.Tensor> {
  const vocab = Number(model.graph.initializer.find((t) => t.name === "embeddings.word_embeddings.weight")!.dims[0]);
  const ids = new BigInt64Array(BATCH * tokens);
  for (let i = 0; i < ids.length; i++) ids[i] = BigInt(5 + ((i * 7919) % (vocab - 5)));
  const ones = new BigInt64Array(BATCH * tokens).fill(1n);
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor("int64", ids, [BATCH, tokens]),
    attention_mask: new ort.Tensor("int64", ones, [BATCH, tokens]),
  };
  if (model.graph.input.some((i) => i.name === "token_type_ids")) feeds.token_type_ids = new ort.Tensor("int64", new BigInt64Array(BATCH * tokens), [BATCH, tokens]);
  return feeds;
}

async function timeRuns(session: ort.InferenceSession, feeds: Record<string, ort.Tensor>): Promise<{ msPerBatch: number; seqPerSec: number }> {
  for (let i = 0; i < 3; i++) await session.run(feeds);
  const started = performance.now();
  for (let i = 0; i < iterations; i++) await session.run(feeds);
  const ms = (performance.now() - started) / iterations;
  return { msPerBatch: ms, seqPerSec: (BATCH * 1000) / ms };
}

const weightsTensor = (n: number, row: (b: number) => number[]) => new ort.Tensor("float32", Float32Array.from(Array.from({ length: BATCH }, (_, b) => row(b)).flat()), [BATCH, n]);

async function main(): Promise<void> {
  const dir = await benchModelDir(modelKey as "tiny" | "minilm", (m) => console.log(m));
  const base = decodeModel(await readFile(join(dir, "model.onnx")));
  const H = base.graph.initializer.find((t) => t.name === "encoder.layer.0.attention.output.dense.weight")!.dims.map(Number)[1];
  const L = new Set(base.graph.initializer.map((t) => /^encoder\.layer\.(\d+)\./.exec(t.name ?? "")?.[1]).filter(Boolean)).size;
  const baseBytes = encodeModel(base).length;
  console.log(`model ${modelKey} (hidden ${H}, ${L} layers, ${(baseBytes / 2 ** 20).toFixed(1)} MiB), batch ${BATCH} × ${tokens} tokens, ${iterations} runs each, bank storage ${storage}, ort threads default, ${(await import("node:os")).cpus().length} cpus`);

  const baseSession = await ort.InferenceSession.create(encodeModel(base));
  const feeds = feedsFor(base);
  const baseline = await timeRuns(baseSession, feeds);
  console.log(`base graph                          ${baseline.msPerBatch.toFixed(1).padStart(8)} ms/batch ${baseline.seqPerSec.toFixed(0).padStart(7)} seq/s`);
  await baseSession.release();

  const kinds: Record<string, (i: number) => Adapter> = {
    "pfeiffer rf16": (i) => randomBottleneck(`bench-pfeiffer-${i}`, "seq_bn", "relu", H, Math.max(1, Math.floor(H / 16)), L, 1, 0.05),
    "lora q,v r8": (i) => randomLora(`bench-lora-${i}`, ["query", "value"], H, 8, 8, L, 0.05),
  };
  for (const [kind, make] of Object.entries(kinds)) {
    const four = [0, 1, 2, 3].map(make);
    const graph = buildAdapterGraph(base, four, { bankStorage: storage });
    const bytes4 = encodeModel(graph.model).length;
    const bytes5 = encodeModel(buildAdapterGraph(base, [...four, make(4)], { bankStorage: storage }).model).length;
    const bank = Object.fromEntries(graph.bankTensors.map((t) => [t.name, new ort.Tensor("float32", t.data, t.dims)]));
    const session = await ort.InferenceSession.create(encodeModel(graph.model));
    const extra = storage === "inputs" ? bank : {};
    const cases: [string, (b: number) => number[]][] = [
      ["no adapter (zero weights)", () => [0, 0, 0, 0]],
      ["one adapter, all rows", () => [1, 0, 0, 0]],
      ["4 adapters mixed across rows", (b) => [0, 1, 2, 3].map((k) => (k === b % 4 ? 1 : 0))],
      ["average of 4 in every row", () => [0.25, 0.25, 0.25, 0.25]],
    ];
    console.log(`\n${kind}: ${Object.entries(graph.bytesPerAdapter).map(([g, n]) => `${g} ${(n / 1024).toFixed(1)} KiB stacked weights per adapter`).join(", ")}; model +${((bytes5 - bytes4) / 1024).toFixed(1)} KiB for a 5th adapter (4-adapter model ${((bytes4 - baseBytes) / 2 ** 20).toFixed(2)} MiB over base)`);
    for (const [label, row] of cases) {
      const r = await timeRuns(session, { ...feeds, ...extra, adapter_weights: weightsTensor(4, row) });
      console.log(`  ${label.padEnd(34)}${r.msPerBatch.toFixed(1).padStart(8)} ms/batch ${r.seqPerSec.toFixed(0).padStart(7)} seq/s  (${((r.msPerBatch / baseline.msPerBatch - 1) * 100).toFixed(1)}% vs base)`);
    }
    await session.release();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
