/** A fake clock for the pipeline's timers (hint limiter, readiness poller): time moves only when told. */
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
  get armed(): number {
    return this.queue.length;
  }
  /** Moves time on, firing what falls due (and letting the promises they start settle). */
  async advance(ms: number): Promise<void> {
    const until = this.time + ms;
    for (;;) {
      this.queue.sort((a, b) => a.at - b.at);
      const due = this.queue[0];
      if (!due || due.at > until) break;
      this.queue.shift();
      this.time = due.at;
      due.fn();
      await settle();
    }
    this.time = until;
    await settle();
  }
}

export const settle = async (): Promise<void> => {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
};

