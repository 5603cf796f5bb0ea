/**
 * Desired state of run-time model management (issue #15): one deployment record per model, the
 * live reports of model nodes (their agents), the placement the leader decided, and the
 * leader's lease. Kept beside the task store: Redis in cluster mode, memory in embedded mode.
 */
import type { ModelSettings } from "../config/model-settings.ts";

/** Model options a deployment fixes (the models-file options, without id, path and per-device replicas). */
export type DeploymentOptions = Omit<ModelSettings, "id" | "path" | "replicas_per_device">;

export interface Deployment {
  id: string;
  /** The model folder, relative to the models root (`--models-root`). */
  folder: string;
  /** SQuARE's DeployRequest fields, kept as given for deployed-models. */
  model_name: string;
  model_type: string;
  model_class: string;
  options: DeploymentOptions;
  /** `cpu` (disable_gpu true): a CPU actor; `any`: a node's CUDA device when it has one, else its CPU (SQuARE's "GPU when available"). */
  device: "cpu" | "any";
  replicas: number;
  adapters: string[];
  /** Bytes of the folder's files: what a node's memory budget is charged for one actor. */
  bytes: number;
  /** `removing`: no new tasks; actors stop once the model's queue is empty, then the record goes. */
  state: "active" | "removing";
  source: "api" | "models-file";
  created_at: number;
  updated_at: number;
  /** The management task (deploy, scale, remove) still in progress for this model. */
  pending?: { task_id: string; kind: ManagementTaskKind };
}

export type ManagementTaskKind = "deploy" | "scale" | "remove";

export interface ActorReport {
  model: string;
  /** Which deployment (its created_at): a redeployed id is a new deployment. */
  deployment: number;
  state: "loading" | "ready" | "stopping";
  device: string;
}

/** What a model node advertises, renewed every tick; it expires when the node stops renewing it. */
export interface AgentReport {
  node: string;
  devices: string[];
  /** Model actors this node may run at once (`--model-slots`). */
  slots: number;
  /** Bytes of model files it may host (`--memory-budget`); absent = no limit. */
  memoryBudget?: number;
  actors: ActorReport[];
  /** Deployments this node will not run, by `deploymentKey`, with the reason (unreadable folder, failed load). */
  declined: Record<string, string>;
  at: number;
}

export const deploymentKey = (d: Pick<Deployment, "id" | "created_at">): string => `${d.id}#${d.created_at}`;

export interface PlacementDecision {
  at: number;
  model: string;
  message: string;
}

export interface Placement {
  /** Model id → the nodes that should run one actor of it. */
  assignments: Record<string, string[]>;
  /** Models short of their replicas, and why. */
  unplaced: Record<string, string>;
  /** The latest decisions, newest last. */
  decisions: PlacementDecision[];
  leader: string;
  at: number;
}

export const EMPTY_PLACEMENT: Placement = Object.freeze({ assignments: {}, unplaced: {}, decisions: [], leader: "", at: 0 }) as Placement;

export interface DeploymentStore {
  list(): Promise<Deployment[]>;
  get(id: string): Promise<Deployment | undefined>;
  /** Creates the record unless one with this id exists; false when it does. */
  create(deployment: Deployment): Promise<boolean>;
  save(deployment: Deployment): Promise<void>;
  /** Deletes the record and remembers the id as removed (until it is deployed again). */
  delete(id: string): Promise<void>;
  /** Removed through management and not deployed since: a registry entry that lingers (a killed node) must not take tasks. */
  wasRemoved(id: string): Promise<boolean>;
  /** Writes a node's report, live for `ttlMs`. */
  report(report: AgentReport, ttlMs: number): Promise<void>;
  dropAgent(node: string): Promise<void>;
  liveAgents(): Promise<AgentReport[]>;
  savePlacement(placement: Placement): Promise<void>;
  getPlacement(): Promise<Placement>;
  /** Takes or renews the placement lease for `node`; true while `node` holds it. */
  lead(node: string, ttlMs: number): Promise<boolean>;
  close(): Promise<void>;
}
