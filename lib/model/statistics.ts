/** ModelStatistics (SPEC §10), in the original's field names plus replicas and tasks. */
import type { ModelRuntime } from "./runtime.ts";

export interface ReplicaInfo {
  node: string;
  device: string;
  state: "ready" | "loading" | "draining";
  batch_size: number;
  /** Entries waiting or in flight in the model's shared queue. */
  queue_depth: number;
  /** Tasks this replica is running now, and has finished since it started. */
  running: number;
  completed: number;
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
    preloaded_adapters: false,
    transformers_cache: "",
    model_path: runtime.folder.onnxPath,
    decoder_path: "",
    onnx_use_quantized: s.onnx_use_quantized,
    is_encoder_decoder: runtime.folder.config.is_encoder_decoder === true,
    tasks: runtime.capabilities.tasks,
    replicas,
  };
}
