/**
 * A repeating round (placement, an agent's reconciliation) that never overlaps itself: a call
 * during a round makes exactly one more round after it, however many calls came, and a call when
 * idle starts one at once. A round that throws ends the run; the error goes to the caller.
 */
export class SerialRounds {
  private running = false;
  private again = false;

  async run(round: () => Promise<void>): Promise<void> {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    try {
      do {
        this.again = false;
        await round();
      } while (this.again);
    } finally {
      this.running = false;
    }
  }
}
