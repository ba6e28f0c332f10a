/**
 * The template context: Bamboo's (Apps, Services, helper functions) plus what culm's default template
 * needs (backend and server names, ordered frontends and their routes, routing.ts; each app's service ports
 * as marathon-lb's labels describe them, lb-labels.ts). Pure and deterministic: same input, same output.
 */
import { hash } from 'node:crypto';
import { endpointOf } from './eligibility.js';
import { configSettings, settle, type SettledSettings } from './backend-settings.js';
import type { App, ClusterState, Rule, Task } from './model.js';
import { checkOf, checkPortOf, type CheckView } from './health-check.js';
import { isReady, readinessChangesAt } from './readiness.js';
import { ruleToBamboo } from './rules.js';
import { byId, byViewId, compareText } from './compare.js';
import { httpExtrasOf, NO_EXTRAS, type HttpExtras } from './http-labels.js';
import { escapeId, portsOf, SERVE_ALL, servedPorts, type GroupPolicy, type PortView } from './lb-labels.js';
import { bindLineOf, boundAddresses, listenersOf, resolveClashes, type BackendView, type ListenerView, type PortServer } from './service-ports.js';
import { listenerCerts, TRUST_CERTS, tlsOf, type CertCheck, type CertProblem, type TlsView } from './tls.js';
import { bindOptionWords, rawLines, rawPortsOf, withoutRawNewlines, type RawPort } from './raw-labels.js';
import { backendTemplateOf } from './backend-template.js';
import { aclSpecificity, compareRoutes, portRoutes, routed, routeOf, routeRank, sameRoute, sameRoutes, splitRoutes, type RouteMapView, type RouteView } from './routing.js';
import { exact } from './exact.js';

export type { GroupPolicy, PortView, BackendView, ListenerView, PortServer };
export { escapeId };
export type { AclLine, RouteMapView, RouteSource, RouteView } from './routing.js';
export type { CertCheck, CertProblem, CrtListView, TlsView } from './tls.js';
export { aclSpecificity };

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
  /** The rule's ACL, or the default `path_beg -i <id>` (Bamboo's field; labels route through `Route`). */
  Acl: string;
  HasRule: boolean;
  /** Every service port, as marathon-lb's labels describe it (lb-labels.ts), with this edge's group setting applied. */
  Ports: readonly PortView[];
  /**
   * Why the app is not rendered ('' when it is): port 0's `NotServed` (a bad label, the group setting). Port 0's
   * `RedirectToHttps` is written in the app's backend (`http-request redirect`): it applies to exactly the
   * requests routed there, whichever route (rule, labels, map) sent them.
   */
  NotServed: string;
  /** How the main frontend routes to the app (port 0): its rule, else its labels, else the default ACL; `none` for a TCP port 0. */
  Route: RouteView;
  /** The main frontend's other routes (in `Routes` too): port 0's wildcard vhosts beyond `Route`, and ports n > 0's with `HAPROXY_{n}_VHOST` / `_PATH` labels, to their backends. */
  PortRoutes: readonly RouteView[];
  /** The app's backends: port 0's (`Backend`), then each port n with a listener or a route, then `BAMBOO_TCP_PORT`'s. */
  Backends: readonly BackendView[];
  /** The app's service-port frontends, before port clashes are settled (the context's `Listeners` are). */
  Listeners: readonly ListenerView[];
  /**
   * The partial the default template renders this app's backends with instead of `backend.eta` ('' for that):
   * the rule's `Config.template`, else the `HAPROXY_TEMPLATE` label (backend-template.ts).
   */
  Template: string;
  /**
   * What culm did with the app's raw HAProxy labels, for one log line (null when it has none or wrote them all):
   * ignored (`HAProxy.TrustLabelConfig` off: the labels), or refused (why: their port is left out).
   */
  LabelConfig: LabelConfigNote | null;
}

export interface LabelConfigNote { readonly refused: boolean; readonly note: string }

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
  /** Which apps this edge serves (HAProxy.Group / HAProxy.StrictGroups); absent: all of them. */
  ServeGroups?: GroupPolicy;
  /** HAProxy.SslCerts: the operator's certificate files and directories; empty or absent: no HTTPS frontend. */
  SslCerts?: readonly string[];
  /** HAProxy.HttpsBind (with SslCerts). */
  HttpsBind?: string;
}

