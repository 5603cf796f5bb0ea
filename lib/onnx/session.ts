/**
 * Opens and runs ONNX Runtime inference sessions. Only lib/onnx knows ONNX Runtime: this module
 * and, for the gradient builder's shape probe, gradients/shape-probe.ts; everything above sees
 * the InferenceBackend interface (lib/inference/backend.ts) that runner.ts implements. Used
 * inside worker threads (session-worker.ts): `session.run` blocks its thread for the whole run.
 */
import ort from "onnxruntime-node";
import { NdArray, DType, TypedData } from "../tensor.ts";
import { ProviderConfig } from "./device.ts";
import type { TensorDescription } from "../inference/backend.ts";

export interface SessionSettings {
  modelPath: string;
  providers: ProviderConfig[];
  intraOpThreads: number;
  /** Whether to plan attention/hidden-state outputs by graph surgery (not for derived graphs). */
  extraOutputs?: boolean;
}

/** A graph input or output as ONNX Runtime describes it, in the backend interface's own type. */
export type IoInfo = TensorDescription;

export interface LoadedSession {
  session: ort.InferenceSession;
  inputs: IoInfo[];
  outputs: IoInfo[];
  /** The provider actually in use (CUDA falls back to CPU when its library is absent). */
  provider: string;
  warning?: string;
}

/** Opens the model file, or `model` (the same model's bytes after graph surgery) when given. */
export async function openSession(settings: SessionSettings, model?: Uint8Array): Promise<LoadedSession> {
  // Spinning intra-op threads burn CPU between runs that the main thread (HTTP, tokenization)
  // needs when cores are few: measured +12-25 % server throughput at 16 tokens on 2 cores
  // without it (docs/benchmarks.md). SQUARE_ORT_SPINNING=1 turns it back on (many-core hosts).
  const spin = process.env.SQUARE_ORT_SPINNING === "1" ? "1" : "0";
  const base = { intraOpNumThreads: settings.intraOpThreads, interOpNumThreads: 1, graphOptimizationLevel: "all" as const, ...memoryOptions(), extra: { session: { intra_op: { allow_spinning: spin } } } };
  let session: ort.InferenceSession;
  let warning: string | undefined;
  const wantsGpu = settings.providers.some((p) => typeof p === "object");
  try {
    session = await create(settings.modelPath, model, { ...base, executionProviders: settings.providers as never });
  } catch (err) {
    if (!wantsGpu) throw err;
    warning = `CUDA execution provider unavailable (${(err as Error).message.split("\n")[0]}); running on CPU`;
    session = await create(settings.modelPath, model, { ...base, executionProviders: ["cpu"] });
  }
  return {
    session,
    inputs: session.inputMetadata.map(describe),
    outputs: session.outputMetadata.map(describe),
    provider: wantsGpu && !warning ? "cuda" : "cpu",
    warning,
  };
}

/**
 * ONNX Runtime's defaults (CPU memory arena and memory patterns on) unless SQUARE_ORT_MEM_ARENA /
 * SQUARE_ORT_MEM_PATTERN say 0 or 1: measurement knobs. Turning either off did not pay: without
 * the arena a MiniLM session kept more after a 32 × 128 batch (malloc keeps the freed activations
 * in its per-thread arenas), docs/benchmarks.md "Density".
 */
function memoryOptions(): { enableCpuMemArena?: boolean; enableMemPattern?: boolean } {
  const flag = (name: string) => (process.env[name] === "1" ? true : process.env[name] === "0" ? false : undefined);
  const out: { enableCpuMemArena?: boolean; enableMemPattern?: boolean } = {};
  const arena = flag("SQUARE_ORT_MEM_ARENA");
  const pattern = flag("SQUARE_ORT_MEM_PATTERN");
  if (arena !== undefined) out.enableCpuMemArena = arena;
  if (pattern !== undefined) out.enableMemPattern = pattern;
  return out;
}

const create = (path: string, bytes: Uint8Array | undefined, options: ort.InferenceSession.SessionOptions) =>
  bytes ? ort.InferenceSession.create(bytes, options) : ort.InferenceSession.create(path, options);

function describe(m: ort.InferenceSession.ValueMetadata): IoInfo {
  return m.isTensor ? { name: m.name, type: m.type, shape: [...m.shape] } : { name: m.name, type: "non-tensor", shape: [] };
}

export async function runSession(
  loaded: LoadedSession,
  feeds: Record<string, NdArray>,
  outputNames?: readonly string[],
): Promise<Record<string, NdArray>> {
  const ortFeeds: Record<string, ort.Tensor> = {};
  for (const [name, a] of Object.entries(feeds)) ortFeeds[name] = new ort.Tensor(a.dtype, a.data, a.shape);
  const results = outputNames ? await loaded.session.run(ortFeeds, outputNames as string[]) : await loaded.session.run(ortFeeds);
  const out: Record<string, NdArray> = {};
  for (const [name, t] of Object.entries(results)) {
    out[name] = { dtype: t.type as DType, shape: [...t.dims], data: t.data as TypedData };
  }
  return out;
}
