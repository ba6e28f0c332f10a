/**
 * Marathon sends no event when a readiness result changes, so while an app with a readiness check is being
 * deployed (its `deployments` not empty) culm re-reads that one app (`GET /v2/apps/{id}`, which carries
 * `readinessCheckResults`) every `intervalMs`, a few apps at a time, until the deployment ends (the
 * deployment events' resync, or the read itself, empties `deployments`). Bounded: one round of reads at a
 * time, the next `intervalMs` after it ends, so a slow Marathon slows the rounds instead of piling them up.
 *
 * A running task without a result turns ready with time alone (readiness.ts): no read changes anything
 * then, so after each round the poller asks for a re-apply when such a moment passed since the last round.
 * Idle (no timer) while no app qualifies; `wake()` after a state change starts it again.
 */
import type { App } from '../core/model.js';
import { readinessApplies, readinessChangesAt } from '../core/readiness.js';
import { mapLimit } from '../store/zookeeper/util.js';
import { realTimers, type Timers } from './hint-limiter.js';

export interface ReadinessPollerOptions {
  /** The apps culm holds now. */
  apps(): Iterable<App>;
  /** Reads one app from Marathon and applies its answer. Must not throw (a failed read changes nothing). */
  readApp(appId: string): Promise<void>;
  /** Asks for an apply: readiness changed with time alone. */
  reevaluate(): void;
  /** Time between rounds (default 500 ms: a task Marathon found ready serves within ~0.5 s + a read + an apply). */
  intervalMs?: number;
  /** Reads in flight at once (default 4). */
  concurrency?: number;
  /** Timers; `now()` must be wall-clock ms since epoch (readiness deadlines come from tasks' `startedAt`). */
  timers?: Timers;
}

export const READINESS_POLL_MS = 500;

export class ReadinessPoller {
  private timer: unknown;
  private running?: Promise<void>;
  private stopped = false;
  /** When readiness by time was last judged (ms since epoch). */
  private judgedAt = 0;
  private readonly intervalMs: number;
  private readonly concurrency: number;
  private readonly timers: Timers;

  constructor(private readonly o: ReadinessPollerOptions) {
    this.intervalMs = o.intervalMs ?? READINESS_POLL_MS;
    this.concurrency = o.concurrency ?? 4;
    this.timers = o.timers ?? { ...realTimers, now: () => Date.now() };
  }

  /** The apps to follow now. */
  deploying(): string[] {
    const ids: string[] = [];
    for (const app of this.o.apps()) if (readinessApplies(app)) ids.push(app.id);
    return ids;
  }

  /** A state change: start polling if an app now qualifies (cheap when a round is already due or running). */
  wake(): void {
    if (this.stopped || this.timer !== undefined || this.running) return;
    if (this.deploying().length === 0) return;
    this.judgedAt = this.timers.now();
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private schedule(): void {
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      this.running = this.round().finally(() => {
        this.running = undefined;
        if (!this.stopped && this.deploying().length > 0) this.schedule();
      });
    }, this.intervalMs);
  }

  private async round(): Promise<void> {
    await mapLimit(this.deploying(), this.concurrency, (id) => (this.stopped ? Promise.resolve() : this.o.readApp(id)));
    if (this.stopped) return;
    const now = this.timers.now();
    const since = this.judgedAt;
    this.judgedAt = now;
    for (const app of this.o.apps()) {
      if (readinessApplies(app) && readinessChangesAt(app, since) <= now) {
        this.o.reevaluate();
        return;
      }
    }
  }
}
