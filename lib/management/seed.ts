/**
 * `--models FILE` on a managed models node seeds the desired state: each model not deployed yet
 * becomes a deployment (replicas = its replicas_per_device), placed like any other. Models
 * already deployed keep their record: the store, changed through the API, is the truth.
 */
import { realpath } from "node:fs/promises";
import { relative } from "node:path";
import type { ModelSettings } from "../config/model-settings.ts";
import type { Deployment, DeploymentStore } from "../store/deployment-store.ts";
import type { TaskStore } from "../store/task-store.ts";
import { inspectModelFolder } from "./models-root.ts";

export async function seedDeployments(deployments: DeploymentStore, store: TaskStore, models: readonly ModelSettings[], root: string, log: (m: string) => void): Promise<void> {
  const realRoot = await realpath(root).catch(() => {
    throw new Error(`--models-root ${root} is not a readable folder`);
  });
  for (const m of models) {
    const folder = relative(realRoot, await realpath(m.path).catch(() => m.path));
    let bytes: number;
    try {
      bytes = (await inspectModelFolder(realRoot, folder)).bytes;
    } catch (err) {
      throw new Error(`models file: model ${m.id}: ${(err as Error).message} (its folder must lie under --models-root ${root})`);
    }
    const { id, path: _path, replicas_per_device, ...options } = m;
    const now = Date.now();
    const d: Deployment = {
      id, folder, model_name: id, model_type: "onnx", model_class: "from_config", options, device: m.disable_gpu ? "cpu" : "any",
      replicas: replicas_per_device, adapters: [], bytes, state: "active", source: "models-file", created_at: now, updated_at: now,
    };
    if (await deployments.create(d)) {
      await store.registerModel(id);
      log(`models file: deployed ${id} (${folder}, ${d.replicas} replica(s))`);
    }
  }
}
