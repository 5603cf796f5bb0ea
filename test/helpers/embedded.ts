/** Starts an embedded node (all roles, in-memory backends) on a free port, and a tiny HTTP client. */
import { startNode, RunningNode } from "../../lib/node.ts";
import { resolveSettings } from "../../lib/config/settings.ts";
import { writeModelsFile } from "./fixtures.ts";
import { httpClient, Client } from "./http.ts";

export interface Embedded extends Client {
  node: RunningNode;
  stop(): Promise<void>;
}

export async function startEmbedded(models: Record<string, unknown>[]): Promise<Embedded> {
  const file = await writeModelsFile(models);
  const node = await startNode(resolveSettings(["--port", "0", "--models", file, "--log-level", "warn"], {}));
  return { ...httpClient(`http://127.0.0.1:${node.port}/api/main`), node, stop: () => node.stop() };
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
