/**
 * The kinds of work a replica's one batcher carries. Each kind has its own batch keys, so a
 * batch never mixes kinds and the runtime dispatches a batch on its first item's kind. A new
 * kind (e.g. a decode step with a KV cache) is a new member here and a case in runtime.runBatch.
 */
import type { Encoded } from "../tokenization/encoded.ts";
import type { GradientRow } from "../inference/gradients.ts";

export type BatchWork =
  /** A plain forward pass of one sequence for the named outputs (all when absent). */
  | { kind: "forward"; sequence: Encoded; outputNames?: string[] }
  /** A forward+backward pass of one explanation row on the gradient model. */
  | { kind: "gradient"; row: GradientRow };

/** Items with different keys never share a batch: the kind, then what the kind's runs must agree on. */
export function batchKey(work: BatchWork): string {
  switch (work.kind) {
    case "forward": return `forward:${work.outputNames ? [...work.outputNames].sort().join(",") : "*"}`;
    case "gradient": return `gradient:${work.row.wants}`;
  }
}
