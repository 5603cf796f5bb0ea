/**
 * The fuzz suite's server and oracle. The server runs as a child process (`square-inference serve`)
 * so that a native abort (a Rust panic in the tokenizer, an ONNX Runtime crash) ends the child and
 * is reported as a failure, instead of killing the test runner. The oracle says what every answer
 * must look like (SPEC §4, §5, §12).
 */
import { request as httpRequest } from "node:http";
import { startServer, Proc } from "../helpers/processes.ts";
import { writeModelsFile } from "../helpers/fixtures.ts";
import { FuzzCase, MODELS, SLASH_MODEL, TASK_OF, toJson } from "./generators.ts";

export const PREFIX = "/api/main";
/**
 * Bounds on waiting: a request or task past them is reported as a stall (SPEC §12: nothing may
 * stall a process). Generous, so a slow machine is not a failure; FUZZ_STALL_MS lowers it to
 * shrink a stall in reasonable time.
 */
const REQUEST_TIMEOUT_MS = Number(process.env.FUZZ_STALL_MS ?? 60_000);
const TASK_TIMEOUT_MS = REQUEST_TIMEOUT_MS;

export const alive = (p: Proc) => p.child.exitCode === null && p.child.signalCode === null;

/**
 * The current server. After a crash, the test focuses it on the crashing case's model: shrinking
 * then runs against servers that serve only that model (they boot in a second or two, not eight),
 * with a spare always booting, since every crashing candidate needs a fresh server.
 */
export class FuzzServer {
  private current?: { proc: Promise<Proc>; focus?: string };
  private spare?: { proc: Promise<Proc>; focus?: string };
  private readonly started: Promise<Proc>[] = [];
  focus?: string;
  crashes = 0;

  private boot(focus: string | undefined) {
    const models = MODELS.filter((id) => focus === undefined || id === focus).map((id) => ({ id, path: id === SLASH_MODEL ? "bert-tiny-sst" : id }));
    // Always embedded and in memory, whatever the environment says; and the TypeScript sources, not a dist/ build.
    const env = { TRANSPORTER: "", REDIS_URL: "", SQUARE_FROM_SOURCE: "1" };
    const proc = writeModelsFile(models).then((file) => startServer("fuzz", ["--port", "0", "--models", file, "--log-level", "info"], env));
    proc.catch(() => undefined);
    this.started.push(proc);
    return { proc, focus };
  }

  async live(): Promise<Proc> {
    if (this.current && this.current.focus === this.focus && alive(await this.current.proc)) return this.current.proc;
    const old = [this.current, this.spare];
    this.current = this.spare && this.spare.focus === this.focus ? this.spare : this.boot(this.focus);
    this.spare = this.focus !== undefined ? this.boot(this.focus) : undefined;
    for (const b of old) if (b && b !== this.current) void b.proc.then((p) => p.kill("SIGKILL"), () => undefined);
    return this.current.proc;
  }

  /** A server that stalled may still be busy with the stalled work: the next case gets a fresh one. */
  async discard(): Promise<void> {
    const p = await this.current?.proc.catch(() => undefined);
    await p?.kill("SIGKILL");
  }

  async stop(): Promise<void> {
    await Promise.all(this.started.map((p) => p.then((proc) => proc.kill("SIGKILL"), () => undefined)));
  }
}

/** The served model a case targets, if any. */
export const modelOf = (path: string): string | undefined => MODELS.filter((m) => path.startsWith(`/${m}/`)).sort((a, b) => b.length - a.length)[0];

export interface Answer {
  status: number;
  text: string;
  body: any;
}

/** Paths go out verbatim (fetch would resolve `..` and re-encode); only what HTTP cannot carry is percent-encoded. */
function wirePath(path: string): string {
  return PREFIX + path.replace(/[^\x21-\x7e]/gu, (ch) => {
    try {
      return encodeURIComponent(ch);
    } catch {
      return "%EF%BF%BD"; // a lone surrogate in a path
    }
  });
}

export function send(p: Proc, method: string, path: string, body?: Buffer, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = httpRequest({ host: "127.0.0.1", port: p.port, method, path: wirePath(path), headers: { ...headers, ...(body ? { "content-length": String(body.length) } : {}) } }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", reject);
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let parsed: unknown = undefined;
        try {
          parsed = JSON.parse(text);
        } catch {
          /* not JSON: the oracle says whether that is allowed */
        }
        resolve({ status: res.statusCode ?? 0, text, body: parsed });
      });
    });
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`STALL: no answer within ${REQUEST_TIMEOUT_MS / 1000} s`)));
    // A server may answer 413 and close before reading a huge body; the answer is what counts then.
    req.on("error", (err) => (answered ? undefined : reject(err)));
    req.end(body);
  });
}

