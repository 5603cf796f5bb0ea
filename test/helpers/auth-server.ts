/** An embedded node started with auth flags, and a client that sends Authorization headers. */
import { startNode, RunningNode } from "../../lib/node.ts";
import { resolveSettings } from "../../lib/config/settings.ts";
import { writeModelsFile } from "./fixtures.ts";

export interface AuthReply {
  status: number;
  body: any;
  headers: Headers;
}

export interface AuthClient {
  base: string;
  call(method: string, path: string, options?: { token?: string; body?: unknown; headers?: Record<string, string> }): Promise<AuthReply>;
}

export function authClient(base: string): AuthClient {
  return {
    base,
    async call(method, path, { token, body, headers = {} } = {}) {
      const res = await fetch(base + path, {
        method,
        headers: { ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        /* not JSON */
      }
      return { status: res.status, body: parsed, headers: res.headers };
    },
  };
}

export interface SecuredNode extends AuthClient {
  node: RunningNode;
  stop(): Promise<void>;
}

export const SST_MODEL = { id: "sst", path: "bert-tiny-sst", batch_size: 8, max_input: 16 };

/** `models` undefined: a gateway-only node (no models, no scheduler). */
export async function startSecured(flags: string[], models: Record<string, unknown>[] | undefined = [SST_MODEL], env: NodeJS.ProcessEnv = {}): Promise<SecuredNode> {
  const roles = models ? [] : ["--roles", "gateway"];
  const modelArgs = models ? ["--models", await writeModelsFile(models)] : [];
  const node = await startNode(resolveSettings(["--port", "0", "--log-level", "warn", ...roles, ...modelArgs, ...flags], env));
  return { ...authClient(`http://127.0.0.1:${node.port}/api/main`), node, stop: () => node.stop() };
}

/** Polls a task until it leaves Processing. */
export async function waitForTask(client: AuthClient, id: string, token: string): Promise<AuthReply> {
  for (let i = 0; i < 100; i++) {
    const r = await client.call("GET", `/task_result/${id}?wait=2`, { token });
    if (r.status !== 202) return r;
  }
  throw new Error(`task ${id} did not finish`);
}
