/** Command-line flags of `npm run bench` (see `npm run bench -- --help`). */
import { isBenchModel, BenchModelKey } from "./fixtures.ts";

export interface BenchOptions {
  quick: boolean;
  models: BenchModelKey[];
  /** Input lengths in tokens, special tokens included. */
  lengths: number[];
  concurrency: number[];
  warmupS: number;
  durationS: number;
  ceilingSeconds: number;
  ceilingBatches: number[];
  ceilingThreads: number;
  itemsPerRequest: number;
  /** Clients POST with `?wait=S` and get the result in the POST's answer (0: POST, then long-poll task_result, as SQuARE clients do). */
  postWaitS: number;
  /** Model settings for the server's models file; only the given ones, the rest are the server's defaults. */
  serverSettings: Record<string, number>;
  peer: boolean;
  peerThreads?: number;
  out: string;
}

export const USAGE = `npm run bench -- [flags]
  --quick                   short smoke run (tiny model, 16 tokens, concurrency 1 and 16, 2 s points)
  --models tiny,minilm      bench models (default both)
  --lengths 16,128          input lengths in tokens, [CLS]/[SEP] included
  --concurrency 1,16,64,256 closed-loop clients
  --duration S              measured seconds per load point (default 6)
  --warmup S                minimum warm-up seconds per load point (default 1; also waits for every client's first result)
  --ceiling-seconds S       seconds per batch size in the ONNX Runtime sweep (default 1.5)
  --ceiling-batches LIST    batch sizes swept (default 1,4,8,16,32,64)
  --ceiling-threads N       intra-op threads of the ceiling's session (default: the server's intra_op_threads × workers)
  --items-per-request N     texts per request (default 1)
  --post-wait S             clients POST with ?wait=S (the result in the POST's answer; beyond SQuARE) instead of POST + long-poll GET (default 0: long-poll)
  --batch-size N  --max-batch-tokens N  --batch-wait-ms N  --workers N  --intra-op-threads N  --max-queue N
                            the server's model settings (default: the server's own defaults)
  --peer-threads N          intra-op threads of the transformers.js peer (default: the ceiling's)
  --no-peer                 skip the transformers.js peer
  --out DIR                 results folder (default bench/results)`;

const SERVER_FLAGS: Record<string, string> = {
  "--batch-size": "batch_size",
  "--max-batch-tokens": "max_batch_tokens",
  "--batch-wait-ms": "batch_wait_ms",
  "--workers": "workers",
  "--intra-op-threads": "intra_op_threads",
  "--max-queue": "max_queue",
};

const list = (v: string) => v.split(",").map((x) => x.trim()).filter(Boolean);
const numbers = (flag: string, v: string) =>
  list(v).map((x) => {
    const n = Number(x);
    if (!(n > 0)) throw new Error(`${flag}: "${x}" is not a positive number`);
    return n;
  });

export function parseOptions(argv: string[], defaults: { intraOpThreads: number; workers: number }): BenchOptions {
  const quick = argv.includes("--quick");
  const o: BenchOptions = {
    quick,
    models: quick ? ["tiny"] : ["tiny", "minilm"],
    lengths: quick ? [16] : [16, 128],
    concurrency: quick ? [1, 16] : [1, 16, 64, 256],
    warmupS: quick ? 0.5 : 1,
    durationS: quick ? 2 : 6,
    ceilingSeconds: quick ? 0.5 : 1.5,
    ceilingBatches: quick ? [1, 8, 32] : [1, 4, 8, 16, 32, 64],
    ceilingThreads: 0,
    itemsPerRequest: 1,
    postWaitS: 0,
    serverSettings: {},
    peer: !argv.includes("--no-peer"),
    out: "bench/results",
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === "--quick" || flag === "--no-peer") continue;
    const value = argv[++i];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    const one = () => numbers(flag, value)[0];
    if (flag === "--models") {
      const keys = list(value);
      for (const k of keys) if (!isBenchModel(k)) throw new Error(`--models: unknown model "${k}" (tiny, minilm)`);
      o.models = keys as BenchModelKey[];
    } else if (flag === "--lengths") o.lengths = numbers(flag, value);
    else if (flag === "--concurrency") o.concurrency = numbers(flag, value);
    else if (flag === "--duration") o.durationS = one();
    else if (flag === "--warmup") o.warmupS = one();
    else if (flag === "--ceiling-seconds") o.ceilingSeconds = one();
    else if (flag === "--ceiling-batches") o.ceilingBatches = numbers(flag, value);
    else if (flag === "--ceiling-threads") o.ceilingThreads = one();
    else if (flag === "--items-per-request") o.itemsPerRequest = one();
    else if (flag === "--post-wait") o.postWaitS = one();
    else if (flag === "--peer-threads") o.peerThreads = one();
    else if (flag === "--out") o.out = value;
    else if (SERVER_FLAGS[flag]) o.serverSettings[SERVER_FLAGS[flag]] = one();
    else throw new Error(`unknown flag ${flag}\n${USAGE}`);
  }
  const threads = (o.serverSettings.intra_op_threads ?? defaults.intraOpThreads) * (o.serverSettings.workers ?? defaults.workers);
  o.ceilingThreads ||= threads;
  o.peerThreads ??= o.ceilingThreads;
  return o;
}
