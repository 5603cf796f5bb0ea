/** Messages between the main thread (runner.ts) and session workers (session-worker.ts). */
import type { NdArray } from "../tensor.ts";
import type { IoInfo } from "./session.ts";

export interface WorkerRequest {
  id: number;
  feeds: Record<string, NdArray>;
  outputNames?: string[];
}

/**
 * Fault injection for the supervision tests: the worker exits (code 3) when it takes this message
 * from its queue, so the runs queued behind it die with their worker. Terminating a worker from
 * outside while ONNX Runtime runs natively can abort the whole process instead (a C++ exception
 * thrown into a terminating environment), which is why the runner never does that (see close()).
 */
export const EXIT_NOW = { kind: "exit-now" } as const;

export type WorkerReply =
  | {
      kind: "ready";
      inputs: IoInfo[];
      /** The graph's outputs, then those the lazily opened extended variant adds. */
      outputs: IoInfo[];
      /** Why no attention/hidden-state outputs can be added, when none can. */
      extraOutputsUnavailable?: string;
      provider: string;
      warning?: string;
    }
  | { kind: "load-failed"; message: string }
  | { kind: "result"; id: number; outputs: Record<string, NdArray>; runMs: number }
  | { kind: "error"; id: number; message: string };
