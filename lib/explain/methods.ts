/**
 * The five SPEC §7 methods: each turns items (tokens + target) into one signed score per token.
 * All passes of all items of a request go to the backend in one call, so they are batched
 * (integrated_grads' path points and smooth_grads' samples included).
 */
import type { Encoded } from "../tokenization/tokenizer.ts";
import type { GradientBackend, GradientRow, GradientResult } from "../inference/gradients.ts";
import type { ExplainOptions } from "./options.ts";
import { rowDot, meanOf, firstTokenAttention, scaledFirstTokenAttention, scaledAllQueriesAttention } from "./token-scores.ts";
import { gaussianSource, withNoise } from "./noise.ts";

export interface ExplainItem {
  sequence: Encoded;
  /** Cotangents selecting the item's own target (predicted label, or best span). */
  cotangents: Record<string, Float32Array>;
  /**
   * Query rows scaled_attention reads: the first token's (classification), or all of them (QA,
   * whose target the first token's row does not reach).
   */
  attentionRows?: "first" | "all";
}

interface Plan {
  wants: GradientRow["wants"];
  /** Passes to run for one item, given its embeddings. */
  points(embeds: Float32Array): Float32Array[];
  /** Token scores from the item's embeddings and its passes' results. */
  scores(embeds: Float32Array, results: GradientResult[], tokens: number, backend: GradientBackend, item: ExplainItem): Float64Array;
}

function planFor(options: ExplainOptions): Plan {
  const single: Plan["points"] = (embeds) => [embeds];
  const averagedGradientDot: Plan["scores"] = (e, rs, t, b) => rowDot(meanOf(rs.map((r) => r.gradEmbeds!)), e, t, b.hidden);
  switch (options.method) {
    case "simple_grads":
      return { wants: "gradient", points: single, scores: (e, [r], t, b) => rowDot(r.gradEmbeds!, e, t, b.hidden) };
    case "integrated_grads":
      // Right Riemann sum over α = k/steps, k = 1..steps (the last point is the input itself).
      return {
        wants: "gradient",
        points: (e) => Array.from({ length: options.steps }, (_, k) => e.map((v) => (v * (k + 1)) / options.steps)),
        scores: averagedGradientDot,
      };
    case "smooth_grads": {
      const gaussian = gaussianSource(options.seed ?? (Math.random() * 2 ** 32) >>> 0);
      return {
        wants: "gradient",
        points: (e) => Array.from({ length: options.samples }, () => withNoise(e, options.noise, gaussian)),
        scores: averagedGradientDot,
      };
    }
    case "attention":
      return { wants: "attention", points: single, scores: (_e, [r], t) => firstTokenAttention(r.lastAttention!, headsOf(r, t), t) };
    case "scaled_attention":
      return {
        wants: "attention",
        points: single,
        scores: (_e, [r], t, _b, item) =>
          (item.attentionRows === "all" ? scaledAllQueriesAttention : scaledFirstTokenAttention)(r.lastAttention!, r.gradLastAttention!, headsOf(r, t), t),
      };
  }
}

/** Attention arrays are heads × tokens × tokens: the head count follows from their size. */
const headsOf = (r: GradientResult, tokens: number) => r.lastAttention!.length / (tokens * tokens);

/** One score per token for each item, by the method in `options`. */
export async function tokenScores(items: readonly ExplainItem[], options: ExplainOptions, backend: GradientBackend): Promise<Float64Array[]> {
  const plan = planFor(options);
  const embeds = items.map((it) => backend.embeddingRows(it.sequence.ids));
  const pointsPerItem = embeds.map((e) => plan.points(e));
  const rows: GradientRow[] = pointsPerItem.flatMap((points, i) => points.map((e) => ({ sequence: items[i].sequence, embeds: e, cotangents: items[i].cotangents, wants: plan.wants })));
  const results = await backend.run(rows);
  let next = 0;
  return items.map((it, i) => {
    const mine = results.slice(next, (next += pointsPerItem[i].length));
    return plan.scores(embeds[i], mine, it.sequence.ids.length, backend, it);
  });
}
