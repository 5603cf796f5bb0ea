/**
 * Task state (SPEC §4). Implementations: memory-store.ts (embedded mode, unit tests) and a Redis
 * store (cluster mode). A result is written once, by the replica that ran the task.
 */
import type { TaskName } from "../request/task-names.ts";
import type { ModelUpdate } from "../config/model-settings.ts";
import type { DeliveryReceipt } from "../base/delivery-receipt.ts";

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
  /**
   * Stores the result; a second completion of the same task is ignored (first write wins).
   * With a queue delivery's `receipt`, a store that shares the queue's backend also acknowledges
   * the entry in the same atomic step, whether or not the write won (and sets `receipt.acked`).
   */
  complete(id: string, result: Record<string, unknown>, timings: TaskTimings, receipt?: DeliveryReceipt): Promise<boolean>;
  fail(id: string, error: TaskError, timings?: TaskTimings, receipt?: DeliveryReceipt): Promise<void>;
  /**
   * Optional: the admission checks (lib/orchestration/intake.ts), the record and its queue entry
   * (`entryJson`, the QueueEntry as the model's queue stores it) in one atomic step. A store that
   * shares its backend with the queue implements it (Redis: one script, one round trip).
   */
  admit?(record: TaskRecord, entryJson: string, admission: Admission): Promise<Refusal | undefined>;
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

export interface Admission {
  /** Refuse when this many entries of the model are already waiting or running. */
  maxQueue?: number;
}

/** Why a task was not admitted; nothing was written. */
export type Refusal = { reason: "removing" } | { reason: "removed" } | { reason: "full"; depth: number };
