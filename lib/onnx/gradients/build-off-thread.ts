/**
 * Builds a model's gradient model in a short-lived worker thread (about 0.5 s of synchronous
 * work for a MiniLM-sized model would otherwise stall the event loop) into the disk cache, and
 * returns where its files are. Reading them back is plain async file I/O.
 */
import { readFile } from "node:fs/promises";
import { replyOfWorker } from "../worker-threads.ts";
import { entryFiles, type Metadata } from "./cache.ts";
import { UnsupportedOperatorError, GradientGraphError } from "./errors.ts";
import type { GradientModelOptions } from "./gradient-model.ts";
import type { BuildReply, BuildRequest } from "./build-worker.ts";

export interface BuiltGradientModel {
  files: ReturnType<typeof entryFiles>;
  meta: Metadata;
}

export async function buildGradientModelOffThread(modelPath: string, cacheDir: string, options: GradientModelOptions): Promise<BuiltGradientModel> {
  const request: BuildRequest = { modelPath, cacheDir, options };
  const reply = await replyOfWorker<BuildReply>(new URL("./build-worker.ts", import.meta.url), request, "gradient build");
  if (reply.kind === "failed") throw reply.opType ? new UnsupportedOperatorError(reply.opType, reply.nodeName) : new GradientGraphError(reply.message);
  const files = entryFiles(cacheDir, reply.key);
  return { files, meta: JSON.parse(await readFile(files.meta, "utf8")) as Metadata };
}
