/**
 * Starting worker threads from both layouts the package runs in: compiled JavaScript (`dist/`,
 * production: the worker's `.js` file is loaded directly, no TypeScript at run time) and the
 * TypeScript sources (development and tests, through tsx).
 */
import { Worker } from "node:worker_threads";
import { RUNNING_COMPILED } from "../package-paths.ts";

/**
 * Starts the worker whose TypeScript source is `sourceUrl`. Compiled, that is the `.js` file
 * beside this one in dist/. From sources on Node 20, a worker's entry module is resolved before
 * any `--import` hook applies, so a small JavaScript bootstrap registers tsx and then imports it.
 */
export function startWorker(sourceUrl: URL, workerData: unknown): Worker {
  if (RUNNING_COMPILED) return new Worker(new URL(sourceUrl.href.replace(/\.ts$/, ".js")), { workerData });
  const api = JSON.stringify(import.meta.resolve("tsx/esm/api"));
  const bootstrap = `import(${api}).then((tsx) => { tsx.register(); return import(${JSON.stringify(sourceUrl.href)}); });`;
  return new Worker(bootstrap, { eval: true, workerData });
}

/**
 * Runs the one-shot worker at `sourceUrl` (it posts a single reply) with `request`, and settles
 * with that reply. A worker that errors, or exits without replying (out of memory, a native abort
 * it survived), rejects, naming `what`.
 */
export function replyOfWorker<Reply>(sourceUrl: URL, request: unknown, what: string): Promise<Reply> {
  return new Promise<Reply>((resolve, reject) => {
    const worker = startWorker(sourceUrl, request);
    worker.once("message", (msg: Reply) => {
      resolve(msg);
      void worker.terminate();
    });
    worker.once("error", reject);
    worker.once("exit", (code) => reject(new Error(`the ${what} worker exited (code ${code}) without a result`)));
  });
}