export interface ViewOptions {
  /** Apps left out of the render (isolated after they broke `haproxy -c`). */
  excludedApps?: ReadonlySet<string>;
  /** Apps whose rule is ignored (default ACL) after the rule broke `haproxy -c`. */
  ignoredRules?: ReadonlySet<string>;
  /** The time to judge readiness at (ms since epoch, readiness.ts); default: the state's last resync. */
  now?: number;
  /**
   * An app rendered even when this edge does not serve it: the one whose new rule is being checked, so a rule
   * that HAProxy refuses is refused now, not the day the app's labels or the group setting let it in.
   */
  checkedApp?: string;
  /** Whether certificate files are usable (the edge reads them, core cannot); default: all are. */
  certCheck?: CertCheck;
  /** App certificates left out after HAProxy's check (refused, or stalled on), by path, with why (`HAProxy refuses it (…)`). */
  refusedCerts?: ReadonlyMap<string, string>;
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
  /** Apps Marathon runs that this render leaves out, and why (a bad label, the group setting), by id. */
  NotServed: Readonly<Record<string, string>>;
  /** The service-port frontends, apps by id, port clashes left out (the same array while none changed). */
  Listeners: readonly ListenerView[];
  /** By app id: its service ports left out because another app (first by id) or the HTTP bind has them. */
  PortClashes: Readonly<Record<string, string>>;
  /** The HTTPS frontend (tls.ts): undefined without HAProxy.SslCerts, or when no certificate is usable. */
  Tls?: TlsView;
  /** Certificates left out of this render (a file missing or unreadable, refused by HAProxy), and why. */
  CertProblems: readonly CertProblem[];
  /** By app id: its raw HAProxy labels ignored or refused, and why (`AppView.LabelConfig`). */
  LabelConfigNotes: Readonly<Record<string, LabelConfigNote>>;
}

/** `/grp/app` → `app-grp` (Bamboo's DNS-friendly id). */
export function mesosDnsId(id: string): string {
  return id.split('/').filter(Boolean).reverse().join('-');
}

const SAFE_NAME = /[^A-Za-z0-9_.:-]/g;

function taskView(app: App, task: Task, escaped: string, now: number): TaskView {
  const endpoint = endpointOf(app, task);
  const host = endpoint?.host ?? task.host;
  const port = endpoint?.port ?? 0;
  const alive = app.healthChecks.length === 0 ? true : task.healthy === true;
  const ready = isReady(app, task, now);
  return {
    Id: task.id,
    Host: host,
    Port: port,
    Ports: task.ports,
    Alive: alive,
    State: task.state,
    Ready: ready,
    // isServing (eligibility.ts) with the endpoint and readiness found above: ready implies TASK_RUNNING.
    Serving: ready && alive && endpoint !== null,
    Server: `${escaped}-${host}-${port}`.replace(SAFE_NAME, '_'),
    CheckPort: checkPortOf(app, task, port),
  };
}

/**
 * Views of unchanged apps are reused: the reducer keeps an App object as long as nothing in it changed, so
 * (App, Rule) identity is a safe key, and a change to one app of 10,000 rebuilds one view, not all. A view
 * holds until its tasks' readiness changes with time alone (`until`, readiness.ts), then it is rebuilt.
 */
const viewCache = new WeakMap<App, { rule: Rule | undefined; policy: GroupPolicy; view: AppView; until: number }>();

export function appView(app: App, rule: Rule | undefined, now: number, policy: GroupPolicy = SERVE_ALL): AppView {
  const cached = viewCache.get(app);
  if (cached && cached.rule === rule && cached.policy === policy && now < cached.until) return cached.view;
  // Frozen: a template that tried to modify a shared view would corrupt later renders.
  const view = Object.freeze(buildAppView(app, rule, now, policy));
  Object.freeze(view.Tasks);
  Object.freeze(view.AllTasks);
  viewCache.set(app, { rule, policy, view, until: readinessChangesAt(app, now) });
  return view;
}

