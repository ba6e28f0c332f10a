/**
 * Servers removed through the runtime API that HAProxy would not delete yet: they are in maintenance (no
 * new requests), but requests in flight or idle keep-alive connections still use them, and HAProxy 2.6
 * refuses `del server` until those are gone. They are deleted later, retried with a growing delay, instead of
 * a reload that would cut nothing short either. A reload clears them (the new process has only the file's
 * servers); an `add server` of the same name takes one back.
 */
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../log/logger.js';
import { deleteServers } from './runtime-api.js';
import type { ServerLine } from './server-diff.js';
import { Backoff } from '../core/backoff.js';
import { realTimers, type Timers } from '../pipeline/hint-limiter.js';

/** A round that found a change in flight tries again this soon. */
const BUSY_RETRY_MS = 200;

export interface LingeringOptions {
  /** First retry after this long (HAProxy purges idle server connections every 5 s by default). */
  firstRetryMs?: number;
  maxRetryMs?: number;
  /** Default: Node's timers, unreferenced (a pending deletion round never keeps the process up). */
  timers?: Timers;
}

export class LingeringServers {
  /** `backend/name` → the line the server was added with (an add of that name may take it back). */
  private readonly servers = new Map<string, ServerLine>();
  private timer?: unknown;
  /** When the timer fires (on the timers' clock). */
  private dueAt = 0;
  private readonly retry: Backoff;
  private sweeping?: Promise<void>;
  private busy = 0;
  private readonly firstRetryMs: number;
  private readonly maxRetryMs: number;
  private readonly timers: Timers;

  constructor(private readonly socketPath: string, private readonly log: Logger, options: LingeringOptions = {}) {
    this.firstRetryMs = options.firstRetryMs ?? 2000;
    this.maxRetryMs = options.maxRetryMs ?? 60_000;
    this.retry = new Backoff({ initialMs: this.firstRetryMs, maxMs: this.maxRetryMs });
    this.timers = options.timers ?? realTimers;
  }

  /** `backend/name` of the servers waiting to be deleted. */
  list(): string[] {
    return [...this.servers.keys()];
  }

  /** The servers waiting to be deleted, with their lines. */
  known(): ReadonlyMap<string, ServerLine> {
    return this.servers;
  }

  /**
   * Runs `fn` (runtime commands and what records them, or a reload) with no deletion round in flight
   * meanwhile, so a server being taken back by an `add server` is never deleted under it, and a deletion
   * never reaches a process that has just replaced the old one.
   */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    this.busy++;
    try {
      await this.sweeping;
      return await fn();
    } finally {
      this.busy--;
    }
  }

  /**
   * After a runtime change: servers added (no longer lingering, whether new or taken back), then the servers
   * left in maintenance by this change.
   */
  update(lingering: ReadonlyArray<readonly [string, ServerLine]>, added: readonly string[]): void {
    for (const id of added) this.servers.delete(id);
    if (lingering.length > 0) {
      for (const [id, line] of lingering) this.servers.set(id, line);
      // New ones are tried again soon: a round further away than that is brought forward (one already due
      // sooner is kept, so a steady stream of new ones never keeps pushing the round back).
      this.retry.reset();
      if (this.timer && this.dueAt > this.timers.now() + this.firstRetryMs) {
        this.timers.clearTimeout(this.timer);
        this.timer = undefined;
      }
      this.log.debug({ servers: lingering.map(([id]) => id) }, 'servers in maintenance until their connections close');
    }
    this.schedule();
  }

  /** After a reload: HAProxy's new process has only the servers of the file. */
  clear(): void {
    this.servers.clear();
    if (this.timer) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(delayMs = this.retry.peek()): void {
    if (this.timer || this.servers.size === 0) return;
    this.dueAt = this.timers.now() + delayMs;
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      if (this.busy > 0) {
        this.schedule(BUSY_RETRY_MS); // soon after the change in flight, not a whole delay later
        return;
      }
      this.sweeping = this.sweep().finally(() => {
        this.sweeping = undefined;
        this.schedule();
      });
    }, delayMs);
  }

  private async sweep(): Promise<void> {
    const ids = this.list();
    try {
      const still = new Set(await deleteServers(this.socketPath, ids));
      for (const id of ids) if (!still.has(id) && this.servers.delete(id)) this.log.debug({ server: id }, 'lingering server deleted');
    } catch (err) {
      this.log.debug({ err: errorMessage(err) }, 'lingering servers: stats socket not reachable, retrying later');
    }
    this.retry.next();
  }
}
