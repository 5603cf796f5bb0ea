/**
 * The process-wide gate behind SPEC §12's "a task that kills its replica is retried alone": a
 * suspect (a task whose earlier delivery died with its process) runs only while nothing else
 * runs in this process, so if it kills the process again no other task dies with it. Ordinary
 * deliveries share the gate; a suspect waits for them to finish, and new ones wait behind it.
 * One gate per process (per queue instance): every model actor of the process shares it, since
 * a native abort takes them all down.
 */
export class Quarantine {
  private shared = 0;
  private exclusive = false;
  private suspectsWaiting = 0;
  private waiters: (() => void)[] = [];

  /** Holds the gate for an ordinary delivery; resolves with its release. */
  async enterShared(): Promise<() => void> {
    while (this.exclusive || this.suspectsWaiting > 0) await this.changed();
    this.shared++;
    return this.releaser(() => this.shared--);
  }

  /** Holds the gate alone: resolves once every ordinary delivery in the process has settled. */
  async enterAlone(): Promise<() => void> {
    this.suspectsWaiting++;
    try {
      while (this.exclusive || this.shared > 0) await this.changed();
    } finally {
      this.suspectsWaiting--;
    }
    this.exclusive = true;
    return this.releaser(() => (this.exclusive = false));
  }

  get busy(): { shared: number; alone: boolean } {
    return { shared: this.shared, alone: this.exclusive };
  }

  private changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private releaser(release: () => void): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      release();
      const waiting = this.waiters;
      this.waiters = [];
      for (const wake of waiting) wake();
    };
  }
}
