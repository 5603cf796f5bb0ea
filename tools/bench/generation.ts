/**
 * `npm run bench:generation` (issue #13), on a GPT-2-shaped model of MiniLM-like size (6 layers,
 * hidden 384, 6 heads; fixture weights, small vocabulary), greedy decoding of 64 new tokens:
 *  1. In-process, on the server's runtime (its batcher and ONNX Runtime workers): new tokens per
 *     second with the KV cache against re-running the whole sequence every step without it (what
 *     SQuARE's ONNX path did); 16 prompts in one request against 16 requests one after another.
 *  2. Over HTTP (the compiled server): time to the first streamed token of a probe request while 8
 *     clients keep streaming generations; and an encoder model's plain requests (concurrency 8)
 *     alone and while 4 clients keep generating on the same node.
 * Prints tables; numbers go to docs/benchmarks.md by hand.
 */
import { access } from "node:fs/promises";
import { join } from "node:path";
import { ModelRuntime } from "../../lib/model/runtime.ts";
import { withModelDefaults, MODEL_DEFAULTS } from "../../lib/config/model-settings.ts";
import { writeGpt2Fixture } from "../../lib/fixtures/gpt2-fixture.ts";
import { createDecoding } from "../../lib/generation/decoding.ts";
import { parseGenerationOptions } from "../../lib/generation/options.ts";
import type { GenerationModel, GenerationRowResult } from "../../lib/inference/generation.ts";
import { BENCH_DIR, benchModelDir } from "./fixtures.ts";
import { benchInputs } from "./inputs.ts";
import { startServer } from "./processes.ts";
import { closedLoop, serverSender } from "./load.ts";
import { percentile, round } from "./stats.ts";

const NEW_TOKENS = 64;
const PROMPT = "John lives in Paris with Mary and they played in the garden today";
const log = (msg: string) => process.stderr.write(`${msg}\n`);

async function benchGpt2(): Promise<string> {
  const dir = join(BENCH_DIR, "bench-gpt2");
  if (!(await access(join(dir, "model.onnx")).then(() => true, () => false))) {
    await writeGpt2Fixture(dir, { size: { hiddenSize: 384, numLayers: 6, numHeads: 6, maxPositions: 256 } });
    log(`built ${dir}`);
  }
  return dir;
}

const greedy = (model: GenerationModel) => {
  const { options } = parseGenerationOptions({ task_kwargs: { max_new_tokens: NEW_TOKENS, min_new_tokens: NEW_TOKENS }, model_kwargs: {} }, { modelDefaults: { ...model.generationConfig }, vocabSize: model.vocabSize });
  return options!;
};

/** One decoding of these prompts; `cache: false` feeds every row's whole sequence each step. */
async function decode(model: GenerationModel, prompts: number[][], cache: boolean): Promise<number> {
  const { decoding } = createDecoding(greedy(model), prompts.map((tokens) => ({ tokens })));
  let previous: GenerationRowResult[] = [];
  let tokens = 0;
  while (!decoding.done) {
    const rows = decoding.rows();
    previous = await model.step(rows.map((r) => (r.parent === null || !cache ? { tokens: r.tokens } : { tokens: [r.tokens[r.tokens.length - 1]], cache: previous[r.parent].cache })));
    tokens += decoding.absorb(previous.map((r) => r.logits)).emitted.length;
  }
  return tokens;
}

async function timed(run: () => Promise<number>): Promise<{ ms: number; tokensPerS: number }> {
  await run(); // warm
  const t0 = performance.now();
  const tokens = await run();
  const ms = performance.now() - t0;
  return { ms: round(ms, 0), tokensPerS: round((tokens * 1000) / ms, 0) };
}

