/**
 * Runs an operator-supplied command through /bin/sh -c (so `$(cat pidfile)` works, as in Bamboo), with a
 * timeout that kills the command's whole process group. The result is read on 'exit', not 'close':
 * `haproxy -D` forks a daemon that may inherit our pipes and keep them open for its whole life. A process
 * that SIGKILL cannot end (uninterruptible sleep on a hung mount) never exits: the result is then given
 * `KILL_GRACE_MS` after the kill, as a timeout, and the process is left to the kernel.
 */
import { spawn } from 'node:child_process';
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

/** Which limit stopped the command, if one did: SIGXCPU for CPU time, an allocation failure or crash for memory. */
export function limitHit(r: CommandResult, limits: ResourceLimits): 'cpu' | 'memory' | undefined {
  if (r.timedOut) return undefined;
  if (limits.cpuSeconds > 0 && (r.signal === 'SIGXCPU' || r.code === SIGXCPU_EXIT)) return 'cpu';
  if (limits.memoryMiB > 0) {
    if (/out of memory|cannot allocate memory/i.test(`${r.stderr}\n${r.stdout}`)) return 'memory';
    if (['SIGSEGV', 'SIGABRT', 'SIGBUS'].includes(r.signal ?? '') || [128 + 6, 128 + 7, 128 + 11].includes(r.code ?? 0)) return 'memory';
  }
  return undefined;
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
