/**
 * In-process WorkQueue: a FIFO per model; consumers take entries when they have room. Its
 * entries die with the process, so a delivery here never follows a crash (crashes is 0).
 */
import type { ConsumeOptions, Consumer, Delivery, DeliveryHandler, QueueEntry, WorkQueue } from "./work-queue.ts";

interface ModelQueue {
  waiting: Delivery[];
  inFlight: number;
  wake: Set<() => void>;
}

export class MemoryWorkQueue implements WorkQueue {
  private readonly queues = new Map<string, ModelQueue>();

  async enqueue(entry: QueueEntry): Promise<void> {
    this.push({ entry, attempt: 1, crashes: 0 });
  }

  async depth(model: string): Promise<number> {
    const q = this.queues.get(model);
    return q ? q.waiting.length + q.inFlight : 0;
  }

  consume(model: string, _consumerName: string, handler: DeliveryHandler, options: ConsumeOptions): Consumer {
    const q = this.queueOf(model);
    const inFlight = new Set<Promise<void>>();
    let stopped = false;
    const pump = () => {
      while (!stopped && inFlight.size < options.concurrency && q.waiting.length > 0) {
        const delivery = q.waiting.shift() as Delivery;
        q.inFlight++;
        const run = handler(delivery)
          .catch(() => this.push({ entry: delivery.entry, attempt: delivery.attempt + 1, crashes: 0 }))
          .finally(() => {
            q.inFlight--;
            inFlight.delete(run);
            pump();
          });
        inFlight.add(run);
      }
    };
    q.wake.add(pump);
    queueMicrotask(pump);
    return {
      stop: async () => {
        stopped = true;
        q.wake.delete(pump);
        await Promise.allSettled([...inFlight]);
      },
    };
  }

  async close(): Promise<void> {
    this.queues.clear();
  }

  private push(delivery: Delivery): void {
    const q = this.queueOf(delivery.entry.model);
    q.waiting.push(delivery);
    for (const wake of q.wake) wake();
  }

  private queueOf(model: string): ModelQueue {
    let q = this.queues.get(model);
    if (!q) this.queues.set(model, (q = { waiting: [], inFlight: 0, wake: new Set() }));
    return q;
  }
}
