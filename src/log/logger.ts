import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { destination as fileDestination, multistream, pino, type Logger } from 'pino';

export type { Logger };

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/**
 * One JSON line per record on stdout (12-factor) and, like Bamboo's -log, also in `file` when given.
 * Secrets are redacted by key wherever they appear.
 */
export function createLogger(level: LogLevel = 'info', destination?: NodeJS.WritableStream, file?: string): Logger {
  const options = {
    level,
    base: { name: 'culm' },
    redact: { paths: ['password', '*.password', '*.*.password', 'authorization', '*.authorization'], censor: '[redacted]' },
  };
  const out = destination ?? process.stdout;
  if (!file) return pino(options, out);
  mkdirSync(dirname(file), { recursive: true });
  return pino(options, multistream([
    { level, stream: out },
    { level, stream: fileDestination({ dest: file, sync: false, mkdir: true }) },
  ]));
}

/** A logger that drops everything: for unit tests of modules that take a logger. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/**
 * Calls a hook given by another part of culm (onEvent, onRegistered…) so that one that throws is logged with
 * its name and never breaks the caller's own work (a stream, a registration, a request).
 */
export function callHook(log: Logger, name: string, hook: () => void, level: 'error' | 'debug' = 'error'): void {
  try {
    hook();
  } catch (err) {
    log[level]({ err }, `${name} hook threw`);
  }
}
