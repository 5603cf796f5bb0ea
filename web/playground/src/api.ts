/** The gateway's REST API as the page uses it: same origin, the prefix the page is served under. */

/** `/api/main` when the page is `/api/main/playground`. */
export const API_PREFIX = location.pathname.replace(/\/playground\/?$/, "");
export const API_BASE = `${location.origin}${API_PREFIX}`;

export interface ModelInfo {
  id: string;
  tasks: string[];
  max_input?: number;
  replicas_ready?: number;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    const err = (body as { error?: { type?: string; message?: string } })?.error;
    super(err?.message ? `${status} ${err.type ?? ""}: ${err.message}` : `HTTP ${status}`);
  }
}

let bearer = "";
export const setToken = (token: string): void => {
  bearer = token.trim();
};
const authHeaders = (): Record<string, string> => (bearer ? { authorization: `Bearer ${bearer}` } : {});

async function json(res: Response): Promise<unknown> {
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export async function listModels(): Promise<ModelInfo[]> {
  const res = await fetch(`${API_BASE}/models`, { headers: authHeaders() });
  const body = await json(res);
  if (!res.ok) throw new ApiError(res.status, body);
  return body as ModelInfo[];
}

export interface TaskOutcome {
  taskId: string;
  /** The task_result body (status, result or error). */
  body: Record<string, unknown>;
}

/** Queues the task and long-polls `task_result?wait=` until it leaves Queued/Processing. */
export async function runTask(model: string, task: string, request: unknown, onState: (state: string, taskId?: string) => void, signal?: AbortSignal): Promise<TaskOutcome> {
  const res = await fetch(`${API_BASE}/${model}/${task}`, { method: "POST", headers: { "content-type": "application/json", ...authHeaders() }, body: JSON.stringify(request), signal });
  const queued = (await json(res)) as { task_id?: string };
  if (!res.ok || !queued.task_id) throw new ApiError(res.status, queued);
  onState("Queued", queued.task_id);
  for (;;) {
    const poll = await fetch(`${API_BASE}/task_result/${queued.task_id}?wait=20`, { headers: authHeaders(), signal });
    const body = (await json(poll)) as Record<string, unknown>;
    if (poll.status === 202) {
      onState(String(body.status ?? "Processing"), queued.task_id);
      continue;
    }
    if (poll.status === 200) return { taskId: queued.task_id, body };
    throw new ApiError(poll.status, body);
  }
}

export interface TokenEvent {
  prompt: number;
  sequence: number;
  tokens: number[];
  text: string;
}

/** POST …/generation/stream: `token` events as they come, then the `result` body (or an `error`). */
export async function streamGeneration(model: string, request: unknown, onToken: (e: TokenEvent) => void, signal?: AbortSignal): Promise<TaskOutcome> {
  const res = await fetch(`${API_BASE}/${model}/generation/stream`, { method: "POST", headers: { "content-type": "application/json", accept: "text/event-stream", ...authHeaders() }, body: JSON.stringify(request), signal });
  if (!res.ok || !res.body || !(res.headers.get("content-type") ?? "").startsWith("text/event-stream")) throw new ApiError(res.status, await json(res));
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let pending = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (value) pending += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = pending.indexOf("\n\n")) >= 0) {
      const block = pending.slice(0, end);
      pending = pending.slice(end + 2);
      const event = /^event: ?(.*)$/m.exec(block)?.[1] ?? "message";
      const data = JSON.parse(block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.replace(/^data: ?/, "")).join("\n") || "null");
      if (event === "token") onToken(data as TokenEvent);
      else if (event === "result") return { taskId: String(data.task_id), body: data };
      else if (event === "error") throw new ApiError(Number(data.status_code ?? 500), data);
    }
    if (done) throw new ApiError(502, { error: { type: "stream", message: "the stream ended without a result" } });
  }
}
