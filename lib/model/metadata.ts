/**
 * What a model actor announces about itself in its Moleculer service metadata, so gateways and
 * other nodes validate and route without a round trip (SPEC §15).
 */
import type { ModelFacts } from "../inference/facts.ts";

export interface ModelMeta extends ModelFacts {
  id: string;
  maxInput: number;
  /** Queue bound (tasks) for backpressure. */
  maxQueue: number;
  vocabSize: number;
  device: string;
  /** The adapters the model serves (SPEC §9), by the names requests use. */
  adapters: string[];
  /** Per adapter: its head kind and what averaging compares (lib/model/adapters.ts); absent without adapters. */
  adapterInfo?: Record<string, { head: "classification" | "tagging" | "question_answering" | null; config: string; head_signature: string | null }>;
  /** Graph inputs (a model without token_type_ids refuses non-zero ones at the gateway). */
  inputNames: string[];
}

/** The Moleculer service name of a model's actor; the id keeps its `/` (SPEC §2 fix). */
export const modelServiceName = (id: string): string => `model.${id}`;
