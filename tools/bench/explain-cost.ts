/**
 * Issue #6's cost of each explanation method relative to a plain forward pass, in-process on
 * the server's own runtime (same batcher, same ONNX Runtime worker settings): for a fixed set of
 * items, the median wall time of `forward` and of each method's passes (gradient graph runs,
 * batched as the server batches them, plus the JS word scoring), after the gradient graph is
 * built and warm. Targets: simple_grads ≤ 3 ×, integrated_grads (10 steps) ≤ 12 ×.
 */
import { ModelRuntime } from "../../lib/model/runtime.ts";
import { withModelDefaults, MODEL_DEFAULTS } from "../../lib/config/model-settings.ts";
import { explainTargets, type ExplainTarget } from "../../lib/explain/explain.ts";
import { explainOptions, EXPLAIN_METHODS } from "../../lib/explain/options.ts";
import { sliceWordText } from "../../lib/explain/words.ts";
import { benchModelDir } from "./fixtures.ts";
import { benchInputs } from "./inputs.ts";
import { medianMs as medianOf, round } from "./stats.ts";
import type { BenchSuite, SuiteContext } from "./suite.ts";
import type { TargetCheck } from "./report.ts";

const ITEMS = 4;
const REPEATS = 5;
const TARGETS: Record<string, number> = { simple_grads: 3, integrated_grads: 12 };


async function measure(ctx: SuiteContext, length: number) {
  const dir = await benchModelDir("minilm", ctx.log);
  const settings = { ...MODEL_DEFAULTS, ...ctx.options.serverSettings };
  const runtime = await ModelRuntime.load(withModelDefaults({ ...settings, id: "bench-minilm-sst", path: dir }), { kind: "cpu", id: 0 });
  try {
    const inputs = await benchInputs(dir, length, ITEMS);
    const sequences = inputs.encoded.slice(0, ITEMS);
    const forwardMs = await medianOf(() => runtime.forward(sequences, ["logits"]), REPEATS);
    const { items } = await runtime.forward(sequences, ["logits"]);
    const targets: ExplainTarget[] = sequences.map((sequence, i) => {
      const logits = Array.from(items[i].logits.data as Float32Array);
      const cotangent = new Float32Array(logits.length);
      cotangent[logits.indexOf(Math.max(...logits))] = 1;
      return { sequence, cotangents: { logits: cotangent }, wordText: sliceWordText(sequence, [inputs.texts[i]]) };
    });
    const t0 = performance.now();
    const backend = await runtime.gradientBackend();
    ctx.log(`explain cost, ${length} tokens: gradient graph ready in ${(performance.now() - t0).toFixed(0)} ms`);
    const rows: { method: string; ms: number; ratio: number }[] = [];
    for (const method of EXPLAIN_METHODS) {
      const options = explainOptions({ method, steps: 10, samples: 10, seed: 1 })!;
      const ms = await medianOf(() => explainTargets(targets, options, backend), REPEATS);
      rows.push({ method, ms: round(ms, 1), ratio: round(ms / forwardMs, 2) });
    }
    return { length, forwardMs: round(forwardMs, 1), rows };
  } finally {
    await runtime.close();
  }
}

export const explainCostSuite: BenchSuite = {
  name: "explain_cost",
  async run(ctx) {
    if (!ctx.options.models.includes("minilm")) return { sections: [], targets: [], data: [] };
    const results = [];
    for (const length of ctx.options.lengths) results.push(await measure(ctx, length));
    const targets: TargetCheck[] = results.flatMap((r) =>
      r.rows.filter((row) => TARGETS[row.method]).map((row) => ({
        name: `${row.method}${row.method === "integrated_grads" ? " (10 steps)" : ""} / forward, bench-minilm-sst, ${r.length} tokens`,
        value: row.ratio,
        target: `≤ ${TARGETS[row.method]} ×`,
        met: row.ratio <= TARGETS[row.method],
      })),
    );
    return {
      sections: [
        {
          id: "explain_cost",
          title: "Explanation cost relative to a forward pass (issue #6)",
          columns: ["model", "tokens", "method", "ms", "× forward"],
          rows: results.flatMap((r) => [["bench-minilm-sst", r.length, "forward (logits)", r.forwardMs, 1], ...r.rows.map((row) => ["bench-minilm-sst", r.length, row.method, row.ms, row.ratio])]),
          notes: [
            `${ITEMS} items per request, median of ${REPEATS} runs after a warm-up; the gradient graph is built before timing (cached on disk by model hash)`,
            "integrated_grads: 10 path points, smooth_grads: 10 samples, all passes of all items batched; attention methods run one gradient pass",
          ],
        },
      ],
      targets,
      data: results,
    };
  },
};