const NO_LISTENERS: readonly ListenerView[] = Object.freeze([]);
const NO_ROUTES: readonly RouteView[] = Object.freeze([]);

/**
 * The ports as this edge renders them: `tcp` only where service ports are bound (a TCP backend needs its own
 * frontend) and, for port 0, without a rule (a REST rule routes port 0 by HTTP: Bamboo's rules win).
 */
function effectivePorts(ports: readonly PortView[], bind: string | undefined, hasRule: boolean): readonly PortView[] {
  if (!ports.some((p, i) => p.Mode === 'tcp' && (bind === undefined || (i === 0 && hasRule)))) return ports;
  return Object.freeze(ports.map((p, i) => (p.Mode === 'tcp' && (bind === undefined || (i === 0 && hasRule)) ? Object.freeze({ ...p, Mode: 'http' as const }) : p)));
}

/** Port `index`'s servers: the serving tasks at that port (host port, or container port for IP-per-task). */
function portServers(app: App, all: readonly TaskView[], index: number, escaped: string): PortServer[] {
  const names = new Set<string>();
  const out: PortServer[] = [];
  for (const t of all) {
    if (!t.Serving) continue;
    const task = app.tasks[t.Id];
    const ip = app.network === 'container' && task.ports.length === 0;
    const host = ip ? task.ipAddresses[0] : task.host;
    const port = ip ? app.containerPorts[index] : task.ports[index];
    if (!host || !port) continue;
    const server = `${escaped}-${host}-${port}`.replace(SAFE_NAME, '_');
    if (names.has(server)) continue;
    names.add(server);
    out.push(Object.freeze({ Server: server, Host: host, Port: port, CheckPort: 0 }));
  }
  return exact(out);
}

function backendsOf(app: App, ports: readonly PortView[], listeners: readonly ListenerView[], routes: readonly RouteView[], serving: readonly TaskView[], all: readonly TaskView[], escaped: string, raw: ReadonlyMap<number, RawPort> | undefined, rule: Rule | undefined, labelRouting: boolean): readonly BackendView[] {
  const p0 = ports[0];
  const http = (index: number, name: string, mode: PortView['Mode']): { Http: HttpExtras } => ({
    Http: index < 0 || ports[index].NotServed ? NO_EXTRAS : httpExtrasOf(app.labels, index, name, mode, ports[index].Vhosts, { routing: labelRouting }).extras,
  });
  // A REST rule routes port 0: its Config's settings are port 0's (and BAMBOO_TCP_PORT's, which serves port 0's tasks).
  const ruled = rule ? configSettings(rule.config).settings : undefined;
  const settled = (index: number, mode: PortView['Mode']): SettledSettings => settle(ports[index].Settings, index === 0 ? ruled : undefined, mode);
  const withCookies = (servers: readonly PortServer[], s: SettledSettings): readonly PortServer[] =>
    (s.Sticky ? Object.freeze(servers.map((x) => Object.freeze({ ...x, Cookie: stickyCookie(x.Server) }))) : servers);
  const s0 = settled(0, p0.Mode);
  const backends: BackendView[] = [Object.freeze({ Name: p0.Backend, Mode: p0.Mode, Index: 0, Servers: withCookies(serving, s0), RedirectToHttps: p0.Mode === 'http' && p0.RedirectToHttps, Checked: true, ...rawBackend(raw, ports, p0.Backend, p0.Mode, 0, s0.Balance), Hsts: hstsLines(raw, ports, p0.Backend, p0.Mode, 0), ...s0, ...http(0, p0.Backend, p0.Mode) })];
  const named = new Set([p0.Backend]);
  const add = (name: string, mode: PortView['Mode'], index: number): void => {
    if (named.has(name)) return;
    named.add(name);
    const servers = index === 0 ? serving : Object.freeze(portServers(app, all, index, escaped));
    const s = settled(index, mode);
    backends.push(Object.freeze({ Name: name, Mode: mode, Index: index, Servers: withCookies(servers, s), RedirectToHttps: mode === 'http' && ports[index].RedirectToHttps, Checked: false, ...rawBackend(raw, ports, name, mode, index, s.Balance), Hsts: hstsLines(raw, ports, name, mode, index), ...s, ...http(index, name, mode) }));
  };
  for (const l of listeners) add(l.Backend, l.Mode, l.Index);
  // Port n routed in the main frontend but without a frontend of its own (no service port, or not bound).
  for (const r of routes) add(r.Backend, 'http', ports.findIndex((p) => p.Backend === r.Backend));
  return Object.freeze(exact(backends));
}

