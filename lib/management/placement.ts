/**
 * Placement (issue #15): which model node runs which model actor. Pure: from the desired
 * deployments, the live nodes' reports and the previous assignments it computes new assignments
 * and says why. Existing actors stay where they are (no reshuffling); actors on nodes that are
 * gone, or that declined, are placed again; new ones go to the least-loaded node that can take
 * them (a free slot, the memory budget, a CUDA device first for `any`).
 */
import type { AgentReport, Deployment } from "../store/deployment-store.ts";
import { deploymentKey } from "../store/deployment-store.ts";

export interface PlacementInput {
  deployments: readonly Deployment[];
  agents: readonly AgentReport[];
  previous: Readonly<Record<string, readonly string[]>>;
  /** Tasks waiting or running per model: a model being removed keeps an actor until its queue is empty. */
  queueDepth: Readonly<Record<string, number>>;
}

export interface PlacementResult {
  assignments: Record<string, string[]>;
  unplaced: Record<string, string>;
  /** One line per change, for the log and `/models`. */
  decisions: { model: string; message: string }[];
}

/** Actors a deployment should have now. */
export function wantedReplicas(d: Deployment, depth: number, current: number): number {
  if (d.state === "active") return d.replicas;
  // Removing: drain first. Keep what runs (at least one) while tasks remain; none once empty.
  return depth > 0 ? Math.max(1, current) : 0;
}

export function place({ deployments, agents, previous, queueDepth }: PlacementInput): PlacementResult {
  const byNode = new Map(agents.map((a) => [a.node, a]));
  const load = new Map<string, number>(agents.map((a) => [a.node, 0]));
  const memory = new Map<string, number>(agents.map((a) => [a.node, 0]));
  const decisions: PlacementResult["decisions"] = [];
  const assignments: Record<string, string[]> = {};
  const unplaced: Record<string, string> = {};
  const sorted = [...deployments].sort((a, b) => a.id.localeCompare(b.id));
  const charge = (node: string, d: Deployment) => {
    load.set(node, (load.get(node) ?? 0) + 1);
    memory.set(node, (memory.get(node) ?? 0) + d.bytes);
  };

  // First keep what still stands, so new actors see every node's true load.
  for (const d of sorted) {
    const key = deploymentKey(d);
    const kept: string[] = [];
    for (const node of previous[d.id] ?? []) {
      const agent = byNode.get(node);
      if (!agent) decisions.push({ model: d.id, message: `node ${node} is gone; its actor of ${d.id} is placed again` });
      else if (agent.declined[key]) decisions.push({ model: d.id, message: `node ${node} declined ${d.id}: ${agent.declined[key]}` });
      else kept.push(node);
    }
    const wanted = wantedReplicas(d, queueDepth[d.id] ?? 0, kept.length);
    while (kept.length > wanted) {
      const node = kept.pop()!;
      decisions.push({ model: d.id, message: d.state === "removing" ? `${d.id} drained; stopping its actor on ${node}` : `scaling ${d.id} down to ${wanted}: stopping its actor on ${node}` });
    }
    kept.forEach((node) => charge(node, d));
    assignments[d.id] = kept;
  }

  for (const d of sorted) {
    const key = deploymentKey(d);
    const wanted = wantedReplicas(d, queueDepth[d.id] ?? 0, assignments[d.id].length);
    while (assignments[d.id].length < wanted) {
      const reasons: string[] = [];
      const candidates = agents.filter((a) => {
        const why = refusal(a, d, key, assignments[d.id], load.get(a.node) ?? 0, memory.get(a.node) ?? 0);
        if (why) reasons.push(`${a.node}: ${why}`);
        return why === undefined;
      });
      if (candidates.length === 0) {
        const have = assignments[d.id].length;
        unplaced[d.id] = `${have} of ${wanted} replicas placed; ${agents.length === 0 ? "no model node is running" : reasons.join("; ")}`;
        break;
      }
      candidates.sort((a, b) => preference(a, d) - preference(b, d) || (load.get(a.node) ?? 0) - (load.get(b.node) ?? 0) || a.node.localeCompare(b.node));
      const node = candidates[0].node;
      assignments[d.id].push(node);
      charge(node, d);
      decisions.push({ model: d.id, message: `placed an actor of ${d.id} on ${node}` });
    }
  }
  return { assignments, unplaced, decisions };
}

function refusal(a: AgentReport, d: Deployment, key: string, hosts: readonly string[], load: number, memory: number): string | undefined {
  if (hosts.includes(a.node)) return `already runs ${d.id}`;
  if (a.declined[key]) return `declined (${a.declined[key]})`;
  if (load >= a.slots) return `no free slot (${a.slots} in use)`;
  if (a.memoryBudget !== undefined && memory + d.bytes > a.memoryBudget) return `memory budget ${a.memoryBudget} bytes would be exceeded (${memory} in use, ${d.bytes} more)`;
  return undefined;
}

/** Lower first: a deployment that may use a GPU prefers nodes that have one. */
const preference = (a: AgentReport, d: Deployment): number => (d.device === "any" && !a.devices.some((x) => x.startsWith("cuda")) ? 1 : 0);
