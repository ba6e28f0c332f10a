/** Builders for the pure core's tests: `app('/web', tasks(task(31001)), healthy())`-style. */
import type { App, ClusterState, HealthCheck, ReadinessCheck, Task } from '../../src/core/model.js';
import { emptyState } from '../../src/core/model.js';
import { applySnapshot } from '../../src/core/state.js';

type AppPart = (a: App) => void;

let seq = 0;

export function task(port: number, over: Partial<Task> = {}): Task {
  seq++;
  return {
    id: over.id ?? `t${port}.${seq}`,
    appId: over.appId ?? '',
    host: '127.0.0.1',
    ports: [port],
    ipAddresses: ['127.0.0.1'],
    state: 'TASK_RUNNING',
    healthy: null,
    ...over,
  };
}

export const tasks = (...list: Task[]): AppPart => (a) => {
  for (const t of list) a.tasks[t.id] = { ...t, appId: a.id };
};

export const healthChecks = (...checks: HealthCheck[]): AppPart => (a) => {
  a.healthChecks = checks.length ? checks : [{ protocol: 'HTTP', path: '/health' }];
};

export const network = (mode: App['network'], containerPorts: number[] = []): AppPart => (a) => {
  a.network = mode;
  a.containerPorts = containerPorts;
};

/** Marathon labels (marathon-lb's `HAPROXY_*` among them). */
export const labels = (l: Record<string, string>): AppPart => (a) => {
  a.labels = { ...a.labels, ...l };
};

export const version = (v: string): AppPart => (a) => {
  a.version = v;
};

/** A readiness check with Marathon's defaults, `over` on top. */
export const readinessCheck = (over: Partial<ReadinessCheck> = {}): AppPart => (a) => {
  a.readinessCheck = {
    name: 'readinessCheck', protocol: 'HTTP', path: '/ready', portName: 'http', intervalSeconds: 30, timeoutSeconds: 10,
    httpStatusCodesForReady: [200], ...over,
  };
};

/** A deployment of the app in progress. */
export const deploying = (id = 'd1'): AppPart => (a) => {
  a.deployments = [id];
};

/** Marathon's readiness results, by task id. */
export const readinessResults = (results: Record<string, boolean>): AppPart => (a) => {
  a.readinessResults = results;
};

export function app(id: string, ...parts: AppPart[]): App {
  const a: App = {
    id, labels: {}, env: {}, instances: 1, healthChecks: [], servicePorts: [10000], containerPorts: [],
    network: 'host', deployments: [], tasks: {},
  };
  for (const p of parts) p(a);
  return a;
}

export function stateOf(...apps: App[]): ClusterState {
  return applySnapshot(emptyState(), apps, Date.now());
}