export function sendCase(p: Proc, c: FuzzCase): Promise<Answer> {
  if (c.raw !== undefined) return send(p, c.method, c.path, Buffer.from(c.raw, "latin1"), c.headers);
  if (c.body !== undefined) return send(p, c.method, c.path, Buffer.from(toJson(c.body), "utf8"), { "content-type": "application/json", ...c.headers });
  return send(p, c.method, c.path, undefined, c.headers);
}

/** Long-polls a task until it leaves Processing, or reports it stuck. */
export async function awaitTask(p: Proc, id: string): Promise<Answer | undefined> {
  const deadline = Date.now() + TASK_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const a = await send(p, "GET", `/task_result/${id}?wait=5`);
    if (a.status !== 202) return a;
  }
  return undefined;
}

// ---- the oracle ----------------------------------------------------------------------------

/** Failure types of a task that are the client's doing; anything else (`internal`, `timeout`, ...) is a server fault. */
export const CLIENT_TASK_ERRORS = new Set(["invalid_request", "payload_too_large"]);
/** Stack frames, source paths, or a prototype member rendered as text: internals that reached a client. */
const LEAK = /\n\s+at |\bat [\w.$<>]+ \(|node_modules|\.[cm]?[tj]s:\d+|\[native code\]|\[object Object\]|function \w*\(/;
const UUID4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const short = (s: string, n = 400) => (s.length > n ? `${s.slice(0, n)}…` : s);

export function answerProblems(c: FuzzCase, a: Answer): string[] {
  const problems: string[] = [];
  const isTaskResult = c.path.startsWith("/task_result/");
  if (a.status >= 500) problems.push(`HTTP ${a.status}: ${short(a.text)}`);
  if (a.status < 400) return problems;
  if (LEAK.test(a.text)) problems.push(`internals leak into a ${a.status} answer: ${short(a.text)}`);
  // An unknown task id answers SPEC §4's {task_id, status: "Unknown"}; a path with no id is no route (§12 body).
  if (isTaskResult && a.status === 404 && a.body?.status === "Unknown" && typeof a.body?.task_id === "string") return problems;
  const e = a.body?.error;
  if (typeof e?.type !== "string" || typeof e?.message !== "string") {
    problems.push(`${a.status} body is not {"error": {"type", "message"}}: ${short(a.text)}`);
    return problems;
  }
  const details = e.details;
  if (details !== undefined && !(Array.isArray(details) && details.every((d: any) => typeof d?.field === "string" && typeof d?.message === "string"))) {
    problems.push(`error.details is not a list of {field, message}: ${short(JSON.stringify(details))}`);
  }
  if (a.status === 422) {
    const named = (Array.isArray(details) && details.some((d: any) => typeof d?.field === "string" && d.field !== "")) ||
      (Array.isArray(a.body.detail) && a.body.detail.some((d: any) => Array.isArray(d?.loc) && d.loc.length > 0));
    if (!named) problems.push(`422 names no field (error.details[].field / detail[].loc): ${short(a.text)}`);
  }
  return problems;
}

const own = (o: unknown, k: string): any => (o !== null && typeof o === "object" ? Object.getOwnPropertyDescriptor(o, k)?.value : undefined);

/** A queued task must end Finished with a well-formed result, or Failed with a client-error type. */
export async function taskProblems(p: Proc, c: FuzzCase, queued: Answer, note: (outcome: "finished" | "failedClient") => void): Promise<string[]> {
  const id = queued.body?.task_id;
  if (typeof id !== "string" || !UUID4.test(id) || typeof queued.body?.message !== "string") return [`200 without {message, task_id (UUID v4)}: ${short(queued.text)}`];
  const done = await awaitTask(p, id);
  if (!done) return [`STALL: task ${id} still Processing after ${TASK_TIMEOUT_MS / 1000} s`];
  if (done.status === 500 && done.body?.status === "Failed") {
    const e = done.body.error ?? {};
    if (CLIENT_TASK_ERRORS.has(e.type)) note("failedClient");
    const problems = CLIENT_TASK_ERRORS.has(e.type) ? [] : [`task Failed with error type ${JSON.stringify(e.type)} (not a client error): ${short(JSON.stringify(e))}`];
    if (LEAK.test(done.text)) problems.push(`internals leak into a task error: ${short(done.text)}`);
    return problems;
  }
  if (done.status !== 200 || done.body?.status !== "Finished") return [`task_result answered ${done.status}: ${short(done.text)}`];
  note("finished");
  return resultProblems(c, done.body.result);
}

function resultProblems(c: FuzzCase, r: any): string[] {
  const problems: string[] = [];
  if (typeof r?.model_outputs !== "object" || typeof r?.model_output_is_encoded !== "boolean") problems.push("result lacks model_outputs / model_output_is_encoded (SPEC §5)");
  const input = own(c.body, "input");
  const n = Array.isArray(input) ? input.length : own(input, "input_ids")?.length;
  const task = c.task;
  if (task === "sequence-classification" || task === "token-classification") {
    const rows = task === "sequence-classification" && own(own(c.body, "task_kwargs"), "is_regression") === true ? 0 : n; // regression: labels [] (SPEC §6.1)
    if (!Array.isArray(r?.labels) || r.labels.length !== rows) problems.push(`labels has ${r?.labels?.length} rows for ${n} items (expected ${rows})`);
  }
  if (task === "embedding" && typeof r?.embedding_mode !== "string") problems.push("embedding_mode is not echoed");
  if (task === "question-answering") {
    if (!Array.isArray(r?.answers) || r.answers.length !== n) return [...problems, `answers has ${r?.answers?.length} lists for ${n} items`];
    const topk = own(own(c.body, "task_kwargs"), "topk");
    r.answers.forEach((list: any[], i: number) => {
      if (Number.isInteger(topk) && topk > 0 && list.length > topk) problems.push(`item ${i}: ${list.length} answers for topk ${topk}`);
      const context = Array.isArray(input) && Array.isArray(input[i]) ? (input[i][1] as string) : undefined;
      for (const ans of list) {
        if (!(typeof ans?.score === "number" && ans.score >= 0 && ans.score <= 1 + 1e-6)) problems.push(`item ${i}: answer score ${ans?.score} is not a probability`);
        if (context === undefined) continue;
        if (!(Number.isInteger(ans.start) && Number.isInteger(ans.end) && ans.start >= 0 && ans.start <= ans.end && ans.end <= context.length)) {
          problems.push(`item ${i}: answer span [${ans.start}, ${ans.end}) is outside the context (${context.length} chars)`);
        } else if (ans.answer !== context.slice(ans.start, ans.end)) {
          problems.push(`item ${i}: answer ${JSON.stringify(short(ans.answer, 80))} != context[${ans.start}:${ans.end}] ${JSON.stringify(short(context.slice(ans.start, ans.end), 80))} (SPEC §6.4)`);
        }
      }
    });
  }
  return [...new Set(problems)].slice(0, 5);
}

const DEFAULTS = { batch_size: 32, max_input: 1024, return_plaintext_arrays: false, disable_gpu: false };
const CANARY: Record<string, unknown> = {
  "sequence-classification": { input: ["a fine canary"] },
  "token-classification": { input: ["John lives in Paris"] },
  embedding: { input: ["a fine canary"] },
  "question-answering": { input: [["who sings?", "a fine canary sings"]] },
};
/** Above this, a size no buffer or native index should be asked to hold: `update` must refuse it (SPEC §12 bounds). */
const MAX_SANE = 2 ** 31 - 1;

/** An accepted update must echo the values, keep the model working (a canary request), and be bounded; then it is undone. */
export async function updateProblems(p: Proc, c: FuzzCase, a: Answer): Promise<string[]> {
  const problems: string[] = [];
  const model = c.path.slice(1, -"/update".length);
  for (const [key, value] of Object.entries(DEFAULTS)) {
    const sent = own(c.body, key);
    if (sent === undefined) continue;
    if (typeof value === "number" && typeof sent === "number" && sent > MAX_SANE) problems.push(`update accepted ${key}=${sent}; the maxima update may set must be bounded (SPEC §12)`);
    if (a.body?.[key] !== sent && typeof sent !== "object") problems.push(`update accepted ${key}=${toJson(sent)} but stats say ${JSON.stringify(a.body?.[key])}`);
  }
  const task = TASK_OF(model);
  const q = await send(p, "POST", `/${model}/${task}`, Buffer.from(JSON.stringify(CANARY[task])), { "content-type": "application/json" });
  if (q.status !== 200) problems.push(`after update ${toJson(c.body)}, a canary ${task} request answered ${q.status}: ${short(q.text)}`);
  else {
    const done = await awaitTask(p, q.body.task_id);
    if (done?.status !== 200) problems.push(`after update ${toJson(c.body)}, a canary ${task} task ended ${done ? `${done.status}: ${short(done.text)}` : "stuck"}`);
  }
  const reset = await send(p, "POST", `/${model}/update`, Buffer.from(JSON.stringify(DEFAULTS)), { "content-type": "application/json" });
  if (reset.status !== 200) problems.push(`restoring the defaults answered ${reset.status}: ${short(reset.text)}`);
  return problems;
}

/** SPEC §12: no stack traces in logs either. */
export function logProblems(p: Proc, from: number): string[] {
  const frames = p.log.slice(from).filter((l) => /^\s+at .+(:\d+:\d+\)?|\(native\))$/.test(l));
  return frames.length ? [`stack trace in the server log: ${short(frames.slice(0, 3).join(" | "))}`] : [];
}

/** What a dead server left in its log: exit status and the panic / abort lines. */
export function crashReport(p: Proc, from: number): string {
  const lines = p.log.slice(from).filter((l) => /panick|panic|fatal|abort|segmentation|sigsegv|terminate|error/i.test(l)).slice(0, 6);
  return `server process exited (code ${p.child.exitCode}, signal ${p.child.signalCode}); log: ${lines.map((l) => short(l.trim(), 300)).join(" | ") || "(nothing)"}`;
}
