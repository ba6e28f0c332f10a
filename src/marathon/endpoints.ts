import { CulmError } from '../core/errors.js';
import { redactUrl } from '../core/text.js';

/** Query parameters; an array value repeats the key (Marathon's `embed=` and `event_type=` are repeatable). */
export type Query = Record<string, string | readonly string[] | undefined>;

export interface Endpoint {
  /** Base URL without credentials and without a trailing slash, e.g. "http://m1:8080" or "http://lb/marathon". */
  readonly base: string;
}

export interface Credentials {
  user?: string;
  password?: string;
}

/**
 * Parses the configured endpoints. Entries may themselves be comma-separated (Bamboo's
 * "marathon.endpoint": "http://a:8080,http://b:8080"). Credentials embedded in a URL are lifted out
 * (explicit user/password win) so that the URLs we keep — and log — never carry a password.
 */
export function parseEndpoints(list: readonly string[], creds: Credentials = {}): { endpoints: Endpoint[]; auth?: string } {
  const endpoints: Endpoint[] = [];
  let user = creds.user;
  let password = creds.password;
  for (const raw of list.flatMap((e) => e.split(','))) {
    const text = raw.trim();
    if (text === '') continue;
    let url: URL;
    try {
      url = new URL(text);
    } catch (cause) {
      throw new CulmError('E_CONFIG', `invalid Marathon endpoint ${JSON.stringify(redactUrl(text))}`, { cause });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new CulmError('E_CONFIG', `Marathon endpoint must be http(s): ${redactUrl(text)}`);
    }
    if (url.username !== '' && (user === undefined || user === '')) {
      user = decodeURIComponent(url.username);
      password = decodeURIComponent(url.password);
    }
    url.username = '';
    url.password = '';
    endpoints.push({ base: `${url.origin}${url.pathname.replace(/\/+$/, '')}` });
  }
  if (endpoints.length === 0) throw new CulmError('E_CONFIG', 'no Marathon endpoint configured');
  const auth = user ? basicAuth(user, password ?? '') : undefined;
  return auth === undefined ? { endpoints } : { endpoints, auth };
}

export function basicAuth(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
}

/** base + path (which may carry its own query) + extra query parameters. */
export function buildUrl(base: string, path: string, query?: Query): URL {
  const url = new URL(base + (path.startsWith('/') ? path : `/${path}`));
  if (query) {
    for (const [key, value] of Object.entries(query)) {
      if (value === undefined) continue;
      if (typeof value === 'string') url.searchParams.append(key, value);
      else for (const v of value) url.searchParams.append(key, v);
    }
  }
  return url;
}

