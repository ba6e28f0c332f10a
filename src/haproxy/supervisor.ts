/**
 * Keeps HAProxy running: if the process the pid file names is gone (crash, OOM killer, `kill -9`), HAProxy is
 * started again from the last config applied, through the driver's reload command (so an operator's own reload
 * command is honoured), logged, counted and shown in `/readyz` until it serves again.
 *
 * Why the pid file and not our child: `haproxy -D` forks away from the command that started it, and after a
 * `-sf` reload the old process exits on purpose once it is idle; the pid file always names the current one.
 * A dead pid must be seen twice in a row before anything is done (HAProxy rewrites the file during a reload),
 * a pid that the kernel gave to another program since counts as dead (its `/proc/<pid>/stat` names another
 * command), so does a killed HAProxy not reaped yet (a zombie),
 * and the stale pid file is removed before the restart, so `-sf $(cat pidfile)` cannot signal that program.
 *
 * A live pid is not enough: a stopped HAProxy (`kill -STOP`, state T) keeps its pid and its ports but serves
 * nothing. With a stats socket, each probe also asks it `show info`; a process that is stopped and does not
 * answer within `HANG_TIMEOUT_MS`, `HANG_PROBES` probes in a row, is killed (`kill -9`) and started again like a
 * dead one. A silent socket alone proves nothing: HAProxy leaves a CLI connection unanswered while its CLI
 * slots are taken (an operator's sessions, a monitoring sidecar) and serves on; such a process is left alone
 * (logged). A thread stuck in a loop is HAProxy's own watchdog's to end (it aborts the process: a death, seen
 * as one). A socket that is missing or refuses (another template, a reload replacing it) is not counted.
 *
 * Two culm instances must not fight over one HAProxy: each has its own output and pid path; a lock file beside
 * the pid file names the culm that supervises it, and another live culm finding it does not supervise.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../log/logger.js';
import type { DependencyCheck } from '../pipeline/types.js';
import { processExists } from './driver.js';
import { runtimeCommands } from './runtime-api.js';
import { Backoff } from '../core/backoff.js';

/** What the supervisor asks of the host; tests pass a fake one. */
export interface ProcessProbe {
  /** The pid in the pid file; undefined when it is missing, empty or not a pid. */
  readPid(path: string): number | undefined;
  /** Whether `pid` is a live HAProxy process (a reused pid of another program is not). */
  isHaproxy(pid: number): boolean;
  /** Removes the pid file of a dead HAProxy. */
  removePidFile(path: string): void;
  /**
   * Whether the HAProxy behind the stats socket answers `show info` within `timeoutMs`: 'unreachable' when
   * the socket is missing or refuses (which says nothing of a hang). Without it, hangs are not detected.
   */
  answers?(socketPath: string, timeoutMs: number): Promise<'yes' | 'no answer' | 'unreachable'>;
  /**
   * Whether the process is stopped (`kill -STOP`, a debugger: state T or t in /proc): it serves nothing. A
   * silent stats socket alone proves no hang: HAProxy leaves a connection unanswered while its CLI slots
   * (`stats maxconn`, 10) are taken by other sessions, and keeps serving traffic.
   */
  stopped?(pid: number): boolean;
  /** `kill -9` of a hung HAProxy. */
  kill?(pid: number): void;
}

export interface SupervisorOptions {
  pidPath: string;
  /** How often the pid is probed (a death is acted on at the second probe that sees it). */
  intervalMs: number;
  /** Starts HAProxy again from the last applied config (the driver's `restart`). */
  restart(): Promise<unknown>;
  /** Whether culm has applied a config, i.e. HAProxy should be running at all. */
  started(): boolean;
  restarted?(): void;
  log: Logger;
  probe?: ProcessProbe;
  now?: () => number;
  /** The lock naming the supervising culm; default `<pidPath>.culm-lock`. Empty: no lock. */
  lockPath?: string;
  /** The stats socket HAProxy answers on (hangs are detected through it); unset: the pid only. */
  statsSocketPath?: string;
}

const MAX_BACKOFF_MS = 10_000;
/** A `show info` unanswered this long is one failed probe (HAProxy answers in a millisecond when it runs). */
export const HANG_TIMEOUT_MS = 1000;
/** Failed probes in a row, on the same pid, before HAProxy is taken for hung. */
export const HANG_PROBES = 3;

