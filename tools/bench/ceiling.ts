/**
 * The ceiling: ONNX Runtime `session.run` on pre-tokenized batches, nothing else (no HTTP, no
 * tokenization, no queue). Sweeps batch sizes and reports items/s for each; the best is the
 * number the server is compared with. Runs on this process's main thread, which is fine here:
 * nothing else is running while it does.
 */
import { openSession, runSession, LoadedSession } from "../../lib/onnx/session.ts";
import type { NdArray } from "../../lib/tensor.ts";
import type { Encoded } from "../../lib/tokenization/tokenizer.ts";
import { join } from "node:path";
import { percentile, round } from "./stats.ts";

export interface CeilingPoint {
  batch_size: number;
  items_per_s: number;
  runs: number;
  /** One run's wall time (a whole batch), ms. */
  run_p50_ms: number;
}

export interface CeilingResult {
  intra_op_threads: number;
  points: CeilingPoint[];
  best: CeilingPoint;
  /** Batch of one: p50 of a single run, the latency floor for a lone request. */
  batch1_p50_ms: number;
}

/** Pads a batch of encodings to its longest member, as the server's batcher does. */
export function batchFeeds(items: readonly Encoded[], inputNames: readonly string[]): Record<string, NdArray> {
  const longest = Math.max(...items.map((e) => e.ids.length));
  const shape = [items.length, longest];
  const make = (pick: (e: Encoded) => number[]) => {
    const data = new BigInt64Array(items.length * longest);
    items.forEach((e, row) => pick(e).forEach((v, col) => (data[row * longest + col] = BigInt(v))));
    return { dtype: "int64" as const, shape, data };
  };
  const all: Record<string, NdArray> = { input_ids: make((e) => e.ids), attention_mask: make((e) => e.attentionMask), token_type_ids: make((e) => e.typeIds) };
  return Object.fromEntries(inputNames.map((name) => [name, all[name]]));
}

async function measure(session: LoadedSession, encoded: readonly Encoded[], batchSize: number, seconds: number, minRuns: number): Promise<CeilingPoint> {
  const names = session.inputs.map((i) => i.name);
  // Distinct batches cycled in order, built before timing starts.
  const batches = Array.from({ length: Math.max(1, Math.floor(encoded.length / batchSize)) }, (_, b) =>
    batchFeeds(Array.from({ length: batchSize }, (_, i) => encoded[(b * batchSize + i) % encoded.length]), names),
  );
  await runSession(session, batches[0]); // warm-up: first-run allocations
  const times: number[] = [];
  const started = performance.now();
  while (times.length < minRuns || performance.now() - started < seconds * 1000) {
    const t0 = performance.now();
    await runSession(session, batches[times.length % batches.length]);
    times.push(performance.now() - t0);
  }
  const elapsed = (performance.now() - started) / 1000;
  return { batch_size: batchSize, items_per_s: round((times.length * batchSize) / elapsed, 1), runs: times.length, run_p50_ms: round(percentile(times, 50), 3) };
}

export async function measureCeiling(
  modelDir: string,
  encoded: readonly Encoded[],
  options: { batchSizes: readonly number[]; secondsPerPoint: number; intraOpThreads: number },
  log: (msg: string) => void,
): Promise<CeilingResult> {
  const session = await openSession({ modelPath: join(modelDir, "model.onnx"), providers: ["cpu"], intraOpThreads: options.intraOpThreads });
  try {
    const points: CeilingPoint[] = [];
    const single = await measure(session, encoded, 1, options.secondsPerPoint, 20);
    points.push(single);
    for (const b of options.batchSizes.filter((b) => b !== 1)) {
      points.push(await measure(session, encoded, b, options.secondsPerPoint, 2));
      log(`  ceiling batch ${b}: ${points[points.length - 1].items_per_s} items/s`);
    }
    const best = points.reduce((a, b) => (b.items_per_s > a.items_per_s ? b : a));
    return { intra_op_threads: options.intraOpThreads, points: points.sort((a, b) => a.batch_size - b.batch_size), best, batch1_p50_ms: single.run_p50_ms };
  } finally {
    await session.session.release();
  }
}
