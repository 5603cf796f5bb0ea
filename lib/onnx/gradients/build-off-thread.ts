/**
 * Builds a model's gradient model in a short-lived worker thread (about 0.5 s of synchronous
 * work for a MiniLM-sized model would otherwise stall the event loop) into the disk cache, and
 * returns where its files are. Reading them back is plain async file I/O.
 */
import { Worker } from "node:worker_threads";
import { readFile } from "node:fs/promises";
import { workerBootstrap } from "../runner.ts";
import { entryFiles, type Metadata } from "./cache.ts";
import { UnsupportedOperatorError, GradientGraphError } from "./errors.ts";
import type { GradientModelOptions } from "./gradient-model.ts";
import type { BuildReply, BuildRequest } from "./build-worker.ts";

export interface BuiltGradientModel {
  files: ReturnType<typeof entryFiles>;
  meta: Metadata;
}

export async function buildGradientModelOffThread(modelPath: string, cacheDir: string, options: GradientModelOptions): Promise<BuiltGradientModel> {
  const reply = await new Promise<BuildReply>((resolve, reject) => {
    const request: BuildRequest = { modelPath, cacheDir, options };
    const worker = new Worker(workerBootstrap(new URL("./build-worker.ts", import.meta.url)), { eval: true, workerData: request });
    worker.once("message", (msg: BuildReply) => {
      resolve(msg);
      void worker.terminate();
    });
    worker.once("error", reject);
  });
  if (reply.kind === "failed") throw reply.opType ? new UnsupportedOperatorError(reply.opType, reply.nodeName) : new GradientGraphError(reply.message);
  const files = entryFiles(cacheDir, reply.key);
  return { files, meta: JSON.parse(await readFile(files.meta, "utf8")) as Metadata };
}
