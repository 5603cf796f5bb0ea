/**
 * The fuzz suite's server and oracle. The server runs as a child process (`square-inference serve`)
 * so that a native abort (a Rust panic in the tokenizer, an ONNX Runtime crash) ends the child and
 * is reported as a failure, instead of killing the test runner. The oracle says what every answer
 * must look like (SPEC §4, §5, §12).
 */
import { request as httpRequest } from "node:http";
import { startServer, Proc } from "../helpers/processes.ts";
import { writeModelsFile } from "../helpers/fixtures.ts";
import { FuzzCase, MODELS, SLASH_MODEL, TASK_OF, toJson, RawNumber, GEN_FACTS, isGenModel } from "./generators.ts";

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
  contentType?: string;
  /** The client went away after `abortAfter` bytes (FuzzCase.abortAfter): `text` is what came until then. */
  aborted?: boolean;
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

export function send(p: Proc, method: string, path: string, body?: Buffer, headers: Record<string, string> = {}, abortAfter?: number): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = httpRequest({ host: "127.0.0.1", port: p.port, method, path: wirePath(path), headers: { ...headers, ...(body ? { "content-length": String(body.length) } : {}) } }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      let received = 0;
      const done = (aborted: boolean) => {
        const text = Buffer.concat(chunks).toString("utf8");
        let parsed: unknown = undefined;
        try {
          parsed = JSON.parse(text);
        } catch {
          /* not JSON: the oracle says whether that is allowed */
        }
        resolve({ status: res.statusCode ?? 0, text, body: parsed, contentType: res.headers["content-type"], ...(aborted ? { aborted } : {}) });
      };
      res.on("data", (c: Buffer) => {
        chunks.push(c);
        received += c.length;
        // A client that goes away mid-stream (only from a 200: a refusal is read whole).
        if (abortAfter !== undefined && res.statusCode === 200 && received >= abortAfter && !req.destroyed) {
          req.destroy();
          done(true);
        }
      });
      res.on("error", (err) => (req.destroyed && abortAfter !== undefined ? undefined : reject(err)));
      res.on("end", () => done(false));
    });
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`STALL: no answer within ${REQUEST_TIMEOUT_MS / 1000} s`)));
    // A server may answer 413 and close before reading a huge body; the answer is what counts then.
    req.on("error", (err) => (answered ? undefined : reject(err)));
    req.end(body);
  });
}

