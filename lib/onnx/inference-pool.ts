/**
 * The process's inference threads: a fixed set of worker threads (session-worker.ts), each
 * hosting the ONNX Runtime sessions of any number of models, so a node serving fifty small models
 * runs a handful of V8 isolates instead of fifty (docs/benchmarks.md, "Density"). The one owner of
 * those threads: OnnxRunner (runner.ts) opens its sessions here and sends its runs to them.
 *
 * Size: `--inference-threads N` / SQUARE_INFERENCE_THREADS fixes it (configureInferencePool);
 * unset, it is max(2, the largest `workers` a runner asked for), so a model with `workers: N`
 * always gets N sessions on N distinct threads and runs N batches in parallel, as when each
 * session had its own thread. Two, not one, so that one model's long run (a gradient pass, a
 * large batch) does not hold every other model, and both cores of a small host stay busy. Threads
 * are started on demand (a one-model node with `workers: 1` has one), up to the size; each costs
 * an isolate, about 17 MB (twelve demo models: 219, 234, 270, 414 MB with 1, 2, 4, 12 threads).
 *
 * Placement: a new session goes to the thread hosting the fewest model bytes (then the fewest
 * sessions), never beside another session of the same runner. A thread runs one session at a
 * time, so models sharing a thread take turns on it: beyond the pool size, models no longer run
 * in parallel with each other (on a host with fewer cores than models they never really did).
 *
 * Supervision: a thread that dies (error, exit) rejects the pending runs of every session it
 * hosted with WorkerDiedError and is replaced (after a backoff when it had just started); the
 * replacement re-opens the sessions that lived on it, retrying with backoff (they loaded once).
 *
 * Threads stay when their last session is released: an idle thread costs one isolate and the
 * next model opens without starting one; they are unref'd while idle so they never keep a process
 * alive, and are never terminated while ONNX Runtime may run in them (see EXIT_NOW's note).
 */
import type { Worker } from "node:worker_threads";
import { statSync } from "node:fs";
import { startWorker } from "./worker-threads.ts";
import type { NdArray } from "../tensor.ts";
import type { IoInfo, SessionSettings } from "./session.ts";
import type { WorkerReply, WorkerRequest } from "./worker-protocol.ts";
import type { ExtraOutputsPlan } from "./extended-model.ts";

/** A run whose worker thread died (uncaught error, exit) before answering; the thread is replaced. */
export class WorkerDiedError extends Error {
  readonly name = "WorkerDiedError";
}

export interface RunResult {
  outputs: Record<string, NdArray>;
  runMs: number;
}

/** What a session answers once open (the same for every session of a graph). */
export interface SessionInfo {
  inputs: IoInfo[];
  /** The graph's own outputs. */
  outputs: IoInfo[];
  provider: string;
  warning?: string;
}

/** Wait before replacing a thread that died again soon after starting, or re-opening a session that failed to re-open. */
const RESPAWN_BACKOFF_MS = 1000;
/** The pool size when none is configured: at least this many, more when a model asks for more `workers`. */
const DEFAULT_MIN_THREADS = 2;

interface Pending {
  /** Takes a run's RunResult, or a plan's ExtraOutputsPlan. */
  resolve: (value: never) => void;
  reject: (e: Error) => void;
}

/** What a runner hears about its sessions: one came (back) up, or its thread died. */
export interface SessionEvents {
  ready(session: PoolSession): void;
  died(session: PoolSession): void;
}

/** One pool thread: its current worker (replaced when it dies) and what it hosts. */
class Slot {
  worker?: Worker;
  startedAt = 0;
  readonly sessions = new Set<PoolSession>();
  readonly pending = new Map<number, Pending>();
  /** Sessions whose open was sent and not answered. */
  readonly opening = new Set<PoolSession>();
  /** Releases sent and not answered, by session id. */
  readonly releasing = new Map<number, () => void>();
  constructor(readonly index: number) {}

  get bytes(): number {
    let sum = 0;
    for (const s of this.sessions) sum += s.bytes;
    return sum;
  }

  /** Keeps the process alive while the thread owes an answer (run, open, release), not while idle. */
  refresh(): void {
    if (!this.worker) return;
    if (this.pending.size + this.opening.size + this.releasing.size > 0) this.worker.ref();
    else this.worker.unref();
  }
}

/**
 * One model graph's session on one pool thread, as its runner sees it. `info` is set once the
 * session answered `ready`; `ready` is false while its thread is being replaced.
 */
export class PoolSession {
  ready = false;
  released = false;
  info?: SessionInfo;
  /** Runs of this session not yet settled (what its runner's close waits for). */
  readonly inFlight = new Set<Promise<RunResult>>();
  /** Settles the first open; later re-opens (after a thread replacement) only flip `ready`. */
  firstOpen?: { resolve: () => void; reject: (e: Error) => void };