export const hostProbe: ProcessProbe = {
  readPid(path) {
    try {
      const pid = Number.parseInt(readFileSync(path, 'utf8').trim().split(/\s+/)[0] ?? '', 10);
      return Number.isInteger(pid) && pid > 1 ? pid : undefined;
    } catch {
      return undefined;
    }
  },
  isHaproxy(pid) {
    if (!processExists(pid)) return false;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      return true; // no /proc (not Linux): alive is all that can be known
    }
    // "<pid> (<comm>) <state> …": a killed HAProxy nobody reaped yet is a zombie (Z), still answering kill 0.
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const state = stat.slice(close + 2, close + 3);
    return comm.startsWith('haproxy') && state !== 'Z' && state !== 'X';
  },
  removePidFile(path) {
    rmSync(path, { force: true });
  },
  stopped(pid) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      return state === 'T' || state === 't';
    } catch {
      return false;
    }
  },
  async answers(socketPath, timeoutMs) {
    try {
      await runtimeCommands(socketPath, ['show info'], timeoutMs);
      return 'yes';
    } catch (err) {
      return /no answer within/.test(errorMessage(err)) ? 'no answer' : 'unreachable';
    }
  },
  kill(pid) {
    process.kill(pid, 'SIGKILL');
  },
};

export class HaproxySupervisor {
  private timer?: NodeJS.Timeout;
  private readonly probe: ProcessProbe;
  private readonly now: () => number;
  private readonly lockPath: string;
  /** Set when another live culm holds the lock: this one then never restarts anything. */
  private otherOwner?: number;
  private holdsLock = false;
  /** The pid seen dead at the last probe (acted on when the next probe sees the same). */
  private suspect?: number | 'none';
  /** When the suspect was first seen (the death, once the next probe confirms it). */
  private suspectSince?: number;
  private downSince?: number;
  private lastError?: string;
  private restarting = false;
  private restarts = 0;
  /**
   * Whether the pid file named a pid since culm applied a config: until then there is nothing to supervise (an
   * operator's reload command may not write this pid file at all, and a missing file must not start HAProxy
   * every probe). A `kill -9` leaves the file naming the dead pid.
   */
  private seenPid = false;
  /** Every pid the pid file named that may still run (old processes drain after `-sf`): see stop.ts. */
  readonly pidsSeen = new Set<number>();
  /** After a failed restart, the next one waits (doubling up to `MAX_BACKOFF_MS`): no launch storm. */
  private readonly retry: Backoff;
  private nextAttemptAt = 0;
  /** Probes of `hung.pid` in a row whose `show info` got no answer, since `hung.since`. */
  private hung?: { pid: number; probes: number; since: number; running?: boolean };
  private probing = false;

  constructor(private readonly o: SupervisorOptions) {
    this.probe = o.probe ?? hostProbe;
    this.now = o.now ?? Date.now;
    this.lockPath = o.lockPath ?? `${o.pidPath}.culm-lock`;
    this.retry = new Backoff({ initialMs: 2 * o.intervalMs, maxMs: MAX_BACKOFF_MS });
  }

  /** Takes the lock (unless another live culm holds it) and probes every `intervalMs`. */
  start(): void {
    if (!this.takeLock()) {
      this.o.log.warn({ pidFile: this.o.pidPath, culm: this.otherOwner, lock: this.lockPath },
        'another culm supervises the HAProxy of this pid file: not supervising it (give each culm its own HAProxy.OutputPath and PidPath)');
      return;
    }
    this.timer = setInterval(() => void this.tick(), this.o.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    if (this.holdsLock) {
      try {
        if (readFileSync(this.lockPath, 'utf8').trim() === String(process.pid)) rmSync(this.lockPath, { force: true });
      } catch {
        /* gone already */
      }
    }
    this.holdsLock = false;
  }

  private takeLock(): boolean {
    if (!this.lockPath) return true;
    try {
      writeFileSync(this.lockPath, `${process.pid}\n`, { flag: 'wx' });
      this.holdsLock = true;
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        this.o.log.warn({ lock: this.lockPath, err: errorMessage(err) }, 'supervision lock cannot be written; supervising without it');
        return true;
      }
    }
    const holder = Number.parseInt(readFileSync(this.lockPath, 'utf8').trim(), 10);
    if (Number.isInteger(holder) && holder !== process.pid && processExists(holder)) {
      this.otherOwner = holder;
      return false;
    }
    writeFileSync(this.lockPath, `${process.pid}\n`); // left by a culm that is gone (or by this pid's earlier life)
    this.holdsLock = true;
    return true;
  }

