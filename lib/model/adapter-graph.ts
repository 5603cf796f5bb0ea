/**
 * A model's adapter-capable graph (SPEC §9, issue #16): reading the served adapters and building their
 * graph off the main thread (lib/onnx/adapters, through adapters.ts), the tasks it serves, and a forward
 * batch on it with each row's adapter_weights and adapter head. ModelRuntime keeps the current graph and
 * those an update replaced.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import type { ModelFolder } from "./model-folder.ts";
import type { BatchWork } from "./batch-work.ts";
import type { GradientSession } from "./gradient-session.ts";
import { capabilitiesOf, type Capabilities } from "../inference/capabilities.ts";
import type { InferenceBackend } from "../inference/backend.ts";
import { HEAD_TASKS } from "../inference/adapters.ts";
import type { AdapterEntry, ModelSettings } from "../config/model-settings.ts";
import type { Device } from "../onnx/device.ts";
import { ADAPTER_WEIGHTS_INPUT } from "../onnx/adapters/index.ts";
import { AdapterError } from "../adapters/index.ts";
import { buildFeeds, splitOutputs } from "../batching/pad.ts";
import type { NdArray } from "../tensor.ts";
import { AdapterSet, applyHead, buildAdapterGraphOffThread, headInputs, loadServedAdapters } from "./adapters.ts";

/** Opens an ONNX Runtime runner on a graph file with the model's settings (ModelRuntime's). */
export type OpenRunner = (modelPath: string, settings: ModelSettings, device: Device, extraOutputs: boolean) => Promise<InferenceBackend>;

/** What a forward batch needs of the model besides the graph. */
export interface BatchShape {
  inputNames: readonly string[];
  padId: number;
  sequenceDim: string | number | undefined;
}

/** Outputs an adapter's prediction head provides (lib/model/adapters.ts applyHead). */
export const HEAD_OUTPUT_NAMES: ReadonlySet<string> = new Set(["logits", "start_logits", "end_logits"]);

/** The adapter-capable graph's file in the model's temporary folder. */
export const ADAPTER_GRAPH_FILE = "model-adapters.onnx";

/**
 * How long a graph an update replaced stays open for requests accepted for its adapters (between a request's
 * validation and its forward passes), at least; it closes once nothing runs on it any more.
 */
export const RETIRED_GRAPH_GRACE_MS = 15_000;

/** An adapter-capable graph with what belongs to it; an update replaces it as a whole (ModelRuntime.replaceAdapters). */
export interface AdapterGraph {
  /** Batch work names its graph by this number (rows of different graphs never share a batch). */
  generation: number;
  adapters: AdapterSet;
  runner: InferenceBackend;
  /** Temporary folder of the graph file (removed when the graph closes). */
  dir: string;
  gradients?: Promise<GradientSession>;
  /** Submissions running on it. */
  pending: number;
  /** When an update replaced it (performance.now()). */
  retiredAt?: number;
}

/** Closes a graph's sessions (its runner unless `runnerClosed`) and removes its folder. */
export async function closeAdapterGraph(graph: AdapterGraph, runnerClosed = false): Promise<void> {
  const gradients = await graph.gradients?.catch(() => undefined);
  await Promise.all([runnerClosed ? undefined : graph.runner.close(), gradients?.close()]).catch(() => undefined);
  await rm(graph.dir, { recursive: true, force: true });
}

/** An adapter folder of an `update` (relative to the folder holding the model's folder) or of the models file (absolute). */
export function resolveAdapterPath(modelPath: string, path: string): string {
  return isAbsolute(path) ? path : resolve(dirname(modelPath), path);
}


/**
 * Reads the adapter folders (paths relative to the folder holding the model's folder, as an `update` gives them, or
 * absolute) and builds their adapter-capable graph in a worker thread into a temporary folder, then opens it.
 */
