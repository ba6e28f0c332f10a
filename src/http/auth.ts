/**
 * Who is calling the REST API: the bearer token (`CULM_API_TOKEN`), a basic-auth user from the users file, or
 * nobody. Off unless a token or users are configured (Bamboo had no authentication and its clients must keep
 * working). Secrets are compared as equal-length digests with timingSafeEqual, so neither the token's length
 * nor a common prefix shows in response times; an unknown user costs the same scrypt as a known one.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { sameSecret } from '../core/secrets.js';
import { CulmError } from '../core/errors.js';
import { DEFAULT_COST, type ScryptHash, verifyPassword } from './passwords.js';

export type Principal =
  | { kind: 'token' }
  | { kind: 'user'; name: string }
  | { kind: 'anonymous' };

/** How the audit names a principal: the user, "token" or "anonymous". */
export function principalName(p: Principal): string {
  return p.kind === 'user' ? p.name : p.kind;
}

export interface AuthOptions {
  token?: string;
  users?: ReadonlyMap<string, ScryptHash>;
  /** Reads need credentials too. */
  readAuth?: boolean;
}

export type Credentials =
  | { scheme: 'bearer'; token: string }
  | { scheme: 'basic'; user: string; password: string }
  | { scheme: 'none' }
  | { scheme: 'invalid'; why: string };

/** Parses an Authorization header value; pure. Scheme names are case-insensitive (RFC 9110). */
export function parseAuthorization(header: string | undefined): Credentials {
  if (header === undefined || header.trim() === '') return { scheme: 'none' };
  const m = /^([A-Za-z]+) +(\S+) *$/.exec(header);
  if (!m) return { scheme: 'invalid', why: 'malformed Authorization header' };
  const scheme = m[1].toLowerCase();
  if (scheme === 'bearer') return { scheme: 'bearer', token: m[2] };
  if (scheme !== 'basic') return { scheme: 'invalid', why: `unsupported authorization scheme ${JSON.stringify(m[1])}` };
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(m[2])) return { scheme: 'invalid', why: 'basic credentials are not base64' };
  const decoded = Buffer.from(m[2], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return { scheme: 'invalid', why: 'basic credentials have no user:password' };
  return { scheme: 'basic', user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export { sameSecret };

// Verified basic credentials, keyed by an HMAC of the header (a per-process key: the cache holds nothing a
// memory dump could replay elsewhere): the UI's writes do not each pay ~100 ms of scrypt.
const CACHE_SIZE = 64;
// scrypt runs on libuv's 4-thread pool, shared with file writes: a flood of guesses waits its turn in a bound.
const MAX_VERIFYING = 8;

export class ApiAuth {
  readonly enabled: boolean;
  private readonly token?: string;
  private readonly users: ReadonlyMap<string, ScryptHash>;
  private readonly readAuth: boolean;
  private readonly cacheKey = randomBytes(32);
  private readonly verified = new Map<string, string>();
  private verifying = 0;
  // The cost of a real user's hash, so an unknown user takes as long to refuse.
  private readonly decoy: ScryptHash;

  constructor(o: AuthOptions = {}) {
    this.token = o.token || undefined;
    this.users = o.users ?? new Map();
    this.enabled = this.token !== undefined || this.users.size > 0;
    this.readAuth = this.enabled && o.readAuth === true;
    const model = this.users.values().next().value;
    this.decoy = { ...(model ?? DEFAULT_COST), salt: randomBytes(16), hash: randomBytes(32) };
  }

  /** Whether a request of this kind needs credentials. Probes are never asked (see server.ts). */
  required(write: boolean): boolean {
    return write ? this.enabled : this.readAuth;
  }

  /** The WWW-Authenticate challenges of a 401: Basic first when there are users (browsers then prompt). */
  challenges(): string[] {
    const out: string[] = [];
    if (this.users.size > 0) out.push('Basic realm="culm", charset="UTF-8"');
    if (this.token !== undefined) out.push('Bearer realm="culm"');
    return out;
  }

  /**
   * The caller, when `required` is false anonymous unless good credentials came anyway (the audit names them).
   * Throws 401 E_UNAUTHORIZED when credentials are required and missing or wrong, 429 when too many are
   * being checked at once.
   */
  async identify(header: string | undefined, required: boolean): Promise<Principal> {
    // A request that needs no credentials costs no scrypt check, whatever it sends (a flood of bad basic-auth
    // headers on reads would otherwise hold libuv's threads).
    if (!this.enabled || !required) return { kind: 'anonymous' };
    const creds = parseAuthorization(header);
    const who = await this.check(creds);
    if (who || !required) return who ?? { kind: 'anonymous' };
    const why = creds.scheme === 'none' ? 'authentication required'
      : creds.scheme === 'invalid' ? creds.why
        : creds.scheme === 'bearer' ? 'wrong token' : 'wrong user or password';
    throw new CulmError('E_UNAUTHORIZED', `${why}: send ${this.challengeHint()}`, { status: 401 });
  }

  private challengeHint(): string {
    const ways = [];
    if (this.token !== undefined) ways.push('Authorization: Bearer <CULM_API_TOKEN>');
    if (this.users.size > 0) ways.push('basic auth as a user of CULM_API_USERS_FILE');
    return ways.join(' or ');
  }

  private async check(creds: Credentials): Promise<Principal | undefined> {
    if (creds.scheme === 'bearer') return this.token !== undefined && sameSecret(creds.token, this.token) ? { kind: 'token' } : undefined;
    if (creds.scheme !== 'basic' || this.users.size === 0) return undefined;
    const key = createHmac('sha256', this.cacheKey).update(`${creds.user}\0${creds.password}`).digest('base64');
    const cached = this.verified.get(key);
    if (cached !== undefined) return { kind: 'user', name: cached };
    if (this.verifying >= MAX_VERIFYING) {
      throw new CulmError('E_AUTH_BUSY', 'too many logins being checked at once; retry shortly', { status: 429 });
    }
    this.verifying++;
    try {
      const hash = this.users.get(creds.user);
      const ok = await verifyPassword(creds.password, hash ?? this.decoy);
      if (!ok || hash === undefined) return undefined;
    } finally {
      this.verifying--;
    }
    if (this.verified.size >= CACHE_SIZE) this.verified.delete(this.verified.keys().next().value as string);
    this.verified.set(key, creds.user);
    return { kind: 'user', name: creds.user };
  }
}
