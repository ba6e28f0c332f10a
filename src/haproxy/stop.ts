/**
 * Stops HAProxy gracefully when culm stops in a container (HAProxy.StopOnExit): the container's end would kill
 * HAProxy mid-request otherwise. Every process of culm's config gets SIGUSR1, HAProxy's soft stop: it closes
 * its listeners at once (new connections are refused) and exits when its requests in flight are done. What is
 * still running when the grace period ends gets SIGTERM, then SIGKILL: each logged.
 *
 * "Every process": the one the pid file names, and old ones still draining after `-sf` reloads. Those are found
 * among the pids the pid file named during culm's life and, on Linux, in /proc by their command line naming
 * the config file (`-f <outputPath>`), so a process culm did not see (started before it) is not left behind.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { Logger } from '../log/logger.js';
import { hostProbe, type ProcessProbe } from './supervisor.js';

export interface StopOptions {
  pidPath: string;
  outputPath: string;
  graceMs: number;
  log: Logger;
  /** Pids the pid file named since culm started (the supervisor remembers them). */
  known?: Iterable<number>;
  probe?: Pick<ProcessProbe, 'readPid' | 'isHaproxy'>;
  /** Whether a remembered pid's command line still names the config; default: /proc/<pid>/cmdline. */
  namesConfig?: (pid: number) => boolean;
  /** Pids of HAProxy processes whose command line names the config; default: a /proc scan. */
  findByConfig?: (outputPath: string) => number[];
  kill?: (pid: number, signal: NodeJS.Signals) => void;
  pollMs?: number;
  /** After SIGTERM, how long the rest get before SIGKILL (default 1 s). */
  termWaitMs?: number;
}

/** Whether the command line of `pid` has `-f <outputPath>`; true when it cannot be read (no /proc: not Linux). */
export function namesConfig(pid: number, outputPath: string): boolean {
  if (!existsSync('/proc/self/cmdline')) return true;
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return args.some((a, i) => (a === '-f' && args[i + 1] === outputPath) || a === `-f${outputPath}`);
  } catch {
    return false; // gone
  }
}

/** HAProxy processes whose command line has `-f <outputPath>` (Linux /proc; elsewhere none). */
export function haproxyProcessesOf(outputPath: string): number[] {
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return [];
  }
  const pids: number[] = [];
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const args = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      if (!/(^|\/)haproxy$/.test(args[0] ?? '')) continue;
      if (namesConfig(Number(name), outputPath)) pids.push(Number(name));
    } catch {
      /* gone meanwhile, or not ours to read */
    }
  }
  return pids;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Soft-stops every HAProxy process of the config; resolves when none is left (or after SIGKILL). */
export async function stopHaproxy(o: StopOptions): Promise<void> {
  const probe = o.probe ?? hostProbe;
  const kill = o.kill ?? ((pid, signal) => process.kill(pid, signal));
  const poll = o.pollMs ?? 50;
  // Remembered pids count only while their command line still names this config: a pid the kernel gave since
  // to another culm's HAProxy must not be stopped.
  const mine = o.namesConfig ?? ((pid: number) => namesConfig(pid, o.outputPath));
  const candidates = new Set<number>([...(o.known ?? [])].filter(mine));
  const current = probe.readPid(o.pidPath);
  if (current !== undefined) candidates.add(current);
  for (const pid of (o.findByConfig ?? haproxyProcessesOf)(o.outputPath)) candidates.add(pid);
  const alive = (): number[] => [...candidates].filter((pid) => probe.isHaproxy(pid));
  const signal = (pids: number[], sig: NodeJS.Signals): void => {
    for (const pid of pids) {
      try {
        kill(pid, sig);
      } catch {
        candidates.delete(pid); // gone meanwhile
      }
    }
  };

  const pids = alive();
  if (pids.length === 0) {
    o.log.info({ pidFile: o.pidPath }, 'stopping HAProxy: no process running');
    return;
  }
  const started = Date.now();
  o.log.info({ pids, graceMs: o.graceMs }, 'stopping HAProxy: listeners closed, requests in flight may finish (SIGUSR1)');
  signal(pids, 'SIGUSR1');
  const deadline = started + o.graceMs;
  while (alive().length > 0 && Date.now() < deadline) await sleep(poll);
  let left = alive();
  if (left.length === 0) {
    o.log.info({ ms: Date.now() - started }, 'HAProxy stopped: requests in flight finished');
    return;
  }
  o.log.warn({ pids: left, graceMs: o.graceMs }, 'HAProxy still busy after the grace period (HAProxy.StopGraceMs): SIGTERM');
  signal(left, 'SIGTERM');
  const termDeadline = Date.now() + (o.termWaitMs ?? 1000);
  while (alive().length > 0 && Date.now() < termDeadline) await sleep(poll);
  left = alive();
  if (left.length > 0) {
    o.log.error({ pids: left }, 'HAProxy did not stop on SIGTERM: SIGKILL');
    signal(left, 'SIGKILL');
  }
}
