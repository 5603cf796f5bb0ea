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
import { OnnxRunner, type RunnerOptions } from "../onnx/runner.ts";
import type { InferenceBackend } from "../inference/backend.ts";
import type { LoadedModel, ForwardResult } from "../inference/model.ts";
import type { ModelFacts } from "../inference/facts.ts";
import { batchKey, BatchWork } from "./batch-work.ts";
import { Device, deviceName } from "../onnx/device.ts";
import type { Encoded } from "../tokenization/tokenizer.ts";
import type { NdArray } from "../tensor.ts";
import { batchTokenBudget, type AdapterEntry, type ModelSettings } from "../config/model-settings.ts";
import { buildFeeds, splitOutputs } from "../batching/pad.ts";
import { Batcher, BatcherSettings } from "../batching/batcher.ts";
import type { Priority } from "../batching/select.ts";
import { GradientSession, gradientResult } from "./gradient-session.ts";
import type { GradientBackend, GradientResult, GradientRow } from "../inference/gradients.ts";
import { UnsupportedOperatorError, GradientGraphError } from "../onnx/gradients/errors.ts";
import { invalid } from "../errors.ts";
import { DEFAULT_SETTINGS } from "../config/settings.ts";
import { generationConfigOf, looksGenerative, maxPositionsOf, planGeneration, resolveLayout, type GenerationLayout, type GraphIo } from "./generation-folder.ts";
import { GenerationEngine } from "./generation-engine.ts";
import { AdapterError } from "../adapters/index.ts";
import { headCotangent, headNeedsForward, headTarget, type AdapterSet } from "./adapters.ts";
import { adapterOfSequence, type AdapterCatalog, type AdapterChoice } from "../inference/adapters.ts";
import { ADAPTER_WEIGHTS_INPUT } from "../onnx/adapters/index.ts";
import { join } from "node:path";
import { ADAPTER_GRAPH_FILE, HEAD_OUTPUT_NAMES, RETIRED_GRAPH_GRACE_MS, adapterCapabilities, closeAdapterGraph, openAdapterGraph, runAdapterForward, type AdapterGraph } from "./adapter-graph.ts";

export type { ForwardResult } from "../inference/model.ts";

export interface RuntimeOptions {
  /** Where gradient models are cached on disk (built once per model file). */
  cacheDir?: string;
}