export function sendCase(p: Proc, c: FuzzCase): Promise<Answer> {
  if (c.raw !== undefined) return send(p, c.method, c.path, Buffer.from(c.raw, "latin1"), c.headers);
  if (c.body !== undefined) return send(p, c.method, c.path, Buffer.from(toJson(c.body), "utf8"), { "content-type": "application/json", ...c.headers }, c.abortAfter);
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

/**
 * A `POST …?wait=S` answer that is the task's own state (README): 202 Processing when S ran out, or
 * 500 Failed when the task failed in time (taskProblems then checks the failure is the client's).
 */
export function isWaitedTask(a: Answer): boolean {
  const ofTask = typeof a.body?.task_id === "string" && UUID4.test(a.body.task_id) && typeof a.body?.message === "string";
  return ofTask && ((a.status === 202 && a.body.status === "Processing") || (a.status === 500 && a.body.status === "Failed"));
}

export function answerProblems(c: FuzzCase, a: Answer): string[] {
  const problems: string[] = [];
  const isTaskResult = c.path.startsWith("/task_result/");
  if (a.status >= 500 && !(c.method === "POST" && c.task && isWaitedTask(a))) problems.push(`HTTP ${a.status}: ${short(a.text)}`);
  if (a.status >= 500 && isWaitedTask(a)) return problems; // a task's failure, checked by taskProblems
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
export type Note = (outcome: "finished" | "failedClient", result?: unknown) => void;

export async function taskProblems(p: Proc, c: FuzzCase, queued: Answer, note: Note): Promise<string[]> {
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
  note("finished", done.body.result);
  return resultProblems(c, done.body.result);
}

export function resultProblems(c: FuzzCase, r: any): string[] {
  const problems: string[] = [];
  if (typeof r?.model_outputs !== "object" || typeof r?.model_output_is_encoded !== "boolean") problems.push("result lacks model_outputs / model_output_is_encoded (SPEC §5)");
  const input = own(c.body, "input");
  const n = Array.isArray(input) ? input.length : own(input, "input_ids")?.length;
  const task = c.task;
  if (task === "generation") return [...problems, ...generationProblems(c, r, n)].slice(0, 5);
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

// ---- generation (SPEC §6.5) ----------------------------------------------------------------

/** A number option as the server parsed it (RawNumber literals included); undefined when absent. */
function sentNumber(v: unknown): number | undefined {
  if (v instanceof RawNumber) return Number(v.text);
  return typeof v === "number" ? v : undefined;
}
/** An accepted request's option: task_kwargs over model_kwargs (SPEC §6.5). */
function genOption(body: unknown, key: string): unknown {
  const t = own(own(body, "task_kwargs"), key);
  return t !== undefined ? t : own(own(body, "model_kwargs"), key);
}

/** A .npy array (SPEC §5 encoded model outputs): dtype, shape and values. */
export function decodeNpy(b64: string): { descr: string; shape: number[]; values: number[] } | undefined {
  const buf = Buffer.from(b64, "base64");
  if (buf.length < 10 || buf.toString("latin1", 0, 6) !== "\x93NUMPY") return undefined;
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.toString("latin1", start, start + headerLen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || shapeText === undefined) return undefined;
  const shape = shapeText.split(",").map((x) => x.trim()).filter(Boolean).map(Number);
  const data = buf.subarray(start + headerLen);
  const count = shape.reduce((a, b) => a * b, 1);
  const values: number[] = [];
  if (descr === "<i8") for (let i = 0; i < count && (i + 1) * 8 <= data.length; i++) values.push(Number(data.readBigInt64LE(i * 8)));
  else if (descr === "<f4") for (let i = 0; i < count && (i + 1) * 4 <= data.length; i++) values.push(data.readFloatLE(i * 4));
  else return { descr, shape, values: [] };
  return { descr, shape, values };
}

/** One prompt's `sequences`: rows of token ids, encoded (.npy, base64) or plain nested lists. */
function sequenceRows(v: unknown): number[][] | string {
  if (typeof v === "string") {
    const a = decodeNpy(v);
    if (!a) return "is not a base64 .npy array";
    if (a.descr !== "<i8" || a.shape.length !== 2) return `has dtype ${a.descr} and shape [${a.shape}] (expected int64, 2-D)`;
    if (a.values.length !== a.shape[0] * a.shape[1]) return `holds ${a.values.length} values for shape [${a.shape}]`;
    return Array.from({ length: a.shape[0] }, (_, i) => a.values.slice(i * a.shape[1], (i + 1) * a.shape[1]));
  }
  if (Array.isArray(v) && v.every((row) => Array.isArray(row) && row.every((x) => Number.isInteger(x)))) return v as number[][];
  return `is neither an encoded array nor a list of id rows: ${short(JSON.stringify(v) ?? String(v), 120)}`;
}

/**
 * SPEC §6.5 result: `generated_texts` and `finish_reasons` have one list per prompt of
 * num_return_sequences entries; `model_outputs.sequences` one [num_return_sequences, length]
 * array of in-vocabulary ids per prompt, no longer than the model's positions (encoder-decoder:
 * the decoder start plus at most the new tokens asked for). With `streamed` (the stream route),
 * each sequence's streamed tokens are its new tokens.
 */
function generationProblems(c: FuzzCase, r: any, n: number | undefined, streamed?: Map<string, number[]>): string[] {
  const problems: string[] = [];
  const model = c.path.split("/")[1];
  const facts = isGenModel(model) ? GEN_FACTS[model] : undefined;
  const want = sentNumber(genOption(c.body, "num_return_sequences")) ?? 1;
  const texts = r?.generated_texts;
  if (!Array.isArray(texts) || texts.length !== n) return [`generated_texts has ${Array.isArray(texts) ? `${texts.length} lists` : JSON.stringify(texts)} for ${n} prompts`];
  texts.forEach((list: unknown, i: number) => {
    if (!Array.isArray(list) || list.length !== want || !list.every((t) => typeof t === "string")) problems.push(`generated_texts[${i}] is ${short(JSON.stringify(list), 120)}; expected ${want} strings (num_return_sequences)`);
  });
  const reasons = r?.finish_reasons;
  if (!Array.isArray(reasons) || reasons.length !== n || !reasons.every((l: unknown) => Array.isArray(l) && l.length === want && l.every((x) => typeof x === "string"))) {
    problems.push(`finish_reasons is ${short(JSON.stringify(reasons), 160)}; expected ${n} lists of ${want} strings`);
  }
  // Decoder-only text starts with the prompt unless return_full_text is false (clean-up may edit the prompt's spaces).
  const input = own(c.body, "input");
  if (facts?.decoderOnly && Array.isArray(input) && genOption(c.body, "return_full_text") !== false && genOption(c.body, "clean_up_tokenization_spaces") !== true) {
    texts.forEach((list: unknown[], i: number) => {
      if (Array.isArray(list)) list.forEach((t, j) => typeof t === "string" && typeof input[i] === "string" && !t.startsWith(input[i]) && problems.push(`generated_texts[${i}][${j}] ${JSON.stringify(short(t, 60))} does not start with its prompt (return_full_text)`));
    });
  }
  const sequences = r?.model_outputs?.sequences;
  if (!Array.isArray(sequences) || sequences.length !== n) return [...problems, `model_outputs.sequences has ${Array.isArray(sequences) ? sequences.length : JSON.stringify(sequences)} entries for ${n} prompts`];
  const maxNew = sentNumber(genOption(c.body, "max_new_tokens")) ?? ((sentNumber(genOption(c.body, "max_length")) ?? 21) - 1);
  sequences.forEach((s: unknown, i: number) => {
    const rows = sequenceRows(s);
    if (typeof rows === "string") return void problems.push(`model_outputs.sequences[${i}] ${rows}`);
    if (rows.length !== want) problems.push(`model_outputs.sequences[${i}] has ${rows.length} rows; expected ${want} (num_return_sequences)`);
    const width = rows[0]?.length ?? 0;
    if (facts && width > facts.positions) problems.push(`model_outputs.sequences[${i}] is ${width} ids long, more than ${model}'s ${facts.positions} positions`);
    if (facts && !facts.decoderOnly && width > 1 + maxNew) problems.push(`model_outputs.sequences[${i}] is ${width} ids long: more than the decoder start and ${maxNew} new tokens`);
    const outside = rows.flat().find((id) => !(Number.isInteger(id) && id >= 0 && (!facts || id < facts.vocab)));
    if (outside !== undefined) problems.push(`model_outputs.sequences[${i}] holds id ${outside}, outside ${model}'s vocabulary`);
    if (streamed && facts) problems.push(...streamedTokenProblems(i, rows, streamed, facts.decoderOnly));
  });
  return problems;
}

/** Each sequence's streamed tokens are its new tokens: after the decoder start (encoder-decoder), after the same prompt in every row (decoder-only). */
function streamedTokenProblems(prompt: number, rows: number[][], streamed: Map<string, number[]>, decoderOnly: boolean): string[] {
  const at = (row: number[], tokens: number[], s: number) => s + tokens.length <= row.length && tokens.every((t, k) => row[s + k] === t);
  let offsets: number[] | undefined = decoderOnly ? undefined : [1];
  rows.forEach((row, j) => {
    const tokens = streamed.get(`${prompt}:${j}`) ?? [];
    const here = Array.from({ length: row.length + 1 }, (_, s) => s).filter((s) => at(row, tokens, s));
    offsets = (offsets ?? here).filter((s) => here.includes(s));
  });
  if (offsets !== undefined && (offsets as number[]).length === 0) {
    const sent = rows.map((_, j) => streamed.get(`${prompt}:${j}`) ?? []);
    return [`prompt ${prompt}: streamed tokens ${short(JSON.stringify(sent), 200)} are not the new tokens of model_outputs.sequences ${short(JSON.stringify(rows), 200)}`];
  }
  return [];
}

/** The frames of a server-sent event stream: event name and parsed data. */
function sseFrames(text: string): { event?: string; data: any; raw: string }[] | string {
  const frames: { event?: string; data: any; raw: string }[] = [];
  for (const block of text.split(/\n\n/)) {
    if (block.trim() === "") continue;
    let event: string | undefined;
    const data: string[] = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("event:")) event = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      else if (!line.startsWith(":")) return `a line that is no SSE field: ${short(JSON.stringify(line), 120)}`;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(data.join("\n"));
    } catch {
      return `frame data is not JSON: ${short(block, 200)}`;
    }
    frames.push({ event, data: parsed, raw: block });
  }
  return frames;
}

/**
 * The stream route's 200 (SPEC §6.5): `text/event-stream`, `token` frames for prompts and
 * sequences of this request, then exactly one last frame: `result` (a well-formed generation
 * result) or `error` with a client-error type.
 */
export function streamProblems(c: FuzzCase, a: Answer, note: Note): string[] {
  if (!/^text\/event-stream\b/.test(a.contentType ?? "")) return [`stream route answered 200 with content-type ${JSON.stringify(a.contentType)}: ${short(a.text)}`];
  if (a.aborted) return [];
  const frames = sseFrames(a.text);
  if (typeof frames === "string") return [`stream: ${frames}`];
  const last = frames.at(-1);
  if (!last || (last.event !== "result" && last.event !== "error")) return [`stream ends without a result or error frame; last: ${short(last?.raw ?? "(no frames)")}`];
  const problems: string[] = [];
  const input = own(c.body, "input");
  const n = Array.isArray(input) ? input.length : own(input, "input_ids")?.length;
  const want = sentNumber(genOption(c.body, "num_return_sequences")) ?? 1;
  const model = c.path.split("/")[1];
  const vocab = isGenModel(model) ? GEN_FACTS[model].vocab : Infinity;
  const streamed = new Map<string, number[]>();
  for (const f of frames.slice(0, -1)) {
    const d = f.data;
    if (f.event !== "token") {
      problems.push(`stream: a ${JSON.stringify(f.event)} frame before the last one: ${short(f.raw)}`);
      continue;
    }
    const ok = Number.isInteger(d?.prompt) && d.prompt >= 0 && d.prompt < (n ?? 0) && Number.isInteger(d?.sequence) && d.sequence >= 0 && d.sequence < want &&
      Array.isArray(d?.tokens) && d.tokens.every((t: unknown) => Number.isInteger(t) && (t as number) >= 0 && (t as number) < vocab) && typeof d?.text === "string";
    if (!ok) problems.push(`stream: malformed token frame (${n} prompts, ${want} sequences): ${short(f.raw, 300)}`);
    else streamed.set(`${d.prompt}:${d.sequence}`, [...(streamed.get(`${d.prompt}:${d.sequence}`) ?? []), ...d.tokens]);
  }
  if (last.event === "error") {
    const e = last.data?.error ?? {};
    if (CLIENT_TASK_ERRORS.has(e.type)) note("failedClient");
    else problems.push(`stream ended with an error frame of type ${JSON.stringify(e.type)} (not a client error): ${short(last.raw)}`);
    if (last.data?.status !== "Failed" || typeof e.message !== "string") problems.push(`stream error frame is not {status: "Failed", error: {type, message}}: ${short(last.raw)}`);
    if (LEAK.test(last.raw)) problems.push(`internals leak into a stream error: ${short(last.raw)}`);
    return problems;
  }
  note("finished", last.data?.result);
  if (last.data?.status !== "Finished" || typeof last.data?.task_id !== "string") problems.push(`stream result frame is not {task_id, status: "Finished", result}: ${short(last.raw)}`);
  const r = last.data?.result;
  if (typeof r?.model_outputs !== "object" || typeof r?.model_output_is_encoded !== "boolean") problems.push("stream result lacks model_outputs / model_output_is_encoded (SPEC §5)");
  problems.push(...generationProblems(c, r, n, streamed));
  return [...new Set(problems)].slice(0, 5);
}

/** The parts of a generation result that must not depend on what shares its batches (SPEC §6.5: each prompt decodes as if alone). */
export function generationSignature(r: any): string {
  const rows = Array.isArray(r?.model_outputs?.sequences) ? r.model_outputs.sequences.map((s: unknown) => sequenceRows(s)) : r?.model_outputs?.sequences;
  return JSON.stringify({ generated_texts: r?.generated_texts, finish_reasons: r?.finish_reasons, sequences: rows });
}

/** Generation has no explanations or attacks (SPEC §7, §8): asking for them must be refused, not ignored. */
export function refusalProblems(c: FuzzCase, a: Answer): string[] {
  if (c.task !== "generation" || a.status !== 200) return [];
  return ["explain_kwargs", "attack_kwargs"].flatMap((k) => {
    const v = own(c.body, k);
    return v !== null && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length > 0 ? [`generation accepted ${k} ${short(toJson(v), 120)} (it has no ${k === "explain_kwargs" ? "explanations" : "attacks"}: a 422 naming ${k})`] : [];
  });
}

const DEFAULTS = { batch_size: 32, max_input: 1024, return_plaintext_arrays: false, disable_gpu: false };
const CANARY: Record<string, unknown> = {
  "sequence-classification": { input: ["a fine canary"] },
  "token-classification": { input: ["John lives in Paris"] },
  embedding: { input: ["a fine canary"] },
  "question-answering": { input: [["who sings?", "a fine canary sings"]] },
  generation: { input: ["a fine canary"], task_kwargs: { max_new_tokens: 2 } },
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
