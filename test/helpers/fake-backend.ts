/**
 * A second implementation of the model interface for unit tests: an InferenceBackend that
 * computes its outputs with a plain function (no ONNX Runtime, no files), and a LoadedModel on
 * it that batches through the real Batcher and the real padding code, as lib/model/runtime.ts does.
 */
import type { InferenceBackend, TensorDescription, BackendRun } from "../../lib/inference/backend.ts";
import type { LoadedModel, ForwardResult } from "../../lib/inference/model.ts";
import type { ModelFacts } from "../../lib/inference/facts.ts";
import { capabilitiesOf } from "../../lib/inference/capabilities.ts";
import type { Encoded } from "../../lib/tokenization/encoded.ts";
import type { TextTokenizer } from "../../lib/tokenization/tokenizer.ts";
import type { GradientBackend } from "../../lib/inference/gradients.ts";
import { Batcher, BatcherSettings } from "../../lib/batching/batcher.ts";
import { buildFeeds, splitOutputs } from "../../lib/batching/pad.ts";
import { ndarray, NdArray } from "../../lib/tensor.ts";

/** A toy language model head: for each position, the id of the token that follows the token there. */
export type NextToken = (id: number) => number;

export class FakeBackend implements InferenceBackend {
  readonly inputs: TensorDescription[] = [
    { name: "input_ids", type: "int64", shape: ["batch", "sequence"] },
    { name: "attention_mask", type: "int64", shape: ["batch", "sequence"] },
  ];
  readonly outputs: TensorDescription[];
  readonly outputNames = ["logits"];
  readonly provider = "fake";
  /** Every run's rows of real token ids, in order: what a test can assert batching on. */
  readonly runs: number[][][] = [];

  constructor(readonly vocab: number, private readonly nextToken: NextToken) {
    this.outputs = [{ name: "logits", type: "float32", shape: ["batch", "sequence", vocab] }];
  }

  async run(feeds: Record<string, NdArray>): Promise<BackendRun> {
    const [batch, length] = feeds.input_ids.shape;
    const ids = feeds.input_ids.data as BigInt64Array;
    const mask = feeds.attention_mask.data as BigInt64Array;
    const logits = new Float32Array(batch * length * this.vocab);
    const rows: number[][] = [];
    for (let b = 0; b < batch; b++) {
      const row: number[] = [];
      for (let t = 0; t < length; t++) {
        if (mask[b * length + t] === 0n) continue;
        const id = Number(ids[b * length + t]);
        row.push(id);
        logits[(b * length + t) * this.vocab + this.nextToken(id)] = 1;
      }
      rows.push(row);
    }
    this.runs.push(rows);
    return { outputs: { logits: ndarray("float32", [batch, length, this.vocab], logits) }, runMs: 0 };
  }

  async close(): Promise<void> {}
}

/** Token ids as a sequence (no text, so no offsets or words). */
export function idsSequence(ids: readonly number[]): Encoded {
  return {
    ids: [...ids],
    typeIds: ids.map(() => 0),
    attentionMask: ids.map(() => 1),
    specialTokensMask: ids.map(() => 0),
    tokens: ids.map(String),
    offsets: ids.map((): [number, number] => [0, 0]),
    wordIds: ids.map(() => null),
    sequenceIds: ids.map(() => 0),
  };
}

const BATCHING: BatcherSettings = { maxItems: 8, maxTokens: 4096, maxWaitMs: 0, parallel: 1, backgroundAgingMs: 500 };

/** A LoadedModel on any backend: sequences batched by the real Batcher, padded and split by lib/batching/pad.ts. */
export function fakeModel(backend: InferenceBackend, batching: BatcherSettings = BATCHING): LoadedModel {
  const capabilities = capabilitiesOf({}, backend.inputs, backend.outputs);
  const batcher = new Batcher<Encoded, Record<string, NdArray>>(async (sequences) => {
    const { outputs, runMs } = await backend.run(buildFeeds(sequences, capabilities.inputNames, 0));
    return { outputs: splitOutputs(outputs, backend.outputs, capabilities.sequenceDim, sequences.map((s) => s.ids.length)), runMs };
  }, () => batching);
  const facts: ModelFacts = { tasks: capabilities.tasks, embeddingModes: capabilities.embeddingModes, maxLength: 512, outputNames: backend.outputNames };
  return {
    get tokenizer(): TextTokenizer {
      throw new Error("the fake model has no tokenizer; build sequences with idsSequence");
    },
    folder: { maxLength: 512, tokenizerPath: "" },
    capabilities,
    outputNames: backend.outputNames,
    settings: { return_plaintext_arrays: true },
    facts,
    async forward(sequences: readonly Encoded[]): Promise<ForwardResult> {
      const started = performance.now();
      const results = await batcher.submit(sequences.map((s) => ({ input: s, length: s.ids.length })), "forward");
      return { items: results.map((r) => r.value), inferenceMs: performance.now() - started, batchWaitMs: Math.max(0, ...results.map((r) => r.waitedMs)) };
    },
    gradientBackend(): Promise<GradientBackend> {
      return Promise.reject(new Error("the fake model has no gradients"));
    },
  };
}
