/**
 * How a port's `HAPROXY_{n}_VHOST` hosts match a request's `Host:`, for its routes (routing.ts) and for the
 * backend lines that name the port's hosts (http-labels.ts): the port in `Host:` cut off, case ignored.
 * An exact host matches itself. A wildcard `*.example.com` matches every name ending with `.example.com`, at
 * any depth (`a.example.com`, `a.b.example.com`), never `example.com` itself: what marathon-lb users get from
 * its wiki's recipe (the frontend ACL labels overridden with `hdr_end(host)` and `ssl_fc_sni -m end .<domain>`),
 * without the label override and without `hdr_end`'s catch of `badexample.com` (the dot is part of the suffix).
 * Which route wins when several match is the routes' order (routing.ts's routeRank). Pure.
 */

/** `Host:` as routing reads it: without its port, lower case. */
const HOST = 'hdr(host),field(1,:),lower';

/** A wildcard vhost, `*.<name>` (input-grammar.ts's isWildcardHost checked it where the app came in). */
export const isWildcard = (host: string): boolean => host.startsWith('*.');

/** What a wildcard matches at the end of `Host:`: `*.example.com` → `.example.com`. */
export const wildcardSuffix = (host: string): string => host.slice(1);

/** The ACL (fetch, match, patterns) of `Host:` being one of these exact hosts. */
export const exactHostAcl = (hosts: readonly string[]): string => `${HOST} -m str ${hosts.join(' ')}`;

/** The ACL of `Host:` ending with one of these wildcards' suffixes. */
export const wildcardHostAcl = (wildcards: readonly string[]): string => `${HOST} -m end ${wildcards.map(wildcardSuffix).join(' ')}`;

/**
 * Anonymous ACLs (`{ … }`) of `Host:` being one of these hosts, exact or wildcard: one for the exact hosts, one
 * for the wildcards, either matching (a caller joins them with `||`). Empty for no host.
 */
export function hostConditions(hosts: readonly string[]): string[] {
  const exact = hosts.filter((h) => !isWildcard(h));
  const wild = hosts.filter(isWildcard);
  const out: string[] = [];
  if (exact.length > 0) out.push(`{ ${exactHostAcl(exact)} }`);
  if (wild.length > 0) out.push(`{ ${wildcardHostAcl(wild)} }`);
  return out;
}
