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
 *
 * Round trips per delivery (issue #17): the read (XREADGROUP, several entries at once when there
 * are), one script that reads the crash count and, for an ordinary delivery, counts it and marks
 * the task's record running, and the task store's final write, which acknowledges the entry in
 * the same script (the delivery's receipt; the queue acknowledges itself only when the handler
 * did not). Stranded entries are looked for (XAUTOCLAIM) at most once per `blockMs`.
 */
import { Redis } from "ioredis";
import type { ConsumeOptions, Consumer, DeliveryHandler, QueueEntry, WorkQueue } from "./work-queue.ts";
import type { DeliveryReceipt } from "../base/delivery-receipt.ts";
import { Quarantine } from "./quarantine.ts";
import { redisKeys, redisScript, QUEUE_GROUP, type ScriptCall } from "../base/redis-keys.ts";


// KEYS[1] the model's attempts hash, KEYS[2] the task's record; ARGV: entry id, now (ms).
// A suspect (deliveries started > deliveries that threw: its process died) is only reported: it
// is counted once it holds the quarantine gate alone. An ordinary delivery is counted and its
// record marked running (unless final; it keeps the expiry its creation set).
const CLAIM = `
local started = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local threw = tonumber(redis.call('HGET', KEYS[1], ARGV[1] .. ':threw') or '0')
if started > threw then return {0, started - threw} end
local attempt = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
local state = redis.call('HGET', KEYS[2], 'state')
if state == 'queued' or state == 'running' then
  redis.call('HSET', KEYS[2], 'state', 'running', 'attempts', attempt, 'updated_at', ARGV[2])
end
return {1, attempt}`;

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

  /** The keys the task store's scripts name too (lib/base/redis-keys.ts). */
  private readonly keys: ReturnType<typeof redisKeys>;
  private readonly claimScript: ScriptCall;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly options: RedisQueueOptions = { visibilityMs: 10_000, blockMs: 1000 },
  ) {
    this.keys = redisKeys(prefix);
    this.claimScript = redisScript(redis, "squareClaim", 2, CLAIM);
  }

  streamKey = (model: string): string => this.keys.queue(model);
  private attemptsKey = (model: string): string => this.keys.attempts(model);

  /** CLAIM on the model's attempts and RedisTaskStore's record of the task, which it marks running. */
  private async claim(model: string, entryId: string, taskId: string): Promise<[number, number]> {
    return (await this.claimScript(this.attemptsKey(model), this.keys.task(taskId), entryId, String(Date.now()))) as [number, number];
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
      const text = fields[fields.indexOf("entry") + 1];
      const parsed = parseEntry(text);
      let release: () => void;
      let crashes = 0;
      // Counted (and the record marked running) by the claim script, for an ordinary delivery.
      let attempt: number | undefined;
      try {
        // An ordinary delivery holds the shared gate before it is counted as started, as before;
        // a suspect gives it back and waits to hold the gate alone.
        release = await this.quarantine.enterShared();
        try {
          const [ordinary, n] = await this.claim(model, id, parsed?.taskId ?? "");
          if (ordinary === 1) attempt = n;
          else crashes = n;
        } catch (err) {
          release();
          throw err;
        }
        if (attempt === undefined) {
          release();
          release = await this.quarantine.enterAlone();
        }
      } finally {
        held.delete(id);
      }
      const receipt: DeliveryReceipt = { model, entryId: id, acked: false };
      const run = (async () => {
        const markedRunning = attempt !== undefined;
        attempt ??= await this.redis.hincrby(this.attemptsKey(model), id, 1);
        const entry = parsed ?? (JSON.parse(text) as QueueEntry); // unreadable: throws, as it always did
        try {
          await handler({ entry, attempt, crashes, markedRunning, receipt });
        } catch (err) {
          if (!receipt.acked) await this.redis.hincrby(this.attemptsKey(model), threwField(id), 1);
          throw err;
        }
        if (!receipt.acked) await this.redis.multi().xack(key, QUEUE_GROUP, id).xdel(key, id).hdel(this.attemptsKey(model), id, threwField(id)).exec();
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
      if (ids.length) void this.redis.xclaim(key, QUEUE_GROUP, consumerName, 0, ...ids, "JUSTID").catch(() => undefined);
    }, Math.max(100, this.options.visibilityMs / 3));

    const ensureGroup = () =>
      this.redis.xgroup("CREATE", key, QUEUE_GROUP, "0", "MKSTREAM").catch((err: Error) => {
        if (!/BUSYGROUP/.test(err.message)) throw err;
      });

    /** When stranded entries are next looked for: at most once per blocking-read interval. */
    let claimDue = 0;
    const pull = async () => {
      await ensureGroup();
      while (!stopped) {
        const room = options.concurrency - inFlight.size;
        if (room <= 0) {
          await new Promise<void>((resolve) => (slotFreed = resolve));
          continue;
        }
        if (Date.now() >= claimDue) {
          const claimed = (await this.redis.xautoclaim(key, QUEUE_GROUP, consumerName, this.options.visibilityMs, "0-0", "COUNT", room)) as [string, StreamEntry[]];
          const reclaimed = claimed[1].filter((e) => e && e[1]);
          if (reclaimed.length) {
            await deliverAll(reclaimed); // and look again at once: there may be more
            continue;
          }
          claimDue = Date.now() + this.options.blockMs;
        }
        const read = (await reader.xreadgroup("GROUP", QUEUE_GROUP, consumerName, "COUNT", room, "BLOCK", this.options.blockMs, "STREAMS", key, ">")) as [string, StreamEntry[]][] | null;
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

/** A stream entry's QueueEntry, or undefined when its JSON cannot be read or names no task (its delivery then fails as before). */
function parseEntry(text: string | undefined): QueueEntry | undefined {
  try {
    const entry = JSON.parse(text ?? "") as QueueEntry;
    return typeof entry?.taskId === "string" ? entry : undefined;
  } catch {
    return undefined;
  }
}
