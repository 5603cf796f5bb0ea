/**
 * Main-thread handle to ONNX Runtime sessions living in worker threads, so the broker's event
 * loop never blocks on inference. A pool of `workers` sessions; each run goes to the least busy.
 */
import type { Worker } from "node:worker_threads";
import { startWorker } from "./worker-threads.ts";
import type { NdArray } from "../tensor.ts";
import type { InferenceBackend } from "../inference/backend.ts";
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
  pending: Map<number, Pending>;
  /** The runs sent to this worker and not yet settled (its load, and what close() waits for). */
  inFlight: Set<Promise<RunResult>>;
}

/** How long close() waits for runs in flight before terminating a worker anyway. */
const CLOSE_GRACE_MS = 30_000;

/** A run whose worker thread died (uncaught error, exit) before answering; the worker is replaced. */
export class WorkerDiedError extends Error {
  readonly name = "WorkerDiedError";
}

/** Wait before replacing a worker that died again soon after starting (a worker that always dies must not spin). */
const RESPAWN_BACKOFF_MS = 1000;

/**
 * The pool is supervised: a worker that errors or exits has its pending runs rejected with
 * WorkerDiedError and is replaced; runs arriving while no worker is ready wait for one.
 */
export class OnnxRunner implements InferenceBackend {
  inputs: IoInfo[] = [];
  outputs: IoInfo[] = [];
  provider = "cpu";
  warning?: string;
  /** Why `outputs` has no attentions/hidden_states, when it has none. */
  extraOutputsUnavailable?: string;
  /** Workers replaced after dying (for stats and tests). */
  replacedWorkers = 0;
  private pool: PoolWorker[] = [];
  private nextId = 1;
  private closed = false;
  private waitingForWorker: (() => void)[] = [];

  private constructor(private readonly options: RunnerOptions) {}

  static async open(options: RunnerOptions): Promise<OnnxRunner> {
    const runner = new OnnxRunner(options);
    try {
      await Promise.all(Array.from({ length: Math.max(1, options.workers) }, () => runner.spawn()));
    } catch (err) {
      await runner.close();
      throw err;
    }
    return runner;
  }

  get outputNames(): string[] {
    return this.outputs.map((o) => o.name);
  }

  /** The live worker threads (tests kill one to check supervision). */
  get threads(): Worker[] {
    return this.pool.map((p) => p.worker);
  }

  async run(feeds: Record<string, NdArray>, outputNames?: string[]): Promise<RunResult> {
    while (this.pool.length === 0) {
      if (this.closed) throw new WorkerDiedError("the model's sessions are closed");
      await new Promise<void>((resolve) => this.waitingForWorker.push(resolve));
    }
    const target = this.pool.reduce((a, b) => (b.inFlight.size < a.inFlight.size ? b : a));
    const id = this.nextId++;
    const run = new Promise<RunResult>((resolve, reject) => {
      target.pending.set(id, { resolve, reject });
      const req: WorkerRequest = { id, feeds, outputNames };
      target.worker.postMessage(req);
    });
    target.inFlight.add(run);
    return run.finally(() => target.inFlight.delete(run));
  }

  /**
   * Lets the runs in flight finish, then ends the workers: terminating a worker while ONNX Runtime
   * runs natively in it can abort the whole process (a C++ exception thrown into a terminating
   * environment), so a worker is only terminated idle (or after CLOSE_GRACE_MS, when a run hangs).
   */
  async close(): Promise<void> {
    this.closed = true;
    const pool = this.pool;
    this.pool = [];
    this.wakeWaiting();
    await Promise.all(pool.map(async (p) => {
      await Promise.race([Promise.allSettled(p.inFlight), new Promise((resolve) => setTimeout(resolve, CLOSE_GRACE_MS).unref())]);
      await p.worker.terminate();
    }));
  }

  private spawn(): Promise<void> {
    const { modelPath, device, disableGpu, intraOpThreads, extraOutputs } = this.options;
    const settings: SessionSettings = { modelPath, providers: executionProviders(device, disableGpu), intraOpThreads, extraOutputs };
    const worker = startWorker(new URL("./session-worker.ts", import.meta.url), settings);
    const entry: PoolWorker = { worker, pending: new Map(), inFlight: new Set() };
    const startedAt = Date.now();
    let ready = false;
    return new Promise<void>((resolve, reject) => {
      const died = (why: string) => {
        if (!this.pool.includes(entry) && ready) return; // already handled (error is followed by exit)
        this.pool = this.pool.filter((p) => p !== entry);
        for (const p of entry.pending.values()) p.reject(new WorkerDiedError(`the inference worker died (${why}); the run did not finish`));
        entry.pending.clear();
        if (!ready) return reject(new Error(`cannot load ${modelPath}: the worker died (${why})`));
        if (!this.closed) this.replace(Date.now() - startedAt < RESPAWN_BACKOFF_MS);
      };
      worker.on("message", (msg: WorkerReply) => {
        if (msg.kind === "ready") {
          Object.assign(this, { inputs: msg.inputs, outputs: msg.outputs, provider: msg.provider, warning: msg.warning, extraOutputsUnavailable: msg.extraOutputsUnavailable });
          ready = true;
          if (this.closed) return void worker.terminate();
          this.pool.push(entry);
          this.wakeWaiting();
          resolve();
        } else if (msg.kind === "load-failed") {
          ready = false;
          void worker.terminate();
          reject(new Error(`cannot load ${modelPath}: ${msg.message}`));
        } else {
          const p = entry.pending.get(msg.id);
          entry.pending.delete(msg.id);
          if (msg.kind === "result") p?.resolve({ outputs: msg.outputs, runMs: msg.runMs });
          else p?.reject(new Error(`inference failed: ${msg.message}`));
        }
      });
      worker.on("error", (err) => died(err.message));
      worker.on("exit", (code) => {
        if (!this.closed) died(`exit code ${code}`);
      });
    });
  }

  private replace(soon: boolean): void {
    this.replacedWorkers++;
    const start = () => {
      if (this.closed) return;
      this.spawn().catch(() => setTimeout(start, RESPAWN_BACKOFF_MS)); // the model loaded once: keep trying
    };
    if (soon) setTimeout(start, RESPAWN_BACKOFF_MS);
    else start();
  }

  private wakeWaiting(): void {
    const waiting = this.waitingForWorker;
    this.waitingForWorker = [];
    for (const wake of waiting) wake();
  }
}
