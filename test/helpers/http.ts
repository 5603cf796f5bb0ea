/** A tiny JSON HTTP client for the REST API under test. */
import assert from "node:assert/strict";

export interface Reply {
  status: number;
  body: any;
  headers: Headers;
}

export interface Client {
  base: string;
  get(path: string): Promise<Reply>;
  post(path: string, body: unknown): Promise<Reply>;
  /** Long-polls task_result until the task leaves Processing (or the timeout passes). */
  result(taskId: string, timeoutMs?: number): Promise<Reply>;
}

export function httpClient(base: string): Client {
  const request = async (method: string, path: string, body?: unknown): Promise<Reply> => {
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
    base,
    get: (path) => request("GET", path),
    post: (path, body) => request("POST", path, body),
    async result(taskId, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const left = Math.max(0, Math.min(5, (deadline - Date.now()) / 1000));
        const r = await request("GET", `/task_result/${taskId}?wait=${left.toFixed(2)}`); // long-poll
        if (r.status !== 202 || Date.now() >= deadline) return r;
      }
    },
  };
}

/** Queues a task at `path`, waits for it (at most `timeoutMs`), asserts it was accepted (200) and Finished (200), and returns its result. */
export async function runTask(client: Client, path: string, body: unknown, timeoutMs?: number): Promise<any> {
  const queued = await client.post(path, body);
  assert.equal(queued.status, 200, JSON.stringify(queued.body));
  const done = await client.result(queued.body.task_id, timeoutMs);
  assert.equal(done.status, 200, JSON.stringify(done.body));
  assert.equal(done.body.status, "Finished", JSON.stringify(done.body));
  return done.body.result;
}