/** Indices grouped by a key, in first-seen order. */
function groupBy<K>(items: readonly number[], key: (i: number) => K): Map<K, number[]> {
  const groups = new Map<K, number[]>();
  for (const i of items) {
    const k = key(i);
    const group = groups.get(k);
    if (group) group.push(i);
    else groups.set(k, [i]);
  }
  return groups;
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
    /** Every open runner by graph file (the main `runner` included). */
    private readonly runners: Map<string, InferenceBackend>,
    layout?: GenerationLayout,
    /** The served adapters' graph (SPEC §9) when the models-file entry lists some: `runner` is then its runner. */
    private current?: AdapterGraph,
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

  /** The gradient session of a model without adapters (an adapter model's sessions belong to its graphs). */
  private readonly plain: { gradients?: Promise<GradientSession> } = {};

  /** Adapter graphs an update replaced, kept while work runs on them (and for a grace period). */
  private retired: AdapterGraph[] = [];

  /** The chain of adapter updates (one at a time). */
  private adapterUpdates: Promise<void> = Promise.resolve();

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
    const [tokenizer, graph] = await Promise.all([TextTokenizer.load(folder.tokenizerPath), openAdapterGraph(folder, settings, device, settings.adapters!, 0, ModelRuntime.openRunner)]);
    const capabilities = adapterCapabilities(folder, graph);
    return new ModelRuntime(settings, device, folder, tokenizer, graph.runner, capabilities, options, new Map([[join(graph.dir, ADAPTER_GRAPH_FILE), graph.runner]]), undefined, graph);
  }

  /** The served adapters (SPEC §9); absent for a model without adapters. */
  get adapters(): AdapterSet | undefined {
    return this.current?.adapters;
  }

  /** The current adapter-capable graph file (tests read it). */
  get adapterGraphPath(): string | undefined {
    return this.current ? join(this.current.dir, ADAPTER_GRAPH_FILE) : undefined;
  }

  /** What tasks see of the served adapters (head labels); absent without adapters. */
  get adapterCatalog(): AdapterCatalog | undefined {
    return this.adapters;
  }

  static openRunner(modelPath: string, settings: ModelSettings, device: Device, extraOutputs: boolean): Promise<InferenceBackend> {
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
    if (this.current) return this.adapterForward(sequences, outputNames, priority, started);
    const inputs = sequences.map((sequence): { input: BatchWork; length: number } => ({ input: { kind: "forward", sequence, outputNames }, length: sequence.ids.length }));
    const results = inputs.length ? await this.batcher.submit(inputs, batchKey(inputs[0].input), priority) : [];
    return {
      items: results.map((r) => r.value),
      inferenceMs: performance.now() - started,
      batchWaitMs: Math.max(0, ...results.map((r) => r.waitedMs)),
    };
  }

  /**
   * A sequence's adapter choice (SPEC §9) becomes its row's adapter_weights; rows for different adapters share
   * batches (the bank mixes per row). A choice naming an adapter an update removed runs on the graph it was
   * accepted with while that graph is kept (replaceAdapters); rows of different graphs never share a batch.
   */
  private async adapterForward(sequences: readonly Encoded[], outputNames: string[] | undefined, priority: Priority, started: number): Promise<ForwardResult> {
    const rows = sequences.map((sequence) => {
      const adapter = adapterOfSequence(sequence);
      return { sequence, adapter, graph: this.graphFor(adapter) };
    });
    const results = await this.onGraphs(rows.map((r) => r.graph), async () => {
      const out: { value: Record<string, NdArray>; waitedMs: number }[] = new Array(rows.length);
      const groups = groupBy([...rows.keys()], (i) => rows[i].graph);
      await Promise.all([...groups].map(async ([graph, indices]) => {
        const inputs = indices.map((i): { input: BatchWork; length: number } => ({ input: { kind: "forward", sequence: rows[i].sequence, outputNames, adapter: rows[i].adapter, graph: graph.generation }, length: rows[i].sequence.ids.length }));
        const done = await this.batcher.submit(inputs, batchKey(inputs[0].input), priority);
        done.forEach((r, k) => (out[indices[k]] = r));
      }));
      return out;
    });
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
    const session = await this.gradientSession(this.current);
    return {
      hidden: session.hidden,
      vocabularySize: session.vocabularySize,
      embeddingRows: (ids) => session.embeddingRows(ids),
      vocabularyScores: (gradients) => session.vocabularyScores(gradients),
      run: async (given) => {
        const graphs = given.map((row) => (this.current ? this.graphFor(adapterOfSequence(row.sequence)) : undefined));
        return this.onGraphs(graphs, async () => {
          const rows = this.current ? await this.throughAdapterHeads(given, graphs as AdapterGraph[]) : given.map((row) => ({ row }));
          // Rows wanting different outputs (or on different adapter graphs) never share a batch: one submission per kind, results back in row order.
          const results: GradientResult[] = new Array(rows.length);
          const groups = groupBy([...rows.keys()], (i) => `${rows[i].row.wants}@${graphs[i]?.generation ?? ""}`);
          await Promise.all([...groups.values()].map(async (indices) => {
            const inputs = indices.map((i): { input: BatchWork; length: number } => ({ input: { kind: "gradient", ...rows[i], graph: graphs[i]?.generation }, length: rows[i].row.sequence.ids.length }));
            const done = await this.batcher.submit(inputs, batchKey(inputs[0].input), "background");
            done.forEach((r, k) => (results[indices[k]] = gradientResult(r.value)));
          }));
          return results;
        });
      },
    };
  }

  /**
   * Rows of an adapter model (issue #16): the gradient graph is the adapter-capable graph's, differentiated at
   * `last_hidden_state` (and `pooler_output`) with `adapter_weights` a plain input, so the adapter's weights are
   * part of the function. A row whose choice has a head carries cotangents on the head's outputs (a label's
   * logit, a span's start+end logits); the head runs in JS, so its vector-Jacobian product turns them into the
   * cotangent on the encoder output it reads (headCotangent), exactly. A non-linear head (dense+tanh) needs its
   * input at the row's point: one forward-values pass of the gradient graph first (background work too).
   */
  private async throughAdapterHeads(rows: readonly GradientRow[], graphs: readonly AdapterGraph[]): Promise<{ row: GradientRow; adapter?: AdapterChoice }[]> {
    const sessions = new Map(await Promise.all([...new Set(graphs)].map(async (g) => [g, await this.gradientSession(g)] as const)));
    const planned = rows.map((row, i) => {
      const session = sessions.get(graphs[i])!;
      const adapter = adapterOfSequence(row.sequence);
      const head = adapter ? graphs[i].adapters.headOf(adapter) : undefined;
      const viaHead = head !== undefined && Object.keys(row.cotangents).some((k) => HEAD_OUTPUT_NAMES.has(k));
      if (viaHead && !session.targets.includes(headTarget(head))) throw invalid(`explanations are not available with adapter ${head.name}: its head reads ${headTarget(head)}, which the model does not output`, "explain_kwargs");
      return { row, adapter, head: viaHead ? head : undefined };
    });
    const needInput = planned.flatMap((p, i) => (p.head && headNeedsForward(p.head) ? [i] : []));
    const inputs = new Map<number, Float32Array>();
    await Promise.all(
      [...groupBy(needInput, (i) => `${headTarget(planned[i].head!)}@${graphs[i].generation}`).values()].map(async (indices) => {
        const target = headTarget(planned[indices[0]].head!);
        const work = indices.map((i): { input: BatchWork; length: number } => ({ input: { kind: "gradient", row: planned[i].row, adapter: planned[i].adapter, forwardValues: [target], graph: graphs[i].generation }, length: planned[i].row.sequence.ids.length }));
        const done = await this.batcher.submit(work, batchKey(work[0].input), "background");
        done.forEach((r, k) => inputs.set(indices[k], r.value[target].data as Float32Array));
      }),
    );
    return planned.map(({ row, adapter, head }, i) => {
      if (!head) return { row, adapter };
      const tokens = row.sequence.ids.length;
      const rest = Object.fromEntries(Object.entries(row.cotangents).filter(([k]) => !HEAD_OUTPUT_NAMES.has(k))); // the head replaces the graph's own head outputs
      return { row: { ...row, cotangents: { ...rest, [headTarget(head)]: headCotangent(head, row.cotangents, tokens, inputs.get(i)) } }, adapter };
    });
  }

  /** The gradient session of the model, or of one adapter graph (each graph has its own, built on first use). */
  private gradientSession(graph?: AdapterGraph): Promise<GradientSession> {
    const holder: { gradients?: Promise<GradientSession> } = graph ?? this.plain;
    if (!holder.gradients) {
      const runner = { device: this.device, disableGpu: this.settings.disable_gpu, workers: 1, intraOpThreads: this.settings.intra_op_threads };
      const opening = (graph ? this.openAdapterGradients(graph, runner) : GradientSession.open(this.folder.onnxPath, this.options.cacheDir ?? DEFAULT_SETTINGS.cacheDir, runner, this.padId)).catch((err: Error) => {
        if (err instanceof UnsupportedOperatorError || err instanceof GradientGraphError) throw invalid(`explanations are not available for this model: ${err.message}`, "explain_kwargs");
        if (holder.gradients === opening) holder.gradients = undefined; // not the model's fault: try again next time
        throw err;
      });
      holder.gradients = opening;
    }
    return holder.gradients;
  }

  /** The adapter-capable graph's gradient graph: targets the encoder outputs heads read, plus head outputs the base graph has. */
  private openAdapterGradients(graph: AdapterGraph, runner: Omit<RunnerOptions, "modelPath">): Promise<GradientSession> {
    const outputs = graph.runner.outputNames;
    const targets = ["last_hidden_state", "pooler_output", ...HEAD_OUTPUT_NAMES].filter((name) => outputs.includes(name));
    if (!targets.includes("last_hidden_state")) return Promise.reject(new GradientGraphError("the adapter graph has no last_hidden_state output"));
    return GradientSession.open(join(graph.dir, ADAPTER_GRAPH_FILE), this.options.cacheDir ?? DEFAULT_SETTINGS.cacheDir, runner, this.padId, targets);
  }

  /** The graph a choice runs on: the current one, or (for an adapter an update removed) the newest kept graph that has it. */
  private graphFor(choice: AdapterChoice | undefined): AdapterGraph {
    const current = this.current!;
    const has = (g: AdapterGraph) => !choice || choice.names.every((n) => g.adapters.names.includes(n));
    if (has(current)) return current;
    const kept = [...this.retired].reverse().find(has);
    if (kept) return kept;
    throw invalid(`unknown adapter ${choice!.names.filter((n) => !current.adapters.names.includes(n)).join(", ")}; this model serves ${current.adapters.names.join(", ")}`, "adapter_name");
  }

  private graphOf(generation: number | undefined): AdapterGraph {
    const graph = [this.current, ...this.retired].find((g) => g?.generation === generation);
    if (!graph) throw new Error(`adapter graph ${generation} is gone`);
    return graph;
  }

  /** Runs `work` with these graphs kept (a replaced graph closes only once nothing runs on it). */
  private async onGraphs<T>(graphs: readonly (AdapterGraph | undefined)[], work: () => Promise<T>): Promise<T> {
    const held = [...new Set(graphs)].filter((g): g is AdapterGraph => g !== undefined);
    held.forEach((g) => g.pending++);
    try {
      return await work();
    } finally {
      held.forEach((g) => g.pending--);
      this.reapRetired();
    }
  }

  /** Closes replaced adapter graphs nothing runs on any more, once their grace period is over. */
  private reapRetired(): void {
    const now = performance.now();
    const done = this.retired.filter((g) => g.pending === 0 && now - (g.retiredAt ?? now) >= RETIRED_GRAPH_GRACE_MS);
    if (!done.length) return;
    this.retired = this.retired.filter((g) => !done.includes(g));
    for (const g of done) void closeAdapterGraph(g);
  }

  /**
   * Replaces the served adapters (SPEC §10 update, issue #16): the new set is read and its graph built off the main
   * thread while requests run on the old one; then new requests use the new graph. Work already submitted, and
   * requests accepted for an adapter the new set lacks (for RETIRED_GRAPH_GRACE_MS), finish on the old graph, which
   * closes when nothing runs on it any more. Updates are applied one at a time; a failed one changes nothing.
   */
  private replaceAdapters(entries: readonly AdapterEntry[]): Promise<void> {
    const next = this.adapterUpdates.then(async () => {
      const old = this.current;
      if (!old) throw invalid("this model was loaded without adapters; only a model whose models-file entry lists adapters can replace them", "adapters");
      let graph: AdapterGraph;
      try {
        graph = await openAdapterGraph(this.folder, this.settings, this.device, entries, old.generation + 1, ModelRuntime.openRunner);
      } catch (err) {
        if (err instanceof AdapterError || (err as NodeJS.ErrnoException).code === "ENOENT") throw invalid(`cannot load the adapters: ${(err as Error).message}`, "adapters");
        throw err;
      }
      const tasks = adapterCapabilities(this.folder, graph).tasks;
      this.current = graph;
      this.runners.delete(join(old.dir, ADAPTER_GRAPH_FILE));
      this.runners.set(join(graph.dir, ADAPTER_GRAPH_FILE), graph.runner);
      if (this.runner === old.runner) this.runner = graph.runner;
      this.capabilities.tasks.splice(0, this.capabilities.tasks.length, ...tasks);
      this.settings.adapters = entries.map((e) => ({ ...e }));
      old.retiredAt = performance.now();
      this.retired.push(old);
      setTimeout(() => this.reapRetired(), RETIRED_GRAPH_GRACE_MS + 50).unref();
    });
    this.adapterUpdates = next.catch(() => undefined);
    return next;
  }

  /** Every batch holds one kind of work (the batch key starts with the kind), so the first item names it. */
  private async runBatch(work: BatchWork[]): Promise<{ outputs: Record<string, NdArray>[]; runMs: number }> {
    const kind = work[0].kind;
    switch (kind) {
      case "forward": return this.runForward(work as Extract<BatchWork, { kind: "forward" }>[]);
      case "gradient": return this.runGradient(work as Extract<BatchWork, { kind: "gradient" }>[]);
      case "encode-prompts":
      case "generate":
        if (!this.generation) throw new Error(`${kind} work for a model that does not generate`);
        return this.generation.runBatch(work);
      default: throw new Error(`unknown kind of batch work: ${kind satisfies never}`);
    }
  }

  private async runGradient(work: Extract<BatchWork, { kind: "gradient" }>[]): Promise<{ outputs: Record<string, NdArray>[]; runMs: number }> {
    const rows = work.map((w) => w.row);
    if (!this.current) return (await this.gradientSession()).runRows(rows);
    const graph = this.graphOf(work[0].graph);
    const session = await this.gradientSession(graph);
    const adapters = graph.adapters;
    const n = adapters.names.length;
    const weights = new Float32Array(work.length * n);
    work.forEach((w, b) => adapters.row(w.adapter, weights, b * n));
    return session.runRows(rows, { feeds: { [ADAPTER_WEIGHTS_INPUT]: { dtype: "float32", shape: [work.length, n], data: weights } }, forwardValues: work[0].forwardValues });
  }

  private async runForward(work: Extract<BatchWork, { kind: "forward" }>[]): Promise<{ outputs: Record<string, NdArray>[]; runMs: number }> {
    if (this.current) return runAdapterForward(work, this.graphOf(work[0].graph), { inputNames: this.capabilities.inputNames, padId: this.padId, sequenceDim: this.capabilities.sequenceDim });
    const sequences = work.map((w) => w.sequence);
    const feeds = buildFeeds(sequences, this.capabilities.inputNames, this.padId);
    const { outputs, runMs } = await this.runner.run(feeds, work[0].outputNames);
    const lengths = sequences.map((s) => s.ids.length);
    return { outputs: splitOutputs(outputs, this.runner.outputs, this.capabilities.sequenceDim, lengths), runMs };
  }

  /** Padded tokens a batch may hold: the model's max_batch_tokens, or the default for its device and kind. */
  get batchTokens(): number {
    return batchTokenBudget(this.settings, { cpu: this.runner.provider === "cpu", generative: this.generation !== undefined });
  }

  private batcherSettings(): BatcherSettings {
    const s = this.settings;
    // Generation rows come back for their next step as soon as their results are delivered: wait for the whole delivery so they batch together again.
    return { maxItems: s.batch_size, maxTokens: this.batchTokens, maxWaitMs: s.batch_wait_ms, parallel: s.workers, backgroundAgingMs: BACKGROUND_AGING_MS, holdWhileDelivering: this.generation !== undefined };
  }

  /** Applies a settings change; moving between GPU and CPU reopens the sessions. */
  async apply(given: Partial<ModelSettings>): Promise<void> {
    const { adapters, ...update } = given;
    // First: an adapter set that cannot be loaded (a 422) leaves every setting as it was.
    if (adapters) await this.replaceAdapters(adapters);
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
    await this.adapterUpdates;
    const gradients = await this.plain.gradients?.catch(() => undefined);
    await Promise.all([...[...this.runners.values()].map((r) => r.close()), gradients?.close()]);
    const graphs = [this.current, ...this.retired].filter((g): g is AdapterGraph => g !== undefined);
    this.retired = [];
    await Promise.all(graphs.map((g) => closeAdapterGraph(g, g === this.current)));
  }
}
