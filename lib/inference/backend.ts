/**
 * The narrow interface between the server and an inference engine: forward a batch of feeds for
 * named outputs, and describe the graph's inputs and outputs. lib/onnx implements it on ONNX
 * Runtime (OnnxRunner); a second engine implements these few members and nothing else changes.
 */
import type { NdArray } from "../tensor.ts";

/** A graph input or output: its name, element type and dimensions (numbers, or symbolic names for dynamic ones). */
export interface TensorDescription {
  name: string;
  type: string;
  shape: (number | string)[];
}

export interface BackendRun {
  outputs: Record<string, NdArray>;
  /** Time the engine spent on the run itself. */
  runMs: number;
}

export interface InferenceBackend {
  readonly inputs: readonly TensorDescription[];
  readonly outputs: readonly TensorDescription[];
  /** Names of the outputs a run can ask for (graph outputs plus any the engine adds, e.g. attentions). */
  readonly outputNames: string[];
  /** The execution provider in use ("cpu", "cuda"), and why it is not the one asked for. */
  readonly provider: string;
  readonly warning?: string;
  /** Why attentions/hidden states cannot be offered, when they cannot. */
  readonly extraOutputsUnavailable?: string;
  /** One batched run; all outputs when `outputNames` is absent. */
  run(feeds: Record<string, NdArray>, outputNames?: string[]): Promise<BackendRun>;
  close(): Promise<void>;
}
