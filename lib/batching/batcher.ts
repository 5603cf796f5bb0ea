/**
 * Cross-request dynamic batcher: the single owner of a model replica's waiting items. Tasks
 * submit their items (one task may bring many); the batcher cuts batches (select.ts) and runs
 * them, at most `parallel` at once plus one prepared ahead so a worker never waits for the
 * main thread. When the replica is idle the first item runs at once; when a worker is free but
 * the batch is not full it waits at most `maxWaitMs` for company; when every worker is busy a
 * partial batch keeps growing until one frees. Items come back to each submitter in order.
 * A failing batch of several items is retried item by item, so one bad item fails alone.
 */
import { selectBatch, Priority, SelectLimits, Waiting } from "./select.ts";

export interface BatcherSettings extends SelectLimits {
  maxWaitMs: number;
  /** Batches that may run at the same time (the session worker count). */
  parallel: number;
  /**
   * An idle replica waits (at most maxWaitMs, unless the batch fills) while a batch still hands
   * back results: the tasks receiving them submit their next items (a generation's next step)
   * within those turns, and starting at once would run the first of them alone and split the
   * rest from it. For replicas whose work comes back for more (generation); off by default.
   */
  holdWhileDelivering?: boolean;
}

export type RunBatch<In, Out> = (inputs: In[]) => Promise<{ outputs: Out[]; runMs: number }>;

export interface Batched<Out> {
  value: Out;
  /** Time the item waited in the batcher before its batch started. */
  waitedMs: number;
  /** Run time of the item's batch, and how many items it held. */
  runMs: number;
  batchItems: number;
}

export interface BatcherStats {
  batches: number;
  items: number;
  /** Tokens in real items, and tokens after padding each batch to its longest item. */
  tokens: number;
  paddedTokens: number;
}

interface Entry<In, Out> extends Waiting {
  input: In;
  resolve: (r: Batched<Out>) => void;
  reject: (e: Error) => void;
}

export class Batcher<In, Out> {
  readonly stats: BatcherStats = { batches: 0, items: 0, tokens: 0, paddedTokens: 0 };
  private waiting: Entry<In, Out>[] = [];
  private running = 0;
  /** Batches whose results are still being handed back (one per event-loop turn). */
  private delivering = 0;
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;

  /**
   * `settings` is read at every decision, so a live `update` (batch_size) applies at once.
   * `clock` (milliseconds) is replaceable so tests can drive waiting without real time.
   */
  constructor(
    private readonly run: RunBatch<In, Out>,
    private readonly settings: () => BatcherSettings,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  /** Items with different `key`s never share a batch. Resolves with every item's output, in order. */
  submit(items: readonly { input: In; length: number }[], key: string, priority: Priority = "interactive"): Promise<Batched<Out>[]> {
    const arrivedAt = this.clock();
    const results = items.map(
      ({ input, length }) =>
        new Promise<Batched<Out>>((resolve, reject) => this.waiting.push({ input, length, key, priority, seq: this.seq++, arrivedAt, resolve, reject })),
    );
    this.pump();
    return Promise.all(results);
  }

  get waitingItems(): number {
    return this.waiting.length;
  }

  get runningBatches(): number {
    return this.running;
  }

  private pump(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const settings = this.settings();
    while (this.waiting.length > 0 && this.running <= settings.parallel) {
      const now = this.clock();
      const { batch, full } = selectBatch(this.waiting, now, settings);
      const workerFree = this.running < settings.parallel;
      const waited = now - batch[0].arrivedAt;
      const prefetch = !workerFree && full && batch[0].priority === "interactive";
      const idle = this.running === 0 && !(settings.holdWhileDelivering && this.delivering > 0);
      const go = idle || (workerFree && (full || waited >= settings.maxWaitMs)) || prefetch;
      if (!go) {
        if (workerFree) this.timer = setTimeout(() => this.pump(), settings.maxWaitMs - waited);
        return; // otherwise the next batch to finish calls pump again
      }
      this.start(batch);
    }
  }

  private start(batch: Entry<In, Out>[]): void {
    const taken = new Set(batch);
    this.waiting = this.waiting.filter((w) => !taken.has(w));
    this.running++;
    const startedAt = this.clock();
    const longest = Math.max(...batch.map((b) => b.length));
    Object.assign(this.stats, {
      batches: this.stats.batches + 1,
      items: this.stats.items + batch.length,
      tokens: this.stats.tokens + batch.reduce((sum, b) => sum + b.length, 0),
      paddedTokens: this.stats.paddedTokens + longest * batch.length,
    });
    this.run(batch.map((b) => b.input))
      .then(
        ({ outputs, runMs }) => {
          this.delivering++;
          deliverOneByOne(
            batch.map((b, i) => () => b.resolve({ value: outputs[i], waitedMs: startedAt - b.arrivedAt, runMs, batchItems: batch.length })),
            () => {
              this.delivering--;
              this.pump();
            },
          );
        },
        (err: Error) => this.retryAlone(batch, err),
      )
      .finally(() => {
        this.running--;
        this.pump();
      });
  }

  /** Re-queues each item of a failed batch under a key of its own, oldest first. */
  private retryAlone(batch: Entry<In, Out>[], err: Error): void {
    if (batch.length === 1) return batch[0].reject(err);
    this.waiting.unshift(...batch.map((b) => ({ ...b, key: `alone#${b.seq}` })));
  }
}

/**
 * Hands a batch's results back one per event-loop turn: each waiting task post-processes and
 * stores its result in its own turn, so a batch of 64 completions does not hold the loop (and
 * the gateway's HTTP traffic) for all 64 at once.
 */
function deliverOneByOne(deliveries: (() => void)[], done: () => void): void {
  const next = (k: number) => {
    if (k >= deliveries.length) return done();
    deliveries[k]();
    setImmediate(next, k + 1);
  };
  next(0);
}
