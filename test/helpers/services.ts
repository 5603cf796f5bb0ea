/**
 * Where the tests find the real services (.ci/run starts them). One pair of variables for every
 * test: TEST_REDIS_URL and TEST_NATS_URL. The server's own REDIS_URL/TRANSPORTER are never read
 * here, so a developer's server configuration cannot point a test run at another Redis.
 */
import { after } from "node:test";
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";

export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
export const TEST_NATS_URL = process.env.TEST_NATS_URL ?? "nats://127.0.0.1:4222";

/**
 * A Redis connection to TEST_REDIS_URL for one test file, and a key prefix of its own: the
 * prefix's keys are deleted and the connection closed when the file's tests are done.
 */
export function scratchRedis(): { prefix: string; redis: Redis } {
  const prefix = `square-test:${randomUUID()}:`;
  const redis = new Redis(TEST_REDIS_URL);
  after(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });
  return { prefix, redis };
}
