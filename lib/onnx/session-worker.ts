/** Worker thread entry: owns one ONNX Runtime session and runs it on request. */
import { parentPort, workerData } from "node:worker_threads";
import { openSession, runSession, LoadedSession, SessionSettings } from "./session.ts";
import type { WorkerRequest, WorkerReply } from "./worker-protocol.ts";
import type { NdArray } from "../tensor.ts";

const port = parentPort;
if (!port) throw new Error("session-worker must run in a worker thread");

const loading: Promise<LoadedSession> = openSession(workerData as SessionSettings);

loading.then(
  (s) => port.postMessage({ kind: "ready", inputs: s.inputs, outputs: s.outputs, provider: s.provider, warning: s.warning } satisfies WorkerReply),
  (err: Error) => port.postMessage({ kind: "load-failed", message: err.message } satisfies WorkerReply),
);

port.on("message", async (req: WorkerRequest) => {
  const session = await loading;
  try {
    const started = performance.now();
    const outputs = await runSession(session, req.feeds, req.outputNames);
    const reply: WorkerReply = { kind: "result", id: req.id, outputs, runMs: performance.now() - started };
    port.postMessage(reply, transferables(outputs));
  } catch (err) {
    port.postMessage({ kind: "error", id: req.id, message: (err as Error).message } satisfies WorkerReply);
  }
});

function transferables(outputs: Record<string, NdArray>): ArrayBuffer[] {
  const seen = new Set<ArrayBuffer>();
  for (const a of Object.values(outputs)) seen.add(a.data.buffer as ArrayBuffer);
  return [...seen];
}
