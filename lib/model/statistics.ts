/** ModelStatistics (SPEC §10), in the original's field names plus replicas and tasks. */
import type { ModelRuntime } from "./runtime.ts";

export interface ReplicaInfo {
  node: string;
  device: string;
  /** A replica registers only once loaded and warmed up, so it is ready until it starts draining. */
  state: "ready" | "draining";
  batch_size: number;
  /** Entries waiting or in flight in the model's shared queue. */
  queue_depth: number;
  /** Tasks this replica is running now, and has finished since it started. */
  running: number;
  completed: number;
  batching: BatchingInfo;
}

/** Cross-request batching on this replica since it started. */
export interface BatchingInfo {
  batches: number;
  mean_batch_items: number;
  /** Real tokens / padded tokens over all batches (1 = no padding). */
  padding_efficiency: number;
  waiting_items: number;
  running_batches: number;
  /** The padded-token budget per batch in force (max_batch_tokens, or its default for the device). */
  max_batch_tokens: number;
}

export function batchingInfo(runtime: ModelRuntime): BatchingInfo {
  const { stats } = runtime.batcher;
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return {
    batches: stats.batches,
    mean_batch_items: stats.batches ? round(stats.items / stats.batches) : 0,
    padding_efficiency: stats.paddedTokens ? round(stats.tokens / stats.paddedTokens) : 1,
    waiting_items: runtime.batcher.waitingItems,
    running_batches: runtime.batcher.runningBatches,
    max_batch_tokens: runtime.batchTokens,
  };
}

export function modelStatistics(runtime: ModelRuntime, replicas: ReplicaInfo[]): Record<string, unknown> {
  const s = runtime.settings;
  return {
    model_type: "onnx",
    model_name: s.id,
    batch_size: s.batch_size,
    max_input: s.max_input,
    model_class: (runtime.folder.config.architectures ?? [])[0] ?? "",
    disable_gpu: s.disable_gpu,
    return_plaintext_arrays: s.return_plaintext_arrays,
    preloaded_adapters: runtime.adapters !== undefined,
    adapters: runtime.adapters ? [...runtime.adapters.names] : [],
    transformers_cache: "",
    model_path: runtime.folder.onnxPath,
    decoder_path: runtime.generation?.layout.cached.path ?? "",
    onnx_use_quantized: s.onnx_use_quantized,
    is_encoder_decoder: runtime.folder.config.is_encoder_decoder === true,
    tasks: runtime.capabilities.tasks,
    replicas,
  };
}
