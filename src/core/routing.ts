/**
 * The main frontend's routes: one per app, from its rule, its marathon-lb labels (lb-labels.ts) or Bamboo's
 * default ACL; their `use_backend` order; and the tail of plain path prefixes HAProxy looks up in one map.
 * Pure.
 */
import { createHash } from 'node:crypto';
import type { PortView } from './lb-labels.js';
import { compareText } from './compare.js';
import { exact } from './exact.js';
import { exactHostAcl, isWildcard, wildcardHostAcl } from './vhosts.js';

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
 * A port's routes in the main frontend. A rule wins over labels (Bamboo users' rules stay authoritative);
 * `HAPROXY_{n}_VHOST` matches `Host:` without its port, in any case; with `HAPROXY_{n}_PATH` too, both must match
 * (marathon-lb's `path_beg`, case-sensitive, as there). A label route has one route for its exact hosts (or its
 * path alone), then one per wildcard vhost (vhosts.ts), each ranked on its own (routeRank): an exact host of
 * another app wins over a wildcard, a longer wildcard over a shorter one, whatever the apps.
 */
export function portRoutesOf(app: RoutedApp, port: PortView): RouteView[] {
  const { EscapedId: escaped, HasRule: hasRule } = app;
  if (port.Mode === 'tcp') {
    return [Object.freeze({ Id: app.Id, AclName: app.AclName, Acl: '', Backend: app.Backend, Acls: NO_ACLS, Condition: '', Source: 'none' as const })];
  }
  if (hasRule || app.LabelRouting === false || (port.Vhosts.length === 0 && !port.Path)) {
    return [route(app, hasRule ? 'rule' : 'default', [{ Name: app.AclName, Acl: app.Acl }])];
  }
  const name = `${escaped}-${port.Index}`;
  const exactHosts = port.Vhosts.filter((h) => !isWildcard(h));
  const out: RouteView[] = [];
  // A path alone is a path prefix like any other (case-insensitive, Bamboo's way, so the route map holds it and
  // it ranks by length among the rules' and defaults' prefixes: `HAPROXY_0_PATH=/` cannot take other apps'
  // traffic); with a vhost it narrows that host's route, as in marathon-lb (case-sensitive).
  if (port.Vhosts.length === 0) out.push(route(app, 'labels', [{ Name: `${name}-path`, Acl: `path_beg -i ${port.Path}` }]));
  if (exactHosts.length > 0) out.push(route(app, 'labels', withPath([{ Name: `${name}-host`, Acl: exactHostAcl(exactHosts) }], `${name}-path`, port.Path)));
  for (const host of port.Vhosts) {
    if (!isWildcard(host)) continue;
    // `*` cannot be in an ACL name; `_` is in no app id and no vhost, so these names meet no other ACL's.
    const wild = `${name}-wildcard_${host.slice(2)}`;
    out.push(route(app, 'labels', withPath([{ Name: wild, Acl: wildcardHostAcl([host]) }], `${wild}_path`, port.Path)));
  }
  return out;
}

/** Port 0's route (the first of its routes: its exact hosts, else its first wildcard); the others are in `portRoutes`. */
export const routeOf = (app: RoutedApp, port: PortView): RouteView => portRoutesOf(app, port)[0];

/** What a route needs of its app: its ids, its default or rule ACL, whether it has a rule. */
export interface RoutedApp { Id: string; EscapedId: string; Backend: string; AclName: string; Acl: string; HasRule: boolean; LabelRouting?: boolean }

const withPath = (acls: AclLine[], name: string, path: string): AclLine[] => (path ? [...acls, { Name: name, Acl: `path_beg ${path}` }] : acls);

function route(app: RoutedApp, source: RouteSource, acls: AclLine[]): RouteView {
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
 * The main frontend's routes of an app beyond port 0's first (`routeOf`): port 0's other wildcard routes, and
 * ports n > 0's (marathon-lb routes every port's `HAPROXY_{n}_VHOST` / `_PATH` in its HTTP frontend): those
 * of each served HTTP port with a vhost or path label, to that port's backend.
 */
export function portRoutes(app: RoutedApp, ports: readonly PortView[]): RouteView[] {
  const out: RouteView[] = [];
  const p0 = ports[0];
  if (!p0.NotServed && p0.Mode === 'http' && p0.Vhosts.some(isWildcard)) out.push(...portRoutesOf(app, p0).slice(1));
  for (let i = 1; i < ports.length; i++) {
    const p = ports[i];
    if (p.NotServed || p.Mode !== 'http' || (p.Vhosts.length === 0 && !p.Path)) continue;
    out.push(...portRoutesOf({ ...app, Backend: p.Backend, HasRule: false }, p));
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
 * routes with an exact host (host and path, then host), then those with a wildcard, the longest suffix first
 * (with a path, longest first, before without), then path prefixes, longest first, whether a rule's, a
 * default's or a path label's: the tail the route map can hold. Ties by id. So a request for `a.example.com`
 * goes to the app naming it before one with `*.example.com`, and `a.b.example.com` to `*.b.example.com`
 * before `*.example.com`; two apps naming the same host or wildcard: the first by id.
 */
export function routeRank(route: RouteView): [number, number] {
  if (route.Source !== 'labels') {
    const specificity = aclSpecificity(route.Acl);
    return specificity === Number.POSITIVE_INFINITY ? [0, 0] : [4, specificity];
  }
  const host = route.Acls.find((a) => a.Acl.startsWith('hdr(host)'));
  const path = route.Acls.find((a) => a.Acl.startsWith('path_beg'));
  const length = path ? aclSpecificity(path.Acl) : 0;
  if (!host) return [4, length];
  const suffix = WILDCARD_ACL.exec(host.Acl);
  // A path is at most 1024 characters: a longer suffix outranks any path.
  if (suffix) return [3, suffix[1].length * 2048 + length];
  return [path ? 1 : 2, length];
}

const WILDCARD_ACL = /-m end (\S+)$/;

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

