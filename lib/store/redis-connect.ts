/**
 * The first connection to Redis when a node starts. Redis may not be up yet (containers starting
 * together, Redis restarting): the node keeps trying with exponential backoff (0.5 s doubling to
 * 10 s between attempts) and logs each failed attempt, instead of exiting. By default it keeps
 * trying for ever (an orchestrator's health check sees a node that is not ready); `timeoutMs`
 * bounds the wait. A Redis that answers and refuses the node (wrong password, unknown user) is not
 * retried: credentials do not fix themselves.
 *
 * After this first connection, ioredis's own reconnection takes over (outages are 503s, SPEC §12).
 */
import type { Redis } from "ioredis";

export interface ConnectRetry {
  /** Give up after this long (ms); 0 or undefined: keep trying. */
  timeoutMs?: number;
  /** Wait after the first failed attempt (ms); doubled after each further one up to maxDelayMs. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Told about each failed attempt (a warning). */
  log?: (message: string) => void;
  /** Told about the connection once made after failed attempts. */
  connected?: (message: string) => void;
  /** Replaceable in tests. */
  sleep?: (ms: number) => Promise<void>;
}

export const DEFAULT_INITIAL_DELAY_MS = 500;
export const DEFAULT_MAX_DELAY_MS = 10_000;

/** Errors of a Redis that answered and refused: retrying cannot help. */
const REFUSED = /WRONGPASS|NOAUTH|NOPERM|invalid username-password|ERR AUTH|ERR invalid password|user .* is disabled/i;

/** `host:port` of a Redis URL, without credentials (for logs). */
export function redisAddress(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || "6379"}${u.pathname && u.pathname !== "/" ? u.pathname : ""}`;
  } catch {
    return "(unparsable Redis URL)";
  }
}

/**
 * Makes a client (`create` must give one with `lazyConnect: true`) and connects it, retrying as
 * described above with a fresh client per attempt (an ioredis client closed after a failed first
 * connect does not connect again reliably). Resolves with the ready client; rejects when the Redis
 * refuses the node's credentials or the timeout passes.
 */
export async function connectWithRetry(create: () => Redis, where: string, retry: ConnectRetry = {}): Promise<Redis> {
  const initial = retry.initialDelayMs ?? DEFAULT_INITIAL_DELAY_MS;
  const max = retry.maxDelayMs ?? DEFAULT_MAX_DELAY_MS;
  const sleep = retry.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const log = retry.log ?? (() => {});
  const started = Date.now();
  let delay = initial;
  for (let attempt = 1; ; attempt++) {
    const redis = create();
    // connect() rejects with "Connection is closed."; the reason is in the client's error event.
    let lastError: Error | undefined;
    const onError = (err: Error) => {
      lastError = err;
    };
    redis.on("error", onError);
    try {
      await redis.connect();
      redis.off("error", onError);
      if (attempt > 1) retry.connected?.(`redis: connected to ${where} at attempt ${attempt}, after ${seconds(Date.now() - started)} s`);
      return redis;
    } catch (err) {
      // Stop this client's own reconnecting; the next attempt uses a new one. Its listener stays:
      // a late error event of a dropped client must not be unhandled.
      redis.disconnect();
      const reason = (lastError ?? (err as Error)).message;
      if (REFUSED.test(reason) || REFUSED.test((err as Error).message)) throw new Error(`redis at ${where} refused this node (${reason}); check the user and password in the Redis URL`);
      const waited = Date.now() - started;
      if (retry.timeoutMs && waited + delay > retry.timeoutMs) {
        throw new Error(`redis at ${where} not reachable after ${attempt} attempt(s) in ${seconds(waited)} s (${reason}); giving up (--redis-connect-timeout ${retry.timeoutMs / 1000})`);
      }
      log(`redis: ${where} not reachable (${reason}); attempt ${attempt} failed, retrying in ${seconds(delay)} s`);
      await sleep(delay);
      delay = Math.min(delay * 2, max);
    }
  }
}

const seconds = (ms: number): string => (ms / 1000).toFixed(1);
