/** DeploymentStore in one process (embedded mode, tests); reports expire by the clock. */
import type { AgentReport, Deployment, DeploymentStore, Placement } from "./deployment-store.ts";
import { EMPTY_PLACEMENT } from "./deployment-store.ts";

export class MemoryDeploymentStore implements DeploymentStore {
  private readonly deployments = new Map<string, Deployment>();
  private readonly agents = new Map<string, { report: AgentReport; until: number }>();
  private placement: Placement = EMPTY_PLACEMENT;
  private leader?: { node: string; until: number };
  private readonly removed = new Set<string>();

  constructor(private readonly now: () => number = Date.now) {}

  async list(): Promise<Deployment[]> {
    return [...this.deployments.values()].map((d) => structuredClone(d));
  }

  async get(id: string): Promise<Deployment | undefined> {
    const d = this.deployments.get(id);
    return d && structuredClone(d);
  }

  async create(deployment: Deployment): Promise<boolean> {
    if (this.deployments.has(deployment.id)) return false;
    this.deployments.set(deployment.id, structuredClone(deployment));
    this.removed.delete(deployment.id);
    return true;
  }

  async save(deployment: Deployment): Promise<void> {
    this.deployments.set(deployment.id, structuredClone(deployment));
  }

  async delete(id: string): Promise<void> {
    this.deployments.delete(id);
    this.removed.add(id);
  }

  async wasRemoved(id: string): Promise<boolean> {
    return this.removed.has(id);
  }

  async report(report: AgentReport, ttlMs: number): Promise<void> {
    this.agents.set(report.node, { report: structuredClone(report), until: this.now() + ttlMs });
  }

  async dropAgent(node: string): Promise<void> {
    this.agents.delete(node);
  }

  async liveAgents(): Promise<AgentReport[]> {
    const now = this.now();
    return [...this.agents.values()].filter((a) => a.until > now).map((a) => structuredClone(a.report));
  }

  async savePlacement(placement: Placement): Promise<void> {
    this.placement = structuredClone(placement);
  }

  async getPlacement(): Promise<Placement> {
    return structuredClone(this.placement);
  }

  async lead(node: string, ttlMs: number): Promise<boolean> {
    const now = this.now();
    if (this.leader && this.leader.node !== node && this.leader.until > now) return false;
    this.leader = { node, until: now + ttlMs };
    return true;
  }

  async close(): Promise<void> {}
}