  constructor(
    private readonly pool: InferencePool,
    readonly id: number,
    readonly settings: SessionSettings,
    readonly slot: Slot,
    readonly bytes: number,
    readonly events: SessionEvents,
  ) {}

  /** The worker thread hosting this session now. */
  get thread(): Worker | undefined {
    return this.slot.worker;
  }

  /** Runs in flight on this session's thread, every hosted session's together. */
  get threadLoad(): number {
    return this.slot.pending.size;
  }

  run(feeds: Record<string, NdArray>, outputNames?: string[]): Promise<RunResult> {
    const run = this.pool.post(this, feeds, outputNames);
    this.inFlight.add(run);
    return run.finally(() => this.inFlight.delete(run));
  }

  /** The graph's extra outputs, analysed in this session's thread. */
  plan(): Promise<ExtraOutputsPlan> {
    return this.pool.plan(this, this.settings.modelPath);
  }

  /** Frees the session in its thread (let its runs settle first); the thread stays. */
  release(): Promise<void> {
    return this.pool.release(this);
  }
}

export class InferencePool {
  private readonly slots: Slot[] = [];
  private nextSession = 1;
  private nextRun = 1;
  /** The largest `workers` asked for so far (the size when none is configured). */
  private largestAsked = 1;

  constructor(private configured?: number) {}

  /** The number of threads the pool may run. */
  get size(): number {
    return this.configured ?? Math.max(DEFAULT_MIN_THREADS, this.largestAsked);
  }

  /** Fixes the size (undefined: the default). Threads beyond a smaller size stay until the process ends. */
  configure(threads: number | undefined): void {
    this.configured = threads;
  }

  /** The live pool threads (tests and benchmarks count them). */
  get threads(): Worker[] {
    return this.slots.flatMap((s) => (s.worker ? [s.worker] : []));
  }

  /** Sessions hosted per thread. */
  get sessionsPerThread(): number[] {
    return this.slots.map((s) => s.sessions.size);
  }

  /**
   * Opens `count` sessions of the same graph on distinct threads (at most the pool size). `opened`
   * settles once every one answered; on a failure the caller releases the others.
   */
  open(settings: SessionSettings, count: number, events: SessionEvents): { sessions: PoolSession[]; opened: Promise<void> } {
    this.largestAsked = Math.max(this.largestAsked, count);
    const bytes = fileBytes(settings.modelPath);
    const sessions = this.place(Math.max(1, Math.min(count, this.size))).map((slot) => new PoolSession(this, this.nextSession++, settings, slot, bytes, events));
    const opens = sessions.map((session) => {
      const opened = new Promise<void>((resolve, reject) => (session.firstOpen = { resolve, reject }));
      session.slot.sessions.add(session);
      this.sendOpen(session);
      return opened;
    });
    return { sessions, opened: Promise.all(opens).then(() => undefined) };
  }

  /** Sends a run to the session's thread; rejects with WorkerDiedError when that thread dies first. */
  post(session: PoolSession, feeds: Record<string, NdArray>, outputNames?: string[]): Promise<RunResult> {
    if (!session.ready || !session.slot.worker) return Promise.reject(new WorkerDiedError("the inference worker is being replaced; the run did not start"));
    return this.ask(session.slot, (id) => ({ kind: "run", session: session.id, id, feeds, outputNames }));
  }

  /** The extra outputs graph surgery can add to `modelPath`, analysed in the session's thread (small models: runner.ts). */
  plan(session: PoolSession, modelPath: string): Promise<ExtraOutputsPlan> {
    return this.ask(session.slot, (id) => ({ kind: "plan", id, modelPath }));
  }

  /** A request the slot's thread answers under `id` (`answer`); rejects with WorkerDiedError when the thread is gone or dies first. */
  private ask<T>(slot: Slot, request: (id: number) => WorkerRequest): Promise<T> {
    const worker = slot.worker;
    if (!worker) return Promise.reject(new WorkerDiedError("the inference worker is being replaced"));
    const id = this.nextRun++;
    return new Promise<T>((resolve, reject) => {
      slot.pending.set(id, { resolve: resolve as (value: never) => void, reject });
      slot.refresh();
      worker.postMessage(request(id));
    });
  }

  /** Releases the session in its thread (queued behind the runs sent before); the thread stays. */
  release(session: PoolSession): Promise<void> {
    if (session.released) return Promise.resolve();
    session.released = true;
    session.ready = false;
    const slot = session.slot;
    slot.sessions.delete(session);
    session.firstOpen?.reject(new Error(`cannot load ${session.settings.modelPath}: closed while loading`));
    session.firstOpen = undefined;
    const worker = slot.worker;
    if (!worker) return Promise.resolve();
    return new Promise<void>((resolve) => {
      slot.releasing.set(session.id, resolve);
      slot.refresh();
      worker.postMessage({ kind: "release", session: session.id } satisfies WorkerRequest);
    });
  }

