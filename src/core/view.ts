/**
 * The template context: Bamboo's (Apps, Services, helper functions) plus what culm's default template
 * needs (backend and server names, ordered frontends). Pure and deterministic: same input, same output.
 */
import { createHash } from 'node:crypto';
import { endpointOf, isServing } from './eligibility.js';
import type { App, ClusterState, Rule, Task } from './model.js';
import { checkOf, checkPortOf, type CheckView } from './health-check.js';
import { isReady, readinessChangesAt } from './readiness.js';
import { ruleToBamboo } from './rules.js';
import { byId, byViewId, compareText } from './compare.js';

/** A task as Bamboo's template data and /api/state show it. */
export interface BambooTask {
  Id: string;
  Host: string;
  Port: number;
  Ports: number[];
  Alive: boolean;
  State: string;
  Ready: boolean;
}

export interface TaskView extends BambooTask {
  Serving: boolean;
  /** Stable HAProxy server name: same task, same name, whatever else changes. */
  Server: string;
  /** The port HAProxy's check probes when it is not `Port` (`port <n>` on the server line), else 0. */
  CheckPort: number;
}

export interface AppView {
  Id: string;
  EscapedId: string;
  MesosDnsId: string;
  SplitId: string[];
  HealthCheckPath: string;
  HealthCheckProtocol: string;
  HealthChecks: Array<{ Protocol: string; Path: string; PortIndex: number }>;
  /** The check HAProxy runs (health-check.ts): what the default template prints. */
  Check: CheckView;
  /** The readiness check's path, '' without one (Bamboo's field). */
  ReadinessCheckPath: string;
  ServicePort: number;
  ServicePorts: number[];
  Env: Record<string, string>;
  Labels: Record<string, string>;
  /** Serving tasks only (a ported Bamboo template that iterates Tasks gets only good servers). */
  Tasks: TaskView[];
  AllTasks: TaskView[];
  Backend: string;
  AclName: string;
  /** The rule's ACL, or the default `path_beg -i <id>`. */
  Acl: string;
  HasRule: boolean;
}

export interface ServiceView { Id: string; Acl: string; Config: Record<string, string> }

export interface HaproxyPaths {
  HttpBind: string;
  StatsSocket: string;
  PidFile: string;
  OutputPath: string;
  /** Where culm saves `show servers state` before each reload (the template's `server-state-file`). */
  ServerStateFile?: string;
  /** The user and group HAProxy runs as once started (HAProxy.User/Group); empty: as culm. */
  User?: string;
  Group?: string;
  /** Where HAProxy sends its syslog for culm to log (HAProxy.Log), `127.0.0.1:<port>`; unset: no log line. */
  LogTarget?: string;
  /** Request logs too (HAProxy.RequestLog). */
  RequestLog?: boolean;
}

export interface ViewOptions {
  /** Apps left out of the render (isolated after they broke `haproxy -c`). */
  excludedApps?: ReadonlySet<string>;
  /** Apps whose rule is ignored (default ACL) after the rule broke `haproxy -c`. */
  ignoredRules?: ReadonlySet<string>;
  /** The time to judge readiness at (ms since epoch, readiness.ts); default: the state's last resync. */
  now?: number;
}

