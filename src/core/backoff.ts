/**
 * The one retry delay: doubling from `initialMs` up to `maxMs`, back to `initialMs` after a success. With
 * `jitter: 'equal'` each delay is half fixed, half random ("equal jitter"), so instances that failed together
 * do not retry in lockstep (Marathon's event stream after a leader change). Pure: the caller owns the timer.
 */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  jitter?: 'none' | 'equal';
  random?: () => number;
}

export class Backoff {
  private attempts = 0;

  constructor(private readonly o: BackoffOptions) {}

  /** The delay before the next attempt (and the one after it doubles). */
  next(): number {
    const base = Math.min(this.o.maxMs, this.o.initialMs * 2 ** Math.min(this.attempts, 30));
    this.attempts++;
    if (this.o.jitter !== 'equal') return base;
    return Math.round(base / 2 + ((this.o.random ?? Math.random)() * base) / 2);
  }

  /** What `next()` would answer without jitter, without counting an attempt (for logs). */
  peek(): number {
    return Math.min(this.o.maxMs, this.o.initialMs * 2 ** Math.min(this.attempts, 30));
  }

  /** A success: the next delay is `initialMs` again. */
  reset(): void {
    this.attempts = 0;
  }

  /** Failures since the last success. */
  get failures(): number {
    return this.attempts;
  }
}