/** marathon-lb's sticky cookie value: the first 10 hex digits of a SHA-1 of the server name (stable, reveals no address). */
const stickyCookie = (server: string): string => hash('sha1', server).slice(0, 10);

function buildAppView(app: App, rule: Rule | undefined, now: number, policy: GroupPolicy): AppView {
  const bind = policy.servicePortBind;
  const escaped = escapeId(app.id);
  const all = Object.values(app.tasks).map((t) => taskView(app, t, escaped, now)).sort((a, b) => compareText(a.Server, b.Server));
  // Two tasks on one host:port cannot both be servers of one backend: the first name wins.
  const names = new Set<string>();
  const serving = exact(all.filter((t) => t.Serving && !names.has(t.Server) && names.add(t.Server)));
  const http = app.healthChecks.find((h) => h.protocol === 'HTTP' || h.protocol === 'HTTPS');
  const hasRule = !!rule && !!rule.acl.trim();
  const labelled = portsOf(app, bind !== undefined);
  const effective = effectivePorts(servedPorts(labelled.ports, policy), bind, hasRule);
  // Without label routing (Bamboo's routing), a redirect label does not apply either.
  const labelPorts = policy.labelRouting === false && effective.some((p) => p.RedirectToHttps)
    ? Object.freeze(effective.map((p) => (p.RedirectToHttps ? Object.freeze({ ...p, RedirectToHttps: false }) : p)))
    : effective;
  const raw = rawPortsOf(app, bind !== undefined);
  const trusted = raw && policy.trustLabelConfig === true ? raw : undefined;
  const chosen = backendTemplateOf(app, rule, policy.trustLabelConfig === true);
  const ports = refusedPorts(labelPorts, trusted, chosen.problem);
  const found = rawListeners(listenersOf(app.id, escaped, ports, labelled.tcpPort, bind), trusted);
  const listeners = found.length ? Object.freeze(exact(found)) : NO_LISTENERS;
  const own = { Id: app.id, EscapedId: escaped, Backend: `${escaped}-cluster`, AclName: `${escaped}-aclrule`, Acl: hasRule ? rule!.acl.trim() : `path_beg -i ${app.id}`, HasRule: hasRule, LabelRouting: policy.labelRouting !== false };
  const extra = own.LabelRouting ? portRoutes(own, ports) : [];
  const routes = extra.length ? Object.freeze(extra) : NO_ROUTES;
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
    // Untrusted raw labels keep no newline for a custom template that prints them (`Labels`, as marathon-lb's did).
    Labels: trusted ? app.labels : withoutRawNewlines(app.labels),
    Tasks: serving,
    AllTasks: all,
    Backend: own.Backend,
    AclName: own.AclName,
    Acl: own.Acl,
    HasRule: hasRule,
    Ports: ports,
    NotServed: ports[0].NotServed,
    Route: routeOf(own, ports[0]),
    PortRoutes: routes,
    Backends: backendsOf(app, ports, listeners, routes, serving, all, escaped, trusted, rule, policy.labelRouting !== false),
    Listeners: listeners,
    Template: chosen.name,
    LabelConfig: labelConfigNote(raw, trusted, ports.length),
  };
}

// ---- raw HAProxy labels (raw-labels.ts) and the template override (backend-template.ts) ----

const NO_LINES: readonly string[] = Object.freeze([]);
const frozenLines = (lines: string[]): readonly string[] => (lines.length ? Object.freeze(lines) : NO_LINES);

