/**
 * One app as the console's detail and `GET /api/apps/{id}` show it: its routes and where each comes from
 * (REST rule, labels, default), its tasks with Marathon's view (state, health, readiness) beside HAProxy's
 * (each server's live status and sessions, asked through the delivery owner), and its backends' lines cut
 * from the applied config. Read only: nothing here renders or reloads.
 */
import { CulmError, errorMessage } from '../core/errors.js';
import { ruleToBamboo } from '../core/rules.js';
import { appView, type RouteSource, type RouteView } from '../core/view.js';
import { backendSection } from '../haproxy/config-section.js';
import type { BambooRule, CulmCore, ServerStat } from '../pipeline/types.js';

export interface RouteDetail {
  /** The service port index the route is for (0: the app's main port). */
  port: number;
  source: RouteSource;
  backend: string;
  /** The ACL names after `if` (all must match). */
  condition: string;
  acls: Array<{ name: string; acl: string }>;
}

/** HAProxy's view of one server (see haproxy/server-stats.ts). */
export type ServerDetail = Omit<ServerStat, 'backend'>;

export interface TaskDetail {
  id: string;
  host: string;
  port: number;
  state: string;
  /** Marathon's health result: null when none was seen yet, or the app has no health checks (`checked` false). */
  healthy: boolean | null;
  checked: boolean;
  ready: boolean;
  /** Whether culm makes it a server (running, healthy when checked, ready). */
  serving: boolean;
  /** Its server name in the app's main backend. */
  server: string;
  /** HAProxy's live view of that server; null when HAProxy has no such server (or could not be asked). */
  haproxy: ServerDetail | null;
}

export interface BackendDetail {
  name: string;
  /** Every server HAProxy has in it now (also servers no task names any more: lingering, draining). */
  servers: ServerDetail[];
  /** The backend's lines in the config applied now; empty when it is not there (app left out, nothing applied). */
  config: string[];
}

export interface AppDetail {
  id: string;
  /** Why this edge leaves the app out of its config ('' when it is in): a bad label, `HAProxy.Group`. */
  notServed: string;
  /** HAProxy refused a config with this app: culm leaves it out until its definition changes. */
  leftOut: boolean;
  rule: BambooRule | null;
  /** HAProxy refused the stored rule: the app routes by its default until the rule changes. */
  ruleLeftOut: boolean;
  routes: RouteDetail[];
  tasks: TaskDetail[];
  backends: BackendDetail[];
  /** Whether HAProxy's live view could be read (`detail` says why not). */
  haproxy: { ok: boolean; detail: string };
}

const routeDetail = (route: RouteView, port: number): RouteDetail => ({
  port, source: route.Source, backend: route.Backend, condition: route.Condition,
  acls: route.Acls.map((a) => ({ name: a.Name, acl: a.Acl })),
});

/** Throws E_APP_NOT_FOUND (404) when Marathon runs no such app. */
export async function appDetail(core: CulmCore, id: string, now = Date.now()): Promise<AppDetail> {
  const app = core.state().apps.get(id);
  if (!app) throw new CulmError('E_APP_NOT_FOUND', `no app ${id} (Marathon runs none)`, { status: 404 });
  const rule = core.rules().get(id);
  const left = core.leftOut?.();
  const ruleLeftOut = !!rule && !!left?.rules.has(id);
  // As the config has it: a rule HAProxy refused is not in it, the app routes by its default.
  const view = appView(app, ruleLeftOut ? undefined : rule, now, core.servePolicy?.());
  const names = view.Backends.map((b) => b.Name);
  let stats: ServerStat[] = [];
  let haproxy = { ok: true, detail: '' };
  if (!core.serverStats) haproxy = { ok: false, detail: 'this culm has no HAProxy to ask' };
  else {
    try {
      stats = await core.serverStats(names);
    } catch (err) {
      haproxy = { ok: false, detail: errorMessage(err) };
    }
  }
  const server = (backend: string, name: string): ServerDetail | null => {
    const s = stats.find((x) => x.backend === backend && x.server === name);
    return s ? withoutBackend(s) : null;
  };
  const config = core.appliedConfig() ?? '';
  const checked = app.healthChecks.length > 0;
  return {
    id,
    notServed: view.NotServed,
    leftOut: !!left?.apps.has(id),
    rule: rule ? ruleToBamboo(rule) : null,
    ruleLeftOut,
    routes: [routeDetail(view.Route, 0), ...view.PortRoutes.map((r) => routeDetail(r, view.Ports.findIndex((p) => p.Backend === r.Backend)))],
    tasks: view.AllTasks.map((t) => ({
      id: t.Id, host: t.Host, port: t.Port, state: t.State,
      healthy: checked ? app.tasks[t.Id]?.healthy ?? null : null, checked,
      ready: t.Ready, serving: t.Serving, server: t.Server,
      haproxy: server(view.Backend, t.Server),
    })),
    backends: names.map((name) => ({
      name,
      servers: stats.filter((s) => s.backend === name).map(withoutBackend),
      config: config ? backendSection(config, name) : [],
    })),
    haproxy,
  };
}

function withoutBackend(s: ServerStat): ServerDetail {
  const { backend: _backend, ...rest } = s;
  return rest;
}
