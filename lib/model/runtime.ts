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
import { planBatches } from "../batching/plan.ts";

export interface ForwardResult {
  items: Record<string, NdArray>[];
  inferenceMs: number;
}

export class ModelRuntime {
  private constructor(
    readonly settings: ModelSettings,
    readonly device: Device,
    readonly folder: ModelFolder,
    readonly tokenizer: TextTokenizer,
    private runner: OnnxRunner,
    readonly capabilities: Capabilities,
  ) {}

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

  /** Runs sequences in length-sorted batches cut by `batch_size` and the token budget. */
  async forward(sequences: readonly Encoded[], outputNames?: string[]): Promise<ForwardResult> {
    const items: Record<string, NdArray>[] = new Array(sequences.length);
    let inferenceMs = 0;
    const lengths = sequences.map((s) => s.ids.length);
    for (const batch of planBatches(lengths, this.settings.batch_size, this.settings.max_batch_tokens)) {
      const seqs = batch.map((i) => sequences[i]);
      const feeds = buildFeeds(seqs, this.capabilities.inputNames, this.padId);
      const { outputs, runMs } = await this.runner.run(feeds, outputNames);
      inferenceMs += runMs;
      const split = splitOutputs(outputs, this.runner.outputs, this.capabilities.sequenceDim, batch.map((i) => lengths[i]));
      batch.forEach((itemIndex, k) => (items[itemIndex] = split[k]));
    }
    return { items, inferenceMs };
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