  /** `count` distinct slots, least loaded first (bytes, then sessions); empty threads are started up to the size. */
  private place(count: number): Slot[] {
    const empty = this.slots.filter((s) => s.sessions.size === 0).length;
    for (let k = empty; k < count && this.slots.length < this.size; k++) this.slots.push(this.start(new Slot(this.slots.length)));
    const order = [...this.slots].sort((a, b) => a.bytes - b.bytes || a.sessions.size - b.sessions.size || a.index - b.index);
    return order.slice(0, count);
  }

  private start(slot: Slot): Slot {
    const worker = startWorker(new URL("./session-worker.ts", import.meta.url), undefined);
    slot.worker = worker;
    slot.startedAt = Date.now();
    let dead = false;
    const died = (why: string) => {
      if (dead) return; // error is followed by exit
      dead = true;
      this.threadDied(slot, worker, why);
    };
    worker.on("message", (msg: WorkerReply) => slot.worker === worker && this.answer(slot, msg));
    worker.on("error", (err) => died(err.message));
    worker.on("exit", (code) => died(`exit code ${code}`));
    for (const session of slot.sessions) this.sendOpen(session); // a replacement re-opens what lived on its slot
    slot.refresh();
    return slot;
  }

  private sendOpen(session: PoolSession): void {
    const slot = session.slot;
    if (!slot.worker || session.released || session.ready || slot.opening.has(session)) return;
    slot.opening.add(session);
    slot.refresh();
    slot.worker.postMessage({ kind: "open", session: session.id, settings: session.settings } satisfies WorkerRequest);
  }

  private answer(slot: Slot, msg: WorkerReply): void {
    if (msg.kind === "result" || msg.kind === "error" || msg.kind === "planned") {
      const p = slot.pending.get(msg.id);
      slot.pending.delete(msg.id);
      slot.refresh();
      if (msg.kind === "planned") (p?.resolve as ((plan: ExtraOutputsPlan) => void) | undefined)?.(msg.plan);
      else if (msg.kind === "result") (p?.resolve as ((r: RunResult) => void) | undefined)?.({ outputs: msg.outputs, runMs: msg.runMs });
      else p?.reject(new Error(`inference failed: ${msg.message}`));
      return;
    }
    if (msg.kind === "released") {
      const done = slot.releasing.get(msg.session);
      slot.releasing.delete(msg.session);
      slot.refresh();
      done?.();
      return;
    }
    const session = [...slot.opening].find((s) => s.id === msg.session);
    if (!session) return;
    slot.opening.delete(session);
    slot.refresh();
    if (session.released) return; // released while opening: the release queued behind the open frees it
    const first = session.firstOpen;
    session.firstOpen = undefined;
    if (msg.kind === "ready") {
      const { inputs, outputs, provider, warning } = msg;
      session.info = { inputs, outputs, provider, warning };
      session.ready = true;
      session.events.ready(session);
      first?.resolve();
    } else if (first) {
      session.released = true; // the worker dropped it
      slot.sessions.delete(session);
      first.reject(new Error(`cannot load ${session.settings.modelPath}: ${msg.message}`));
    } else {
      // It loaded once: a re-open after a thread replacement keeps trying.
      setTimeout(() => this.sendOpen(session), RESPAWN_BACKOFF_MS);
    }
  }

  private threadDied(slot: Slot, worker: Worker, why: string): void {
    if (slot.worker !== worker) return;
    slot.worker = undefined;
    const pending = [...slot.pending.values()];
    const releases = [...slot.releasing.values()];
    slot.pending.clear();
    slot.opening.clear();
    slot.releasing.clear();
    for (const p of pending) p.reject(new WorkerDiedError(`the inference worker died (${why}); the run did not finish`));
    for (const done of releases) done(); // the thread took its sessions with it
    for (const session of [...slot.sessions]) {
      const first = session.firstOpen;
      if (first) {
        session.firstOpen = undefined;
        session.released = true;
        slot.sessions.delete(session);
        first.reject(new Error(`cannot load ${session.settings.modelPath}: the worker died (${why})`));
      } else if (session.ready) {
        session.ready = false;
        session.events.died(session);
      }
    }
    const replace = () => this.start(slot);
    if (Date.now() - slot.startedAt < RESPAWN_BACKOFF_MS) setTimeout(replace, RESPAWN_BACKOFF_MS);
    else replace();
  }
}

function fileBytes(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

let shared: InferencePool | undefined;
let configuredThreads: number | undefined;

/** The process's pool, created on first use. */
export function inferencePool(): InferencePool {
  shared ??= new InferencePool(configuredThreads);
  return shared;
}

/** Sets the pool size from the node's settings (`--inference-threads`); undefined: the default. */
export function configureInferencePool(threads: number | undefined): void {
  configuredThreads = threads;
  shared?.configure(threads);
}
