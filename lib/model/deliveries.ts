/**
 * What a model actor does with one queue delivery: run the task, write the result (or the
 * failure) to the task store, and only then let the queue acknowledge. Client mistakes fail at
 * once; other errors are retried until `maxAttempts`.
 */
import type { Delivery } from "../queue/work-queue.ts";
import type { TaskStore, TaskRecord } from "../store/task-store.ts";
import type { ModelRuntime } from "./runtime.ts";
import { executeTask } from "../tasks/execute.ts";
import { httpStatusOf } from "../errors.ts";

export const DEFAULT_MAX_ATTEMPTS = 3;

export interface DeliveryOutcome {
  taskId: string;
  state: TaskRecord["state"];
}

export async function handleDelivery(
  { entry, attempt }: Delivery,
  runtime: ModelRuntime,
  store: TaskStore,
  maxAttempts = DEFAULT_MAX_ATTEMPTS,
): Promise<DeliveryOutcome> {
  const started = Date.now();
  const queue_ms = started - entry.enqueuedAt;
  if (attempt > maxAttempts) {
    await store.fail(entry.taskId, { type: "internal", message: `gave up after ${maxAttempts} attempts` }, { queue_ms });
    return { taskId: entry.taskId, state: "failed" };
  }
  await store.markRunning(entry.taskId, attempt);
  try {
    const { result, timings } = await executeTask(entry.task, entry.request, runtime);
    const all = { queue_ms, ...timings, total_ms: Date.now() - entry.enqueuedAt };
    await store.complete(entry.taskId, { ...result, timings: all }, all);
    return { taskId: entry.taskId, state: "succeeded" };
  } catch (err) {
    const e = err as { message?: string; type?: string };
    const clientMistake = httpStatusOf(e) < 500;
    if (!clientMistake && attempt < maxAttempts) throw err; // the queue delivers it again
    const message = clientMistake ? String(e.message) : `failed after ${attempt} attempt(s): ${e.message}`;
    await store.fail(entry.taskId, { type: clientMistake ? String(e.type ?? "invalid_request") : "internal", message }, { queue_ms });
    return { taskId: entry.taskId, state: "failed" };
  }
}
