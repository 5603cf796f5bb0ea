/** When a management task (deploy, scale) is finished or has failed, from a deployment's status. */
import type { AgentReport, Deployment } from "../store/deployment-store.ts";
import type { DeploymentStatus } from "./views.ts";

export type Outcome = { kind: "done"; result: Record<string, unknown> } | { kind: "failed"; message: string } | { kind: "waiting" };

export function pendingOutcome(d: Deployment, status: DeploymentStatus, agents: readonly AgentReport[]): Outcome {
  if (!d.pending || d.pending.kind === "remove") return { kind: "waiting" };
  // Equal, not at least: after a scale-down the task ends once the extra actors have stopped.
  if (status.replicas_ready === d.replicas) {
    const where = status.ready.map((r) => `${r.node} (${r.device})`).join(", ");
    return { kind: "done", result: { success: true, identifier: d.id, replicas: status.replicas_ready, nodes: status.ready, message: `${d.id}: ${status.replicas_ready} replica(s) ready on ${where}` } };
  }
  // Every live node refused it (unreadable folder, failed load): waiting would never end.
  const declined = Object.entries(status.declined);
  if (agents.length > 0 && declined.length === agents.length && status.replicas_ready === 0) {
    return { kind: "failed", message: `no model node can run ${d.id}: ${declined.map(([node, why]) => `${node}: ${why}`).join("; ")}` };
  }
  return { kind: "waiting" };
}
