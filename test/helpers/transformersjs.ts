/**
 * transformers.js as an independent reference on the generated fixture folders: local files only,
 * remote loading off, float32 weights, so its pipelines and our runtime read the same model files.
 */
import { before, after } from "node:test";
import assert from "node:assert/strict";
import { env } from "@huggingface/transformers";
import { fixtureDir } from "./fixtures.ts";
import { ModelRuntime } from "../../lib/model/runtime.ts";
import { withModelDefaults } from "../../lib/config/model-settings.ts";

/** Options for `pipeline(task, fixtureName, PIPELINE_OPTIONS)`: the fixture folder itself, fp32, no downloads. */
export const PIPELINE_OPTIONS = { subfolder: "", dtype: "fp32", local_files_only: true } as const;

export interface ReferenceSetup {
  /** Our runtime on a fixture (plaintext arrays), closed after the file's tests. */
  load(name: string): Promise<ModelRuntime>;
  /** A fixture's folder (valid once the file's `before` hooks ran). */
  folder(name: string): string;
}

/** Registers the file's before/after hooks: points transformers.js at the fixtures and closes the runtimes `load` opened. */
export function useTransformersJs(): ReferenceSetup {
  let dir = "";
  const runtimes: ModelRuntime[] = [];
  before(async () => {
    dir = await fixtureDir();
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    env.localModelPath = dir + "/";
  });
  after(async () => {
    for (const r of runtimes) await r.close();
  });
  return {
    async load(name) {
      const r = await ModelRuntime.load(withModelDefaults({ id: name, path: `${dir}/${name}`, return_plaintext_arrays: true }), { kind: "cpu", id: 0 });
      runtimes.push(r);
      return r;
    },
    folder: (name) => `${dir}/${name}`,
  };
}

/** Element-wise |ours - theirs| <= tol, with equal lengths. */
export function assertClose(ours: number[], theirs: number[], tol: number, what: string): void {
  assert.equal(ours.length, theirs.length, `${what}: lengths`);
  ours.forEach((v, i) => assert.ok(Math.abs(v - theirs[i]) <= tol, `${what}[${i}]: ${v} vs ${theirs[i]}`));
}
