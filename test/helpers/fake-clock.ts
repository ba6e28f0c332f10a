/**
 * A fake clock for the pipeline's timers (hint limiter, readiness poller, coalescer, lingering servers, event
 * stream): time moves only when told.
 */
import type { Timers } from '../../src/pipeline/hint-limiter.js';

export class FakeClock implements Timers {
  time = 0;
  now(): number {
    return this.time;
  }
  private queue: Array<{ at: number; fn: () => void; id: number }> = [];
  private ids = 0;
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.ids;
    this.queue.push({ at: this.time + ms, fn, id });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.queue = this.queue.filter((q) => q.id !== handle);
  }
  /** Resolves when fake time reaches `ms` from now. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.setTimeout(resolve, ms));
  }
  get armed(): number {
    return this.queue.length;
  }
  /** Moves time on, firing what falls due (and letting the promises they start settle). */
  async advance(ms: number): Promise<void> {
    const until = this.time + ms;
    for (;;) {
      await settle(); // what is already under way finishes before time moves, as it would in real time
      this.queue.sort((a, b) => a.at - b.at);
      const due = this.queue[0];
      if (!due || due.at > until) break;
      this.queue.shift();
      this.time = due.at;
      due.fn();
    }
    this.time = until;
  }
}

export const settle = async (): Promise<void> => {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
};

