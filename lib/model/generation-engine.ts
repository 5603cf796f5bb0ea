/**
 * GenerationModel (lib/inference/generation.ts) on ONNX Runtime for every layout Optimum writes
 * (generation-folder.ts). `step` and `encode` turn rows into BatchWork items and submit them to
 * the replica's batcher, so rows of different requests share batches with everything else the
 * replica runs; `runBatch` is what the runtime calls for a batch of those items: it builds the
 * padded feeds from the rows' cache handles (kv-cache.ts), runs the right graph on its worker
 * pool and slices each row's new cache back out.
 *
 * Batch keys (after "generate:"): decoder-only graphs with position_ids batch every first step
 * together ("prefill", prompts left-padded) and every cached step by new-token count
 * ("decode:n", pasts left-padded); graphs without position_ids batch only equal lengths
 * ("prefill:n", "decode:p:n"); encoder-decoder decoders batch equal decoder lengths ("first:n",
 * "decode:p:n"), any encoder lengths. An item's batcher length is the padded tokens it costs:
 * past + new (+ the encoder length for encoder-decoder rows, whose cross-attention is padded too).
 */
import type { EncoderState, GenerationModel, GenerationRow, GenerationRowResult, GenerationArchitecture } from "../inference/generation.ts";
import type { InferenceBackend } from "../inference/backend.ts";
import type { Encoded } from "../tokenization/encoded.ts";
import type { Batched } from "../batching/batcher.ts";
import type { Priority } from "../batching/select.ts";
import { ndarray, type NdArray } from "../tensor.ts";
import { invalid } from "../errors.ts";
import { batchKey, type BatchWork } from "./batch-work.ts";
import type { GenerationLayout } from "./generation-folder.ts";
import { PromptEncoding, RowCache, decoderOnlyStep, encoderStep, seq2seqStep, type StepItem } from "./kv-cache.ts";

export type SubmitWork = (items: { input: BatchWork; length: number }[], key: string, priority: Priority) => Promise<Batched<Record<string, NdArray>>[]>;

export interface EngineInfo {
  generationConfig: Readonly<Record<string, unknown>>;
  maxPositions: number;
}

type GenerateWork = Extract<BatchWork, { kind: "generate" }>;
type EncodeWork = Extract<BatchWork, { kind: "encode-prompts" }>;

const firstId = (v: unknown): number | undefined => (Number.isInteger(v) ? (v as number) : Array.isArray(v) && Number.isInteger(v[0]) ? (v[0] as number) : undefined);

export class GenerationEngine implements GenerationModel {
  readonly architecture: GenerationArchitecture;
  readonly vocabSize: number;
  readonly generationConfig: Readonly<Record<string, unknown>>;
  readonly maxPositions: number;
  /** The id written into padded input_ids positions (masked, so any valid id): pad, else eos, else 0. */
  private readonly padId: number;

  constructor(
    readonly layout: GenerationLayout,
    /** The current runner of a graph file (the runtime may reopen runners, e.g. on a GPU switch). */
    private readonly runnerFor: (path: string) => InferenceBackend,
    info: EngineInfo,
    private readonly submit: SubmitWork,
  ) {
    this.architecture = layout.architecture;
    this.vocabSize = layout.vocabSize;
    this.generationConfig = info.generationConfig;
    this.maxPositions = info.maxPositions;
    const pad = firstId(info.generationConfig.pad_token_id) ?? firstId(info.generationConfig.eos_token_id) ?? 0;
    this.padId = pad >= 0 && pad < this.vocabSize ? pad : 0;
  }

  async encode(prompts: readonly Encoded[], priority: Priority = "interactive"): Promise<EncoderState[]> {
    if (this.architecture !== "encoder-decoder") throw new Error("encode is for encoder-decoder models; this one is decoder-only");
    if (prompts.length === 0) return [];
    for (const p of prompts) if (p.ids.length === 0) throw invalid("a prompt has no tokens");
    const items = prompts.map((p): { input: BatchWork; length: number } => ({ input: { kind: "encode-prompts", ids: p.ids }, length: p.ids.length }));
    const done = await this.submit(items, batchKey(items[0].input), priority);
    return done.map((r, i) => new PromptEncoding(this, prompts[i].ids.length, r.value.last_hidden_state.data as Float32Array));
  }

