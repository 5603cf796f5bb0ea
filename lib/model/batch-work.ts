/**
 * The kinds of work a replica's one batcher carries. Each kind has its own batch keys, so a
 * batch never mixes kinds and the runtime dispatches a batch on its first item's kind. A new
 * kind is a new member here and a case in runtime.runBatch.
 */
import type { Encoded } from "../tokenization/encoded.ts";
import type { GradientRow } from "../inference/gradients.ts";
import type { StepItem } from "./kv-cache.ts";
import type { AdapterChoice } from "../inference/adapters.ts";

export type BatchWork =
  /**
   * A plain forward pass of one sequence for the named outputs (all when absent), with the adapter choice of its
   * request (SPEC §9; the base model when absent), on adapter graph `graph`. Choices do not split batches: the adapter bank mixes per row,
   * and a mixed batch equals separate runs (test/unit/adapter-graph.test.ts).
   */
  | { kind: "forward"; sequence: Encoded; outputNames?: string[]; adapter?: AdapterChoice; graph?: number }
  /**
   * A forward+backward pass of one explanation row on the gradient model; on an adapter model with the row's
   * adapter choice (its adapter_weights). `forwardValues`: a pass giving these targets' forward values instead
   * (an adapter head's input at the row's point, for its cotangent).
   */
  | { kind: "gradient"; row: GradientRow; adapter?: AdapterChoice; forwardValues?: string[]; graph?: number }
  /** An encoder-decoder model's encoder over one prompt (right-padded with the others of its batch). */
  | { kind: "encode-prompts"; ids: readonly number[] }
  /**
   * One generation step of one row (lib/model/generation-engine.ts). `group` is what rows of a
   * batch must agree on for the padded feeds to be right: the phase (first step or cached) and,
   * where the graph cannot pad, equal lengths.
   */
  | { kind: "generate"; group: string; item: StepItem };

/** An adapter model's graph (an update replaces it; work on the old and the new one never shares a batch). */
const graphSuffix = (graph: number | undefined) => (graph === undefined ? "" : `@${graph}`);

/** Items with different keys never share a batch: the kind, then what the kind's runs must agree on. */
export function batchKey(work: BatchWork): string {
  switch (work.kind) {
    case "forward": return `forward:${work.outputNames ? [...work.outputNames].sort().join(",") : "*"}${graphSuffix(work.graph)}`;
    case "gradient": return (work.forwardValues ? `gradient:values:${work.forwardValues.join(",")}` : `gradient:${work.row.wants}`) + graphSuffix(work.graph);
    case "encode-prompts": return "encode-prompts";
    case "generate": return `generate:${work.group}`;
  }
}
