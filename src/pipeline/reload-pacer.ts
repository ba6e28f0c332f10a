/**
 * The reload interval bounds the reload rate; it is not a delay. A change that needs a reload goes at once
 * when no reload ran within the interval, and otherwise waits until the interval since the last one is over.
 * Only reloads that ran count: a candidate HAProxy refused (`haproxy -c`) reloaded nothing, so leaving a bad
 * rule out and reloading the rest right after it is not held back (that wait is what froze every apply).
 */
export type Clock = () => number;

export class ReloadPacer {
  private lastReloadAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly intervalMs: number, readonly now: Clock = Date.now) {}

  /** When (ms since epoch) a reload may run: now or earlier when one may run at once. */
  allowedAt(): number {
    return this.lastReloadAt + this.intervalMs;
  }

  /** True when a reload may run now. */
  mayReload(): boolean {
    return this.now() >= this.allowedAt();
  }

  /** A reload ran (succeeded or failed); `startedAt` is when its apply reached the driver. */
  reloaded(startedAt: number): void {
    this.lastReloadAt = Math.max(this.lastReloadAt, startedAt);
  }
}
