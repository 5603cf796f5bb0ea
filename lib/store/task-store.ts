/**
 * Task state (SPEC §4). Implementations: memory-store.ts (embedded mode, unit tests) and a Redis
 * store (cluster mode). A result is written once, by the replica that ran the task.
 */
import type { TaskName } from "../request/task-names.ts";
import type { ModelUpdate } from "../config/model-settings.ts";

export type TaskState = "queued" | "running" | "succeeded" | "failed";

export interface TaskTimings {
  queue_ms?: number;
  tokenize_ms?: number;
  batch_wait_ms?: number;
  inference_ms?: number;
  postprocess_ms?: number;
  explain_ms?: number;
  total_ms?: number;
}

export interface TaskError {
  type: string;
  message: string;
}

/** Model management's own tasks (deploy, scale, remove) share the store, so their ids resolve at task_result as SQuARE's did. */
export type ManagementTaskName = "deploy" | "scale" | "remove";

export interface TaskRecord {
  id: string;
  model: string;
  task: TaskName | ManagementTaskName;
  state: TaskState;
  created_at: number;
  updated_at: number;
  attempts: number;
  /** The identity that created the task (auth on); others cannot read it (SPEC §4). Absent without auth. */
  owner?: string;
  error?: TaskError;
  result?: Record<string, unknown>;
  timings?: TaskTimings;
}

export interface TaskStore {
  create(record: TaskRecord): Promise<void>;
  get(id: string): Promise<TaskRecord | undefined>;
  markRunning(id: string, attempt: number): Promise<void>;
  /** Stores the result; a second completion of the same task is ignored (first write wins). */
  complete(id: string, result: Record<string, unknown>, timings: TaskTimings): Promise<boolean>;
  fail(id: string, error: TaskError, timings?: TaskTimings): Promise<void>;
  /** Persisted `update` changes per model, merged; replicas that start later apply them. */
  saveModelUpdate(model: string, update: ModelUpdate): Promise<ModelUpdate>;
  getModelUpdate(model: string): Promise<ModelUpdate>;
  /** Model ids some node was configured to serve: a request for one with no ready replica is a 503, not a 404. */
  registerModel(model: string): Promise<void>;
  isKnownModel(model: string): Promise<boolean>;
  /** A removed model: no longer known (404, not 503), and its stored update is dropped so a redeploy starts clean. */
  forgetModel(model: string): Promise<void>;
  close(): Promise<void>;
}

export const DEFAULT_RESULT_TTL_MS = 24 * 3600 * 1000;
