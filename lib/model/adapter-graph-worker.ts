/** Worker thread entry: builds a model's adapter-capable graph (lib/onnx/adapters) and writes it, so the main thread never blocks on the surgery. */
import { parentPort, workerData } from "node:worker_threads";
import { readFile, writeFile } from "node:fs/promises";
import { decodeModel, encodeModel } from "../onnx/graph-io.ts";
import { buildAdapterGraph, type Adapter } from "../onnx/adapters/index.ts";

export interface AdapterGraphRequest {
  modelPath: string;
  outPath: string;
  adapters: Adapter[];
}

export type AdapterGraphReply = { kind: "built"; adapterNames: string[]; bytesPerAdapter: Record<string, number> } | { kind: "failed"; message: string };

const port = parentPort;
if (!port) throw new Error("adapter-graph-worker must run in a worker thread");
const { modelPath, outPath, adapters } = workerData as AdapterGraphRequest;

try {
  const graph = buildAdapterGraph(decodeModel(await readFile(modelPath)), adapters);
  await writeFile(outPath, encodeModel(graph.model));
  port.postMessage({ kind: "built", adapterNames: graph.adapterNames, bytesPerAdapter: graph.bytesPerAdapter } satisfies AdapterGraphReply);
} catch (err) {
  port.postMessage({ kind: "failed", message: (err as Error).message } satisfies AdapterGraphReply);
}
