/**
 * Where a write may come from, decided on headers alone (pure). Two browser attacks need no credentials:
 * - a page elsewhere posting to culm (a form or `text/plain` fetch needs no CORS preflight): its Origin is
 *   not culm's, compared by scheme, host and port exactly (culm serves plain http);
 * - DNS rebinding: the attacker's name resolves to culm, so Origin and Host agree, but the Host is the
 *   attacker's name: a write must name one of the addresses culm serves.
 * Clients that send no Origin (curl, Marathon, Bamboo-era scripts) are not browsers and pass the Origin rule.
 */

export interface AllowedHosts {
  /** `*`: the Host check is off (the Origin rule still applies). */
  readonly any: boolean;
  /** Lower-cased `name` (any port) or `name:port`; IPv6 in brackets. */
  readonly hosts: ReadonlySet<string>;
  /** Exact browser origins allowed besides `http://<Host>` (a TLS proxy in front: `https://culm.example`). */
  readonly origins: ReadonlySet<string>;
}

export interface WriteHeaders {
  host?: string;
  origin?: string;
  secFetchSite?: string;
}

export type WriteRefusal = { code: 'E_HOST_NOT_ALLOWED' | 'E_CROSS_ORIGIN'; message: string };

/** From CULM_ALLOWED_HOSTS entries (already checked by the config): names, name:port, origins, `*`. */
export function allowedHosts(entries: readonly string[]): AllowedHosts {
  const hosts = new Set<string>();
  const origins = new Set<string>();
  let any = false;
  for (const entry of entries) {
    if (entry === '*') any = true;
    else if (entry.includes('://')) {
      const url = new URL(entry);
      origins.add(url.origin);
      hosts.add(url.host.toLowerCase());
    } else hosts.add(normaliseName(entry));
  }
  return { any, hosts, origins };
}

export interface LocalAddresses {
  /** The bind host ('' for every interface). */
  bindHost: string;
  /** Bamboo.Endpoint, '' when unset. */
  endpoint: string;
  hostname: string;
  interfaceAddresses: readonly string[];
}

/** The default list: every name and address a legitimate client may use to reach this culm. */
export function defaultAllowedHostEntries(local: LocalAddresses): string[] {
  const out = ['localhost', '127.0.0.1', '[::1]'];
  const add = (name: string): void => {
    if (name === '' || name === '0.0.0.0' || name === '::') return;
    out.push(name.includes(':') && !name.startsWith('[') ? `[${name}]` : name);
  };
  add(local.bindHost);
  add(local.hostname);
  // Resolvers often hand out the short name for an FQDN hostname and vice versa: both.
  add(local.hostname.split('.')[0]);
  for (const a of local.interfaceAddresses) add(a.replace(/%.*$/, ''));
  if (local.endpoint !== '') add(new URL(local.endpoint).hostname);
  return [...new Set(out.map(normaliseName))];
}

// A Host header: a reg-name or IPv4 or [IPv6], then an optional port. Anything else is not a host we serve.
const HOST_HEADER = /^(\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(?::(\d{1,5}))?$/;

function normaliseName(name: string): string {
  // A trailing dot names the same host ("localhost." is localhost).
  return name.toLowerCase().replace(/^([^[:]*)\.(:|$)/, '$1$2');
}

/** The Host header names an address culm serves. */
function hostServed(host: string, allowed: AllowedHosts): boolean {
  const m = HOST_HEADER.exec(normaliseName(host.trim()));
  return !!m && (allowed.hosts.has(m[1]) || allowed.hosts.has(m[0]));
}

/**
 * hostServed's answers, per allowed set: every request (each Marathon callback) names the same few hosts. Bounded:
 * emptied when full, so a client cycling Host headers costs the parse it would cost anyway.
 */
const servedCache = new WeakMap<AllowedHosts, Map<string, boolean>>();
const SERVED_CACHE_MAX = 256;

function hostServedCached(host: string, allowed: AllowedHosts): boolean {
  let cache = servedCache.get(allowed);
  if (cache === undefined) servedCache.set(allowed, cache = new Map());
  let served = cache.get(host);
  if (served === undefined) {
    served = hostServed(host, allowed);
    if (cache.size >= SERVED_CACHE_MAX) cache.clear();
    cache.set(host, served);
  }
  return served;
}

/** undefined when the write may go on; otherwise why not (a 403). */
export function refuseWrite(h: WriteHeaders, allowed: AllowedHosts): WriteRefusal | undefined {
  // HTTP/1.0 without a Host cannot be a rebinding browser (browsers always send one).
  if (h.host !== undefined && !allowed.any && !hostServedCached(h.host, allowed)) {
    return { code: 'E_HOST_NOT_ALLOWED', message: `Host ${JSON.stringify(h.host.slice(0, 100))} is not an address culm serves (CULM_ALLOWED_HOSTS)` };
  }
  if (h.secFetchSite === 'cross-site') return crossOrigin();
  if (h.origin === undefined) return undefined;
  if (allowed.origins.has(h.origin.toLowerCase())) return undefined;
  if (h.host === undefined || !sameOrigin(h.origin, `http://${h.host}`)) return crossOrigin();
  return undefined;
}

function crossOrigin(): WriteRefusal {
  return { code: 'E_CROSS_ORIGIN', message: 'requests from another origin may not change culm' };
}

/** Scheme, host and port, with default ports folded (http://h and http://h:80 are one origin). */
function sameOrigin(a: string, b: string): boolean {
  try {
    // "null" and other opaque origins throw or give "null": never a match.
    const x = new URL(a).origin;
    return x !== 'null' && x === new URL(b).origin;
  } catch {
    return false;
  }
}