  async step(rows: readonly GenerationRow[], priority: Priority = "interactive"): Promise<GenerationRowResult[]> {
    const prepared = rows.map((row) => this.prepare(row));
    const groups = new Map<string, number[]>();
    prepared.forEach((p, i) => groups.set(p.key, [...(groups.get(p.key) ?? []), i]));
    const results: GenerationRowResult[] = new Array(rows.length);
    await Promise.all(
      [...groups.entries()].map(async ([key, indices]) => {
        const done = await this.submit(indices.map((i) => ({ input: prepared[i].work, length: prepared[i].cost })), key, priority);
        done.forEach((r, k) => (results[indices[k]] = this.wrap(prepared[indices[k]].work.item, r.value)));
      }),
    );
    return results;
  }

  /** Checks a row, and names the batch it can join and what it costs there. */
  private prepare(row: GenerationRow): { work: GenerateWork; key: string; cost: number } {
    if (row.tokens.length === 0) throw invalid("a generation row has no tokens");
    for (const t of row.tokens) if (!Number.isInteger(t) || t < 0 || t >= this.vocabSize) throw invalid(`token id ${t} is outside this model's vocabulary (0 to ${this.vocabSize - 1})`);
    const cache = row.cache;
    if (cache !== undefined && !(cache instanceof RowCache && cache.owner === this)) throw new Error("the row's cache was not made by this model");
    const p = cache?.length ?? 0;
    const n = row.tokens.length;
    if (p + n > this.maxPositions) throw invalid(`the sequence would hold ${p + n} tokens; this model takes at most ${this.maxPositions}`);
    let encoder: PromptEncoding | undefined;
    let key: string;
    let cost = p + n;
    if (this.architecture === "encoder-decoder") {
      encoder = cache?.encoder ?? (row.encoder as PromptEncoding | undefined);
      if (!(encoder instanceof PromptEncoding && encoder.owner === this)) throw new Error("an encoder-decoder row needs the encoder state `encode` gave for its prompt");
      if (row.encoder && cache && row.encoder !== cache.encoder) throw new Error("the row's encoder state is not the one its cache was made with");
      key = cache ? `decode:${p}:${n}` : `first:${n}`;
      cost += encoder.length;
    } else {
      const padded = this.layout.first.positionIds;
      key = cache ? (padded ? `decode:${n}` : `decode:${p}:${n}`) : padded ? "prefill" : `prefill:${n}`;
    }
    const work: GenerateWork = { kind: "generate", group: `${this.layout.name}:${key}`, item: { tokens: row.tokens, cache, encoder } };
    return { work, key: batchKey(work), cost };
  }

  /** A row's batch output as its result: logits, and a new immutable cache handle. */
  private wrap(item: StepItem, out: Record<string, NdArray>): GenerationRowResult {
    const self = this.layout.selfNames.map((_, k) => out[`self.${k}`].data as Float32Array);
    const length = (item.cache?.length ?? 0) + item.tokens.length;
    const cross = this.architecture === "encoder-decoder" ? (item.cache?.cross ?? this.layout.crossNames.map((_, k) => out[`cross.${k}`].data as Float32Array)) : undefined;
    return { logits: out.logits.data as Float32Array, cache: new RowCache(this, length, self, item.encoder, cross) };
  }

  /** Runs one batch of this engine's work (every item of one kind and one key). */
  async runBatch(work: readonly BatchWork[]): Promise<{ outputs: Record<string, NdArray>[]; runMs: number }> {
    const { layout } = this;
    if (work[0].kind === "encode-prompts") {
      const encoder = layout.encoder!;
      const prompts = (work as EncodeWork[]).map((w) => w.ids);
      const built = encoderStep(encoder, prompts, this.padId, layout.dModel);
      const { outputs, runMs } = await this.runnerFor(encoder.path).run(built.feeds, ["last_hidden_state"]);
      return { outputs: built.slice(outputs).map((h, b) => ({ last_hidden_state: ndarray("float32", [prompts[b].length, layout.dModel], h) })), runMs };
    }
    const items = (work as GenerateWork[]).map((w) => w.item);
    const graph = items[0].cache ? layout.cached : layout.first;
    const built = (layout.architecture === "decoder-only" ? decoderOnlyStep : seq2seqStep)(layout, graph, items, this.padId);
    const { outputs, runMs } = await this.runnerFor(graph.path).run(built.feeds, built.outputs);
    const [H, D] = [layout.heads, layout.headDim];
    const records = built.slice(outputs).map((s, b) => {
      const len = (items[b].cache?.length ?? 0) + items[b].tokens.length;
      const record: Record<string, NdArray> = { logits: ndarray("float32", [s.logits.length], s.logits) };
      s.self.forEach((a, k) => (record[`self.${k}`] = ndarray("float32", [H, len, D], a)));
      s.cross?.forEach((a, k) => (record[`cross.${k}`] = ndarray("float32", [H, a.length / (H * D), D], a)));
      return record;
    });
    return { outputs: records, runMs };
  }
}
