/**
 * A model's gradient model (lib/onnx/gradients) opened for explanations: built off the main
 * thread into the disk cache, run by its own ONNX Runtime worker. `runRows` is the batch-first
 * backend call: rows of any lengths in, one cropped record per row out.
 */
import { OnnxRunner, RunnerOptions } from "../onnx/runner.ts";
import { buildGradientModelOffThread } from "../onnx/gradients/build-off-thread.ts";
import { embeddingRows, cotangentInputName, attentionOutput, attentionGradOutput, GRAD_INPUTS_EMBEDS, INPUTS_EMBEDS, type EmbeddingTable } from "../onnx/gradients/gradient-model.ts";
import { readEntryTable, type Metadata } from "../onnx/gradients/cache.ts";
import { buildFeeds } from "../batching/pad.ts";
import { sharedTable, VocabularyProduct } from "../onnx/gradients/vocabulary-product.ts";
import { NdArray, ndarray, row, cropAxes } from "../tensor.ts";
import type { GradientRow, GradientResult } from "../inference/gradients.ts";

const TOKEN_INPUTS = new Set(["input_ids", "attention_mask", "token_type_ids"]);
/** Only the last layer's attentions are needed (attention, scaled_attention): cheaper runs. */
const BUILD_OPTIONS = { attentions: "last" as const };

export const GRADIENT_OUTPUTS = Object.freeze({ grad: "grad", attention: "attention", gradAttention: "grad_attention" });

export class GradientSession {
  private product?: Promise<VocabularyProduct>;

  private constructor(
    private readonly runner: OnnxRunner,
    private readonly table: EmbeddingTable,
    private readonly meta: Metadata,
    private readonly padId: number,
    private readonly productOptions: { cacheDir: string; runner: Omit<RunnerOptions, "modelPath" | "workers"> },
    /** Targets a row may leave out get a zero cotangent (a graph with several targets of which a row uses one). */
    private readonly zeroMissing: boolean,
  ) {}

  /**
   * `targets`: the outputs to differentiate (default: every float output). With them, a row's cotangents may name
   * only some targets (the others get zeros): an adapter model's gradient graph targets `last_hidden_state`, and
   * the head's own cotangent is computed in JS (lib/model/adapters.ts headCotangent).
   */
  static async open(modelPath: string, cacheDir: string, runner: Omit<RunnerOptions, "modelPath">, padId: number, targets?: string[]): Promise<GradientSession> {
    const { files, meta } = await buildGradientModelOffThread(modelPath, cacheDir, targets ? { ...BUILD_OPTIONS, targets } : BUILD_OPTIONS);
    // Shared memory, so the vocabulary product's worker reads the same table without a copy.
    const table = sharedTable(await readEntryTable(files.table, meta));
    const opened = await OnnxRunner.open({ ...runner, modelPath: files.model, extraOutputs: false });
    return new GradientSession(opened, table, meta, padId, { cacheDir, runner: { device: runner.device, disableGpu: runner.disableGpu, intraOpThreads: runner.intraOpThreads } }, targets !== undefined);
  }

  /** The differentiated outputs (each row's cotangents are keyed by these). */
  get targets(): readonly string[] {
    return this.meta.targets;
  }

  get hidden(): number {
    return this.table.hidden;
  }

  get vocabularySize(): number {
    return this.table.rows;
  }

  /** `E[k] · g` over the vocabulary for each gradient vector (HotFlip), by its own worker started on first use. */
  async vocabularyScores(gradients: readonly Float32Array[]): Promise<Float64Array[]> {
    this.product ??= VocabularyProduct.open(this.table, this.productOptions.cacheDir, this.productOptions.runner).catch((err: Error) => {
      this.product = undefined;
      throw err;
    });
    return (await this.product).scores(gradients);
  }

  embeddingRows(ids: readonly number[]): Float32Array {
    return embeddingRows(this.table, ids);
  }

