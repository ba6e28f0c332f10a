/**
 * Password hashes for the REST API's basic-auth users: scrypt (Node's crypto), written in the PHC string
 * shape `$scrypt$ln=15,r=8,p=1$<salt>$<hash>` (base64, no padding) so the salt and cost travel with the hash
 * and can be raised later without breaking old lines. And the users file: `user:hash` per line.
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { CulmError } from '../core/errors.js';

export interface ScryptHash {
  /** log2 of scrypt's N (CPU/memory cost). */
  ln: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

/** 2^15 × 8 × 128 B = 32 MiB and ~50-100 ms per check: slow for a guesser, fine for an operator's write. */
export const DEFAULT_COST = { ln: 15, r: 8, p: 1 } as const;
// A users file is the operator's, but a typo (ln=30) must not take the host's memory: bounded here.
const MAX_LN = 20;
const MAX_R = 32;
const MAX_P = 16;
const KEY_LENGTH = 32;

function scryptAsync(password: string | Buffer, h: Omit<ScryptHash, 'hash'>, length: number): Promise<Buffer> {
  const N = 2 ** h.ln;
  // scrypt needs 128·N·r bytes; Node's default maxmem (32 MiB) is exactly the default cost, so allow headroom.
  const maxmem = 256 * N * h.r;
  return new Promise((resolve, reject) => {
    scrypt(password, h.salt, length, { N, r: h.r, p: h.p, maxmem }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export async function hashPassword(password: string, cost: { ln: number; r: number; p: number } = DEFAULT_COST): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scryptAsync(password, { ...cost, salt }, KEY_LENGTH);
  return `$scrypt$ln=${cost.ln},r=${cost.r},p=${cost.p}$${salt.toString('base64').replace(/=+$/, '')}$${hash.toString('base64').replace(/=+$/, '')}`;
}

/** Throws a plain Error naming what is wrong (never the hash itself). */
export function parseHash(text: string): ScryptHash {
  const m = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]{16,})\$([A-Za-z0-9+/]{16,})$/.exec(text);
  if (!m) throw new Error('not a culm scrypt hash ($scrypt$ln=…,r=…,p=…$salt$hash); make one with `culm hash-password`');
  const [ln, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (ln < 1 || ln > MAX_LN || r < 1 || r > MAX_R || p < 1 || p > MAX_P) {
    throw new Error(`scrypt cost out of range (ln 1-${MAX_LN}, r 1-${MAX_R}, p 1-${MAX_P})`);
  }
  return { ln, r, p, salt: Buffer.from(m[4], 'base64'), hash: Buffer.from(m[5], 'base64') };
}

export async function verifyPassword(password: string, h: ScryptHash): Promise<boolean> {
  const key = await scryptAsync(password, h, h.hash.length);
  return timingSafeEqual(key, h.hash);
}

/**
 * `user:hash` per line; blank lines and `#` comments are skipped. A bad line is an E_CONFIG naming the file
 * and line number (not its content: it holds a hash). User names are case-sensitive, as in HTTP basic auth.
 */
export function parseUsersFile(text: string, where: string): Map<string, ScryptHash> {
  const users = new Map<string, ScryptHash>();
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    const fail = (why: string): never => {
      throw new CulmError('E_CONFIG', `config Culm.ApiUsersFile / CULM_API_USERS_FILE: ${where} line ${i + 1}: ${why}`);
    };
    if (colon <= 0) fail('expected user:hash');
    const user = line.slice(0, colon);
    if (/[\s\x00-\x1f\x7f]/.test(user)) fail('the user name has spaces or control characters');
    if (users.has(user)) fail(`user ${JSON.stringify(user)} is listed twice`);
    try {
      users.set(user, parseHash(line.slice(colon + 1)));
    } catch (err) {
      fail((err as Error).message);
    }
  }
  return users;
}
