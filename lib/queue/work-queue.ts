/**
 * Per-model work queues (DESIGN "Data path"). Implementations: memory-queue.ts (embedded mode)
 * and a Redis Stream per model with a consumer group (cluster mode). Entries are acknowledged
 * only when the handler resolves; a handler that throws gets its entry delivered again.
 */
import type { TaskRequest } from "../request/request.ts";
import type { TaskName } from "../request/task-names.ts";

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
