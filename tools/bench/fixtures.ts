/**
 * The benchmark's models: BERT-shaped sequence classifiers from the fixture generator, a tiny
 * one and a MiniLM-sized one (6 layers, hidden 384, 12 heads, vocabulary 30522), written once
 * into `.cache/bench` (deterministic, so a cached copy is identical to a fresh one).
 */
import { access } from "node:fs/promises";
import { join, resolve } from "node:path";
import { SIZES, writeFixture, FixtureSpec } from "../../lib/fixtures/index.ts";

export const BENCH_DIR = resolve(process.env.SQUARE_BENCH_DIR ?? ".cache/bench");

export const BENCH_MODELS = {
  tiny: { name: "bench-tiny-sst", family: "bert", head: "sequence-classification", size: SIZES.tiny, labels: ["negative", "positive"] },
  minilm: { name: "bench-minilm-sst", family: "bert", head: "sequence-classification", size: SIZES.minilm, labels: ["negative", "positive"] },
} as const satisfies Record<string, FixtureSpec>;

export type BenchModelKey = keyof typeof BENCH_MODELS;

export const isBenchModel = (key: string): key is BenchModelKey => key in BENCH_MODELS;

/** The model's folder, built if missing. */
export async function benchModelDir(key: BenchModelKey, log: (msg: string) => void): Promise<string> {
  const spec = BENCH_MODELS[key];
  const dir = join(BENCH_DIR, spec.name);
  const built = await access(join(dir, "model.onnx")).then(() => true, () => false);
  if (!built) {
    const started = performance.now();
    await writeFixture(BENCH_DIR, spec);
    log(`built ${spec.name} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
  return dir;
}
