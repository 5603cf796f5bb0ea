/**
 * What management answers, in SQuARE's shapes (research §9.1): deployed-models entries, worker
 * counts, health; and the state of one deployment (ready actors, where, what is missing).
 */
import type { AgentReport, Deployment, Placement } from "../store/deployment-store.ts";

export interface ReadyReplica {
  node: string;
  device: string;
}

/** Actors of this deployment that their nodes report ready. */
export function readyReplicas(d: Deployment, agents: readonly AgentReport[]): ReadyReplica[] {
  return agents.flatMap((a) => a.actors.filter((x) => x.model === d.id && x.deployment === d.created_at && x.state === "ready").map((x) => ({ node: a.node, device: x.device })));
}

/** One `GET /api/models/deployed-models` entry: SQuARE's fields, then ours. */
export function deployedModelView(d: Deployment, ready: number) {
  return {
    identifier: d.id,
    model_type: d.model_type,
    model_name: d.model_name,
    disable_gpu: d.options.disable_gpu,
    batch_size: d.options.batch_size,
    max_input: d.options.max_input,
    model_class: d.model_class,
    return_plaintext_arrays: d.options.return_plaintext_arrays,
    model_path: d.folder,
    replicas: d.replicas,
    replicas_ready: ready,
    state: d.state,
    source: d.source,
  };
}

export interface DeploymentStatus {
  identifier: string;
  state: Deployment["state"];
  replicas_wanted: number;
  replicas_ready: number;
  ready: ReadyReplica[];
  /** Nodes placement assigned (some may still be loading). */
  placed_on: string[];
  /** Why some replicas have no node, when that is so. */
  unplaced?: string;
  /** Nodes that declined this deployment, and why. */
  declined: Record<string, string>;
}

export function deploymentStatus(d: Deployment, agents: readonly AgentReport[], placement: Placement): DeploymentStatus {
  const key = `${d.id}#${d.created_at}`;
  const ready = readyReplicas(d, agents);
  const declined = Object.fromEntries(agents.filter((a) => a.declined[key]).map((a) => [a.node, a.declined[key]]));
  return {
    identifier: d.id,
    state: d.state,
    replicas_wanted: d.state === "active" ? d.replicas : 0,
    replicas_ready: ready.length,
    ready,
    placed_on: placement.assignments[d.id] ?? [],
    ...(placement.unplaced[d.id] ? { unplaced: placement.unplaced[d.id] } : {}),
    declined,
  };
}
