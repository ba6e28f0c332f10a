/**
 * Runs an operator-supplied command through /bin/sh -c (so `$(cat pidfile)` works, as in Bamboo), with a
 * timeout that kills the command's whole process group. The result is read on 'exit', not 'close':
 * `haproxy -D` forks a daemon that may inherit our pipes and keep them open for its whole life. A process
 * that SIGKILL cannot end (uninterruptible sleep on a hung mount) never exits: the result is then given
 * `KILL_GRACE_MS` after the kill, as a timeout, and the process is left to the kernel.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { SETTINGS, type SettingId } from '../config/defaults.js';
import { cleanHaproxyOutput, type CleanOptions } from './haproxy-errors.js';

export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  ms: number;
}

const MAX_OUTPUT = 64 * 1024;

/** How long after its SIGKILL a command that has not exited is given up on. */
export const KILL_GRACE_MS = 2000;

/** For tests: how the process group is signalled, and the grace after the kill. */
export interface RunOptions {
  kill?: (pid: number, signal: NodeJS.Signals) => void;
  killGraceMs?: number;
}

export function runCommand(command: string, timeoutMs: number, env?: NodeJS.ProcessEnv, options: RunOptions = {}): Promise<CommandResult> {
  const kill = options.kill ?? ((pid, signal) => process.kill(pid, signal));
  const started = performance.now();
  return new Promise((resolvePromise) => {
    const child = spawn('/bin/sh', ['-c', command], {
      detached: true, // its own process group, so a timeout kills the command and its children
      stdio: ['ignore', 'pipe', 'pipe'],
      env: env ?? haproxyEnvironment(),
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let settled = false;
    let abandon: NodeJS.Timeout | undefined;
    child.stdout.on('data', (d: Buffer) => { if (stdout.length < MAX_OUTPUT) stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { if (stderr.length < MAX_OUTPUT) stderr += d.toString(); });
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid) kill(-child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
      abandon = setTimeout(() => finish(null, 'SIGKILL'), options.killGraceMs ?? KILL_GRACE_MS);
    }, timeoutMs);
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(abandon);
      // Give buffered output a moment to arrive, then stop reading: a daemon may hold the pipes.
      setImmediate(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        resolvePromise({ code, signal, stdout, stderr, timedOut, ms: performance.now() - started });
      });
    };
    child.on('error', (err) => { stderr += String(err); finish(null, null); });
    child.on('exit', finish);
  });
}

/**
 * A one-line summary of a failed command for logs and API errors: HAProxy's [ALERT] lines first, cleaned of
 * pids, the replaced paths and quoted file contents (see haproxy-errors.ts).
 */
export function describeFailure(what: string, r: CommandResult, options?: CleanOptions): string {
  if (r.timedOut) return `${what} timed out after ${Math.round(r.ms)} ms`;
  const detail = cleanHaproxyOutput(`${r.stderr}\n${r.stdout}`, options);
  return `${what} failed (exit ${r.code ?? r.signal}): ${detail || 'no output'}`;
}

/** CPU time (seconds) and address space (MiB) a command may use; 0 = no limit of that kind. */
export interface ResourceLimits {
  cpuSeconds: number;
  memoryMiB: number;
}

/**
 * The command under soft limits set by the same /bin/sh (dash's and bash's `ulimit -S -t/-v`, checked on
 * Debian 12): inherited by everything it starts. Soft, because lowering a soft limit is always allowed, where
 * setting a hard one fails in a container that already lowered it; HAProxy does not raise them.
 */
export function withLimits(command: string, limits: ResourceLimits): string {
  const parts: string[] = [];
  if (limits.cpuSeconds > 0) parts.push(`ulimit -S -t ${Math.ceil(limits.cpuSeconds)}`);
  if (limits.memoryMiB > 0) parts.push(`ulimit -S -v ${Math.floor(limits.memoryMiB * 1024)}`);
  return parts.length === 0 ? command : `${parts.join('; ')}; ${command}`;
}

const SIGXCPU_EXIT = 128 + 24;

/**
 * HAProxy 2.6 short of memory under `ulimit -v` says so in many ways (checked on Debian 12 at several limits):
 * `out of memory`, `(null)` where a message it could not allocate should be (`(null)(null)[ALERT] ... Error(s)
 * found`, nothing else), or the loader's `failed to map segment` before it starts.
 */
const OUT_OF_MEMORY = /out of memory|cannot allocate memory|failed to map segment|(?:^|: )\(null\)/im;

