/** Calling one action on every replica (node) that serves it, e.g. stats and updates. */
import type { Context } from "moleculer";

interface RegistryWithEndpoints {
  getActionEndpoints(name: string): { endpoints?: { node: { id: string } }[] } | undefined;
}

export function replicaNodes(registry: RegistryWithEndpoints, action: string): string[] {
  return [...new Set((registry.getActionEndpoints(action)?.endpoints ?? []).map((ep) => ep.node.id))];
}

export function callEachReplica<T>(ctx: Context, registry: RegistryWithEndpoints, action: string, params: object): Promise<T[]> {
  return Promise.all(replicaNodes(registry, action).map((nodeID) => ctx.call<T, object>(action, params, { nodeID })));
}
