/**
 * Long-poll support: requests waiting for a task to end, woken by the `task.finished` event
 * (a notification, not a polling loop).
 */
export class TaskWaiters {
  private readonly waiting = new Map<string, Set<() => void>>();

  /** Resolves when `notify(id)` is called, after `ms`, or when `signal` aborts (this waiter alone), whichever comes first. */
  wait(id: string, ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const set = this.waiting.get(id) ?? new Set();
      this.waiting.set(id, set);
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        set.delete(done);
        if (set.size === 0 && this.waiting.get(id) === set) this.waiting.delete(id);
        resolve();
      };
      const timer = setTimeout(done, ms);
      set.add(done);
      signal?.addEventListener("abort", done, { once: true });
    });
  }

  notify(id: string): void {
    for (const done of [...(this.waiting.get(id) ?? [])]) done();
  }

  get size(): number {
    return this.waiting.size;
  }
}

export const MAX_WAIT_SECONDS = 60;

/** `?wait=SECONDS`: 0 (default, SQuARE's behaviour) up to MAX_WAIT_SECONDS. */
export function parseWait(raw: unknown): number | string {
  if (raw === undefined || raw === "") return 0;
  if (typeof raw !== "string") return "wait must be given once, as a number of seconds ≥ 0 (not repeated, no brackets)";
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) return `wait must be a number of seconds ≥ 0, got "${raw}"`;
  return Math.min(n, MAX_WAIT_SECONDS);
}
