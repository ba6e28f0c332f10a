/**
 * Coalescing apply loop: one apply in flight, the latest state wins, and a burst of N requests costs a
 * bounded number of applies. Callers can await "the apply that includes my change": a request resolves with
 * the first completed apply that STARTED after it.
 *
 * An apply may answer `deferred` (it needs a reload and the last one was too recent): nothing is resolved,
 * and the loop runs again at `retryAt` with whatever is the latest state then. Runtime-API applies are never
 * deferred, so task changes go through at once even right after a reload.
 * Failed applies that may heal by themselves (reload failure, write error) are retried with backoff.
 */
import type { ApplyRecord } from './types.js';
import { Backoff } from '../core/backoff.js';
import { wallClockTimers, type Timers } from './hint-limiter.js';

export interface CoalescerOptions {
  retryBaseMs: number;
  retryMaxMs: number;
  /** `now()` is ms since epoch: a deferred record's `retryAt` is. Default: Node's timers. */
  timers?: Timers;
}

interface Waiter {
  generation: number;
  resolve: (r: ApplyRecord) => void;
}

const RETRYABLE = new Set(['reload-failed', 'error']);

export class ApplyCoalescer {
  private requested = 0;
  private running = false;
  private timer?: unknown;
  private deferUntil = 0;
  private retryTimer?: unknown;
  private readonly retry: Backoff;
  private readonly timers: Timers;
  private waiters: Waiter[] = [];
  private stopped = false;
  private idleResolvers: Array<() => void> = [];

  constructor(private readonly run: () => Promise<ApplyRecord>, private readonly o: CoalescerOptions) {
    this.retry = new Backoff({ initialMs: o.retryBaseMs, maxMs: o.retryMaxMs });
    this.timers = o.timers ?? wallClockTimers;
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
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      void this.runOnce();
    }, Math.max(0, this.deferUntil - this.timers.now()));
  }

  private async runOnce(): Promise<void> {
    if (this.stopped) return;
    if (this.retryTimer) {
      this.timers.clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
    }
    this.running = true;
    const generation = this.requested;
    const startedAt = this.timers.now();
    let record: ApplyRecord;
    try {
      record = await this.run();
    } catch (err) {
      record = { at: startedAt, result: 'error', reasons: [], durationMs: this.timers.now() - startedAt,
        error: { code: 'E_APPLY', message: err instanceof Error ? err.message : String(err) } };
    }
    this.running = false;
    if (record.result === 'deferred' && !this.stopped) {
      this.deferUntil = record.retryAt ?? this.timers.now();
      this.schedule();
      return;
    }
    this.deferUntil = 0;
    const done = this.waiters.filter((w) => w.generation <= generation);
    this.waiters = this.waiters.filter((w) => w.generation > generation);
    for (const w of done) w.resolve(record);
    if (this.stopped) {
      this.notifyIdle(); // stop() is waiting for this apply: nothing more is scheduled
      return;
    }
    if (RETRYABLE.has(record.result)) this.scheduleRetry();
    else this.retry.reset();
    if (this.requested > generation) this.schedule();
    else if (!this.retryTimer) this.notifyIdle();
  }

  private scheduleRetry(): void {
    if (this.stopped || this.retryTimer) return;
    const delay = this.retry.next();
    this.retryTimer = this.timers.setTimeout(() => {
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

  /** Stops scheduling; waits for the apply in flight to finish; pending callers get E_STOPPING. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) this.timers.clearTimeout(this.timer);
    if (this.retryTimer) this.timers.clearTimeout(this.retryTimer);
    this.timer = undefined;
    this.retryTimer = undefined;
    if (this.running) await new Promise<void>((resolve) => this.idleResolvers.push(resolve));
    this.notifyIdle();
    const stopped: ApplyRecord = { at: this.timers.now(), result: 'error', reasons: [], durationMs: 0,
      error: { code: 'E_STOPPING', message: 'culm is stopping' } };
    for (const w of this.waiters.splice(0)) w.resolve(stopped);
  }
}
