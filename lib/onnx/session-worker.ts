/**
 * A thread of the inference pool (inference-pool.ts): hosts the ONNX Runtime sessions of any
 * number of models, each named by the session id the pool gave it, and runs them on request, one
 * at a time (`session.run` blocks the thread). Requests naming outputs that only a session's
 * extended variant has (attentions, hidden states; added by graph surgery) go to a second session
 * opened on first use, so plain requests keep the fully optimised original graph (see
 * extended-model.ts).
 *
 * The extra outputs a graph can have are analysed here for small models (`plan`). Started with
 * `workerData: { plan: modelPath }` instead, it is a one-shot worker answering that analysis for a
 * large model (runner.ts): it decodes the whole model in JavaScript, and an isolate that lives on
 * keeps that garbage resident (measured +86 MB per MiniLM-sized model in a pool thread,
 * docs/benchmarks.md "Density"); a one-shot worker returns it at exit.
 */
import { parentPort, workerData } from "node:worker_threads";
import { openSession, runSession, LoadedSession, SessionSettings } from "./session.ts";
import { planExtraOutputs, buildExtendedModel, type ExtraOutputsPlan } from "./extended-model.ts";
import { EXIT_NOW, unanalysedPlan, type WorkerRequest, type WorkerReply } from "./worker-protocol.ts";
import type { NdArray } from "../tensor.ts";

const port = parentPort;
if (!port) throw new Error("session-worker must run in a worker thread");

interface Hosted {
  settings: SessionSettings;
  loading: Promise<LoadedSession>;
  extended?: Promise<LoadedSession>;
}

const planFor = (workerData as { plan?: string } | undefined)?.plan;
/** Surgery analysis never fails the load: a graph it cannot read just has no extra outputs. */
const plan = (modelPath: string): Promise<ExtraOutputsPlan> =>
  planExtraOutputs(modelPath).catch(unanalysedPlan);

if (planFor !== undefined) void plan(planFor).then((p) => port.postMessage(p));

const sessions = new Map<number, Hosted>();

function open(id: number, settings: SessionSettings): void {
  const loading = openSession(settings);
  const hosted: Hosted = { settings, loading };
  sessions.set(id, hosted);
  loading.then(
    (s) => port!.postMessage({ kind: "ready", session: id, inputs: s.inputs, outputs: s.outputs, provider: s.provider, warning: s.warning } satisfies WorkerReply),
    (err: Error) => {
      if (sessions.get(id) === hosted) sessions.delete(id);
      port!.postMessage({ kind: "load-failed", session: id, message: err.message } satisfies WorkerReply);
    },
  );
}

/** The session of `hosted` that has every requested output. */
async function sessionFor(hosted: Hosted, outputNames: readonly string[] | undefined): Promise<LoadedSession> {
  const plain = await hosted.loading;
  if (!outputNames || outputNames.every((n) => plain.outputs.some((o) => o.name === n))) return plain;
  if (!hosted.extended) {
    const opening = buildExtendedModel(hosted.settings.modelPath).then((bytes) => openSession(hosted.settings, bytes));
    hosted.extended = opening;
    opening.catch(() => hosted.extended === opening && (hosted.extended = undefined)); // the next request tries again
  }
  return hosted.extended;
}

async function release(id: number): Promise<void> {
  const hosted = sessions.get(id);
  sessions.delete(id);
  const loaded = await Promise.all([hosted?.loading, hosted?.extended].map((p) => p?.catch(() => undefined)));
  await Promise.all(loaded.map((s) => s?.session.release().catch(() => undefined)));
  port!.postMessage({ kind: "released", session: id } satisfies WorkerReply);
}

async function run(req: Extract<WorkerRequest, { kind: "run" }>): Promise<void> {
  try {
    const hosted = sessions.get(req.session);
    if (!hosted) throw new Error(`session ${req.session} is not open on this thread`);
    const session = await sessionFor(hosted, req.outputNames);
    const started = performance.now();
    const outputs = await runSession(session, req.feeds, req.outputNames);
    const reply: WorkerReply = { kind: "result", id: req.id, outputs, runMs: performance.now() - started };
    port!.postMessage(reply, transferables(outputs));
  } catch (err) {
    port!.postMessage({ kind: "error", id: req.id, message: (err as Error).message } satisfies WorkerReply);
  }
}

if (planFor === undefined) port.on("message", (req: WorkerRequest | typeof EXIT_NOW) => {
  if (req.kind === "exit-now") return process.exit(3);
  if (req.kind === "open") open(req.session, req.settings);
  else if (req.kind === "run") void run(req);
  else if (req.kind === "plan") void plan(req.modelPath).then((p) => port.postMessage({ kind: "planned", id: req.id, plan: p } satisfies WorkerReply));
  else void release(req.session);
});

function transferables(outputs: Record<string, NdArray>): ArrayBuffer[] {
  const seen = new Set<ArrayBuffer>();
  for (const a of Object.values(outputs)) seen.add(a.data.buffer as ArrayBuffer);
  return [...seen];
}
