/**
 * A loaded model: folder, tokenizer, an inference backend (ONNX Runtime sessions in workers) and
 * what it can do. It implements LoadedModel, the interface tasks see: `forward` takes sequences
 * and gives one unpadded output record per sequence, batched across requests.
 */
import { readModelFolder, ModelFolder } from "./model-folder.ts";
import { capabilitiesOf, Capabilities } from "../inference/capabilities.ts";
import { TextTokenizer } from "../tokenization/tokenizer.ts";
import { OnnxRunner } from "../onnx/runner.ts";
import type { InferenceBackend } from "../inference/backend.ts";
import type { LoadedModel, ForwardResult } from "../inference/model.ts";
import type { ModelFacts } from "../inference/facts.ts";
import { batchKey, BatchWork } from "./batch-work.ts";
import { Device, deviceName } from "../onnx/device.ts";
import type { Encoded } from "../tokenization/tokenizer.ts";
import type { NdArray } from "../tensor.ts";
import type { ModelSettings } from "../config/model-settings.ts";
import { buildFeeds, splitOutputs } from "../batching/pad.ts";
import { Batcher, BatcherSettings } from "../batching/batcher.ts";
import type { Priority } from "../batching/select.ts";
import { GradientSession, gradientResult } from "./gradient-session.ts";
import type { GradientBackend, GradientResult } from "../inference/gradients.ts";
import { UnsupportedOperatorError, GradientGraphError } from "../onnx/gradients/errors.ts";
import { invalid } from "../errors.ts";
import { DEFAULT_SETTINGS } from "../config/settings.ts";

export type { ForwardResult } from "../inference/model.ts";

export interface RuntimeOptions {
  /** Where gradient models are cached on disk (built once per model file). */
  cacheDir?: string;
}

/** A background item that waited this long competes as interactive (no starvation). */
const BACKGROUND_AGING_MS = 500;

export class ModelRuntime implements LoadedModel {
  private constructor(
    readonly settings: ModelSettings,
    readonly device: Device,
    readonly folder: ModelFolder,
    readonly tokenizer: TextTokenizer,
    private runner: InferenceBackend,
    readonly capabilities: Capabilities,
    private readonly options: RuntimeOptions,
  ) {}

  private gradients?: Promise<GradientSession>;

  /** The replica's single batch owner: every task's sequences pass through it. */
  readonly batcher = new Batcher<BatchWork, Record<string, NdArray>>((inputs) => this.runBatch(inputs), () => this.batcherSettings());

  static async load(settings: ModelSettings, device: Device, options: RuntimeOptions = {}): Promise<ModelRuntime> {
    const folder = await readModelFolder(settings.path, { quantized: settings.onnx_use_quantized });
    const [tokenizer, runner] = await Promise.all([TextTokenizer.load(folder.tokenizerPath), ModelRuntime.openRunner(folder, settings, device)]);
    const capabilities = capabilitiesOf(folder.config, runner.inputs, runner.outputs);
    return new ModelRuntime(settings, device, folder, tokenizer, runner, capabilities, options);
  }

  private static openRunner(folder: ModelFolder, settings: ModelSettings, device: Device): Promise<InferenceBackend> {
    return OnnxRunner.open({
      modelPath: folder.onnxPath,
      device,
      disableGpu: settings.disable_gpu,
      workers: settings.workers,
      intraOpThreads: settings.intra_op_threads,
    });
  }

  get deviceLabel(): string {
    return this.runner.provider === "cpu" ? "cpu" : deviceName(this.device);
  }

  get providerWarning(): string | undefined {
    return this.runner.warning;
  }

  /** Why attentions/hidden states cannot be offered for this model, when they cannot. */
  get extraOutputsUnavailable(): string | undefined {
    return this.runner.extraOutputsUnavailable;
  }

  get outputNames(): string[] {
    return this.runner.outputNames;
  }

  /** What the model's metadata announces about it (lib/orchestration/model-meta.ts adds the replica's part). */
  get facts(): ModelFacts {
    return {
      tasks: this.capabilities.tasks,
      embeddingModes: this.capabilities.embeddingModes,
      maxLength: this.folder.maxLength,
      specialTokens: this.tokenizer.specialTokens,
      outputNames: this.outputNames,
      extraOutputsUnavailable: this.extraOutputsUnavailable,
    };
  }

  get padId(): number {
    const pad = this.folder.config.pad_token_id;
    return typeof pad === "number" ? pad : 0;
  }