/** Which limit stopped the command, if one did: SIGXCPU for CPU time, an allocation failure or crash for memory. */
export function limitHit(r: CommandResult, limits: ResourceLimits): 'cpu' | 'memory' | undefined {
  if (r.timedOut) return undefined;
  if (limits.cpuSeconds > 0 && (r.signal === 'SIGXCPU' || r.code === SIGXCPU_EXIT)) return 'cpu';
  if (limits.memoryMiB > 0) {
    if (OUT_OF_MEMORY.test(`${r.stderr}\n${r.stdout}`)) return 'memory';
    if (['SIGSEGV', 'SIGABRT', 'SIGBUS'].includes(r.signal ?? '') || [128 + 6, 128 + 7, 128 + 11].includes(r.code ?? 0)) return 'memory';
  }
  return undefined;
}

const named = (id: SettingId): string => `${SETTINGS[id].file} / ${SETTINGS[id].env}`;

/** The settings that raise each limit of a check, as the README and the config errors name them. */
export const LIMIT_SETTINGS = {
  time: named('haproxy.commandTimeoutMs'),
  cpu: named('haproxy.validationCpuSeconds'),
  memory: named('haproxy.validationMemoryMiB'),
} as const;

/**
 * Why a check that did not end by itself was stopped, naming the limit and the setting that raises it (a config
 * that grew past a limit then says what to change, rather than "failed"): at culm's time limit (`timeoutMs`),
 * at its CPU-time or memory limit, or killed by a signal culm did not send (the host's out-of-memory killer, an
 * operator). Undefined for a check that ended by itself (HAProxy's verdict on the config).
 */
export function limitFailure(what: string, r: CommandResult, limits: ResourceLimits, timeoutMs: number): { code: 'E_VALIDATION_LIMIT' | 'E_VALIDATION_TIMEOUT'; message: string } | undefined {
  if (r.timedOut) {
    return { code: 'E_VALIDATION_TIMEOUT', message: `${what} timed out after ${Math.round(r.ms)} ms: stopped at its time limit of ${timeoutMs} ms (${LIMIT_SETTINGS.time} raises it)` };
  }
  const hit = limitHit(r, limits);
  if (hit === 'cpu') return { code: 'E_VALIDATION_LIMIT', message: `${what} exceeded its CPU-time limit of ${limits.cpuSeconds} s and was stopped (${LIMIT_SETTINGS.cpu} raises it)` };
  if (hit === 'memory') return { code: 'E_VALIDATION_LIMIT', message: `${what} exceeded its memory limit of ${limits.memoryMiB} MiB and was stopped (${LIMIT_SETTINGS.memory} raises it)` };
  if (r.code === null) {
    const memory = limits.memoryMiB > 0 ? `its own memory limit of ${limits.memoryMiB} MiB (${LIMIT_SETTINGS.memory}) was not reached` : `it has no memory limit of its own (${LIMIT_SETTINGS.memory} is 0)`;
    return { code: 'E_VALIDATION_TIMEOUT', message: `${what} was killed by ${r.signal ?? 'a signal'} before it ended, not by culm (the host's out-of-memory killer?); ${memory}` };
  }
  return undefined;
}

/**
 * CPU time of this process's children that ended and were reaped so far, in ms (Linux `/proc/self/stat`
 * cutime + cstime, in USER_HZ ticks, 100 a second); undefined without /proc. The difference across a command
 * is what it and its processes that ended used (HAProxy's start parses the config in the process that exits
 * after forking the daemon), plus any other child that ended meanwhile.
 */
export function childrenCpuMs(): number | undefined {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[13]) + Number(fields[14]);
    return Number.isFinite(ticks) ? ticks * 10 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The unchecked first start (driver.ts `nothingServes`) is not run under the check's limits (they would hold the
 * serving HAProxy for ever): when it used more CPU than a check may, the checks of the next configs, as large,
 * will be stopped at that limit. What to tell the operator then ('' when it stayed within). Its memory is not
 * measured (a check past it says so, naming the setting).
 */
export function startPastCheckLimit(cpuMs: number, limits: ResourceLimits): string {
  if (limits.cpuSeconds <= 0 || cpuMs <= limits.cpuSeconds * 1000) return '';
  return `HAProxy's first start, run without a check, used ${(cpuMs / 1000).toFixed(1)} s of CPU, more than the check's CPU-time limit of ${limits.cpuSeconds} s: `
    + `the checks of the next configs may be stopped at it; raise ${LIMIT_SETTINGS.cpu}`;
}

/**
 * culm's environment without its secrets: HAProxy expands `"${VAR}"` in its config, so a value that slipped past
 * the grammars still could not read the callback secret, the API token or Marathon's or ZooKeeper's credentials.
 */
export function haproxyEnvironment(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) if (!SECRET_ENV.test(k)) out[k] = v;
  return out;
}
const SECRET_ENV = /^(CULM_CALLBACK_TOKEN|CULM_API_TOKEN|MARATHON_USER|MARATHON_PASSWORD|MARATHON_ENDPOINT|BAMBOO_ZK_AUTH|MESOSPHERE_HTTP_CREDENTIALS)$|(PASSWORD|SECRET|TOKEN)/i;