/** The ports with those whose raw labels are refused (or, port 0, a refused template name) left out. */
function refusedPorts(ports: readonly PortView[], raw: ReadonlyMap<number, RawPort> | undefined, templateProblem: string): readonly PortView[] {
  const refusal = (p: PortView): string => [p.Index === 0 ? templateProblem : '', raw?.get(p.Index)?.problem ?? ''].filter(Boolean).join('; ');
  if (!ports.some((p) => refusal(p))) return ports;
  return Object.freeze(ports.map((p) => {
    const why = refusal(p);
    return why ? Object.freeze({ ...p, NotServed: [p.NotServed, why].filter(Boolean).join('; ') }) : p;
  }));
}

/** A backend's raw lines: port `index`'s `BACKEND_HEAD` and (HTTP) `BACKEND_HTTP_OPTIONS`, on that port's own backend only. */
function rawBackend(raw: ReadonlyMap<number, RawPort> | undefined, ports: readonly PortView[], name: string, mode: PortView['Mode'], index: number, balance: string): Pick<BackendView, 'RawHead' | 'RawHttpOptions'> {
  const values = raw?.get(index)?.values;
  if (!values || ports[index]?.Backend !== name) return { RawHead: NO_LINES, RawHttpOptions: null };
  const head = values.BACKEND_HEAD === undefined ? [] : rawLines('BACKEND_HEAD', values.BACKEND_HEAD, { backend: name, balance, mode }, [`balance ${balance}`, `mode ${mode}`]);
  const options = mode === 'http' && values.BACKEND_HTTP_OPTIONS !== undefined ? frozenLines(rawLines('BACKEND_HTTP_OPTIONS', values.BACKEND_HTTP_OPTIONS, {})) : null;
  return { RawHead: frozenLines(head), RawHttpOptions: options };
}

/**
 * marathon-lb's `BACKEND_HSTS_OPTIONS` default in HAProxy 2.6's words (its `rspadd` is gone): the header on
 * every answer of the backend, as marathon-lb writes it.
 */
const HSTS_LINE = '    http-response set-header Strict-Transport-Security max-age=15768000';
const HSTS_LINES: readonly string[] = Object.freeze([HSTS_LINE]);

/** A backend's HSTS lines (`HAPROXY_{n}_USE_HSTS`, HTTP only): the trusted `BACKEND_HSTS_OPTIONS`, else marathon-lb's default line. */
function hstsLines(raw: ReadonlyMap<number, RawPort> | undefined, ports: readonly PortView[], name: string, mode: PortView['Mode'], index: number): readonly string[] {
  if (mode !== 'http' || !ports[index]?.Hsts || ports[index].Backend !== name) return NO_LINES;
  const options = raw?.get(index)?.values.BACKEND_HSTS_OPTIONS;
  return options === undefined ? HSTS_LINES : frozenLines(rawLines('BACKEND_HSTS_OPTIONS', options, {}));
}

/**
 * Each service-port frontend with its port's `BIND_OPTIONS` words, `FRONTEND_HEAD` and `FRONTEND_BACKEND_GLUE`
 * lines (not `BAMBOO_TCP_PORT`'s).
 */
function rawListeners(listeners: ListenerView[], raw: ReadonlyMap<number, RawPort> | undefined): ListenerView[] {
  if (!raw) return listeners;
  return listeners.map((l) => {
    const values = raw.get(l.Index)?.values;
    if (!values || l.Bamboo || (values.FRONTEND_HEAD === undefined && values.FRONTEND_BACKEND_GLUE === undefined && values.BIND_OPTIONS === undefined)) return l;
    const BindOptions = bindOptionWords(values.BIND_OPTIONS);
    const bind = { Bind: l.Bind, SslCert: l.SslCert, BindOptions };
    const BindLine = bindLineOf(bind);
    const fill = { backend: l.Backend, bindAddr: l.Address, servicePort: l.Port, mode: l.Mode, sslCert: l.SslCert ? ` ssl crt ${l.SslCert}` : '', bindOptions: BindOptions ? ` ${BindOptions}` : '' };
    const head = values.FRONTEND_HEAD === undefined ? [] : rawLines('FRONTEND_HEAD', values.FRONTEND_HEAD, fill, [`bind ${BindLine}`, `mode ${l.Mode}`]);
    const glue = values.FRONTEND_BACKEND_GLUE === undefined ? null : frozenLines(rawLines('FRONTEND_BACKEND_GLUE', values.FRONTEND_BACKEND_GLUE, fill));
    return Object.freeze({ ...l, BindOptions, BindLine, RawHead: frozenLines(head), RawGlue: glue });
  });
}

