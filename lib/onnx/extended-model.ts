/**
 * The "extended" variant of a model file: the same graph plus `attentions.*` / `hidden_states.*`
 * outputs added by graph surgery (./graph-surgery.ts). The server keeps the original graph for
 * plain requests and opens this variant lazily, only for requests that ask for these outputs
 * (see session-worker.ts).
 *
 * Why lazily: exposing intermediates can block ONNX Runtime fusions (attention, LayerNorm). Measured
 * on CPU (ORT "all" optimisations, 1 thread, 6-layer 384-wide BERT, batch 8 × 64 tokens, median of
 * 21 interleaved runs on a shared machine): plain graph 79.8 ms, extended graph asked only for the
 * plain outputs 80.0 ms (fused LayerNormalization) and 76.5 vs 80.1 ms (decomposed LayerNorm):
 * no difference beyond noise on CPU. Asking for all extra outputs costs 87–109 ms (copying them out).
 * The lazy variant still keeps plain traffic on the untouched graph (GPU fusions, and no risk from
 * surgery), at the price of ~0.3–0.5 s surgery plus ~0.5 s session creation for that model on the
 * first request with extra outputs, and a second session's memory once one was made.
 */
import { readFile } from "node:fs/promises";
import { decodeModel, encodeModel, valueInfoDims, DataType } from "./graph-io.ts";
import { analyseExtraOutputs, addExtraOutputs, extraOutputInfos, hasExtraOutputs } from "./graph-surgery.ts";
import type { IoInfo } from "./session.ts";

export interface ExtraOutputsPlan {
  /** Outputs the extended variant adds; empty when none can be added. */
  outputs: IoInfo[];
  /** Why nothing can be added, when `outputs` is empty. */
  unavailable?: string;
}

const ELEMENT_TYPES: Record<number, string> = { [DataType.FLOAT]: "float32", [DataType.FLOAT16]: "float16", [DataType.DOUBLE]: "float64" };

/** What surgery would add to the model at `path`, without building the variant. */
export async function planExtraOutputs(path: string): Promise<ExtraOutputsPlan> {
  const model = decodeModel(await readFile(path));
  if (hasExtraOutputs(model)) return { outputs: [], unavailable: "the export already has its own attention or hidden-state outputs" };
  const analysis = analyseExtraOutputs(model);
  if (!analysis.ok) return { outputs: [], unavailable: `the graph structure was not recognised (${analysis.reason})` };
  const outputs = extraOutputInfos(model, analysis.plan).map((info) => ({
    name: info.name,
    type: ELEMENT_TYPES[info.type?.tensorType?.elemType ?? 0] ?? "unknown",
    shape: (valueInfoDims(info) ?? []).map((d) => d ?? -1),
  }));
  return { outputs };
}

/** The bytes of the extended variant of the model at `path`. */
export async function buildExtendedModel(path: string): Promise<Uint8Array> {
  const model = decodeModel(await readFile(path));
  const analysis = analyseExtraOutputs(model);
  if (!analysis.ok) throw new Error(`cannot add attention/hidden-state outputs: ${analysis.reason}`);
  return encodeModel(addExtraOutputs(model, analysis.plan));
}
