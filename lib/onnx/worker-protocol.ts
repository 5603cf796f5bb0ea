/**
 * Messages between the main thread (inference-pool.ts) and the pool's session workers
 * (session-worker.ts). One worker thread hosts the sessions of any number of models: every
 * message names its session by `session` (an id the pool gives, unique in the process).
 */
import type { NdArray } from "../tensor.ts";
import type { IoInfo, SessionSettings } from "./session.ts";
import type { ExtraOutputsPlan } from "./extended-model.ts";

export type WorkerRequest =
  /** Open a session; answered by `ready` or `load-failed`. */
  | { kind: "open"; session: number; settings: SessionSettings }
  /** One run; answered by `result` or `error` with the same `id`. */
  | { kind: "run"; session: number; id: number; feeds: Record<string, NdArray>; outputNames?: string[] }
  /** Release the session (and its extended variant); answered by `released`. */
  | { kind: "release"; session: number }
  /** Analyse which extra outputs graph surgery can add to a (small) model; answered by `planned` with the same `id`. */
  | { kind: "plan"; id: number; modelPath: string };

/**
 * Fault injection for the supervision tests: the worker exits (code 3) when it takes this message
 * from its queue, so the runs queued behind it die with their worker. Terminating a worker from
 * outside while ONNX Runtime runs natively can abort the whole process instead (a C++ exception
 * thrown into a terminating environment), which is why the pool never does that.
 */
export const EXIT_NOW = { kind: "exit-now" } as const;

export type WorkerReply =
  | {
      kind: "ready";
      session: number;
      inputs: IoInfo[];
      /** The graph's own outputs (the runner adds those the extended variant offers). */
      outputs: IoInfo[];
      provider: string;
      warning?: string;
    }
  | { kind: "load-failed"; session: number; message: string }
  | { kind: "released"; session: number }
  | { kind: "planned"; id: number; plan: ExtraOutputsPlan }
  | { kind: "result"; id: number; outputs: Record<string, NdArray>; runMs: number }
  | { kind: "error"; id: number; message: string };

/**
 * The plan of a graph that could not be analysed (unreadable, or the worker analysing it died): no
 * extra outputs, and why. Here, not in extended-model.ts, so the main thread need not load the
 * graph decoder to name the failure.
 */
export function unanalysedPlan(err: Error): ExtraOutputsPlan {
  return { outputs: [], unavailable: `the graph could not be analysed (${err.message})` };
}
