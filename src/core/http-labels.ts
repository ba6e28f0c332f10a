/**
 * marathon-lb's per-port HTTP backend labels that take a value, not HAProxy lines: culm writes the lines
 * itself from checked values, so no operator trust is needed (unlike raw-labels.ts):
 *   - `HAPROXY_{n}_HTTP_BACKEND_PROXYPASS_PATH`: the prefix is cut from the path before the request reaches
 *     the tasks (and `Host:` set to the port's first vhost that is not a wildcard, as marathon-lb's glue);
 *   - `HAPROXY_{n}_HTTP_BACKEND_REVPROXY_PATH`: a `Location:` the tasks answer with is put under this path
 *     (scheme and host of the task dropped), so redirects stay behind the prefix;
 *   - `HAPROXY_{n}_HTTP_BACKEND_REDIR`: a request for `/` (of the port's vhosts, wildcards too, when it has some) gets a 301 to
 *     this path;
 *   - `HAPROXY_{n}_BACKEND_NETWORK_ALLOWED_ACL`: only these addresses or networks reach the port (others: 403,
 *     or the connection closed in TCP mode);
 *   - `HAPROXY_{n}_AUTH`: `realm:user:crypted-password`, HTTP basic auth in front of the port (a `userlist`
 *     section of the backend's own).
 * A value that fails its grammar leaves that port out, with the reason, like lb-labels.ts's. Pure.
 */
import { isIpAddress, isPathPrefix, shown } from './input-grammar.js';
import { hostConditions, isWildcard } from './vhosts.js';

export interface HttpLabelProblem {
  index: number;
  label: string;
  reason: string;
}

/** What these labels add to port n's backend. */
export interface HttpExtras {
  /** Lines of the backend, after culm's own head lines (each indented by the template). */
  Lines: readonly string[];
  /** With `HAPROXY_{n}_AUTH`: the `userlist` section the backend's `http_auth` names. */
  Userlist: { Name: string; User: string; Password: string } | null;
}

export const NO_EXTRAS: HttpExtras = Object.freeze({ Lines: Object.freeze([]), Userlist: null });

export const HTTP_LABELS = ['HTTP_BACKEND_PROXYPASS_PATH', 'HTTP_BACKEND_REVPROXY_PATH', 'HTTP_BACKEND_REDIR', 'BACKEND_NETWORK_ALLOWED_ACL', 'AUTH'] as const;

/** A prefix written into a regular expression: letters, digits and `/._~-` only (`.` escaped). */
const REGEX_SAFE_PATH = /^\/[A-Za-z0-9._~/-]{0,255}$/;
const escapeRegex = (path: string): string => path.replace(/\./g, '\\\\.');

/** An address or network HAProxy takes as is (`src` never resolves names here): IPv4/IPv6, with a prefix length. */
export function isNetwork(p: string): boolean {
  const slash = p.indexOf('/');
  const address = slash < 0 ? p : p.slice(0, slash);
  if (!isIpAddress(address)) return false;
  if (slash < 0) return true;
  const bits = p.slice(slash + 1);
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (address.includes(':') ? 128 : 32);
}

// `realm:user:password`: realm words HAProxy's `realm` takes quoted; a user name; a crypt(3) hash
// (`$6$salt$hash`, `$5$…`, `$2y$…`, DES): HAProxy checks passwords with the system's crypt().
const REALM = /^[A-Za-z0-9 ._-]{1,64}$/;
const USER = /^[A-Za-z0-9._-]{1,64}$/;
const CRYPTED = /^[A-Za-z0-9./$]{13,255}$/;

const NO_LABEL = (): undefined => undefined;

/**
 * Port `index`'s labels by name (`HAPROXY_{index}_<name>`). For an app with none for that port (a Bamboo app:
 * most have no label at all) no key is built: a dozen names per port, per app and per view, showed in every profile of the view.
 */
export function portLabel(labels: Readonly<Record<string, string>>, index: number): (name: string) => string | undefined {
  const prefix = `HAPROXY_${index}_`;
  for (const key in labels) if (key.startsWith(prefix)) return (name) => labels[prefix + name];
  return NO_LABEL;
}

/**
 * Port `index`'s extras from the app's labels, given its backend's name, its mode and its vhosts (for
 * `Host:` and the root redirect). `problems` lists each bad value; with any, the caller leaves the port out.
 */