  /** One probe; restarts HAProxy when this probe and the one before saw it dead. */
  async tick(): Promise<void> {
    if (this.otherOwner !== undefined || !this.o.started() || this.restarting || this.probing) return;
    const pid = this.probe.readPid(this.o.pidPath);
    if (pid !== undefined) this.remember(pid);
    if (pid !== undefined && this.probe.isHaproxy(pid)) {
      if (await this.isHung(pid)) {
        const since = this.hung!.since;
        this.hung = undefined;
        this.downSince = since;
        this.o.log.error({ pid, probes: HANG_PROBES, silentMs: this.now() - since }, 'HAProxy does not answer on its stats socket (hung): killing it (kill -9)');
        try {
          this.probe.kill?.(pid);
        } catch (err) {
          this.o.log.warn({ pid, err: errorMessage(err) }, 'the hung HAProxy could not be killed');
        }
        await this.restart(pid, 'hung: no answer on the stats socket');
        return;
      }
      if (this.hung && !this.hung.running) return; // stopped and silent: neither taken for hung yet nor for serving
      this.retry.reset();
      if (this.downSince !== undefined) this.o.log.info({ pid, downMs: this.now() - this.downSince }, 'HAProxy serving again');
      this.suspect = undefined;
      this.suspectSince = undefined;
      this.downSince = undefined;
      this.lastError = undefined;
      return;
    }
    if (!this.seenPid) return;
    const seen = pid ?? 'none';
    if (this.suspect !== seen) {
      // First sight: the pid file may be mid-rewrite by a reload; the next probe decides (and /readyz waits
      // for it: a reload must not make culm look unready for a probe interval).
      this.suspect = seen;
      this.suspectSince ??= this.now();
      return;
    }
    this.downSince ??= this.suspectSince ?? this.now();
    if (this.now() < this.nextAttemptAt) return;
    await this.restart(pid);
  }

  private remember(pid: number): void {
    this.seenPid = true;
    if (this.pidsSeen.has(pid)) return;
    this.pidsSeen.add(pid);
    // Bounded by the processes alive: a culm that lives through thousands of reloads keeps only those.
    if (this.pidsSeen.size > 32) for (const p of this.pidsSeen) if (!this.probe.isHaproxy(p)) this.pidsSeen.delete(p);
  }

  /**
   * One `show info` probe of a live pid; true once `HANG_PROBES` in a row on this pid got no answer. A pid
   * replaced meanwhile (a reload) starts the count again.
   */
  private async isHung(pid: number): Promise<boolean> {
    const socket = this.o.statsSocketPath;
    if (!socket || !this.probe.answers) return false;
    this.probing = true;
    let answer: 'yes' | 'no answer' | 'unreachable';
    try {
      answer = await this.probe.answers(socket, HANG_TIMEOUT_MS);
    } finally {
      this.probing = false;
    }
    if (answer !== 'no answer' || this.probe.readPid(this.o.pidPath) !== pid) {
      this.hung = undefined;
      return false;
    }
    if (!(this.probe.stopped?.(pid) ?? false)) {
      // Running but silent: its CLI slots may be busy (it still serves); never killed for that. Said once.
      if (this.hung?.pid !== pid) this.o.log.warn({ pid, socket }, 'HAProxy does not answer on its stats socket, but runs (its CLI may be busy): left alone');
      this.hung = { pid, probes: 0, since: this.now(), running: true };
      return false;
    }
    if (this.hung?.running) this.hung = undefined;
    if (this.hung?.pid !== pid) this.hung = { pid, probes: 0, since: this.now() };
    this.hung.probes++;
    return this.hung.probes >= HANG_PROBES;
  }

  private async restart(deadPid: number | undefined, why = 'not running'): Promise<void> {
    this.restarting = true;
    try {
      if (deadPid !== undefined && this.probe.readPid(this.o.pidPath) === deadPid) this.probe.removePidFile(this.o.pidPath);
      this.o.log.error({ pid: deadPid, pidFile: this.o.pidPath }, `HAProxy is ${why}: starting it again from the last applied config`);
      this.lastError = why === 'not running' ? undefined : why;
      await this.o.restart();
      this.restarts++;
      this.o.restarted?.();
      this.suspect = undefined;
      this.lastError = undefined;
      this.o.log.warn({ pid: this.probe.readPid(this.o.pidPath), downMs: this.now() - (this.downSince ?? this.now()) }, 'HAProxy restarted');
    } catch (err) {
      this.lastError = errorMessage(err);
      const wait = this.retry.next();
      this.nextAttemptAt = this.now() + wait;
      this.o.log.error({ err: this.lastError, retryMs: wait }, 'HAProxy could not be restarted; trying again');
    } finally {
      this.restarting = false;
    }
  }

  /** For `/readyz`: not ready while HAProxy is down (from the first probe that saw it so). */
  check(): DependencyCheck {
    if (this.otherOwner !== undefined) return { ok: true, detail: `supervised by culm pid ${this.otherOwner}` };
    if (!this.seenPid) return { ok: true, detail: 'not supervised until the pid file names a pid' };
    if (this.downSince === undefined) return { ok: true, detail: `running (restarted ${this.restarts} times)` };
    const since = this.now() - this.downSince;
    return { ok: false, detail: `not running for ${since} ms${this.lastError ? `: ${this.lastError}` : ''}` };
  }
}
