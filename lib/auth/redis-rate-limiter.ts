/**
 * The rate limiter shared by every gateway on one Redis: rate-limiter.ts's GCRA for both limits
 * in one Lua script (atomic, on Redis's clock, so gateways with skewed clocks agree). Keys:
 * `<prefix>ratelimit:<sha256 of the identity>:req|items`, expiring when the allowance is full again.
 */
import { createHash } from "node:crypto";
import { Redis } from "ioredis";
import type { RateLimits } from "../config/security-settings.ts";
import type { Identity, RolePolicy } from "./identity.ts";
import { RateLimiter, Cost, limitFor, refusal, REQUEST_WINDOW_MS, ITEM_WINDOW_MS } from "./rate-limiter.ts";

// KEYS: requests key, items key. ARGV: requests limit, requests cost, items limit, items cost, request window, item window.
// Returns {1} when taken, {0, request wait ms, item wait ms} when refused (nothing spent).
const TAKE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function check(key, limit, cost, window)
  if limit <= 0 or cost <= 0 then return nil, 0 end
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local interval = window / limit
  local nxt = tat + cost * interval
  return nxt, nxt - now - math.max(window, interval)
end
local rn, rw = check(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[5]))
local inx, iw = check(KEYS[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[6]))
if rw > 0 or iw > 0 then return {0, math.ceil(math.max(rw, 0)), math.ceil(math.max(iw, 0))} end
if rn then redis.call('SET', KEYS[1], string.format('%.3f', rn), 'PX', math.ceil(rn - now) + 1) end
if inx then redis.call('SET', KEYS[2], string.format('%.3f', inx), 'PX', math.ceil(inx - now) + 1) end
return {1}`;

export class RedisRateLimiter implements RateLimiter {
  constructor(private readonly redis: Redis, private readonly prefix: string, private readonly limits: RateLimits, private readonly policy: RolePolicy) {}

  /** Its own connection (the task store's belongs to the backends); fails fast while Redis is down. */
  static async connect(url: string, prefix: string, limits: RateLimits, policy: RolePolicy, warn: (m: string) => void): Promise<RedisRateLimiter> {
    const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 2, enableOfflineQueue: false });
    redis.on("error", (err: Error) => warn(`rate limiter redis: ${err.message}`));
    await redis.connect();
    return new RedisRateLimiter(redis, prefix, limits, policy);
  }

  async take(identity: Identity, cost: Cost): Promise<void> {
    const limit = limitFor(this.limits, this.policy, identity, cost);
    if ((limit.perSecond <= 0 || cost.requests <= 0) && (limit.itemsPerMinute <= 0 || cost.items <= 0)) return;
    const key = `${this.prefix}ratelimit:${createHash("sha256").update(identity.id).digest("hex").slice(0, 32)}`;
    const args = [limit.perSecond, cost.requests, limit.itemsPerMinute, cost.items, REQUEST_WINDOW_MS, ITEM_WINDOW_MS].map(String);
    const [taken, requestWait, itemWait] = (await this.redis.eval(TAKE, 2, `${key}:req`, `${key}:items`, ...args)) as number[];
    if (taken !== 1) throw refusal(limit, requestWait, itemWait);
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}
