/** Part 6 of issue #18: a spinner with the elapsed time while a task runs, and the total after. */
import { byId } from "./dom.ts";

export class Progress {
  private timer: number | undefined;
  private started = 0;
  private readonly box = byId("progress");
  private readonly elapsed = byId("elapsed");
  private readonly status = byId("status");

  start(what: string): void {
    this.stop();
    this.started = performance.now();
    this.box.hidden = false;
    this.box.setAttribute("aria-hidden", "true"); // the status line below speaks; the counter would chatter
    this.status.textContent = `Running ${what}…`;
    this.tick();
    this.timer = window.setInterval(() => this.tick(), 100);
  }

  /** Task state from the long-poll (Queued, Processing) or the stream. */
  state(what: string, state: string): void {
    this.status.textContent = `Running ${what}: ${state}…`;
  }

  finish(message: string): number {
    const seconds = this.seconds();
    this.stop();
    this.status.textContent = `${message} in ${seconds.toFixed(1)} s`;
    return seconds;
  }

  private seconds(): number {
    return (performance.now() - this.started) / 1000;
  }

  private tick(): void {
    this.elapsed.textContent = `${this.seconds().toFixed(1)} s`;
  }

  private stop(): void {
    if (this.timer !== undefined) window.clearInterval(this.timer);
    this.timer = undefined;
    this.box.hidden = true;
  }
}
