/**
 * Rate limit for hints (callbacks without the subscription's secret): the apps they name are collected for
 * one settle window and then re-read, each once, a few at a time; the next window opens when those reads are
 * done. So a flood costs at most one read per app per window, and never a queue that grows with the flood:
 * past `maxPending` distinct apps the window asks for one full resync instead, which covers them all, and so
 * does a resync asked for by a hint itself (deployment events, apps culm does not hold: made-up ids).
 */
import { mapLimit } from '../store/zookeeper/util.js';

export interface Timers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export type OfferOutcome = 'queued' | 'coalesced' | 'overflow' | 'resync';

export interface HintLimiterOptions {
  /** The window: how long hints are collected before the reads (Marathon.SettleMs). */
  windowMs: number;
  /** Distinct apps a window may read; one more turns the window into a full resync. */
  maxPending?: number;
  /** Reads in flight at once. */
  concurrency?: number;
  /** Reads one app and applies Marathon's answer. Must not throw (a failed read changes nothing). */
  readApp(appId: string): Promise<void>;
  /** Asks for a full resync (the daemon's, which coalesces with every other resync). */
  resync(): void;
  /** Least time between two resyncs asked for by hints (default 8 windows: a resync is not cheap). */
  resyncGapMs?: number;
  timers?: Timers;
}

export const DEFAULT_MAX_PENDING = 256;
const DEFAULT_CONCURRENCY = 4;

export const realTimers: Timers = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => {
    const handle = setTimeout(fn, ms);
    handle.unref();
    return handle;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Node's timers on the wall clock (ms since epoch), kept referenced: a pending apply or reconnect keeps the process up. */
export const wallClockTimers: Timers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export class HintLimiter {
  private pending = new Set<string>();
  private resyncWanted = false;
  private timer: unknown;
  private running?: Promise<void>;
  private stopped = false;
  private readonly maxPending: number;
  private readonly concurrency: number;
  private readonly timers: Timers;
  private readonly resyncGapMs: number;
  private lastResyncAt = -Infinity;
  /** Set by a window that had to hold its resync back: when the next window may run it. */
  private resyncDueIn = 0;

  constructor(private readonly o: HintLimiterOptions) {
    this.maxPending = o.maxPending ?? DEFAULT_MAX_PENDING;
    this.concurrency = o.concurrency ?? DEFAULT_CONCURRENCY;
    this.timers = o.timers ?? realTimers;
    // Anyone can post hints: the resyncs they ask for are spaced like a slow periodic one, not every 2 s
    // (a full resync at 10,000 apps costs ~1.5 s of CPU and ~46 MB from Marathon).
    this.resyncGapMs = o.resyncGapMs ?? Math.max(8 * o.windowMs, 30_000);
  }

  /** Distinct apps waiting for the next window's reads. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** A hint names this app: read it in the next window (once, however many hints name it). */
  offerRead(appId: string): OfferOutcome {
    if (this.resyncWanted || this.pending.has(appId)) return 'coalesced';
    if (this.pending.size >= this.maxPending) {
      this.pending.clear();
      this.resyncWanted = true;
      return 'overflow';
    }
    this.pending.add(appId);
    this.arm();
    return 'queued';
  }

  /** A hint asks for a resync: one, at the end of the window. */
  offerResync(): OfferOutcome {
    if (this.resyncWanted) return 'coalesced';
    this.pending.clear();
    this.resyncWanted = true;
    this.arm();
    return 'resync';
  }

  /** Stops taking windows; waits for the reads in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.pending.clear();
    await this.running;
  }

  private arm(): void {
    if (this.stopped || this.timer !== undefined || this.running) return;
    const delay = Math.max(this.o.windowMs, this.resyncDueIn);
    this.resyncDueIn = 0;
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      this.running = this.window().finally(() => {
        this.running = undefined;
        if (this.pending.size > 0 || this.resyncWanted) this.arm();
      });
    }, delay);
  }

  private async window(): Promise<void> {
    if (this.stopped) return;
    if (this.resyncWanted) {
      // A full resync reads every app: the reads collected meanwhile are covered.
      this.pending.clear();
      const wait = this.lastResyncAt + this.resyncGapMs - this.timers.now();
      if (wait > 0) {
        this.resyncDueIn = wait;
        return;
      }
      this.resyncWanted = false;
      this.lastResyncAt = this.timers.now();
      this.o.resync();
      return;
    }
    const apps = [...this.pending];
    this.pending.clear();
    await mapLimit(apps, this.concurrency, async (id) => {
      if (!this.stopped) await this.o.readApp(id).catch(() => undefined);
    });
  }
}
