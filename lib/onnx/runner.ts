/**
 * Main-thread handle to a model graph's ONNX Runtime sessions, which live in the threads of the
 * process's inference pool (inference-pool.ts), so the broker's event loop never blocks on
 * inference. `workers` sessions, each on a distinct pool thread (at most the pool size); each run
 * goes to the session whose thread is least busy.
 */
import type { Worker } from "node:worker_threads";
import type { NdArray } from "../tensor.ts";
import type { InferenceBackend } from "../inference/backend.ts";
import type { IoInfo, SessionSettings } from "./session.ts";
import { Device, executionProviders } from "./device.ts";
import { replyOfWorker } from "./worker-threads.ts";
import type { ExtraOutputsPlan } from "./extended-model.ts";
import { unanalysedPlan } from "./worker-protocol.ts";
import { inferencePool, WorkerDiedError, type InferencePool, type PoolSession, type RunResult } from "./inference-pool.ts";

export { WorkerDiedError, type RunResult } from "./inference-pool.ts";

export interface RunnerOptions {
  modelPath: string;
  device: Device;
  disableGpu: boolean;
  /** Sessions of the graph, on as many distinct pool threads (at most the pool size). */
  workers: number;
  intraOpThreads: number;
  /** Offer attentions/hidden states by graph surgery (default true; a derived graph skips the analysis). */
  extraOutputs?: boolean;
  /** The pool to open in (tests); default the process's. */
  pool?: InferencePool;
}

const NOT_OFFERED: ExtraOutputsPlan = Object.freeze({ outputs: [], unavailable: "not offered for this graph" });
/**
 * Models from this size are analysed in a one-shot worker (their decoded garbage would stay in a
 * pool thread: +86 MB for a 90 MB MiniLM); smaller ones in a pool thread (a one-shot isolate per
 * model costs more than their garbage: twelve tiny demo models, 259 vs 233 MB).
 */
const PLAN_OFF_THREAD_BYTES = 16 * 1024 * 1024;
/** Graph analyses at once (each decodes a whole model in its own short-lived worker). */
const PLANS_AT_ONCE = 2;
let planning = 0;
const waitingToPlan: (() => void)[] = [];

/**
 * The attention/hidden-state outputs graph surgery can add to a large graph (extended-model.ts),
 * analysed once per runner in a one-shot worker, not in a pool thread: an isolate that lives on
 * would keep the decoded model's garbage resident (session-worker.ts). Never fails the open.
 */
async function planOffThread(modelPath: string): Promise<ExtraOutputsPlan> {
  while (planning >= PLANS_AT_ONCE) await new Promise<void>((resolve) => waitingToPlan.push(resolve));
  planning++;
  try {
    return await replyOfWorker<ExtraOutputsPlan>(new URL("./session-worker.ts", import.meta.url), { plan: modelPath }, "graph analysis");
  } catch (err) {
    return unanalysedPlan(err as Error);
  } finally {
    planning--;
    waitingToPlan.shift()?.();
  }
}

/** How long close() waits for runs in flight before releasing the sessions anyway. */
const CLOSE_GRACE_MS = 30_000;

/**
 * Supervised through the pool: a thread that dies rejects the runs it held with WorkerDiedError
 * and is replaced, and the sessions it hosted re-open on the replacement; runs arriving while no
 * session of the runner is ready wait for one.
 */
export class OnnxRunner implements InferenceBackend {
  inputs: IoInfo[] = [];
  outputs: IoInfo[] = [];
  provider = "cpu";
  warning?: string;
  /** Why `outputs` has no attentions/hidden_states, when it has none. */
  extraOutputsUnavailable?: string;
  /** Sessions lost with their thread (and re-opened on its replacement), for stats and tests. */
  replacedWorkers = 0;
  private sessions: PoolSession[] = [];
  private closed = false;
  private waitingForSession: (() => void)[] = [];

  static async open(options: RunnerOptions): Promise<OnnxRunner> {
    const runner = new OnnxRunner();
    const { modelPath, device, disableGpu, intraOpThreads, extraOutputs, workers } = options;
    const settings: SessionSettings = { modelPath, providers: executionProviders(device, disableGpu), intraOpThreads, extraOutputs };
    const { sessions, opened } = (options.pool ?? inferencePool()).open(settings, Math.max(1, workers), {
      ready: (session) => {
        const { inputs, provider, warning } = session.info!;
        Object.assign(runner, { inputs, provider, warning });
        runner.wakeWaiting();
      },
      died: () => {
        runner.replacedWorkers++;
      },
    });
    runner.sessions = sessions;
    const planning: Promise<ExtraOutputsPlan> =
      extraOutputs === false ? Promise.resolve(NOT_OFFERED)
      : sessions[0].bytes >= PLAN_OFF_THREAD_BYTES ? planOffThread(modelPath)
      : sessions[0].plan().catch(() => planOffThread(modelPath)); // its thread died (or is being replaced)
    try {
      const [, plan] = await Promise.all([opened, planning]);
      runner.outputs = [...sessions[0].info!.outputs, ...plan.outputs];
      runner.extraOutputsUnavailable = plan.unavailable;
    } catch (err) {
      await runner.close();
      throw err;
    }
    return runner;
  }

  get outputNames(): string[] {
    return this.outputs.map((o) => o.name);
  }

  /** The pool threads hosting this runner's ready sessions (tests kill one to check supervision). */
  get threads(): Worker[] {
    return this.sessions.flatMap((s) => (s.ready && s.thread ? [s.thread] : []));
  }

  async run(feeds: Record<string, NdArray>, outputNames?: string[]): Promise<RunResult> {
    for (;;) {
      if (this.closed) throw new WorkerDiedError("the model's sessions are closed");
      const ready = this.sessions.filter((s) => s.ready);
      if (ready.length > 0) {
        // The least busy thread (every model's runs on it count), then this runner's own least busy session.
        const target = ready.reduce((a, b) => (b.threadLoad < a.threadLoad || (b.threadLoad === a.threadLoad && b.inFlight.size < a.inFlight.size) ? b : a));
        return target.run(feeds, outputNames);
      }
      await new Promise<void>((resolve) => this.waitingForSession.push(resolve));
    }
  }

  /**
   * Lets the runs in flight finish, then releases this runner's sessions in their threads (other
   * models' sessions and the threads stay). A thread is never terminated: terminating one while
   * ONNX Runtime runs natively in it can abort the whole process (a C++ exception thrown into a
   * terminating environment). After CLOSE_GRACE_MS (a hung run) the release is queued anyway.
   */
  async close(): Promise<void> {
    this.closed = true;
    this.wakeWaiting();
    const sessions = this.sessions;
    await Promise.all(sessions.map(async (s) => {
      await Promise.race([Promise.allSettled(s.inFlight), new Promise((resolve) => setTimeout(resolve, CLOSE_GRACE_MS).unref())]);
      await s.release();
    }));
  }

  private wakeWaiting(): void {
    const waiting = this.waitingForSession;
    this.waitingForSession = [];
    for (const wake of waiting) wake();
  }
}