/** One `acl` + `use_backend` pair of the frontend. */
export interface RouteView {
  Id: string;
  AclName: string;
  Acl: string;
  Backend: string;
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

export interface TemplateContext {
  Apps: AppView[];
  /**
   * The frontend's routing, in `use_backend` order. The same array object is handed out while no route
   * changed (task changes do not touch it), so a template can render it once: `it.memo(it.Routes, …)`.
   */
  Routes: readonly RouteView[];
  /** The head of `Routes` that stays `acl` + `use_backend` lines (what `RouteMap` cannot hold). */
  AclRoutes: readonly RouteView[];
  /** The rest of `Routes`, as a map file (undefined when there is none). */
  RouteMap?: RouteMapView;
  /** Apps in `use_backend` order: explicit non-path rules first, then longer path prefixes first. */
  Frontends: AppView[];
  Services: Record<string, ServiceView>;
  HAProxy: HaproxyPaths;
}

export const escapeId = (id: string): string => id.replace(/\//g, '::');

/** `/grp/app` → `app-grp` (Bamboo's DNS-friendly id). */
export function mesosDnsId(id: string): string {
  return id.split('/').filter(Boolean).reverse().join('-');
}

const SAFE_NAME = /[^A-Za-z0-9_.:-]/g;

function taskView(app: App, task: Task, escaped: string, now: number): TaskView {
  const endpoint = endpointOf(app, task);
  const host = endpoint?.host ?? task.host;
  const port = endpoint?.port ?? 0;
  return {
    Id: task.id,
    Host: host,
    Port: port,
    Ports: task.ports,
    Alive: app.healthChecks.length === 0 ? true : task.healthy === true,
    State: task.state,
    Ready: isReady(app, task, now),
    Serving: isServing(app, task, now),
    Server: `${escaped}-${host}-${port}`.replace(SAFE_NAME, '_'),
    CheckPort: checkPortOf(app, task, port),
  };
}

/**
 * Views of unchanged apps are reused: the reducer keeps an App object as long as nothing in it changed, so
 * (App, Rule) identity is a safe key, and a change to one app of 10,000 rebuilds one view, not all. A view
 * holds until its tasks' readiness changes with time alone (`until`, readiness.ts), then it is rebuilt.
 */
const viewCache = new WeakMap<App, { rule: Rule | undefined; view: AppView; until: number }>();

export function appView(app: App, rule: Rule | undefined, now: number): AppView {
  const cached = viewCache.get(app);
  if (cached && cached.rule === rule && now < cached.until) return cached.view;
  // Frozen: a template that tried to modify a shared view would corrupt later renders.
  const view = Object.freeze(buildAppView(app, rule, now));
  Object.freeze(view.Tasks);
  Object.freeze(view.AllTasks);
  viewCache.set(app, { rule, view, until: readinessChangesAt(app, now) });
  return view;
}

function buildAppView(app: App, rule: Rule | undefined, now: number): AppView {
  const escaped = escapeId(app.id);
  const all = Object.values(app.tasks).map((t) => taskView(app, t, escaped, now)).sort((a, b) => compareText(a.Server, b.Server));
  // Two tasks on one host:port cannot both be servers of one backend: the first name wins.
  const names = new Set<string>();
  const serving = all.filter((t) => t.Serving && !names.has(t.Server) && names.add(t.Server));
  const http = app.healthChecks.find((h) => h.protocol === 'HTTP' || h.protocol === 'HTTPS');
  return {
    Id: app.id,
    EscapedId: escaped,
    MesosDnsId: mesosDnsId(app.id),
    SplitId: app.id.split('/'),
    HealthCheckPath: http?.path ?? '',
    HealthCheckProtocol: http?.protocol ?? '',
    HealthChecks: app.healthChecks.map((h) => ({ Protocol: h.protocol, Path: h.path ?? '', PortIndex: h.portIndex ?? 0 })),
    Check: checkOf(app),
    ReadinessCheckPath: app.readinessCheck?.path ?? '',
    ServicePort: app.servicePorts[0] ?? 0,
    ServicePorts: app.servicePorts,
    Env: app.env,
    Labels: app.labels,
    Tasks: serving,
    AllTasks: all,
    Backend: `${escaped}-cluster`,
    AclName: `${escaped}-aclrule`,
    Acl: rule && rule.acl.trim() ? rule.acl.trim() : `path_beg -i ${app.id}`,
    HasRule: !!rule && !!rule.acl.trim(),
  };
}

/** Length of the path prefix an ACL matches on, or Infinity for any other kind of ACL (host, header…). */
export function aclSpecificity(acl: string): number {
  const m = /^path_beg(?:\s+-i)?\s+(\S+)$/.exec(acl.trim());
  return m ? m[1].length : Number.POSITIVE_INFINITY;
}

export function orderFrontends(apps: readonly AppView[]): AppView[] {
  const keyed = apps.map((app) => ({ app, specificity: aclSpecificity(app.Acl) }));
  keyed.sort((a, b) => (a.specificity !== b.specificity ? b.specificity - a.specificity : byViewId(a.app, b.app)));
  return keyed.map((k) => k.app);
}

/**
 * What the last build ordered, reused while the same apps with the same ACLs are there (a task change, the
 * usual case): sorting 10,000 apps by id, and again by ACL, then comparing every route, cost more than the
 * rest of a view. Shared by all callers: it is only ever reused after checking it still fits.
 */
let last: {
  /** App ids in `Apps` order. */
  ids: readonly string[];
  acls: readonly string[];
  /** `Frontends` as positions in `Apps`. */
  frontends: readonly number[];
  routes: readonly RouteView[];
} = { ids: [], acls: [], frontends: [], routes: Object.freeze([]) };

/** The apps to render, sorted by id: the last order when the same ids are there. */
function sortedApps(state: ClusterState, excluded: ReadonlySet<string> | undefined): App[] {
  const size = state.apps.size - (excluded ? [...excluded].filter((id) => state.apps.has(id)).length : 0);
  if (size === last.ids.length) {
    const apps: App[] = [];
    for (const id of last.ids) {
      const app = state.apps.get(id);
      if (!app || excluded?.has(id)) break;
      apps.push(app);
    }
    // Same count, every one of them present: the same set of ids (they are unique).
    if (apps.length === size) return apps;
  }
  const apps = [...state.apps.values()].filter((a) => !excluded?.has(a.id));
  return apps.sort(byId);
}

const serviceCache = new WeakMap<Rule, ServiceView>();

function serviceView(rule: Rule): ServiceView {
  let view = serviceCache.get(rule);
  if (!view) {
    const bamboo = ruleToBamboo(rule);
    view = Object.freeze({ ...bamboo, Config: Object.freeze(bamboo.Config) });
    serviceCache.set(rule, view);
  }
  return view;
}

export function buildView(
  state: ClusterState,
  rules: ReadonlyMap<string, Rule>,
  haproxy: HaproxyPaths,
  options: ViewOptions = {},
): TemplateContext {
  const now = options.now ?? state.syncedAt;
  const apps = sortedApps(state, options.excludedApps).map((app) => appView(app, options.ignoredRules?.has(app.id) ? undefined : rules.get(app.id), now));
  const services: Record<string, ServiceView> = {};
  for (const rule of rules.values()) {
    if (!options.ignoredRules?.has(rule.id)) services[rule.id] = serviceView(rule);
  }
  const sameRouting = apps.length === last.ids.length && apps.every((a, i) => a.Id === last.ids[i] && a.Acl === last.acls[i]);
  if (!sameRouting) {
    const position = new Map(apps.map((a, i) => [a, i]));
    const frontends = orderFrontends(apps);
    last = {
      ids: apps.map((a) => a.Id),
      acls: apps.map((a) => a.Acl),
      frontends: frontends.map((f) => position.get(f)!),
      routes: routesOf(frontends, last.routes),
    };
  }
  const frontends = last.frontends.map((i) => apps[i]);
  const split = splitRoutes(last.routes, haproxy.OutputPath);
  return {
    Apps: apps, Frontends: frontends, Routes: last.routes, AclRoutes: split.acl,
    ...(split.map ? { RouteMap: split.map } : {}),
    Services: services, HAProxy: haproxy,
  };
}

/** `path_beg -i <prefix>` with a prefix a map file holds as one word. */
const MAP_ACL = /^path_beg\s+-i\s+(\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)$/;

const splitCache = new WeakMap<readonly RouteView[], { outputPath: string; acl: readonly RouteView[]; map?: RouteMapView }>();

/** Routes → acl head + map tail; the same objects while the routes (one array per change) are the same. */
function splitRoutes(routes: readonly RouteView[], outputPath: string): { acl: readonly RouteView[]; map?: RouteMapView } {
  const cached = splitCache.get(routes);
  if (cached && cached.outputPath === outputPath) return cached;
  let start = routes.length;
  while (start > 0 && MAP_ACL.test(routes[start - 1].Acl)) start--;
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

/** The routes for these frontends; `previous` itself when nothing in it changed. */
function routesOf(frontends: readonly AppView[], previous: readonly RouteView[]): readonly RouteView[] {
  const same = previous.length === frontends.length && frontends.every((f, i) => {
    const r = previous[i];
    return r.Id === f.Id && r.Acl === f.Acl && r.AclName === f.AclName && r.Backend === f.Backend;
  });
  if (same) return previous;
  return Object.freeze(frontends.map((f) => Object.freeze({ Id: f.Id, AclName: f.AclName, Acl: f.Acl, Backend: f.Backend })));
}