async function inProcess(dir: string): Promise<string[]> {
  const runtime = await ModelRuntime.load(withModelDefaults({ ...MODEL_DEFAULTS, id: "bench-gpt2", path: dir }), { kind: "cpu", id: 0 });
  try {
    const model = runtime.generation!;
    const [prompt] = await runtime.tokenizer.encode([PROMPT], { maxLength: 0, truncation: "do_not_truncate", addSpecialTokens: true });
    const sixteen = Array.from({ length: 16 }, (_, i) => prompt.ids.slice(0, 6 + (i % 8)));
    const cached = await timed(() => decode(model, [prompt.ids], true));
    const uncached = await timed(() => decode(model, [prompt.ids], false));
    const batched = await timed(() => decode(model, sixteen, true));
    const oneByOne = await timed(async () => {
      let n = 0;
      for (const p of sixteen) n += await decode(model, [p], true);
      return n;
    });
    return [
      `## Generation on bench-gpt2 (6 layers, hidden 384, 6 heads), greedy, ${NEW_TOKENS} new tokens, in-process`,
      "| run | ms | new tokens/s |",
      "|---|---|---|",
      `| 1 prompt (${prompt.ids.length} tokens), KV cache | ${cached.ms} | ${cached.tokensPerS} |`,
      `| 1 prompt, no cache (whole sequence every step) | ${uncached.ms} | ${uncached.tokensPerS} |`,
      `| 16 prompts (6-13 tokens) in one decoding | ${batched.ms} | ${batched.tokensPerS} |`,
      `| the same 16 prompts one after another | ${oneByOne.ms} | ${oneByOne.tokensPerS} |`,
      "",
    ];
  } finally {
    await runtime.close();
  }
}

/** Milliseconds from the POST to the first token event of a streamed generation. */
async function firstTokenMs(base: string, maxNewTokens: number): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(`${base}/bench-gpt2/generation/stream`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ input: [PROMPT], task_kwargs: { max_new_tokens: maxNewTokens, min_new_tokens: maxNewTokens } }) });
  let first = NaN;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    if (Number.isNaN(first) && Buffer.from(chunk).toString().includes("event: token")) first = performance.now() - t0;
  }
  return first;
}

async function overHttp(dir: string): Promise<string[]> {
  const minilm = await benchModelDir("minilm", log);
  const texts = (await benchInputs(minilm, 32, 16)).texts;
  const settings = { ...MODEL_DEFAULTS } as unknown as Record<string, number>;
  const server = await startServer([{ id: "bench-gpt2", path: dir, settings }, { id: "bench-minilm-sst", path: minilm, settings }]);
  const base = `http://127.0.0.1:${server.port}/api/main`;
  try {
    const quiet: number[] = [];
    for (let i = 0; i < 5; i++) quiet.push(await firstTokenMs(base, 8));
    let loading = true;
    const background = async () => {
      while (loading) await firstTokenMs(base, NEW_TOKENS);
    };
    const loaders = Array.from({ length: 8 }, background);
    await new Promise((r) => setTimeout(r, 2000));
    const loaded: number[] = [];
    for (let i = 0; i < 10; i++) loaded.push(await firstTokenMs(base, 8));
    loading = false;
    await Promise.all(loaders);
    const send = serverSender(base, "bench-minilm-sst", texts, 1);
    const alone = await closedLoop(send, 1, { concurrency: 8, warmupS: 3, durationS: 10 });
    loading = true;
    const generators = Array.from({ length: 4 }, background);
    const during = await closedLoop(send, 1, { concurrency: 8, warmupS: 3, durationS: 10 });
    loading = false;
    await Promise.all(generators);
    return [
      "## Time to the first streamed token (bench-gpt2, 8 new tokens), over HTTP",
      "| while | p50 ms | max ms |",
      "|---|---|---|",
      `| nothing else runs | ${round(percentile(quiet, 50), 1)} | ${round(Math.max(...quiet), 1)} |`,
      `| 8 clients stream ${NEW_TOKENS}-token generations back to back | ${round(percentile(loaded, 50), 1)} | ${round(Math.max(...loaded), 1)} |`,
      "",
      "## Encoder requests (bench-minilm-sst, one item of about 32 tokens, concurrency 8) on the same node",
      "| while | items/s | p50 ms | p99 ms |",
      "|---|---|---|---|",
      `| alone | ${alone.items_per_s} | ${alone.p50_ms} | ${alone.p99_ms} |`,
      `| 4 clients stream ${NEW_TOKENS}-token generations back to back | ${during.items_per_s} | ${during.p50_ms} | ${during.p99_ms} |`,
      "",
    ];
  } finally {
    await server.stop();
  }
}

async function main(): Promise<void> {
  const dir = await benchGpt2();
  const lines = [...(await inProcess(dir)), ...(await overHttp(dir))];
  process.stdout.write(lines.join("\n") + "\n");
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`bench:generation: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);
