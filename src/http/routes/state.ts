/**
 * `GET /api/state`: Bamboo's template data as JSON, `{"Apps":[…],"Services":{…}}`, field for field, so scripts
 * written against Bamboo keep working. Built from culm's view; culm-only fields (Backend, Serving…) stay out, but for `NotServed` (why this edge leaves an app out).
 */
import type { App, ClusterState, Rule } from '../../core/model.js';
import { ruleToBamboo } from '../../core/rules.js';
import { appView, portClashOf, type BambooTask, type GroupPolicy } from '../../core/view.js';
import type { CulmCore } from '../../pipeline/types.js';
import { sendJson } from '../io.js';
import type { Route } from '../router.js';
import { byId, byViewId } from '../../core/compare.js';

export type { BambooTask };

export interface BambooApp {
  Id: string;
  MesosDnsId: string;
  EscapedId: string;
  HealthCheckPath: string;
  HealthCheckProtocol: string;
  HealthChecks: Array<{ Protocol: string; Path: string; PortIndex: number }>;
  ReadinessCheckPath: string;
  Tasks: BambooTask[];
  ServicePort: number;
  ServicePorts: number[];
  Env: Record<string, string>;
  Labels: Record<string, string>;
  SplitId: string[];
  ipAddress: { discovery: { ports: Array<{ number: number; name: string; protocol: string }> } };
  /** culm's: why this edge leaves the app, or one of its service ports, out of its config ('' when all is served): a bad label, `HAProxy.Group`, a port clash. */
  NotServed: string;
}

export interface BambooState {
  Apps: BambooApp[];
  Services: Record<string, { Id: string; Acl: string; Config: Record<string, string> }>;
}

/** Keys in the order Bamboo's Go struct marshals them. */
export function bambooApp(app: App, rule: Rule | undefined, now: number, policy?: GroupPolicy): BambooApp {
  const view = appView(app, rule, now, policy);
  // Bamboo listed every task it could address (whatever its health), ordered by task id.
  const tasks = view.AllTasks
    .filter((t) => t.Host !== '' && t.Port !== 0)
    .sort(byViewId)
    .map((t) => ({ Id: t.Id, Host: t.Host, Port: t.Port, Ports: t.Ports, Alive: t.Alive, State: t.State, Ready: t.Ready }));
  return {
    Id: view.Id,
    MesosDnsId: view.MesosDnsId,
    EscapedId: view.EscapedId,
    HealthCheckPath: view.HealthCheckPath,
    HealthCheckProtocol: view.HealthCheckProtocol,
    HealthChecks: view.HealthChecks,
    ReadinessCheckPath: view.ReadinessCheckPath,
    Tasks: tasks,
    ServicePort: view.ServicePort,
    ServicePorts: view.ServicePorts,
    Env: view.Env,
    Labels: view.Labels,
    SplitId: view.SplitId,
    ipAddress: {
      discovery: {
        ports: app.network === 'container' ? app.containerPorts.map((number) => ({ number, name: '', protocol: 'tcp' })) : [],
      },
    },
    // A service port another app holds (view.ts settles clashes across apps, in the last render).
    NotServed: [view.NotServed, portClashOf(view.Id)].filter(Boolean).join('; '),
  };
}

/** `now` (ms since epoch): readiness depends on the time (core/readiness.ts). */
export function bambooState(state: ClusterState, rules: ReadonlyMap<string, Rule>, now: number, policy?: GroupPolicy): BambooState {
  const apps = [...state.apps.values()]
    .sort(byId)
    .map((app) => bambooApp(app, rules.get(app.id), now, policy));
  const services: BambooState['Services'] = {};
  for (const rule of rules.values()) services[rule.id] = ruleToBamboo(rule);
  return { Apps: apps, Services: services };
}

export function stateRoutes(core: CulmCore): Route[] {
  return [{
    name: '/api/state',
    path: '/api/state',
    handlers: { GET: ({ res }) => sendJson(res, 200, bambooState(core.state(), core.rules(), Date.now(), core.servePolicy?.())) },
  }];
}
