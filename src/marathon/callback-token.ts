/**
 * The callback subscription's secret: the `?token=` of the URL culm registers, which tells Marathon's POSTs
 * (trusted, applied at once) from anyone else's (hints). Configured (`CULM_CALLBACK_TOKEN`), or made once and
 * kept in the data directory, so a restart registers the same URL. Never logged.
 */
import { randomBytes } from 'node:crypto';
import { sameSecret } from '../core/secrets.js';
import { chmodSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CulmError, errorMessage } from '../core/errors.js';
import type { Logger } from '../log/logger.js';

export const TOKEN_FILE = 'callback-token';

/** 32 random bytes, base64url: 256 bits, safe in a URL as is. */
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

/** Compares in constant time; a missing token never matches. */
export function sameToken(given: string | null | undefined, secret: string): boolean {
  return sameSecret(given ?? '', secret) && typeof given === 'string';
}

function write(path: string, token: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${token}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}

/**
 * The token in `<dataDir>/callback-token`, made (mode 0600) when the file is missing or does not hold one
 * culm made (logged). A file that exists but cannot be read is an error: making a new token would register
 * a second URL beside the old one on every start.
 */
export function loadOrCreateCallbackToken(dataDir: string, log: Logger): string {
  const path = join(dataDir, TOKEN_FILE);
  let text: string | undefined;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new CulmError('E_CALLBACK_TOKEN_FILE', `cannot read the callback token file ${path}: ${errorMessage(err)} (fix its permissions, remove it, or set CULM_CALLBACK_TOKEN)`, { cause: err });
    }
  }
  const held = text?.trim();
  if (held !== undefined && TOKEN_SHAPE.test(held)) {
    // Tightened if someone loosened it: the token lets its holder feed culm events.
    chmodSync(path, 0o600);
    return held;
  }
  const token = randomBytes(32).toString('base64url');
  try {
    write(path, token);
  } catch (err) {
    throw new CulmError('E_CALLBACK_TOKEN_FILE', `cannot write the callback token file ${path}: ${errorMessage(err)}`, { cause: err });
  }
  if (held === undefined) log.info({ file: path }, 'made a callback token for the Marathon subscription');
  else log.warn({ file: path }, 'the callback token file does not hold a token culm made: made a new one (the old subscription stays as a hint source until removed)');
  return token;
}