export async function openAdapterGraph(folder: ModelFolder, settings: ModelSettings, device: Device, entries: readonly AdapterEntry[], generation: number, openRunner: OpenRunner): Promise<AdapterGraph> {
  const hiddenSize = typeof folder.config.hidden_size === "number" ? folder.config.hidden_size : undefined;
  const served = await loadServedAdapters(entries.map((e) => ({ name: e.name, path: resolveAdapterPath(settings.path, e.path) })), hiddenSize);
  const dir = await mkdtemp(join(tmpdir(), "square-adapter-graph-"));
  let opened: InferenceBackend | undefined;
  try {
    const graphPath = join(dir, ADAPTER_GRAPH_FILE);
    await buildAdapterGraphOffThread(folder.onnxPath, graphPath, served);
    const runner = (opened = await openRunner(graphPath, settings, device, false));
    for (const a of served) {
      const missing = a.loaded.head ? headInputs(a.loaded.head).filter((o) => !runner.outputNames.includes(o)) : [];
      if (missing.length) throw new AdapterError(`adapter ${a.name}: its ${a.loaded.head!.type} head reads ${missing.join(", ")}, which ${folder.onnxPath} does not output (export the base model with its hidden states)`);
    }
    return { generation, adapters: new AdapterSet(served), runner, dir, pending: 0 };
  } catch (err) {
    await opened?.close();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}


/** The base model's tasks on the adapter graph, and those the adapters' heads serve. */
export function adapterCapabilities(folder: ModelFolder, graph: AdapterGraph): Capabilities {
  const inputs = graph.runner.inputs.filter((i) => i.name !== ADAPTER_WEIGHTS_INPUT);
  const capabilities = capabilitiesOf(folder.config, inputs, graph.runner.outputs, false);
  for (const a of graph.adapters.adapters) {
    const task = a.loaded.head ? HEAD_TASKS[a.loaded.head.type] : undefined;
    if (task && !capabilities.tasks.includes(task)) capabilities.tasks.push(task);
  }
  return capabilities;
}


/**
 * The adapter-capable graph: each row's adapter_weights from its choice (zeros: the base model); outputs a
 * head provides (logits, start/end logits) are computed from the row's encoder outputs by its adapter's head.
 */
export async function runAdapterForward(work: Extract<BatchWork, { kind: "forward" }>[], graph: AdapterGraph, batch: BatchShape): Promise<{ outputs: Record<string, NdArray>[]; runMs: number }> {
  const { adapters, runner } = graph;
  const sequences = work.map((w) => w.sequence);
  const feeds = buildFeeds(sequences, batch.inputNames, batch.padId);
  const n = adapters.names.length;
  const weights = new Float32Array(work.length * n);
  work.forEach((w, b) => adapters.row(w.adapter, weights, b * n));
  feeds[ADAPTER_WEIGHTS_INPUT] = { dtype: "float32", shape: [work.length, n], data: weights };
  const graphOutputs = new Set(runner.outputNames);
  const wanted = work[0].outputNames;
  const heads = work.map((w) => (w.adapter ? adapters.headOf(w.adapter) : undefined));
  // Head outputs asked for: rows with an adapter head get its outputs (replacing the graph's own, if it has them).
  const headOutputs = wanted?.filter((name) => HEAD_OUTPUT_NAMES.has(name)) ?? [];
  const useHeads = headOutputs.length > 0 && heads.some((h) => h);
  if (headOutputs.some((name) => !graphOutputs.has(name)) && heads.some((h) => !h)) throw new Error(`outputs ${headOutputs.join(", ")} need an adapter head for every row (validation prevents this)`);
  const runNames = wanted ? [...new Set([...wanted.filter((name) => graphOutputs.has(name)), ...(useHeads ? heads.flatMap((h) => (h ? headInputs(h) : [])) : [])])] : undefined;
  const { outputs, runMs } = await runner.run(feeds, runNames);
  const lengths = sequences.map((s) => s.ids.length);
  const items = splitOutputs(outputs, runner.outputs, batch.sequenceDim, lengths);
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