  /**
   * Runs sequences batched with whatever else this replica is running (lib/batching). Requests
   * for different outputs never share a batch; `background` work yields to interactive work.
   */
  async forward(sequences: readonly Encoded[], outputNames?: string[], priority: Priority = "interactive"): Promise<ForwardResult> {
    const started = performance.now();
    const inputs = sequences.map((sequence): { input: BatchWork; length: number } => ({ input: { kind: "forward", sequence, outputNames }, length: sequence.ids.length }));
    const results = inputs.length ? await this.batcher.submit(inputs, batchKey(inputs[0].input), priority) : [];
    return {
      items: results.map((r) => r.value),
      inferenceMs: performance.now() - started,
      batchWaitMs: Math.max(0, ...results.map((r) => r.waitedMs)),
    };
  }

  /**
   * The backend explanations run on: the model's gradient model, built on first use (off the
   * main thread, cached on disk). Its passes share this replica's batcher as background work.
   * A model the differentiator cannot handle answers 422 naming the operator.
   */
  async gradientBackend(): Promise<GradientBackend> {
    const session = await this.gradientSession();
    return {
      hidden: session.hidden,
      vocabularySize: session.vocabularySize,
      embeddingRows: (ids) => session.embeddingRows(ids),
      vocabularyScores: (gradients) => session.vocabularyScores(gradients),
      run: async (rows) => {
        // Rows wanting different outputs never share a batch: one submission per kind, results back in row order.
        const results: GradientResult[] = new Array(rows.length);
        await Promise.all(
          (["gradient", "attention"] as const).map(async (wants) => {
            const indices = rows.flatMap((r, i) => (r.wants === wants ? [i] : []));
            const inputs = indices.map((i): { input: BatchWork; length: number } => ({ input: { kind: "gradient", row: rows[i] }, length: rows[i].sequence.ids.length }));
            const done = inputs.length ? await this.batcher.submit(inputs, batchKey(inputs[0].input), "background") : [];
            done.forEach((r, k) => (results[indices[k]] = gradientResult(r.value)));
          }),
        );
        return results;
      },
    };
  }

  private gradientSession(): Promise<GradientSession> {
    if (!this.gradients) {
      const runner = { device: this.device, disableGpu: this.settings.disable_gpu, workers: 1, intraOpThreads: this.settings.intra_op_threads };
      const opening = GradientSession.open(this.folder.onnxPath, this.options.cacheDir ?? DEFAULT_SETTINGS.cacheDir, runner, this.padId).catch((err: Error) => {
        if (err instanceof UnsupportedOperatorError || err instanceof GradientGraphError) throw invalid(`explanations are not available for this model: ${err.message}`, "explain_kwargs");
        if (this.gradients === opening) this.gradients = undefined; // not the model's fault: try again next time
        throw err;
      });
      this.gradients = opening;
    }
    return this.gradients;
  }

  /** Every batch holds one kind of work (the batch key starts with the kind), so the first item names it. */
  private async runBatch(work: BatchWork[]): Promise<{ outputs: Record<string, NdArray>[]; runMs: number }> {
    const kind = work[0].kind;
    switch (kind) {
      case "forward": return this.runForward(work as Extract<BatchWork, { kind: "forward" }>[]);
      case "gradient": return (await this.gradientSession()).runRows(work.map((w) => (w as Extract<BatchWork, { kind: "gradient" }>).row));
      default: throw new Error(`unknown kind of batch work: ${kind satisfies never}`);
    }
  }

  private async runForward(work: Extract<BatchWork, { kind: "forward" }>[]): Promise<{ outputs: Record<string, NdArray>[]; runMs: number }> {
    const sequences = work.map((w) => w.sequence);
    const feeds = buildFeeds(sequences, this.capabilities.inputNames, this.padId);
    const { outputs, runMs } = await this.runner.run(feeds, work[0].outputNames);
    const lengths = sequences.map((s) => s.ids.length);
    return { outputs: splitOutputs(outputs, this.runner.outputs, this.capabilities.sequenceDim, lengths), runMs };
  }

  private batcherSettings(): BatcherSettings {
    const s = this.settings;
    return { maxItems: s.batch_size, maxTokens: s.max_batch_tokens, maxWaitMs: s.batch_wait_ms, parallel: s.workers, backgroundAgingMs: BACKGROUND_AGING_MS };
  }

  /** Applies a settings change; moving between GPU and CPU reopens the sessions. */
  async apply(update: Partial<ModelSettings>): Promise<void> {
    const gpuChanged = update.disable_gpu !== undefined && update.disable_gpu !== this.settings.disable_gpu;
    Object.assign(this.settings, update);
    if (gpuChanged && this.device.kind !== "cpu") {
      const next = await ModelRuntime.openRunner(this.folder, this.settings, this.device);
      const old = this.runner;
      this.runner = next;
      await old.close();
    }
  }

  async close(): Promise<void> {
    const gradients = await this.gradients?.catch(() => undefined);
    await Promise.all([this.runner.close(), gradients?.close()]);
  }
}
