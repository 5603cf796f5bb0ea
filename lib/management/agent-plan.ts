/** A model node's part of the placement: which actors to start and which to stop. */
import type { Deployment, Placement } from "../store/deployment-store.ts";
import { deploymentKey } from "../store/deployment-store.ts";

export interface RunningActor {
  model: string;
  /** The deployment (its created_at) the actor was started for. */
  deployment: number;
}

export interface AgentPlan {
  start: Deployment[];
  stop: string[];
}

export function planAgent(node: string, placement: Placement, deployments: readonly Deployment[], running: readonly RunningActor[], declined: Readonly<Record<string, string>>): AgentPlan {
  const byId = new Map(deployments.map((d) => [d.id, d]));
  const mine = new Map<string, Deployment>();
  for (const [model, nodes] of Object.entries(placement.assignments)) {
    const d = byId.get(model);
    if (d && nodes.includes(node) && !declined[deploymentKey(d)]) mine.set(model, d);
  }
  // An actor of an older deployment of the same id (removed, then deployed again) is stopped too.
  const stop = running.filter((a) => mine.get(a.model)?.created_at !== a.deployment).map((a) => a.model);
  const start = [...mine.values()].filter((d) => !running.some((a) => a.model === d.id));
  return { start, stop };
}