export function httpExtrasOf(labels: Readonly<Record<string, string>>, index: number, backend: string, mode: 'http' | 'tcp', vhosts: readonly string[], options: { routing?: boolean } = {}): { extras: HttpExtras; problems: HttpLabelProblem[] } {
  // Without label routing (HAProxy.LabelRouting off: Bamboo's routes), the path and redirect labels would
  // rewrite requests routed by `path_beg -i <id>`: only the access labels (AUTH, NETWORK_ALLOWED) apply.
  const routing = options.routing !== false;
  const problems: HttpLabelProblem[] = [];
  const label = portLabel(labels, index);
  const refuse = (name: string, value: string, why: string): void => {
    problems.push({ index, label: `HAPROXY_${index}_${name}`, reason: `label HAPROXY_${index}_${name} ${shown(value)} ${why}: port ${index} left out` });
  };
  const lines: string[] = [];
  let userlist: HttpExtras['Userlist'] = null;

  const allowed = label('BACKEND_NETWORK_ALLOWED_ACL');
  if (allowed !== undefined) {
    const nets = allowed.split(/[\s,]+/).filter((x) => x !== '');
    if (nets.length === 0 || !nets.every(isNetwork)) refuse('BACKEND_NETWORK_ALLOWED_ACL', allowed, 'is not a list of IP addresses or networks');
    else if (mode === 'http') lines.push(`acl ${backend}-allowed src ${nets.join(' ')}`, `http-request deny if !${backend}-allowed`);
    else lines.push(`acl ${backend}-allowed src ${nets.join(' ')}`, `tcp-request content reject if !${backend}-allowed`);
  }
  const http = (name: string): string | undefined => {
    const v = label(name);
    if (v !== undefined && mode !== 'http') {
      refuse(name, v, 'is for an HTTP port (this one is tcp)');
      return undefined;
    }
    return v;
  };
  const auth = http('AUTH');
  if (auth !== undefined) {
    const [realm = '', user = '', password = '', ...rest] = auth.split(':');
    if (rest.length > 0 || !REALM.test(realm) || !USER.test(user) || !CRYPTED.test(password)) {
      refuse('AUTH', auth.replace(/:[^:]*$/, ':…'), 'is not realm:user:crypted-password (a crypt(3) hash, e.g. from `mkpasswd -m sha-512`)');
    } else {
      userlist = Object.freeze({ Name: `${backend}-users`, User: user, Password: password });
      lines.push(`acl ${backend}-auth http_auth(${backend}-users)`, `http-request auth realm "${realm}" if !${backend}-auth`);
    }
  }
  const redir = routing ? http('HTTP_BACKEND_REDIR') : undefined;
  if (redir !== undefined) {
    if (!isPathPrefix(redir.trim())) refuse('HTTP_BACKEND_REDIR', redir, 'is not a path (one word starting with /)');
    else {
      const hosts = hostConditions(vhosts);
      const condition = hosts.length > 0 ? hosts.map((h) => `{ path / } ${h}`).join(' || ') : '{ path / }';
      lines.push(`http-request redirect code 301 location ${redir.trim()} if ${condition}`);
    }
  }
  const pass = routing ? http('HTTP_BACKEND_PROXYPASS_PATH') : undefined;
  if (pass !== undefined) {
    const p = pass.trim().replace(/\/+$/, '');
    if (!REGEX_SAFE_PATH.test(p) || p === '') refuse('HTTP_BACKEND_PROXYPASS_PATH', pass, 'is not a path prefix of letters, digits and /._~- (not /)');
    else {
      // A wildcard names no one host: with only wildcards, the task gets the client's (one they match).
      const host = vhosts.find((h) => !isWildcard(h));
      if (host !== undefined) lines.push(`http-request set-header Host ${host}`);
      // `/prefix` → `/`, `/prefix/…` → `/…`; anything else (`/prefixes`) passes unchanged.
      lines.push(`http-request replace-path ^${escapeRegex(p)}$ /`, `http-request replace-path ^${escapeRegex(p)}(/.*)$ \\1`);
    }
  }
  const rev = routing ? http('HTTP_BACKEND_REVPROXY_PATH') : undefined;
  if (rev !== undefined) {
    const p = rev.trim().replace(/\/+$/, '');
    if (!REGEX_SAFE_PATH.test(`${p}/`) || !p.startsWith('/')) refuse('HTTP_BACKEND_REVPROXY_PATH', rev, 'is not a path of letters, digits and /._~-');
    else lines.push(`http-response replace-header Location ^(https?://[^/]*)?(/.*)$ ${p}\\2 if { res.hdr(Location) -m found }`);
  }
  if (problems.length > 0 || (lines.length === 0 && userlist === null)) return { extras: NO_EXTRAS, problems };
  return { extras: Object.freeze({ Lines: Object.freeze(lines), Userlist: userlist }), problems };
}
