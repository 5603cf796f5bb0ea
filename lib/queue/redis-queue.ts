/**
 * WorkQueue on Redis Streams (cluster mode): one stream per model, one consumer group shared by
 * its replicas. A replica reads only as many entries as it has room for; entries stay pending
 * until the handler resolves (XACK + XDEL). While a delivery runs, its consumer keeps resetting
 * the entry's idle time; an entry idle longer than `visibilityMs` (its replica died or hung) is
 * claimed by another replica. A handler that throws leaves its entry pending for such a claim.
 *
 * Crashes (SPEC §12): per entry, Redis counts deliveries started (field `<id>` of the model's
 * attempts hash) and deliveries whose handler threw (field `<id>:threw`); the difference is how
 * many times a process died running it.
 * Such a suspect waits at the process's quarantine gate and runs with nothing else in flight
 * in the process, so a second crash takes no other task with it.
 */
import { Redis } from "ioredis";
import type { ConsumeOptions, Consumer, DeliveryHandler, QueueEntry, WorkQueue } from "./work-queue.ts";
import { Quarantine } from "./quarantine.ts";

const GROUP = "replicas";

export interface RedisQueueOptions {
  /** Idle time after which another replica may claim a pending entry. */
  visibilityMs: number;
  /** How long one blocking read waits for new entries. */
  blockMs: number;
}

type StreamEntry = [id: string, fields: string[]];

/** The attempts-hash field counting an entry's deliveries whose handler threw. */
const threwField = (id: string): string => `${id}:threw`;

export class RedisWorkQueue implements WorkQueue {
  private readonly readers = new Set<Redis>();
  /** One gate for every consumer of this process: a crash takes all of them down. */
  readonly quarantine = new Quarantine();
  /** Told about errors the consumer loop recovers from (for logging). */
  onError?: (err: Error) => void;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly options: RedisQueueOptions = { visibilityMs: 10_000, blockMs: 1000 },
  ) {}

  streamKey = (model: string): string => `${this.prefix}queue:${model}`;
  private attemptsKey = (model: string): string => `${this.prefix}attempts:${model}`;

  /** Deliveries of an entry that started and neither finished nor threw: their process died. */
  private async crashesOf(model: string, id: string): Promise<number> {
    const [started, threw] = await this.redis.hmget(this.attemptsKey(model), id, threwField(id));
    return Math.max(0, Number(started ?? 0) - Number(threw ?? 0));
  }

  async enqueue(entry: QueueEntry): Promise<void> {
    await this.redis.xadd(this.streamKey(entry.model), "*", "entry", JSON.stringify(entry));
  }

  async depth(model: string): Promise<number> {
    return this.redis.xlen(this.streamKey(model));
  }

  consume(model: string, consumerName: string, handler: DeliveryHandler, options: ConsumeOptions): Consumer {
    const key = this.streamKey(model);
    // Blocking reads need a connection of their own; it may queue commands while (re)connecting.
    const reader = this.redis.duplicate({ lazyConnect: false, enableOfflineQueue: true });
    this.readers.add(reader);
    const inFlight = new Map<string, Promise<void>>();
    let stopped = false;
    let slotFreed: () => void = () => {};

    /** Entries read but not yet running (waiting at the quarantine gate): renewed like running ones. */
    const held = new Set<string>();

    const deliver = async ([id, fields]: StreamEntry) => {
      let release: () => void;
      let crashes: number;
      try {
        crashes = await this.crashesOf(model, id);
        release = await (crashes > 0 ? this.quarantine.enterAlone() : this.quarantine.enterShared());
      } finally {
        held.delete(id);
      }
      const run = (async () => {
        const attempt = await this.redis.hincrby(this.attemptsKey(model), id, 1);
        const entry = JSON.parse(fields[fields.indexOf("entry") + 1]) as QueueEntry;
        try {
          await handler({ entry, attempt, crashes });
        } catch (err) {
          await this.redis.hincrby(this.attemptsKey(model), threwField(id), 1);
          throw err;
        }
        await this.redis.multi().xack(key, GROUP, id).xdel(key, id).hdel(this.attemptsKey(model), id, threwField(id)).exec();
      })()
        .catch(() => undefined) // left pending: claimed again after the visibility timeout
        .finally(() => {
          release();
          inFlight.delete(id);
          slotFreed();
        });
      inFlight.set(id, run);
      // A suspect runs with nothing else in flight: take no more work until it settles.
      if (crashes > 0) await run;
    };

    /** Delivers entries in order; each is held (kept claimed) from the moment it is read. */
    const deliverAll = async (entries: StreamEntry[]) => {
      const fresh = entries.filter(([id]) => !inFlight.has(id) && !held.has(id));
      for (const [id] of fresh) held.add(id);
      try {
        for (const e of fresh) await deliver(e);
      } finally {
        for (const [id] of fresh) held.delete(id); // on an error the rest go back to the claimable pool
      }
    };

    const keepAlive = setInterval(() => {
      const ids = [...inFlight.keys(), ...held];
      if (ids.length) void this.redis.xclaim(key, GROUP, consumerName, 0, ...ids, "JUSTID").catch(() => undefined);
    }, Math.max(100, this.options.visibilityMs / 3));

    const ensureGroup = () =>
      this.redis.xgroup("CREATE", key, GROUP, "0", "MKSTREAM").catch((err: Error) => {
        if (!/BUSYGROUP/.test(err.message)) throw err;
      });

    const pull = async () => {
      await ensureGroup();
      while (!stopped) {
        const room = options.concurrency - inFlight.size;
        if (room <= 0) {
          await new Promise<void>((resolve) => (slotFreed = resolve));
          continue;
        }
        const claimed = (await this.redis.xautoclaim(key, GROUP, consumerName, this.options.visibilityMs, "0-0", "COUNT", room)) as [string, StreamEntry[]];
        const reclaimed = claimed[1].filter((e) => e && e[1]);
        if (reclaimed.length) {
          await deliverAll(reclaimed);
          continue;
        }
        const read = (await reader.xreadgroup("GROUP", GROUP, consumerName, "COUNT", room, "BLOCK", this.options.blockMs, "STREAMS", key, ">")) as [string, StreamEntry[]][] | null;
        if (stopped) break; // entries read after stop stay pending for another replica
        for (const [, entries] of read ?? []) await deliverAll(entries);
      }
    };

    /** Redis may go away (restart, network): keep trying, never give up the model's work. */
    const loop = async () => {
      while (!stopped) {
        try {
          await pull();
        } catch (err) {
          if (stopped) break;
          this.onError?.(err as Error);
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    };
    const running = loop();

    return {
      stop: async () => {
        stopped = true;
        slotFreed();
        await running;
        await Promise.allSettled([...inFlight.values()]);
        clearInterval(keepAlive);
        reader.disconnect();
        this.readers.delete(reader);
      },
    };
  }

  async close(): Promise<void> {
    for (const r of this.readers) r.disconnect();
    this.readers.clear();
  }
}
