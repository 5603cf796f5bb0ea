/**
 * The gateway's view of deployed models: every available `model.*` service in the Moleculer
 * registry with its metadata, grouped by model id, with `update` changes folded in as they are
 * announced (service metadata is fixed when a replica registers).
 */
import type { ModelMeta } from "../model/metadata.ts";
import type { ModelUpdate } from "../config/model-settings.ts";

export interface Replica {
  node: string;
  device: string;
}

export interface DeployedModel {
  meta: ModelMeta;
  replicas: Replica[];
}

interface ServiceInfo {
  name: string;
  nodeID: string;
  available?: boolean;
  metadata?: { squareModel?: ModelMeta };
}

export interface RegistryLike {
  getServiceList(opts: { onlyAvailable?: boolean; skipInternal?: boolean; withActions?: boolean }): ServiceInfo[];
}

export class ModelDirectory {
  private readonly updates = new Map<string, ModelUpdate>();

  constructor(private readonly registry: RegistryLike) {}

  list(): DeployedModel[] {
    const byId = new Map<string, DeployedModel>();
    for (const svc of this.registry.getServiceList({ onlyAvailable: true, skipInternal: true, withActions: false })) {
      const meta = svc.metadata?.squareModel;
      if (!meta) continue;
      const model = byId.get(meta.id) ?? { meta: this.withUpdates(meta), replicas: [] };
      model.replicas.push({ node: svc.nodeID, device: meta.device });
      byId.set(meta.id, model);
    }
    return [...byId.values()].sort((a, b) => a.meta.id.localeCompare(b.meta.id));
  }

  find(id: string): DeployedModel | undefined {
    return this.list().find((m) => m.meta.id === id);
  }

  noteUpdate(model: string, update: ModelUpdate): void {
    this.updates.set(model, { ...this.updates.get(model), ...update });
  }

  hasLoadedUpdates(model: string): boolean {
    return this.updates.has(model);
  }

  private withUpdates(meta: ModelMeta): ModelMeta {
    const u = this.updates.get(meta.id);
    return u?.max_input !== undefined ? { ...meta, maxInput: u.max_input } : meta;
  }
}