/** What to tell about the app's raw labels; a refusal only for ports the app has (a label for port 5 of a one-port app is moot). */
function labelConfigNote(raw: ReadonlyMap<number, RawPort> | undefined, trusted: ReadonlyMap<number, RawPort> | undefined, portCount: number): LabelConfigNote | null {
  if (!raw) return null;
  if (!trusted) return Object.freeze({ refused: false, note: [...raw.values()].flatMap((p) => p.labels).join(', ') });
  const why = [...trusted].filter(([index]) => index < portCount).map(([, p]) => p.problem).filter(Boolean).join('; ');
  return why ? Object.freeze({ refused: true, note: why }) : null;
}

/** The HTTP-routed apps in `use_backend` order (a TCP port 0 has no HTTP route). */
export function orderFrontends(apps: readonly AppView[]): AppView[] {
  const keyed = apps.filter((app) => routed(app.Route)).map((app) => ({ app, rank: routeRank(app.Route) }));
  keyed.sort((a, b) => a.rank[0] - b.rank[0] || b.rank[1] - a.rank[1] || byViewId(a.app, b.app));
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
  routes0: readonly RouteView[];
  /** Each app's `PortRoutes`, in `Apps` order. */
  portRoutes: readonly (readonly RouteView[])[];
  /** `Frontends` as positions in `Apps`. */
  frontends: readonly number[];
  routes: readonly RouteView[];
} = { ids: [], routes0: [], portRoutes: [], frontends: [], routes: Object.freeze([]) };

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
  const policy = haproxy.ServeGroups ?? SERVE_ALL;
  const notServed: Record<string, string> = {};
  const notes: Record<string, LabelConfigNote> = {};
  const apps: AppView[] = [];
  for (const app of sortedApps(state, options.excludedApps)) {
    const view = appView(app, options.ignoredRules?.has(app.id) ? undefined : rules.get(app.id), now, policy);
    if (view.LabelConfig) notes[view.Id] = view.LabelConfig;
    if (view.NotServed && view.Id !== options.checkedApp) notServed[view.Id] = view.NotServed;
    else apps.push(view);
  }
  const services: Record<string, ServiceView> = {};
  for (const rule of rules.values()) {
    if (!options.ignoredRules?.has(rule.id)) services[rule.id] = serviceView(rule);
  }
  const sameRouting = apps.length === last.ids.length && apps.every((a, i) => a.Id === last.ids[i] && (a.Route === last.routes0[i] || sameRoute(a.Route, last.routes0[i])) && sameRoutes(a.PortRoutes, last.portRoutes[i]));
  if (!sameRouting) {
    const position = new Map(apps.map((a, i) => [a, i]));
    const frontends = orderFrontends(apps);
    last = {
      ids: apps.map((a) => a.Id),
      routes0: apps.map((a) => a.Route),
      portRoutes: apps.map((a) => a.PortRoutes),
      frontends: frontends.map((f) => position.get(f)!),
      routes: routesOf(frontends, apps, last.routes),
    };
  }
  const frontends = last.frontends.map((i) => apps[i]);
  const split = splitRoutes(last.routes, haproxy.OutputPath);
  const certCheck = options.certCheck ?? TRUST_CERTS;
  const { tls, problems } = tlsOf(apps, { bind: haproxy.HttpsBind ?? '*:443', certs: haproxy.SslCerts ?? [] }, haproxy.OutputPath, certCheck, options.refusedCerts);
  // Certificates first: a frontend left out for its file must not claim its port from another app's.
  const served = servedListeners(appListeners(apps), certCheck, haproxy.SslCerts ?? [], options.refusedCerts);
  const bound = boundListeners(served.listeners, haproxy.HttpBind, tls?.Bind ?? '');
  return {
    Apps: apps, Frontends: frontends, Routes: last.routes, AclRoutes: split.acl,
    ...(split.map ? { RouteMap: split.map } : {}),
    Services: services, HAProxy: haproxy, NotServed: notServed,
    Listeners: bound.listeners, PortClashes: bound.clashes,
    ...(tls ? { Tls: tls } : {}), CertProblems: served.problems.length ? [...problems, ...served.problems] : problems,
    LabelConfigNotes: notes,
  };
}

