/**
 * Coalescing apply loop: one apply in flight, the latest state wins, applies that reload are spaced by at
 * least `minIntervalMs`, and a burst of N requests costs at most two applies. Callers can await "the apply
 * that includes my change": a request resolves with the first apply that STARTED after it.
 * Failed applies that may heal by themselves (reload failure, write error) are retried with backoff.
 */
import type { ApplyRecord } from './types.js';

export interface CoalescerOptions {
  minIntervalMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
}

interface Waiter {
  generation: number;
  resolve: (r: ApplyRecord) => void;
}

const RETRYABLE = new Set(['reload-failed', 'error']);

export class ApplyCoalescer {
  private requested = 0;
  private running = false;
  private timer?: NodeJS.Timeout;
  private retryTimer?: NodeJS.Timeout;
  private retryDelay: number;
  private lastReloadAt = Number.NEGATIVE_INFINITY;
  private waiters: Waiter[] = [];
  private stopped = false;
  private idleResolvers: Array<() => void> = [];

  constructor(private readonly run: () => Promise<ApplyRecord>, private readonly o: CoalescerOptions) {
    this.retryDelay = o.retryBaseMs;
  }

  /** Asks for an apply of the current state; resolves with the record of an apply that includes it. */
  request(): Promise<ApplyRecord> {
    this.requested++;
    const generation = this.requested;
    const p = new Promise<ApplyRecord>((resolve) => this.waiters.push({ generation, resolve }));
    this.schedule();
    return p;
  }

  private schedule(): void {
    if (this.stopped || this.running || this.timer) return;
    const wait = Math.max(0, this.lastReloadAt + this.o.minIntervalMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.runOnce();
    }, wait);
  }

  private async runOnce(): Promise<void> {
    if (this.stopped) return;
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
    }
    this.running = true;
    const generation = this.requested;
    const startedAt = Date.now();
    let record: ApplyRecord;
    try {
      record = await this.run();
    } catch (err) {
      record = { at: startedAt, result: 'error', reasons: [], durationMs: Date.now() - startedAt,
        error: { code: 'E_APPLY', message: err instanceof Error ? err.message : String(err) } };
    }
    this.running = false;
    if (record.result === 'applied' || record.result === 'reload-failed') this.lastReloadAt = startedAt;
    if (this.stopped) {
      // stop() is waiting for this apply: nothing more is scheduled.
      for (const w of this.waiters.filter((x) => x.generation <= generation)) w.resolve(record);
      this.waiters = this.waiters.filter((x) => x.generation > generation);
      this.notifyIdle();
      return;
    }
    const done = this.waiters.filter((w) => w.generation <= generation);
    this.waiters = this.waiters.filter((w) => w.generation > generation);
    for (const w of done) w.resolve(record);
    if (RETRYABLE.has(record.result)) {
      this.scheduleRetry();
    } else {
      this.retryDelay = this.o.retryBaseMs;
    }
    if (this.requested > generation) this.schedule();
    else if (!this.retryTimer) this.notifyIdle();
  }

  private scheduleRetry(): void {
    if (this.stopped || this.retryTimer) return;
    const delay = this.retryDelay;
    this.retryDelay = Math.min(this.retryDelay * 2, this.o.retryMaxMs);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.request();
    }, delay);
  }

  private notifyIdle(): void {
    const resolvers = this.idleResolvers;
    this.idleResolvers = [];
    for (const r of resolvers) r();
  }

  /** Resolves when nothing is running or scheduled (retries aside). */
  idle(): Promise<void> {
    if (!this.running && !this.timer) return Promise.resolve();
    return new Promise((resolve) => this.idleResolvers.push(resolve));
  }

  /** Stops scheduling; waits for the apply in flight to finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.timer = undefined;
    this.retryTimer = undefined;
    if (this.running) await new Promise<void>((resolve) => this.idleResolvers.push(resolve));
    this.notifyIdle();
    const stopped: ApplyRecord = { at: Date.now(), result: 'error', reasons: [], durationMs: 0,
      error: { code: 'E_STOPPING', message: 'culm is stopping' } };
    for (const w of this.waiters.splice(0)) w.resolve(stopped);
  }
}
