/**
 * The few figures the console shows (`GET /api/metrics/summary`): read straight from the counters, not by
 * parsing /metrics text. The event rate is the last minute's, from per-second buckets (a ring of 60 numbers:
 * one increment per event, nothing that grows with the rate).
 */

export interface MetricsSummary {
  events: { total: number; perSecond: number };
  /** Apply cycles by result (`applied`, `unchanged`, `invalid`…). */
  applies: Record<string, number>;
  /** HAProxy reload commands: how many, their mean and the last one's duration (ms). */
  reloads: { count: number; meanMs: number; lastMs: number | null };
  /** Changes through the runtime API (no reload), and how many fell back to a reload. */
  runtime: { count: number; meanMs: number; failures: number };
  validationFailures: number;
  haproxyRestarts: number;
}

const WINDOW_S = 60;

/** Events per second over the last minute (or since start, when younger). `now` in ms, injected for tests. */
export class EventRate {
  private readonly buckets = new Float64Array(WINDOW_S);
  private second: number;
  /** When the current second's bucket is done (ms): `add` advances only then. */
  private nextSecondAt: number;
  private readonly startedAt: number;

  constructor(private readonly now: () => number = Date.now) {
    this.startedAt = now();
    this.second = Math.floor(this.startedAt / 1000);
    this.nextSecondAt = (this.second + 1) * 1000;
  }

  /** Every Marathon event: within the current second, one clock read and a compare. */
  add(n = 1): void {
    if (this.now() >= this.nextSecondAt) this.advance();
    this.buckets[this.second % WINDOW_S] += n;
  }

  perSecond(): number {
    this.advance();
    const seconds = Math.min(WINDOW_S, Math.max(1, (this.now() - this.startedAt) / 1000));
    let sum = 0;
    for (const b of this.buckets) sum += b;
    return Math.round((sum / seconds) * 100) / 100;
  }

  /** Empties the buckets of the seconds passed since the last call. */
  private advance(): void {
    const current = Math.floor(this.now() / 1000);
    for (let s = Math.max(this.second + 1, current - WINDOW_S + 1); s <= current; s++) this.buckets[s % WINDOW_S] = 0;
    this.second = Math.max(this.second, current);
    this.nextSecondAt = (this.second + 1) * 1000;
  }
}
