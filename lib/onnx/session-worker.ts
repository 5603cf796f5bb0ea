/**
 * Worker thread entry: owns the model's ONNX Runtime session and runs it on request. Requests
 * naming outputs that only the extended variant has (attentions, hidden states; added by graph
 * surgery) go to a second session opened on first use, so plain requests keep the fully
 * optimised original graph (see extended-model.ts).
 */
import { parentPort, workerData } from "node:worker_threads";
import { openSession, runSession, LoadedSession, SessionSettings } from "./session.ts";
import { planExtraOutputs, buildExtendedModel, ExtraOutputsPlan } from "./extended-model.ts";
import { EXIT_NOW, type WorkerRequest, type WorkerReply } from "./worker-protocol.ts";
import type { NdArray } from "../tensor.ts";

const port = parentPort;
if (!port) throw new Error("session-worker must run in a worker thread");

const settings = workerData as SessionSettings;
const loading: Promise<LoadedSession> = openSession(settings);
/** Surgery analysis never fails the load: a graph it cannot read just has no extra outputs. */
const planning: Promise<ExtraOutputsPlan> =
  settings.extraOutputs === false
    ? Promise.resolve({ outputs: [], unavailable: "not offered for this graph" })
    : planExtraOutputs(settings.modelPath).catch((err: Error) => ({ outputs: [], unavailable: `the graph could not be analysed (${err.message})` }));
let extended: Promise<LoadedSession> | undefined;

Promise.all([loading, planning]).then(
  ([s, plan]) =>
    port.postMessage({
      kind: "ready",
      inputs: s.inputs,
      outputs: [...s.outputs, ...plan.outputs],
      extraOutputsUnavailable: plan.unavailable,
      provider: s.provider,
      warning: s.warning,
    } satisfies WorkerReply),
  (err: Error) => port.postMessage({ kind: "load-failed", message: err.message } satisfies WorkerReply),
);

/** The session that has every requested output. */
async function sessionFor(outputNames: readonly string[] | undefined): Promise<LoadedSession> {
  const plain = await loading;
  if (!outputNames || outputNames.every((n) => plain.outputs.some((o) => o.name === n))) return plain;
  if (!extended) {
    const opening = buildExtendedModel(settings.modelPath).then((bytes) => openSession(settings, bytes));
    extended = opening;
    opening.catch(() => extended === opening && (extended = undefined)); // the next request tries again
  }
  return extended;
}

port.on("message", async (req: WorkerRequest | typeof EXIT_NOW) => {
  if ("kind" in req) return process.exit(3);
  try {
    const session = await sessionFor(req.outputNames);
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
