/** Worker thread entry: builds (or finds on disk) one model's gradient model, so the main thread never blocks on it. */
import { parentPort, workerData } from "node:worker_threads";
import { readFile } from "node:fs/promises";
import { GradientModelCache } from "./cache.ts";
import { UnsupportedOperatorError } from "./errors.ts";
import type { GradientModelOptions } from "./gradient-model.ts";

export interface BuildRequest {
  modelPath: string;
  cacheDir: string;
  options: GradientModelOptions;
}

export type BuildReply = { kind: "built"; key: string } | { kind: "failed"; message: string; opType?: string; nodeName?: string };

const port = parentPort;
if (!port) throw new Error("build-worker must run in a worker thread");
const { modelPath, cacheDir, options } = workerData as BuildRequest;

try {
  const key = await new GradientModelCache(cacheDir).ensureOnDisk(await readFile(modelPath), options);
  port.postMessage({ kind: "built", key } satisfies BuildReply);
} catch (err) {
  const op = err instanceof UnsupportedOperatorError ? { opType: err.opType, nodeName: err.nodeName } : {};
  port.postMessage({ kind: "failed", message: (err as Error).message, ...op } satisfies BuildReply);
}
