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
