/** Starts an embedded node (all roles, in-memory backends) on a free port, and a tiny HTTP client. */
import { writeFile, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startNode, RunningNode } from "../../lib/node.ts";
import { resolveSettings } from "../../lib/config/settings.ts";
import { fixtureDir } from "./fixtures.ts";

export interface Embedded {
  node: RunningNode;
  base: string;
  get(path: string): Promise<{ status: number; body: any; headers: Headers }>;
  post(path: string, body: unknown): Promise<{ status: number; body: any; headers: Headers }>;
  /** Polls task_result until the task leaves Processing. */
  result(taskId: string): Promise<{ status: number; body: any }>;
  stop(): Promise<void>;
}

export async function startEmbedded(models: Record<string, unknown>[]): Promise<Embedded> {
  const dir = await fixtureDir();
  const file = join(await mkdtemp(join(tmpdir(), "square-models-")), "models.json");
  await writeFile(file, JSON.stringify({ models: models.map((m) => ({ ...m, path: join(dir, m.path as string) })) }));
  const node = await startNode(resolveSettings(["--port", "0", "--models", file, "--log-level", "warn"], {}));
  const base = `http://127.0.0.1:${node.port}/api/main`;
  const request = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(base + path, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* not JSON (docs page) */
    }
    return { status: res.status, body: parsed as any, headers: res.headers };
  };
  return {
    node,
    base,
    get: (path) => request("GET", path),
    post: (path, body) => request("POST", path, body),
    async result(taskId) {
      for (let i = 0; i < 400; i++) {
        const r = await request("GET", `/task_result/${taskId}`);
        if (r.status !== 202) return r;
        await new Promise((res) => setTimeout(res, 25));
      }
      throw new Error(`task ${taskId} did not finish`);
    },
    stop: () => node.stop(),
  };
}

/** Decodes a base64 `.npy` (float32 or int64) into a flat list and shape. */
export function decodeNpy(b64: string): { shape: number[]; values: number[] } {
  const buf = Buffer.from(b64, "base64");
  const headerLen = buf.readUInt16LE(8);
  const header = buf.toString("latin1", 10, 10 + headerLen);
  const shape = /'shape': \(([^)]*)\)/.exec(header)![1].split(",").map((s) => s.trim()).filter(Boolean).map(Number);
  const n = shape.reduce((a, b) => a * b, 1);
  const wide = header.includes("<i8");
  const values = Array.from({ length: n }, (_, i) => (wide ? Number(buf.readBigInt64LE(10 + headerLen + 8 * i)) : buf.readFloatLE(10 + headerLen + 4 * i)));
  return { shape, values };
}
