/**
 * The main frontend's routes: one per app, from its rule, its marathon-lb labels (lb-labels.ts) or Bamboo's
 * default ACL; their `use_backend` order; and the tail of plain path prefixes HAProxy looks up in one map.
 * Pure.
 */
import { createHash } from 'node:crypto';
import type { PortView } from './lb-labels.js';
import { compareText } from './compare.js';
import { exact } from './exact.js';

/** A named ACL line of the frontend: `acl <Name> <Acl>`. */
export interface AclLine { Name: string; Acl: string }

/**
 * Where a route comes from: a REST rule (wins), the app's marathon-lb labels, or Bamboo's default ACL; `none`:
 * port 0 is a TCP service (`HAPROXY_0_MODE=tcp`), reached on its own frontend, not routed by HTTP.
 */
export type RouteSource = 'rule' | 'labels' | 'default' | 'none';

/**
 * One route of the frontend: its `acl` lines, then `use_backend <Backend> if <Condition>`. `AclName`/`Acl` are
 * the first (for a rule or the default ACL, the only) ACL: a template written before labels keeps working
 * for every app without them; a label route with a host and a path has two ACLs, both in `Condition`.
 */
export interface RouteView {
  Id: string;
  AclName: string;
  Acl: string;
  Backend: string;
  Acls: readonly AclLine[];
  /** The ACL names after `if`, space-separated: all must match. */
  Condition: string;
  Source: RouteSource;
}

/**
 * The tail of the routing that HAProxy can look up in one map instead of one `acl` + `use_backend` pair per
 * app: the longest run of routes, at the end of the `use_backend` order, whose ACL is a plain
 * `path_beg -i <prefix>`. `use_backend %[path,lower,map_beg(Path)]` after the other routes routes exactly as
 * the pairs did (map_beg answers the first matching line, in this order), and HAProxy parses and starts a
 * 10,000-app config ~30-40% faster (named ACLs are looked up by a linear scan, use_backend rules compared
 * pairwise at start). The map file is culm's to write; its name carries a hash of its text, so a config
 * always names the exact map it was checked with.
 */
export interface RouteMapView {
  Path: string;
  /** The map file: `<lowercased prefix> <backend>` per line, in `use_backend` order. */
  Text: string;
  Routes: readonly RouteView[];
}

/**
 * Port 0's route in the main frontend. A rule wins over labels (Bamboo users' rules stay authoritative);
 * `HAPROXY_0_VHOST` matches `Host:` without its port, in any case; with `HAPROXY_0_PATH` too, both must match
 * (marathon-lb's `path_beg`, case-sensitive, as there).
 */
export function routeOf(app: { Id: string; EscapedId: string; Backend: string; AclName: string; Acl: string; HasRule: boolean; LabelRouting?: boolean }, port: PortView): RouteView {
  const { EscapedId: escaped, HasRule: hasRule } = app;
  if (port.Mode === 'tcp') {
    return Object.freeze({ Id: app.Id, AclName: app.AclName, Acl: '', Backend: app.Backend, Acls: NO_ACLS, Condition: '', Source: 'none' as const });
  }
  const acls: AclLine[] = [];
  let source: RouteSource = hasRule ? 'rule' : 'default';
  if (!hasRule && app.LabelRouting !== false && (port.Vhosts.length > 0 || port.Path)) {
    source = 'labels';
    if (port.Vhosts.length > 0) acls.push({ Name: `${escaped}-${port.Index}-host`, Acl: `hdr(host),field(1,:),lower -m str ${port.Vhosts.join(' ')}` });
    // A path alone is a path prefix like any other (case-insensitive, Bamboo's way, so the route map holds it and
    // it ranks by length among the rules' and defaults' prefixes: `HAPROXY_0_PATH=/` cannot take other apps'
    // traffic); with a vhost it narrows that host's route, as in marathon-lb (case-sensitive).
    if (port.Path) acls.push({ Name: `${escaped}-${port.Index}-path`, Acl: port.Vhosts.length > 0 ? `path_beg ${port.Path}` : `path_beg -i ${port.Path}` });
  } else {
    acls.push({ Name: app.AclName, Acl: app.Acl });
  }
  // The app's own strings where they are the same (10,000 routes): a new string only for label routes.
  return Object.freeze({
    Id: app.Id, AclName: acls[0].Name, Acl: acls[0].Acl, Backend: app.Backend, Acls: Object.freeze(exact(acls)),
    Condition: acls.length === 1 ? acls[0].Name : acls.map((a) => a.Name).join(' '), Source: source,
  });
}

const NO_ACLS: readonly AclLine[] = Object.freeze([]);