/** The apps' listeners in app order, the same array while every app's are the same (task changes); certificates are judged on these, before clashes. */
let lastListed: { lists: readonly (readonly ListenerView[])[]; all: readonly ListenerView[] } = { lists: [], all: [] };

function appListeners(apps: readonly AppView[]): readonly ListenerView[] {
  const lists: (readonly ListenerView[])[] = [];
  for (const a of apps) if (a.Listeners.length) lists.push(a.Listeners);
  if (lists.length === lastListed.lists.length && lists.every((l, i) => l === lastListed.lists[i] || sameListeners(l, lastListed.lists[i]))) return lastListed.all;
  lastListed = { lists, all: Object.freeze(lists.flat()) };
  return lastListed.all;
}

/** The last listeners settled, reused while the served listeners are the same array and the binds the same. */
let lastBound: { binds: string; served: readonly ListenerView[]; result: ReturnType<typeof resolveClashes> } = {
  binds: '', served: [], result: resolveClashes([], []),
};

/** The served listeners (certificates judged) that can all be bound, in app order (service-ports.ts). */
function boundListeners(served: readonly ListenerView[], httpBind: string, httpsBind: string): ReturnType<typeof resolveClashes> {
  const binds = `${httpBind}\0${httpsBind}`;
  if (binds === lastBound.binds && served === lastBound.served) return lastBound.result;
  lastBound = { binds, served, result: resolveClashes([served], boundAddresses(httpBind), boundAddresses(httpsBind)) };
  return lastBound.result;
}

/** The last listeners with their certificates judged, reused while the listeners and their files are the same. */
let lastServed: { bound: readonly ListenerView[]; files: string; result: ReturnType<typeof listenerCerts> } = {
  bound: [], files: '', result: { listeners: [], problems: [] },
};

/** The settled listeners whose certificate, if they name one, is usable (tls.ts); the same array while nothing changed. */
function servedListeners(bound: readonly ListenerView[], check: CertCheck, operatorCerts: readonly string[], refused: ReadonlyMap<string, string> | undefined): ReturnType<typeof listenerCerts> {
  const result = listenerCerts(bound, check, operatorCerts, refused);
  if (result.listeners === bound) return result;
  const files = [...result.listeners.map((l) => `${l.Name} ${l.CertStamp}`), ...result.problems.map((p) => `${p.Frontend} ${p.Reason}`)].join('\n');
  if (bound === lastServed.bound && files === lastServed.files) return lastServed.result;
  lastServed = { bound, files, result };
  return result;
}

const sameLines = (a: readonly string[] | null, b: readonly string[] | null): boolean =>
  a === b || (a !== null && b !== null && a.length === b.length && a.every((line, i) => line === b[i]));

const sameListeners = (a: readonly ListenerView[], b: readonly ListenerView[]): boolean =>
  a.length === b.length && a.every((l, i) => l.Name === b[i].Name && l.BindLine === b[i].BindLine && l.Mode === b[i].Mode && l.Backend === b[i].Backend
    && sameLines(l.RawHead, b[i].RawHead) && sameLines(l.RawGlue, b[i].RawGlue));

/** Why this edge leaves some of an app's service ports out for a clash ('' for none), as the last view settled it. */
export function portClashOf(appId: string): string {
  return lastBound.result.clashes[appId] ?? '';
}

/** The routes for these frontends, and the apps' port n routes in their place; `previous` itself when nothing in it changed. */
function routesOf(frontends: readonly AppView[], apps: readonly AppView[], previous: readonly RouteView[]): readonly RouteView[] {
  let routes: RouteView[] = frontends.map((f) => f.Route);
  const extra = apps.flatMap((a) => a.PortRoutes);
  if (extra.length) routes = [...routes, ...extra].sort(compareRoutes);
  return sameRoutes(routes, previous) ? previous : Object.freeze(routes);
}
