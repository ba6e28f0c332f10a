/**
 * Process helpers for integration tests. Tests stop only what they started, by pid: culm is our child;
 * HAProxy processes are found through the pid file culm's reload command writes, and every pid ever seen
 * there is remembered so old (-sf) processes are stopped too.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

/** Fails loudly when a real component the tests need is missing: never a silent skip. */
export function requireBinary(name: string, hint: string): string {
  const r = spawnSync('/bin/sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const path = r.stdout.trim();
  if (r.status !== 0 || !path) throw new Error(`${name} is required for the integration tests but was not found: ${hint}`);
  return path;
}

/** Alive and not a zombie (daemonised HAProxy processes are reparented; a zombie is already dead). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Every live descendant of `pid` (children, theirs…), from /proc: what a script started and still owns. */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
  }
  const out: number[] = [];
  const walk = (p: number): void => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

export class PidFileWatcher {
  readonly seen = new Set<number>();
  private timer: NodeJS.Timeout;

  constructor(private readonly pidFile: string) {
    this.timer = setInterval(() => this.poll(), 50);
    this.timer.unref();
  }

  poll(): number[] {
    let text: string;
    try {
      text = readFileSync(this.pidFile, 'utf8');
    } catch {
      return []; // not written yet, or being replaced (or the test's directory is gone)
    }
    const pids = text.split(/\s+/).filter(Boolean).map(Number).filter((n) => n > 1);
    for (const p of pids) this.seen.add(p);
    return pids;
  }

  /** SIGTERM (then SIGKILL) every HAProxy pid this test saw in its own pid file. */
  async stopAll(): Promise<void> {
    clearInterval(this.timer);
    this.poll();
    for (const pid of this.seen) if (isAlive(pid)) process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + 3000;
    while ([...this.seen].some(isAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const pid of this.seen) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  }
}

export interface Child {
  proc: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function startChild(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd?: string): Child {
  const proc = spawn(cmd, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  proc.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return {
    proc,
    output: () => out,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill(signal);
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
