/**
 * Where the tests find the real services (.ci/run starts them). One pair of variables for every
 * test: TEST_REDIS_URL and TEST_NATS_URL. The server's own REDIS_URL/TRANSPORTER are never read
 * here, so a developer's server configuration cannot point a test run at another Redis.
 */
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
export const TEST_NATS_URL = process.env.TEST_NATS_URL ?? "nats://127.0.0.1:4222";
