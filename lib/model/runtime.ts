/**
 * A loaded model: folder, tokenizer, an inference backend (ONNX Runtime sessions in workers) and
 * what it can do. It implements LoadedModel, the interface tasks see: `forward` takes sequences
 * and gives one unpadded output record per sequence, batched across requests. A generative folder
 * (generation-folder.ts) opens one runner per graph file it needs and exposes `generation`
 * (generation-engine.ts), whose steps share the same batcher.
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
import { generationConfigOf, looksGenerative, maxPositionsOf, planGeneration, resolveLayout, type GenerationLayout, type GraphIo } from "./generation-folder.ts";
import { GenerationEngine } from "./generation-engine.ts";
import { AdapterSet, applyHead, buildAdapterGraphOffThread, headInputs, loadServedAdapters } from "./adapters.ts";
import { adapterOfSequence, HEAD_TASKS, type AdapterCatalog } from "../inference/adapters.ts";
import { ADAPTER_WEIGHTS_INPUT } from "../onnx/adapters/index.ts";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export type { ForwardResult } from "../inference/model.ts";

export interface RuntimeOptions {
  /** Where gradient models are cached on disk (built once per model file). */
  cacheDir?: string;
}

/** Outputs an adapter's prediction head provides (lib/model/adapters.ts applyHead). */
const HEAD_OUTPUT_NAMES: ReadonlySet<string> = new Set(["logits", "start_logits", "end_logits"]);

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
    /** Every open runner by graph file (the main `runner` included). */
    private readonly runners: Map<string, InferenceBackend>,
    layout?: GenerationLayout,
    /** The served adapters (SPEC §9) when the models-file entry lists some: `runner` then runs the adapter-capable graph. */
    readonly adapters?: AdapterSet,
    /** The temporary folder holding the adapter-capable graph (removed on close). */
    private readonly adapterGraphDir?: string,
  ) {
    this.generation = layout
      ? new GenerationEngine(
          layout,
          (path) => this.runners.get(path)!,
          { generationConfig: generationConfigOf(folder.config, folder.generationConfig), maxPositions: maxPositionsOf(folder.config, folder.maxLength) },
          (items, key, priority) => this.batcher.submit(items, key, priority),
        )
      : undefined;
  }

  /** The decoding side of a generative model; absent for encoders. */
  readonly generation?: GenerationEngine;

  private gradients?: Promise<GradientSession>;

  /** The replica's single batch owner: every task's sequences pass through it. */
  readonly batcher = new Batcher<BatchWork, Record<string, NdArray>>((inputs) => this.runBatch(inputs), () => this.batcherSettings());

  static async load(settings: ModelSettings, device: Device, options: RuntimeOptions = {}): Promise<ModelRuntime> {
    const folder = await readModelFolder(settings.path, { quantized: settings.onnx_use_quantized });
    const isModelFile = folder.onnxPath === folder.generationFiles.model;
    if (settings.adapters?.length) return ModelRuntime.loadWithAdapters(settings, device, options, folder);
    // Attention/hidden-state surgery is for encoders; generation graphs skip its analysis.
    const extraOutputs = isModelFile && !looksGenerative(folder.config);
    const [tokenizer, runner] = await Promise.all([TextTokenizer.load(folder.tokenizerPath), ModelRuntime.openRunner(folder.onnxPath, settings, device, extraOutputs)]);
    const runners = new Map<string, InferenceBackend>([[folder.onnxPath, runner]]);
    try {
      const io = (path: string): GraphIo => ({ path, inputs: runners.get(path)!.inputs, outputs: runners.get(path)!.outputs });
      const plan = planGeneration(folder.config, folder.generationFiles, isModelFile ? io(folder.onnxPath) : undefined);
      let layout: GenerationLayout | undefined;
      if (plan) {
        const { encoder, first, cached } = plan.files;
        const missing = [...new Set([encoder, first, cached])].filter((p): p is string => p !== undefined && !runners.has(p));
        const opened = await Promise.allSettled(missing.map((p) => ModelRuntime.openRunner(p, settings, device, false)));
        opened.forEach((r, k) => r.status === "fulfilled" && runners.set(missing[k], r.value));
        const failed = opened.find((r): r is PromiseRejectedResult => r.status === "rejected");
        if (failed) throw failed.reason;
        layout = resolveLayout(plan, folder.config, { encoder: encoder ? io(encoder) : undefined, first: io(first), cached: io(cached) });
      }
      const capabilities = capabilitiesOf(folder.config, runner.inputs, runner.outputs, layout !== undefined);
      return new ModelRuntime(settings, device, folder, tokenizer, runner, capabilities, options, runners, layout);
    } catch (err) {
      await Promise.all([...runners.values()].map((r) => r.close()));
      throw err;
    }
  }

  /**
   * A base encoder with adapters (SPEC §9): the adapter folders are read here (async file I/O), the
   * adapter-capable graph is built in a worker thread (lib/onnx/adapters; the event loop, and so other
   * models' requests, never wait on the surgery) into a temporary file, and that graph is the one
   * runner: all-zero `adapter_weights` rows are the base model. Attentions/hidden-state outputs are
   * not offered on it.
   */
  private static async loadWithAdapters(settings: ModelSettings, device: Device, options: RuntimeOptions, folder: ModelFolder): Promise<ModelRuntime> {
    if (looksGenerative(folder.config) || folder.onnxPath !== folder.generationFiles.model) throw new Error(`model ${settings.id}: adapters are supported on encoder models only`);
    const hiddenSize = typeof folder.config.hidden_size === "number" ? folder.config.hidden_size : undefined;
    const [tokenizer, served] = await Promise.all([TextTokenizer.load(folder.tokenizerPath), loadServedAdapters(settings.adapters!, hiddenSize)]);
    const dir = await mkdtemp(join(tmpdir(), "square-adapter-graph-"));
    let opened: InferenceBackend | undefined;
    try {
      const graphPath = join(dir, "model-adapters.onnx");
      await buildAdapterGraphOffThread(folder.onnxPath, graphPath, served);
      const runner = (opened = await ModelRuntime.openRunner(graphPath, settings, device, false));
      const adapters = new AdapterSet(served);
      for (const a of served) {
        const missing = a.loaded.head ? headInputs(a.loaded.head).filter((o) => !runner.outputNames.includes(o)) : [];
        if (missing.length) throw new Error(`adapter ${a.name}: its ${a.loaded.head!.type} head reads ${missing.join(", ")}, which ${folder.onnxPath} does not output (export the base model with its hidden states)`);
      }
      const inputs = runner.inputs.filter((i) => i.name !== ADAPTER_WEIGHTS_INPUT);
      const capabilities = capabilitiesOf(folder.config, inputs, runner.outputs, false);
      // Tasks the adapters' heads serve join the base model's.
      for (const a of served) {
        const task = a.loaded.head ? HEAD_TASKS[a.loaded.head.type] : undefined;
        if (task && !capabilities.tasks.includes(task)) capabilities.tasks.push(task);
      }
      return new ModelRuntime(settings, device, folder, tokenizer, runner, capabilities, options, new Map([[graphPath, runner]]), undefined, adapters, dir);
    } catch (err) {
      await opened?.close();
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** What tasks see of the served adapters (head labels); absent without adapters. */
  get adapterCatalog(): AdapterCatalog | undefined {
    return this.adapters;
  }

  private static openRunner(modelPath: string, settings: ModelSettings, device: Device, extraOutputs: boolean): Promise<InferenceBackend> {
    return OnnxRunner.open({
      modelPath,
      device,
      disableGpu: settings.disable_gpu,
      workers: settings.workers,
      intraOpThreads: settings.intra_op_threads,
      extraOutputs,
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
    const facts: ModelFacts & { adapters: string[]; adapterInfo: Record<string, unknown> } = {
      adapters: this.adapters?.names ?? [],
      adapterInfo: this.adapters?.info ?? {},
      tasks: this.capabilities.tasks,
      embeddingModes: this.capabilities.embeddingModes,
      maxLength: this.folder.maxLength,
      specialTokens: this.tokenizer.specialTokens,
      outputNames: this.outputNames,
      extraOutputsUnavailable: this.extraOutputsUnavailable,
      ...(this.generation ? { generation: { architecture: this.generation.architecture, vocabSize: this.generation.vocabSize, maxPositions: this.generation.maxPositions, config: { ...this.generation.generationConfig } } } : {}),
    };
    return facts;
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
    if (this.generation) return this.generationForward(sequences, outputNames, priority);
    const started = performance.now();
    // A sequence's adapter choice (SPEC §9) becomes its row's adapter_weights; rows for different adapters share batches (the bank mixes per row).
    const inputs = sequences.map((sequence): { input: BatchWork; length: number } => ({ input: { kind: "forward", sequence, outputNames, adapter: this.adapters ? adapterOfSequence(sequence) : undefined }, length: sequence.ids.length }));
    const results = inputs.length ? await this.batcher.submit(inputs, batchKey(inputs[0].input), priority) : [];
    return {
      items: results.map((r) => r.value),
      inferenceMs: performance.now() - started,
      batchWaitMs: Math.max(0, ...results.map((r) => r.waitedMs)),
    };
  }

  /**
   * A generator's forward pass (warm-up calls it): each sequence's first generation step (the
   * prompt's prefill; for encoder-decoder models the encoder, then the decoder start token), giving
   * the last position's `logits` [vocab].
   */
  private async generationForward(sequences: readonly Encoded[], outputNames: string[] | undefined, priority: Priority): Promise<ForwardResult> {
    const g = this.generation!;
    if (outputNames && outputNames.some((n) => n !== "logits")) throw invalid(`a generative model's forward pass gives only logits, not ${outputNames.join(", ")}`, "outputs");
    const started = performance.now();
    const encoders = g.architecture === "encoder-decoder" ? await g.encode(sequences, priority) : undefined;
    const start = Number(g.generationConfig.decoder_start_token_id ?? g.generationConfig.bos_token_id ?? 0);
    const rows = sequences.map((s, i) => (encoders ? { tokens: [start], encoder: encoders[i] } : { tokens: s.ids }));
    const results = rows.length ? await g.step(rows, priority) : [];
    return {
      items: results.map((r) => ({ logits: { dtype: "float32", shape: [r.logits.length], data: r.logits } })),
      inferenceMs: performance.now() - started,
      batchWaitMs: 0,
    };
  }

  /**
   * The backend explanations run on: the model's gradient model, built on first use (off the
   * main thread, cached on disk). Its passes share this replica's batcher as background work.
   * A model the differentiator cannot handle answers 422 naming the operator.
   */
  async gradientBackend(): Promise<GradientBackend> {
    if (this.generation) throw invalid("explanations are not available for generative models", "explain_kwargs");
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
      case "encode-prompts":
      case "generate":
        if (!this.generation) throw new Error(`${kind} work for a model that does not generate`);
        return this.generation.runBatch(work);
      default: throw new Error(`unknown kind of batch work: ${kind satisfies never}`);
    }
  }

  private async runForward(work: Extract<BatchWork, { kind: "forward" }>[]): Promise<{ outputs: Record<string, NdArray>[]; runMs: number }> {
    if (this.adapters) return this.runAdapterForward(work, this.adapters);
    const sequences = work.map((w) => w.sequence);
    const feeds = buildFeeds(sequences, this.capabilities.inputNames, this.padId);
    const { outputs, runMs } = await this.runner.run(feeds, work[0].outputNames);
    const lengths = sequences.map((s) => s.ids.length);
    return { outputs: splitOutputs(outputs, this.runner.outputs, this.capabilities.sequenceDim, lengths), runMs };
  }

  /**
   * The adapter-capable graph: each row's adapter_weights from its choice (zeros: the base model); outputs a
   * head provides (logits, start/end logits) are computed from the row's encoder outputs by its adapter's head.
   */
  private async runAdapterForward(work: Extract<BatchWork, { kind: "forward" }>[], adapters: AdapterSet): Promise<{ outputs: Record<string, NdArray>[]; runMs: number }> {
    const sequences = work.map((w) => w.sequence);
    const feeds = buildFeeds(sequences, this.capabilities.inputNames, this.padId);
    const n = adapters.names.length;
    const weights = new Float32Array(work.length * n);
    work.forEach((w, b) => adapters.row(w.adapter, weights, b * n));
    feeds[ADAPTER_WEIGHTS_INPUT] = { dtype: "float32", shape: [work.length, n], data: weights };
    const graphOutputs = new Set(this.runner.outputNames);
    const wanted = work[0].outputNames;
    const heads = work.map((w) => (w.adapter ? adapters.headOf(w.adapter) : undefined));
    // Head outputs asked for: rows with an adapter head get its outputs (replacing the graph's own, if it has them).
    const headOutputs = wanted?.filter((name) => HEAD_OUTPUT_NAMES.has(name)) ?? [];
    const useHeads = headOutputs.length > 0 && heads.some((h) => h);
    if (headOutputs.some((name) => !graphOutputs.has(name)) && heads.some((h) => !h)) throw new Error(`outputs ${headOutputs.join(", ")} need an adapter head for every row (validation prevents this)`);
    const runNames = wanted ? [...new Set([...wanted.filter((name) => graphOutputs.has(name)), ...(useHeads ? heads.flatMap((h) => (h ? headInputs(h) : [])) : [])])] : undefined;
    const { outputs, runMs } = await this.runner.run(feeds, runNames);
    const lengths = sequences.map((s) => s.ids.length);
    const items = splitOutputs(outputs, this.runner.outputs, this.capabilities.sequenceDim, lengths);
    if (!useHeads) return { outputs: items, runMs };
    return {
      outputs: items.map((item, b) => {
        const head = heads[b];
        const computed = head ? applyHead(head, item) : {};
        const out: Record<string, NdArray> = {};
        for (const name of wanted!) {
          const value = head && HEAD_OUTPUT_NAMES.has(name) ? computed[name] : item[name];
          if (!value) throw new Error(`adapter head ${head?.name} (${head?.type}) gives no ${name}`);
          out[name] = value;
        }
        return out;
      }),
      runMs,
    };
  }

  private batcherSettings(): BatcherSettings {
    const s = this.settings;
    // Generation rows come back for their next step as soon as their results are delivered: wait for the whole delivery so they batch together again.
    return { maxItems: s.batch_size, maxTokens: s.max_batch_tokens, maxWaitMs: s.batch_wait_ms, parallel: s.workers, backgroundAgingMs: BACKGROUND_AGING_MS, holdWhileDelivering: this.generation !== undefined };
  }

  /** Applies a settings change; moving between GPU and CPU reopens the sessions. */
  async apply(update: Partial<ModelSettings>): Promise<void> {
    const gpuChanged = update.disable_gpu !== undefined && update.disable_gpu !== this.settings.disable_gpu;
    Object.assign(this.settings, update);
    if (gpuChanged && this.device.kind !== "cpu") {
      const extraOutputs = !this.generation && this.folder.onnxPath === this.folder.generationFiles.model && !looksGenerative(this.folder.config);
      for (const [path, old] of [...this.runners]) {
        const next = await ModelRuntime.openRunner(path, this.settings, this.device, path === this.folder.onnxPath ? extraOutputs : false);
        this.runners.set(path, next);
        if (old === this.runner) this.runner = next;
        await old.close();
      }
    }
  }

  async close(): Promise<void> {
    const gradients = await this.gradients?.catch(() => undefined);
    await Promise.all([...[...this.runners.values()].map((r) => r.close()), gradients?.close()]);
    if (this.adapterGraphDir) await rm(this.adapterGraphDir, { recursive: true, force: true });
  }
}
