/** Spawning real server processes for end-to-end tests, and reading their logs. */
import { spawn, ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { TEST_NATS_URL, TEST_REDIS_URL } from "./services.ts";

const BIN = fileURLToPath(new URL("../../bin/square-inference.js", import.meta.url));

export interface Proc {
  child: ChildProcess;
  name: string;
  log: string[];
  port?: number;
  nodeId?: string;
  exited: Promise<number | null>;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

const all = new Set<Proc>();
const prefixes = new Set<string>();

/** A unique NATS namespace and Redis key prefix per test run, so runs never collide. */
export function clusterEnv(extra: Record<string, string> = {}): Record<string, string> {
  const run = randomUUID().slice(0, 8);
  prefixes.add(`square-test:${run}:`);
  return {
    MOLECULER_NAMESPACE: `square-test-${run}`,
    SQUARE_KEY_PREFIX: `square-test:${run}:`,
    TRANSPORTER: TEST_NATS_URL,
    REDIS_URL: TEST_REDIS_URL,
    LOG_LEVEL: "info",
    ...extra,
  };
}

/** `group`: the command starts the real process as its child (npx); signals go to the whole process group. */
export function spawnProcess(name: string, command: string, args: string[], env: Record<string, string>, options: { cwd?: string; group?: boolean } = {}): Proc {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"], cwd: options.cwd, detached: options.group });
  const log: string[] = [];
  const watchers = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    for (const line of chunk.toString().split("\n")) if (line) log.push(line);
    for (const w of watchers) w();
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const proc: Proc = {
    child,
    name,
    log,
    exited,
    waitFor(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          for (const line of log) {
            const m = line.match(pattern);
            if (m) {
              watchers.delete(check);
              clearTimeout(timer);
              resolve(m);
              return;
            }
          }
        };
        const timer = setTimeout(() => {
          watchers.delete(check);
          reject(new Error(`${name}: no line matching ${pattern} within ${timeoutMs} ms; log:\n${log.slice(-30).join("\n")}`));
        }, timeoutMs);
        watchers.add(check);
        void exited.then(() => check());
        check();
      });
    },
    async kill(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) {
        if (options.group && child.pid) process.kill(-child.pid, signal);
        else child.kill(signal);
      }
      return exited;
    },
  };
  all.add(proc);
  void exited.then(() => all.delete(proc));
  return proc;
}

/** Starts `square-inference serve` and waits until the node says it is ready. */
export async function startServer(name: string, args: string[], env: Record<string, string>): Promise<Proc> {
  const nodeId = `${name}-${randomUUID().slice(0, 4)}`;
  const proc = spawnProcess(name, process.execPath, [BIN, "serve", "--node-id", nodeId, ...args], env);
  proc.nodeId = nodeId;
  const m = await proc.waitFor(/node \S+ ready(?: on http:\/\/127\.0\.0\.1:(\d+))?/, 60_000);
  if (m[1]) proc.port = Number(m[1]);
  return proc;
}

/** Kills every process a test started and deletes the Redis keys of its runs. */
export async function killAll(): Promise<void> {
  await Promise.all([...all].map((p) => p.kill("SIGKILL")));
  const { Redis } = await import("ioredis");
  const redis = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    for (const prefix of prefixes) {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length) await redis.del(...keys);
    }
  } catch {
    /* the outage test's private Redis may be gone; nothing to clean there */
  } finally {
    redis.disconnect();
  }
}
