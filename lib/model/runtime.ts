/**
 * A loaded model: folder, tokenizer, ONNX sessions (in workers) and what it can do. `forward`
 * is the batch-first backend interface: sequences in, one unpadded output record per sequence out.
 */
import { readModelFolder, ModelFolder } from "./model-folder.ts";
import { capabilitiesOf, Capabilities } from "./capabilities.ts";
import { TextTokenizer } from "../tokenization/tokenizer.ts";
import { OnnxRunner } from "../onnx/runner.ts";
import { Device, deviceName } from "../onnx/device.ts";
import type { Encoded } from "../tokenization/tokenizer.ts";
import type { NdArray } from "../tensor.ts";
import type { ModelSettings } from "../config/model-settings.ts";
import { buildFeeds, splitOutputs } from "../batching/pad.ts";
import { Batcher, BatcherSettings } from "../batching/batcher.ts";
import type { Priority } from "../batching/select.ts";

export interface ForwardResult {
  items: Record<string, NdArray>[];
  /** Wall time from submitting the sequences to the last one's output. */
  inferenceMs: number;
  /** Longest time one of the sequences waited for its batch to start. */
  batchWaitMs: number;
}

interface BatchInput {
  sequence: Encoded;
  outputNames?: string[];
}

/** A background item that waited this long competes as interactive (no starvation). */
const BACKGROUND_AGING_MS = 500;

export class ModelRuntime {
  private constructor(
    readonly settings: ModelSettings,
    readonly device: Device,
    readonly folder: ModelFolder,
    readonly tokenizer: TextTokenizer,
    private runner: OnnxRunner,
    readonly capabilities: Capabilities,
  ) {}

  /** The replica's single batch owner: every task's sequences pass through it. */
  readonly batcher = new Batcher<BatchInput, Record<string, NdArray>>((inputs) => this.runBatch(inputs), () => this.batcherSettings());

  static async load(settings: ModelSettings, device: Device): Promise<ModelRuntime> {
    const folder = await readModelFolder(settings.path, { quantized: settings.onnx_use_quantized });
    const [tokenizer, runner] = await Promise.all([TextTokenizer.load(folder.tokenizerPath), ModelRuntime.openRunner(folder, settings, device)]);
    const capabilities = capabilitiesOf(folder.config, runner.inputs, runner.outputs);
    return new ModelRuntime(settings, device, folder, tokenizer, runner, capabilities);
  }

  private static openRunner(folder: ModelFolder, settings: ModelSettings, device: Device): Promise<OnnxRunner> {
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

  get outputNames(): string[] {
    return this.runner.outputNames;
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
    const key = outputNames ? [...outputNames].sort().join(",") : "";
    const inputs = sequences.map((sequence) => ({ input: { sequence, outputNames }, length: sequence.ids.length }));
    const results = await this.batcher.submit(inputs, key, priority);
    return {
      items: results.map((r) => r.value),
      inferenceMs: performance.now() - started,
      batchWaitMs: Math.max(0, ...results.map((r) => r.waitedMs)),
    };
  }

  private async runBatch(inputs: BatchInput[]): Promise<{ outputs: Record<string, NdArray>[]; runMs: number }> {
    const sequences = inputs.map((i) => i.sequence);
    const feeds = buildFeeds(sequences, this.capabilities.inputNames, this.padId);
    const { outputs, runMs } = await this.runner.run(feeds, inputs[0].outputNames);
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

  close(): Promise<void> {
    return this.runner.close();
  }
}
