/**
 * DeploymentStore on Redis: deployments in one hash (JSON per id), each node's report under its
 * own key with a TTL (Redis expires it, so no clock is compared across machines), the placement
 * as one JSON value, and the leader's lease as a key only its holder renews.
 */
import type { Redis } from "ioredis";
import type { AgentReport, Deployment, DeploymentStore, Placement } from "./deployment-store.ts";
import { EMPTY_PLACEMENT } from "./deployment-store.ts";
import { redisKeys } from "../base/redis-keys.ts";

// KEYS[1] lease; ARGV: node, ttl. Renews the holder's lease or takes a free one.
const LEAD = `
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not holder then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0`;

export class RedisDeploymentStore implements DeploymentStore {
  constructor(private readonly redis: Redis, private readonly prefix: string) {}

  private readonly deploymentsKey = () => redisKeys(this.prefix).deployments;
  private readonly removedKey = () => redisKeys(this.prefix).removedModels;
  private readonly agentsKey = () => `${this.prefix}agents`;
  private readonly agentKey = (node: string) => `${this.prefix}agent:${node}`;

  async list(): Promise<Deployment[]> {
    return Object.values(await this.redis.hgetall(this.deploymentsKey())).map((v) => JSON.parse(v) as Deployment);
  }

  async get(id: string): Promise<Deployment | undefined> {
    const v = await this.redis.hget(this.deploymentsKey(), id);
    return v === null ? undefined : (JSON.parse(v) as Deployment);
  }

  async create(deployment: Deployment): Promise<boolean> {
    const created = (await this.redis.hsetnx(this.deploymentsKey(), deployment.id, JSON.stringify(deployment))) === 1;
    if (created) await this.redis.srem(this.removedKey(), deployment.id);
    return created;
  }

  async save(deployment: Deployment): Promise<void> {
    await this.redis.hset(this.deploymentsKey(), deployment.id, JSON.stringify(deployment));
  }

  async delete(id: string): Promise<void> {
    await this.redis.multi().hdel(this.deploymentsKey(), id).sadd(this.removedKey(), id).exec();
  }

  async wasRemoved(id: string): Promise<boolean> {
    return (await this.redis.sismember(this.removedKey(), id)) === 1;
  }

  async report(report: AgentReport, ttlMs: number): Promise<void> {
    await this.redis.multi().set(this.agentKey(report.node), JSON.stringify(report), "PX", Math.max(1, Math.round(ttlMs))).sadd(this.agentsKey(), report.node).exec();
  }

  async dropAgent(node: string): Promise<void> {
    await this.redis.multi().del(this.agentKey(node)).srem(this.agentsKey(), node).exec();
  }

  async liveAgents(): Promise<AgentReport[]> {
    const nodes = await this.redis.smembers(this.agentsKey());
    if (nodes.length === 0) return [];
    const values = await this.redis.mget(...nodes.map(this.agentKey));
    const gone = nodes.filter((_, i) => values[i] === null);
    if (gone.length) await this.redis.srem(this.agentsKey(), ...gone);
    return values.filter((v): v is string => v !== null).map((v) => JSON.parse(v) as AgentReport);
  }

  async savePlacement(placement: Placement): Promise<void> {
    await this.redis.set(`${this.prefix}placement`, JSON.stringify(placement));
  }

  async getPlacement(): Promise<Placement> {
    const v = await this.redis.get(`${this.prefix}placement`);
    return v === null ? structuredClone(EMPTY_PLACEMENT) : (JSON.parse(v) as Placement);
  }

  async lead(node: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.eval(LEAD, 1, `${this.prefix}placement-leader`, node, String(Math.max(1, Math.round(ttlMs))))) === 1;
  }

  async close(): Promise<void> {
    /* the connection belongs to backends.ts */
  }
}
