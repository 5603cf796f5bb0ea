/**
 * What a model actor does with one queue delivery: run the task, write the result (or the
 * failure) to the task store, and only then let the queue acknowledge (a Redis store does both
 * in one step, with the delivery's receipt). Client mistakes fail at
 * once; other errors are retried until `maxAttempts`. A task whose deliveries killed their
 * process twice is not run a third time (SPEC §12): it fails naming the cause.
 */
import type { Delivery } from "../queue/work-queue.ts";
import type { TaskStore, TaskRecord } from "../store/task-store.ts";
import type { LoadedModel } from "../inference/model.ts";
import { executeTask } from "./execute.ts";
import { httpStatusOf } from "../errors.ts";

export const DEFAULT_MAX_ATTEMPTS = 3;
/** Process deaths while running a task after which it is given up (SPEC §12: "after its second crash"). */
export const MAX_CRASHES = 2;

export const CRASHED_MESSAGE =
  `this task crashed the model worker ${MAX_CRASHES} times (the replica process died while running it, the second time with nothing else running); it is not retried again`;

/** Told how each delivery ended (the replica's metrics, lib/metrics/replica-metrics.ts); optional. */
export interface DeliveryObserver {
  /** The task ran to the end; `timings` as stored with its result (milliseconds). */
  succeeded(entry: Delivery["entry"], timings: Record<string, number>): void;
  /** The task ended Failed with this error type. */
  failed(entry: Delivery["entry"], type: string): void;
  /** A server error; the queue delivers the task again. */
  retrying(entry: Delivery["entry"]): void;
}

export interface DeliveryOutcome {
  taskId: string;
  state: TaskRecord["state"];
}

export async function handleDelivery(
  { entry, attempt, crashes, markedRunning, receipt }: Delivery,
  runtime: LoadedModel,
  store: TaskStore,
  maxAttempts = DEFAULT_MAX_ATTEMPTS,
  observer?: DeliveryObserver,
): Promise<DeliveryOutcome> {
  const started = Date.now();
  const queue_ms = started - entry.enqueuedAt;
  if (crashes >= MAX_CRASHES) {
    await store.fail(entry.taskId, { type: "worker_crashed", message: CRASHED_MESSAGE }, { queue_ms }, receipt);
    observer?.failed(entry, "worker_crashed");
    return { taskId: entry.taskId, state: "failed" };
  }
  if (attempt > maxAttempts) {
    await store.fail(entry.taskId, { type: "internal", message: `gave up after ${maxAttempts} attempts` }, { queue_ms }, receipt);
    observer?.failed(entry, "internal");
    return { taskId: entry.taskId, state: "failed" };
  }
  if (!markedRunning) await store.markRunning(entry.taskId, attempt);
  abortIfInjected(entry);
  try {
    const { result, timings } = await executeTask(entry.task, entry.request, runtime);
    const all = { queue_ms, ...timings, total_ms: Date.now() - entry.enqueuedAt };
    await store.complete(entry.taskId, { ...result, timings: all }, all, receipt);
    observer?.succeeded(entry, all);
    return { taskId: entry.taskId, state: "succeeded" };
  } catch (err) {
    const e = err as { message?: string; type?: string };
    const clientMistake = httpStatusOf(e) < 500;
    if (!clientMistake && attempt < maxAttempts) {
      observer?.retrying(entry);
      throw err; // the queue delivers it again
    }
    const message = clientMistake ? String(e.message) : `failed after ${attempt} attempt(s): ${e.message}`;
    const type = clientMistake ? String(e.type ?? "invalid_request") : "internal";
    await store.fail(entry.taskId, { type, message }, { queue_ms }, receipt);
    observer?.failed(entry, type);
    return { taskId: entry.taskId, state: "failed" };
  }
}

/**
 * Fault injection for the crash tests (a failpoint, off unless the variable is set): a task
 * whose input contains the text in SQUARE_FAULT_ABORT_ON aborts the process the way a native
 * panic does, so the poison-task path is tested against a real process death.
 */
function abortIfInjected(entry: Delivery["entry"]): void {
  const marker = process.env.SQUARE_FAULT_ABORT_ON;
  if (marker && JSON.stringify(entry.request.input).includes(marker)) process.abort();
}
