/**
 * Rate limits per identity (issue #14): requests per second and items per minute, each a GCRA
 * ("generic cell rate algorithm", a token bucket kept as one timestamp): an identity may spend a
 * full second's requests and a full minute's items at once, then earns them back evenly. A
 * request over either limit is refused whole (429) with the seconds until it would pass.
 *
 * `MemoryRateLimiter` is per process (embedded mode, or a gateway without Redis);
 * `RedisRateLimiter` (redis-rate-limiter.ts) runs the same arithmetic in one Lua script on
 * Redis's clock, so every gateway sharing the Redis shares each identity's allowance.
 */
import type { RateLimit, RateLimits } from "../config/security-settings.ts";
import { Identity, RolePolicy, tierOf } from "./identity.ts";
import { rateLimited } from "./errors.ts";
import { invalid } from "../errors.ts";

export const REQUEST_WINDOW_MS = 1000;
export const ITEM_WINDOW_MS = 60_000;

export interface Cost {
  requests: number;
  items: number;
}

/** What one limit says about a cost: the new timestamp to store, or how long to wait (ms, > 0). */
export interface Verdict {
  tat?: number;
  waitMs: number;
}

/**
 * GCRA for one limit: `limit` units per `windowMs`, `tat` the stored "theoretical arrival time".
 * The burst is a full window, and at least one unit (so 0.5 requests per second allows one every 2 s).
 */
export function gcra(tat: number | undefined, now: number, limit: number, windowMs: number, cost: number): Verdict {
  if (limit <= 0 || cost <= 0) return { waitMs: 0 };
  const interval = windowMs / limit;
  const next = Math.max(tat ?? now, now) + cost * interval;
  const waitMs = next - now - Math.max(windowMs, interval);
  return waitMs > 0 ? { waitMs } : { tat: next, waitMs: 0 };
}

export interface RateLimiter {
  /** Spends `cost` from the identity's allowance, or throws 429 (with Retry-After) and spends nothing. */
  take(identity: Identity, cost: Cost): Promise<void>;
  close(): Promise<void>;
}

/** The limits of an identity's tier, after refusing a request no allowance could ever hold (a 422, not a 429 that no wait would cure). */
export function limitFor(limits: RateLimits, policy: RolePolicy, identity: Identity, cost: Cost): RateLimit {
  const limit = limits[tierOf(identity, policy)];
  if (limit.itemsPerMinute > 0 && cost.items > limit.itemsPerMinute) {
    throw invalid(`has ${cost.items} items; this identity's rate limit allows at most ${limit.itemsPerMinute} items per minute`, "input");
  }
  return limit;
}

export function refusal(limit: RateLimit, requestWaitMs: number, itemWaitMs: number): Error {
  const retryAfterS = Math.max(1, Math.ceil(Math.max(requestWaitMs, itemWaitMs) / 1000));
  const which = requestWaitMs >= itemWaitMs ? `${limit.perSecond} requests per second` : `${limit.itemsPerMinute} items per minute`;
  return rateLimited(`rate limit of this identity reached (${which}); retry in ${retryAfterS} s`, retryAfterS);
}

export class MemoryRateLimiter implements RateLimiter {
  private readonly requests = new Map<string, number>();
  private readonly items = new Map<string, number>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly limits: RateLimits, private readonly policy: RolePolicy, private readonly now: () => number = Date.now) {
    this.sweeper = setInterval(() => this.sweep(), ITEM_WINDOW_MS);
    this.sweeper.unref();
  }

  async take(identity: Identity, cost: Cost): Promise<void> {
    const limit = limitFor(this.limits, this.policy, identity, cost);
    const now = this.now();
    const r = gcra(this.requests.get(identity.id), now, limit.perSecond, REQUEST_WINDOW_MS, cost.requests);
    const i = gcra(this.items.get(identity.id), now, limit.itemsPerMinute, ITEM_WINDOW_MS, cost.items);
    if (r.waitMs > 0 || i.waitMs > 0) throw refusal(limit, r.waitMs, i.waitMs);
    if (r.tat !== undefined) this.requests.set(identity.id, r.tat);
    if (i.tat !== undefined) this.items.set(identity.id, i.tat);
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
  }

  /** A timestamp in the past means a full allowance: forgetting it changes nothing. */
  private sweep(): void {
    const now = this.now();
    for (const map of [this.requests, this.items]) for (const [id, tat] of map) if (tat <= now) map.delete(id);
  }
}