/** An HTTP route of the main frontend (a TCP port 0 has none). */
export const routed = (route: RouteView): boolean => route.Source !== 'none';

/** Two routes that write the same lines. */
export function sameRoute(a: RouteView, b: RouteView): boolean {
  return a.Id === b.Id && a.Backend === b.Backend && a.Condition === b.Condition && a.Source === b.Source && a.Acls.length === b.Acls.length && a.Acls.every((l, i) => l.Name === b.Acls[i].Name && l.Acl === b.Acls[i].Acl);
}

/** Two lists of routes that write the same lines. */
export const sameRoutes = (a: readonly RouteView[], b: readonly RouteView[]): boolean =>
  a === b || (a.length === b.length && a.every((r, i) => sameRoute(r, b[i])));

/**
 * The main frontend's routes of service ports n > 0 (marathon-lb routes every port's `HAPROXY_{n}_VHOST` /
 * `_PATH` in its HTTP frontend): one per served HTTP port with a vhost or path label, to that port's backend.
 */
export function portRoutes(app: { Id: string; EscapedId: string; AclName: string; Acl: string }, ports: readonly PortView[]): RouteView[] {
  const out: RouteView[] = [];
  for (let i = 1; i < ports.length; i++) {
    const p = ports[i];
    if (p.NotServed || p.Mode !== 'http' || (p.Vhosts.length === 0 && !p.Path)) continue;
    out.push(routeOf({ ...app, Backend: p.Backend, HasRule: false }, p));
  }
  return out;
}

/** The `use_backend` order of routes (routeRank, then app id, then ACL name: port 0's before port n's). */
export function compareRoutes(a: RouteView, b: RouteView): number {
  const x = routeRank(a);
  const y = routeRank(b);
  return x[0] - y[0] || y[1] - x[1] || compareText(a.Id, b.Id) || compareText(a.AclName, b.AclName);
}

/** Length of the path prefix an ACL matches on, or Infinity for any other kind of ACL (host, header…). */
export function aclSpecificity(acl: string): number {
  const m = /^path_beg(?:\s+-i)?\s+(\S+)$/.exec(acl.trim());
  return m ? m[1].length : Number.POSITIVE_INFINITY;
}

/**
 * The `use_backend` order: rules and defaults that are not path prefixes first (as before labels), then label
 * routes with a host (host and path, then host), then path prefixes, longest first, whether a rule's, a
 * default's or a path label's: the tail the route map can hold. Ties by id.
 */
export function routeRank(route: RouteView): [number, number] {
  if (route.Source !== 'labels') {
    const specificity = aclSpecificity(route.Acl);
    return specificity === Number.POSITIVE_INFINITY ? [0, 0] : [4, specificity];
  }
  const host = route.Acls.some((a) => a.Name.endsWith('-host'));
  const path = route.Acls.find((a) => a.Name.endsWith('-path'));
  const length = path ? aclSpecificity(path.Acl) : 0;
  return [host && path ? 1 : host ? 2 : 4, length];
}

/** `path_beg -i <prefix>` with a prefix a map file holds as one word. */
// No quote, `$` or `\\`: HAProxy reads those specially in an `acl` line, not in a map (the same route must mean the same).
const MAP_ACL = /^path_beg\s+-i\s+(\/[A-Za-z0-9._~!&()*+,;=:@%/-]*)$/;

const splitCache = new WeakMap<readonly RouteView[], { outputPath: string; acl: readonly RouteView[]; map?: RouteMapView }>();

/** A route the map can hold: one `path_beg -i` ACL, nothing else on its condition. */
const mappable = (r: RouteView): boolean => r.Acls.length === 1 && MAP_ACL.test(r.Acl);

/** Routes → acl head + map tail; the same objects while the routes (one array per change) are the same. */
export function splitRoutes(routes: readonly RouteView[], outputPath: string): { acl: readonly RouteView[]; map?: RouteMapView } {
  const cached = splitCache.get(routes);
  if (cached && cached.outputPath === outputPath) return cached;
  let start = routes.length;
  while (start > 0 && mappable(routes[start - 1])) start--;
  const tail = routes.slice(start);
  let map: RouteMapView | undefined;
  if (tail.length > 0) {
    const text = tail.map((r) => `${MAP_ACL.exec(r.Acl)![1].toLowerCase()} ${r.Backend}\n`).join('');
    const hash = createHash('sha256').update(text).digest('hex').slice(0, 16);
    map = Object.freeze({ Path: `${outputPath}.routes-${hash}.map`, Text: text, Routes: Object.freeze(tail) });
  }
  const split = { outputPath, acl: start === routes.length ? routes : Object.freeze(routes.slice(0, start)), ...(map ? { map } : {}) };
  splitCache.set(routes, split);
  return split;
}

