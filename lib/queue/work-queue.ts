/**
 * Per-model work queues (DESIGN "Data path"). Implementations: memory-queue.ts (embedded mode)
 * and a Redis Stream per model with a consumer group (cluster mode). Entries are acknowledged
 * only when the handler resolves; a handler that throws gets its entry delivered again.
 */
import type { TaskRequest } from "../request/request.ts";
import type { TaskName } from "../request/task-names.ts";
import type { DeliveryReceipt } from "../base/delivery-receipt.ts";

export interface QueueEntry {
  taskId: string;
  model: string;
  task: TaskName;
  request: TaskRequest;
  enqueuedAt: number;
}

export interface Delivery {
  entry: QueueEntry;
  /** 1 on first delivery, then 2, 3, ... */
  attempt: number;
  /**
   * Earlier deliveries that never settled: their process died (or hung past the visibility
   * timeout) while running this entry. A delivery with crashes > 0 runs alone in its process.
   */
  crashes: number;
  /**
   * The queue has already set the task's record to `running` with this attempt (Redis: in the
   * script that counted the delivery); the handler need not.
   */
  markedRunning?: boolean;
  /**
   * For the handler's final write (result or failure): a store that shares the queue's backend
   * acknowledges the entry in the same atomic step (TaskStore.complete/fail) and sets `acked`;
   * the queue then does not acknowledge it again. Without it the queue acknowledges once the
   * handler resolves, as always.
   */
  receipt?: DeliveryReceipt;
}


export type DeliveryHandler = (delivery: Delivery) => Promise<void>;

export interface ConsumeOptions {
  /** Deliveries in flight at once for this consumer. */
  concurrency: number;
}

export interface Consumer {
  /** Stops taking new entries and resolves when every delivery in flight has settled. */
  stop(): Promise<void>;
}

export interface WorkQueue {
  enqueue(entry: QueueEntry): Promise<void>;
  consume(model: string, consumerName: string, handler: DeliveryHandler, options: ConsumeOptions): Consumer;
  /** Entries waiting or in flight for a model. */
  depth(model: string): Promise<number>;
  close(): Promise<void>;
}
