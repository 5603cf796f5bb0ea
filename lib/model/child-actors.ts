/**
 * Runs actor groups in child processes (one per device and replica slot), each a
 * `square-inference serve --roles models` node on the same transporter and Redis. Children that
 * die are restarted; SIGTERM on the parent drains every child, and a child whose parent dies
 * (its IPC channel closes) drains itself.
 */
import { spawn, ChildProcess } from "node:child_process";
import { writeFile, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Settings } from "../config/settings.ts";
import { ActorGroup, groupNodeId } from "./actor-plan.ts";
import { deviceName } from "../onnx/device.ts";
import { CLI_BIN } from "../package-paths.ts";


/** Set in a child actor process's environment; a child never starts children of its own. */
export const CHILD_MARK = "SQUARE_CHILD_ACTOR";

export interface ChildActors {
  stop(): Promise<void>;
}

export function childArgs(settings: Settings, group: ActorGroup, modelsFile: string, parentId: string): string[] {
  const args = ["serve", "--roles", "models", "--models", modelsFile, "--devices", deviceName(group.device), "--node-id", groupNodeId(parentId, group)];
  if (settings.transporter) args.push("--transporter", settings.transporter);
  if (settings.redis) args.push("--redis", settings.redis);
  args.push("--key-prefix", settings.keyPrefix, "--visibility-timeout", String(settings.visibilityMs / 1000), "--log-level", settings.logLevel, "--cache-dir", settings.cacheDir);
  // The same request limits and update bounds as the parent: a Moleculer client calling a child's
  // actions directly, or an update it applies, is held to what the gateway enforces.
  args.push("--max-item-chars", String(settings.maxItemChars), "--max-request-items", String(settings.maxRequestItems), "--max-request-chars", String(settings.maxRequestChars));
  args.push("--max-request-tokens", String(settings.maxRequestTokens), "--max-batch-size", String(settings.maxBatchSize));
  if (settings.inferenceThreads) args.push("--inference-threads", String(settings.inferenceThreads));
  return args;
}

export async function startChildActors(settings: Settings, groups: ActorGroup[], parentId: string, log: (m: string) => void): Promise<ChildActors> {
  if (process.env[CHILD_MARK]) throw new Error("a child actor process was asked to start child processes; its models file must hold one replica per model");
  if (!settings.transporter || !settings.redis) {
    throw new Error("several devices or replicas_per_device > 1 run in child processes: give --transporter and --redis so they can reach the gateway");
  }
  const dir = await mkdtemp(join(tmpdir(), "square-actors-"));
  let stopping = false;
  const children = new Set<ChildProcess>();
  const launch = (group: ActorGroup, file: string) => {
    const child = spawn(process.execPath, [CLI_BIN, ...childArgs(settings, group, file, parentId)], { stdio: ["ignore", "inherit", "inherit", "ipc"], env: { ...process.env, [CHILD_MARK]: "1" } });
    children.add(child);
    child.on("exit", (code, signal) => {
      children.delete(child);
      if (stopping) return;
      log(`actor process ${groupNodeId(parentId, group)} ended (${signal ?? code}); restarting in 1 s`);
      setTimeout(() => !stopping && launch(group, file), 1000);
    });
  };
  for (const group of groups) {
    const file = join(dir, `${groupNodeId(parentId, group)}.json`);
    // A child hosts exactly one replica of each of its models on exactly one device: it must
    // never plan (and spawn) groups of its own.
    await writeFile(file, JSON.stringify({ models: group.models.map((m) => ({ ...m, replicas_per_device: 1 })) }));
    launch(group, file);
  }
  return {
    async stop() {
      stopping = true;
      await Promise.all([...children].map((c) => new Promise<void>((resolve) => {
        c.once("exit", () => resolve());
        c.kill("SIGTERM");
      })));
    },
  };
}
