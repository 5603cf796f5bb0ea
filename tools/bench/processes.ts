/**
 * Child processes under test: the embedded server (`bin/square-inference.js serve`) and the
 * naive peer. Each is started on a free port, waited for, measured (peak RSS from the kernel's
 * VmHWM, which covers worker threads since they share the process) and stopped.
 */
import { spawn, ChildProcess } from "node:child_process";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { requestJson, keepAliveAgent } from "./http.ts";

export interface Running {
  name: string;
  child: ChildProcess;
  port: number;
  /** Peak resident set size so far, MiB. */
  peakRssMiB(): Promise<number>;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolvePort(port));
    });
  });
}

export async function peakRssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Math.round(Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN) / 1024);
}

function track(name: string, child: ChildProcess, port: number): Running {
  const output: string[] = [];
  const keep = (b: Buffer) => {
    output.push(b.toString());
    if (output.length > 50) output.shift();
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  child.once("exit", (code, signal) => {
    if (code && code !== 0) process.stderr.write(`${name} exited with ${code ?? signal}:\n${output.join("")}\n`);
  });
  return { name, child, port, peakRssMiB: () => peakRssMiB(child.pid!), stop: stopper(child, 15_000) };
}

/** Stops `child`: SIGTERM, SIGKILL after `graceMs`; resolves once it has exited (at once if it already has). */
export function stopper(child: ChildProcess, graceMs: number): () => Promise<void> {
  let exited = false;
  const exit = new Promise<void>((done) => child.once("exit", () => ((exited = true), done())));
  return async () => {
    if (exited) return;
    child.kill("SIGTERM");
    const killer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await exit;
    clearTimeout(killer);
  };
}

/** A models file in a new temporary folder serving `models`. */
export async function writeModelsFile(models: ServerModel[]): Promise<string> {
  const file = join(await mkdtemp(join(tmpdir(), "square-bench-")), "models.json");
  await writeFile(file, JSON.stringify({ models: models.map((m) => ({ id: m.id, path: m.path, ...m.settings })) }, null, 2));
  return file;
}

async function waitUntil(what: string, child: ChildProcess, ok: () => Promise<boolean>, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited during start-up (code ${child.exitCode})`);
    if (await ok().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what} not ready after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export interface ServerModel {
  id: string;
  path: string;
  settings: Record<string, number>;
}

/** The embedded server (all roles in one process, in-memory store) serving `models`; `nodeArgs` go to node itself (e.g. --cpu-prof). */
export async function startServer(models: ServerModel[], extraArgs: string[] = [], nodeArgs: string[] = []): Promise<Running> {
  const file = await writeModelsFile(models);
  const port = await freePort();
  const child = spawn(process.execPath, [...nodeArgs, resolve("bin/square-inference.js"), "serve", "--port", String(port), "--models", file, "--log-level", "warn", ...extraArgs], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const running = track("server", child, port);
  const agent = keepAliveAgent();
  try {
    for (const m of models) {
      await waitUntil("server", child, async () => (await requestJson(agent, "GET", `http://127.0.0.1:${port}/api/main/${m.id}/health/heartbeat`)).status === 200);
    }
  } catch (err) {
    await running.stop();
    throw err;
  } finally {
    agent.destroy();
  }
  return running;
}

/** The naive transformers.js peer serving the model folders under `dir`. */
export async function startPeer(dir: string, models: string[], threads?: number): Promise<Running> {
  const port = await freePort();
  const args = ["--import", "tsx", resolve("tools/bench/peer-server.ts"), "--dir", dir, "--models", models.join(","), "--port", String(port)];
  if (threads) args.push("--threads", String(threads));
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  const running = track("peer", child, port);
  let ready = false;
  child.stdout!.on("data", (b: Buffer) => {
    if (b.toString().includes("ready ")) ready = true;
  });
  try {
    await waitUntil("peer", child, async () => ready);
  } catch (err) {
    await running.stop();
    throw err;
  }
  return running;
}

/**
 * `serve` on the bundled demo models (no models file) on a port it picks, resolved once it logs
 * where it listens; the caller kills the child.
 */
export async function serveDemoModels(env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [resolve("bin/square-inference.js"), "serve", "--port", "0"], { env, stdio: ["ignore", "pipe", "pipe"] });
  try {
    const port = await new Promise<number>((resolvePort, reject) => {
      const timer = setTimeout(() => reject(new Error(`the server was not ready within ${timeoutMs / 1000} s`)), timeoutMs);
      const watch = (chunk: Buffer) => {
        const m = /ready on http:\/\/127\.0\.0\.1:(\d+)/.exec(chunk.toString());
        if (m) clearTimeout(timer), resolvePort(Number(m[1]));
      };
      child.stdout.on("data", watch);
      child.stderr.on("data", watch);
    });
    return { child, port };
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  }
}
