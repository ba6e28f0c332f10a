/**
 * Runs an operator-supplied command through /bin/sh -c (so `$(cat pidfile)` works, as in Bamboo), with a
 * timeout that kills the command's whole process group. The result is read on 'exit', not 'close':
 * `haproxy -D` forks a daemon that may inherit our pipes and keep them open for its whole life.
 */
import { spawn } from 'node:child_process';

export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  ms: number;
}

const MAX_OUTPUT = 64 * 1024;

export function runCommand(command: string, timeoutMs: number, env?: NodeJS.ProcessEnv): Promise<CommandResult> {
  const started = performance.now();
  return new Promise((resolvePromise) => {
    const child = spawn('/bin/sh', ['-c', command], {
      detached: true, // its own process group, so a timeout kills the command and its children
      stdio: ['ignore', 'pipe', 'pipe'],
      env: env ?? process.env,
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let settled = false;
    child.stdout.on('data', (d: Buffer) => { if (stdout.length < MAX_OUTPUT) stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { if (stderr.length < MAX_OUTPUT) stderr += d.toString(); });
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }, timeoutMs);
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
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

/** A one-line summary of a failed command for logs and API errors (HAProxy's [ALERT] lines first). */
export function describeFailure(what: string, r: CommandResult): string {
  if (r.timedOut) return `${what} timed out after ${Math.round(r.ms)} ms`;
  const lines = `${r.stderr}\n${r.stdout}`.split('\n').map((l) => l.trim()).filter(Boolean);
  const alerts = lines.filter((l) => l.includes('[ALERT]'));
  const detail = (alerts.length > 0 ? alerts : lines).slice(0, 6).join(' | ');
  return `${what} failed (exit ${r.code ?? r.signal}): ${detail || 'no output'}`;
}
