/**
 * Main-thread handle to ONNX Runtime sessions living in worker threads, so the broker's event
 * loop never blocks on inference. A pool of `workers` sessions; each run goes to the least busy.
 */
import { Worker } from "node:worker_threads";
import type { NdArray } from "../tensor.ts";
import type { IoInfo, SessionSettings } from "./session.ts";
import type { WorkerReply, WorkerRequest } from "./worker-protocol.ts";
import { Device, executionProviders } from "./device.ts";

export interface RunnerOptions {
  modelPath: string;
  device: Device;
  disableGpu: boolean;
  workers: number;
  intraOpThreads: number;
  /** Offer attentions/hidden states by graph surgery (default true; a derived graph skips the analysis). */
  extraOutputs?: boolean;
}

export interface RunResult {
  outputs: Record<string, NdArray>;
  runMs: number;
}

interface Pending {
  resolve: (r: RunResult) => void;
  reject: (e: Error) => void;
}

interface PoolWorker {
  worker: Worker;
  busy: number;
  pending: Map<number, Pending>;
}

/**
 * Workers run TypeScript through tsx. On Node 20 a worker's entry module is resolved before any
 * `--import` hooks apply, so a small JavaScript bootstrap registers tsx and then imports the entry.
 */
export function workerBootstrap(entry: URL): string {
  const api = JSON.stringify(import.meta.resolve("tsx/esm/api"));
  return `import(${api}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); });`;
}

export class OnnxRunner {
  inputs: IoInfo[] = [];
  outputs: IoInfo[] = [];
  provider = "cpu";
  warning?: string;
  /** Why `outputs` has no attentions/hidden_states, when it has none. */
  extraOutputsUnavailable?: string;
  private pool: PoolWorker[] = [];
  private nextId = 1;

  private constructor(private readonly options: RunnerOptions) {}

  static async open(options: RunnerOptions): Promise<OnnxRunner> {
    const runner = new OnnxRunner(options);
    await Promise.all(Array.from({ length: Math.max(1, options.workers) }, () => runner.spawn()));
    return runner;
  }

  get inputNames(): string[] {
    return this.inputs.map((i) => i.name);
  }

  get outputNames(): string[] {
    return this.outputs.map((o) => o.name);
  }

  run(feeds: Record<string, NdArray>, outputNames?: string[]): Promise<RunResult> {
    const target = this.pool.reduce((a, b) => (b.busy < a.busy ? b : a));
    const id = this.nextId++;
    target.busy++;
    return new Promise<RunResult>((resolve, reject) => {
      target.pending.set(id, { resolve, reject });
      const req: WorkerRequest = { id, feeds, outputNames };
      target.worker.postMessage(req);
    }).finally(() => target.busy--);
  }

  async close(): Promise<void> {
    await Promise.all(this.pool.map((p) => p.worker.terminate()));
    this.pool = [];
  }

  private spawn(): Promise<void> {
    const { modelPath, device, disableGpu, intraOpThreads, extraOutputs } = this.options;
    const worker = new Worker(workerBootstrap(new URL("./session-worker.ts", import.meta.url)), {
      eval: true,
      workerData: { modelPath, providers: executionProviders(device, disableGpu), intraOpThreads, extraOutputs } satisfies SessionSettings,
    });
    const entry: PoolWorker = { worker, busy: 0, pending: new Map() };
    return new Promise<void>((resolve, reject) => {
      worker.on("message", (msg: WorkerReply) => {
        if (msg.kind === "ready") {
          Object.assign(this, { inputs: msg.inputs, outputs: msg.outputs, provider: msg.provider, warning: msg.warning, extraOutputsUnavailable: msg.extraOutputsUnavailable });
          this.pool.push(entry);
          resolve();
        } else if (msg.kind === "load-failed") {
          void worker.terminate();
          reject(new Error(`cannot load ${modelPath}: ${msg.message}`));
        } else {
          const p = entry.pending.get(msg.id);
          entry.pending.delete(msg.id);
          if (msg.kind === "result") p?.resolve({ outputs: msg.outputs, runMs: msg.runMs });
          else p?.reject(new Error(`inference failed: ${msg.message}`));
        }
      });
      worker.on("error", (err) => {
        for (const p of entry.pending.values()) p.reject(err);
        entry.pending.clear();
        reject(err);
      });
    });
  }
}
