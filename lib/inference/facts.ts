import type { TaskName } from "../request/task-names.ts";
import type { SpecialTokenCounts } from "../tokenization/bounds.ts";
import type { GenerationArchitecture } from "./generation.ts";

/** What parsing a generation request needs to know of the model (lib/inference/generation.ts has the rest). */
export interface GenerationFacts {
  architecture: GenerationArchitecture;
  vocabSize: number;
  maxPositions: number;
  /** config.json's generation fields overlaid by generation_config.json: the model's defaults. */
  config: Readonly<Record<string, unknown>>;
}

/** What the gateway knows of a model without loading it (from service metadata). */
export interface ModelFacts {
  tasks: readonly TaskName[];
  embeddingModes: readonly string[];
  maxLength: number;
  outputNames: readonly string[];
  /** Why the graph cannot offer attentions/hidden states, when it cannot. */
  extraOutputsUnavailable?: string;
  /**
   * Special tokens the tokenizer adds to one text and to a pair, for range checks of max_length,
   * stride and the QA window options. Absent in metadata from replicas that predate it; the
   * tokenizer then refuses what the gateway could not check.
   */
  specialTokens?: SpecialTokenCounts;
  /** Generative models: what generation requests are parsed against (absent for encoders). */
  generation?: GenerationFacts;
  /** Readiness of each request add-on by name; an add-on not listed is `unknown`. */
  addOns?: Readonly<Record<string, AddOnReadiness>>;
}


/**
 * Whether a model can serve a request add-on (lib/addons), as its replicas announce it: `unknown`
 * until a replica has tried (explanations build a gradient graph, about a second, on first use),
 * then `ready` or `unavailable` with the reason a request gets as its 422.
 */
export type AddOnReadiness = { state: "unknown" } | { state: "ready" } | { state: "unavailable"; reason: string };