  /**
   * `extra.feeds`: further plain inputs of the graph (an adapter model's `adapter_weights`, batch-first).
   * `extra.forwardValues`: return these targets' forward values (tokens × … per row, cropped) instead of gradients;
   * the cotangents are then zeros (the values do not depend on them).
   */
  async runRows(rows: readonly GradientRow[], extra: { feeds?: Record<string, NdArray>; forwardValues?: string[] } = {}): Promise<{ outputs: Record<string, NdArray>[]; runMs: number }> {
    const lengths = rows.map((r) => r.sequence.ids.length);
    const longest = Math.max(...lengths);
    const feeds = buildFeeds(rows.map((r) => r.sequence), this.meta.inputs.filter((n) => TOKEN_INPUTS.has(n)), this.padId);
    feeds[INPUTS_EMBEDS] = this.paddedEmbeds(rows, longest);
    Object.assign(feeds, extra.feeds);
    const values = extra.forwardValues;
    for (const target of this.meta.targets) feeds[cotangentInputName(target)] = this.paddedCotangent(rows, target, longest, values !== undefined);
    if (values) {
      const { outputs, runMs } = await this.runner.run(feeds, values);
      const perRow = lengths.map((length, b): Record<string, NdArray> =>
        Object.fromEntries(values.map((name) => {
          const r = row(outputs[name], b);
          return [name, r.shape.length >= 2 ? cropAxes(r, [0], length) : r];
        })));
      return { outputs: perRow, runMs };
    }
    const last = this.meta.attentionLayers - 1;
    const wantsAttention = rows[0].wants === "attention"; // the batcher never mixes the two kinds
    const names = wantsAttention ? [attentionOutput(last), attentionGradOutput(last)] : [GRAD_INPUTS_EMBEDS];
    const { outputs, runMs } = await this.runner.run(feeds, names);
    const perRow = lengths.map((length, b): Record<string, NdArray> =>
      wantsAttention
        ? {
            [GRADIENT_OUTPUTS.attention]: cropAxes(row(outputs[names[0]], b), [1, 2], length),
            [GRADIENT_OUTPUTS.gradAttention]: cropAxes(row(outputs[names[1]], b), [1, 2], length),
          }
        : { [GRADIENT_OUTPUTS.grad]: cropAxes(row(outputs[names[0]], b), [0], length) },
    );
    return { outputs: perRow, runMs };
  }

  async close(): Promise<void> {
    const product = this.product;
    this.product = undefined;
    await Promise.all([this.runner.close(), product?.then((p) => p.close(), () => undefined)]);
  }

  private paddedEmbeds(rows: readonly GradientRow[], longest: number): NdArray {
    const hidden = this.table.hidden;
    const data = new Float32Array(rows.length * longest * hidden);
    rows.forEach((r, b) => data.set(r.embeds, b * longest * hidden));
    return ndarray("float32", [rows.length, longest, hidden], data);
  }

  /**
   * Token-level targets (QA logits) are padded to the longest row; label-level ones are fixed width; token × hidden
   * ones (last_hidden_state) are padded along the tokens. `zeros`: every row's cotangent is zero.
   */
  private paddedCotangent(rows: readonly GradientRow[], target: string, longest: number, zeros = false): NdArray {
    const info = this.runner.inputs.find((i) => i.name === cotangentInputName(target));
    const dim = (k: number) => info?.shape[k];
    if (info && info.shape.length === 3) {
      const hidden = dim(2);
      if (typeof hidden !== "number") throw new Error(`the cotangent of ${target} has no fixed last dimension`);
      const data = new Float32Array(rows.length * longest * hidden);
      if (!zeros) rows.forEach((r, b) => this.placeCotangent(data, r, target, b * longest * hidden));
      return ndarray("float32", [rows.length, longest, hidden], data);
    }
    const width = typeof dim(1) === "number" ? (dim(1) as number) : longest;
    const data = new Float32Array(rows.length * width);
    if (!zeros) rows.forEach((r, b) => this.placeCotangent(data, r, target, b * width));
    return ndarray("float32", [rows.length, width], data);
  }

  private placeCotangent(data: Float32Array, r: GradientRow, target: string, at: number): void {
    const cotangent = r.cotangents[target];
    if (cotangent) data.set(cotangent, at);
    else if (!this.zeroMissing) throw new Error(`no cotangent for the gradient target ${target}`);
  }
}

/** A row's cropped outputs as the explanation methods read them. */
export const gradientResult = (outputs: Record<string, NdArray>): GradientResult => ({
  gradEmbeds: outputs[GRADIENT_OUTPUTS.grad]?.data as Float32Array | undefined,
  lastAttention: outputs[GRADIENT_OUTPUTS.attention]?.data as Float32Array | undefined,
  gradLastAttention: outputs[GRADIENT_OUTPUTS.gradAttention]?.data as Float32Array | undefined,
});
