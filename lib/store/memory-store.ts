/**
 * In-process TaskStore for embedded mode and unit tests: a Map with expiry. Not shared across processes.
 * A result is written once and never changed afterwards, so readers share it: `get` copies the
 * record's own fields only. (Deep-copying an 8 MB token-classification result on every long-poll
 * read held the event loop ~100 ms each.)
 */
import type { TaskRecord, TaskStore, TaskTimings, TaskError } from "./task-store.ts";
import { DEFAULT_RESULT_TTL_MS } from "./task-store.ts";
import type { ModelUpdate } from "../config/model-settings.ts";

export class MemoryTaskStore implements TaskStore {
  private readonly records = new Map<string, { record: TaskRecord; expiresAt: number }>();
  private readonly updates = new Map<string, ModelUpdate>();
  private readonly knownModels = new Set<string>();
  private sweeper: NodeJS.Timeout;

  constructor(private readonly ttlMs = DEFAULT_RESULT_TTL_MS, private readonly now: () => number = Date.now) {
    this.sweeper = setInterval(() => this.sweep(), Math.min(ttlMs, 60_000));
    this.sweeper.unref();
  }

  async create(record: TaskRecord): Promise<void> {
    this.records.set(record.id, { record: structuredClone(record), expiresAt: this.now() + this.ttlMs });
  }

  async get(id: string): Promise<TaskRecord | undefined> {
    const entry = this.records.get(id);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.records.delete(id);
      return undefined;
    }
    return { ...entry.record };
  }

  async markRunning(id: string, attempt: number): Promise<void> {
    this.patch(id, (r) => (r.state === "queued" || r.state === "running" ? { ...r, state: "running", attempts: attempt } : r));
  }

  async complete(id: string, result: Record<string, unknown>, timings: TaskTimings): Promise<boolean> {
    let stored = false;
    this.patch(id, (r) => {
      if (r.state === "succeeded" || r.state === "failed") return r;
      stored = true;
      return { ...r, state: "succeeded", result, timings };
    });
    return stored;
  }

  async fail(id: string, error: TaskError, timings?: TaskTimings): Promise<void> {
    this.patch(id, (r) => (r.state === "succeeded" ? r : { ...r, state: "failed", error, timings }));
  }

  async saveModelUpdate(model: string, update: ModelUpdate): Promise<ModelUpdate> {
    const merged = { ...this.updates.get(model), ...update };
    this.updates.set(model, merged);
    return { ...merged };
  }

  async getModelUpdate(model: string): Promise<ModelUpdate> {
    return { ...this.updates.get(model) };
  }

  async registerModel(model: string): Promise<void> {
    this.knownModels.add(model);
  }

  async isKnownModel(model: string): Promise<boolean> {
    return this.knownModels.has(model);
  }

  async forgetModel(model: string): Promise<void> {
    this.knownModels.delete(model);
    this.updates.delete(model);
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
  }

  private patch(id: string, change: (r: TaskRecord) => TaskRecord): void {
    const entry = this.records.get(id);
    if (!entry) return;
    entry.record = { ...change(entry.record), updated_at: this.now() };
    entry.expiresAt = this.now() + this.ttlMs; // the TTL runs from the last change, so results live result_ttl after finishing
  }

  private sweep(): void {
    const now = this.now();
    for (const [id, entry] of this.records) if (entry.expiresAt <= now) this.records.delete(id);
  }
}
