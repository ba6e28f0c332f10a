// Readiness checks as Marathon runs them (FACTS.md, "Readiness checks"): an app has at most one; Marathon
// probes only the tasks a deployment starts, once they run; a deployment step ends when every new task is
// ready; `readinessCheckResults` (embed=apps.readiness / app.readiness) has entries only while a deployment
// of the app runs. The emulator does not probe: a test says when a task is ready (`setTaskReady`).
import { randomUUID } from 'node:crypto';
import type { App, Task } from './model.js';
import { now } from './model.js';

export interface ReadinessCheckSpec {
  name?: string;
  protocol?: 'HTTP' | 'HTTPS';
  path?: string;
  /** Must name one of the app's ports: the emulator gives its first port this name. */
  portName?: string;
  intervalSeconds?: number;
  timeoutSeconds?: number;
  httpStatusCodesForReady?: number[];
}

/** A deployment in progress: the tasks it started, and their readiness as Marathon last probed it. */
export interface Deployment {
  id: string;
  version: string;
  affectedApps: string[];
  /** Task id → ready, for every task started while the deployment runs (false until a test says otherwise). */
  newTasks: Map<string, boolean>;
  /** deployment_step_success and deployment_success, published when it ends. */
  endEvents: Array<Record<string, unknown>>;
}

/** The check with Marathon's defaults filled in, as the API writes it. */
export function readinessCheckJson(spec: ReadinessCheckSpec): Record<string, unknown> {
  return {
    name: spec.name ?? 'readinessCheck',
    protocol: spec.protocol ?? 'HTTP',
    path: spec.path ?? '/',
    portName: spec.portName ?? 'http-api',
    intervalSeconds: spec.intervalSeconds ?? 30,
    timeoutSeconds: spec.timeoutSeconds ?? 10,
    httpStatusCodesForReady: spec.httpStatusCodesForReady ?? [200],
    preserveLastResponse: false,
  };
}

/** `readinessChecks` of the app definition: [] without a check. */
export const readinessChecks = (app: App): Array<Record<string, unknown>> =>
  app.spec.readinessCheck ? [readinessCheckJson(app.spec.readinessCheck)] : [];

/** The name of the app's first port when it has a readiness check (its portName must exist). */
export const firstPortName = (app: App): { name?: string } =>
  app.spec.readinessCheck ? { name: app.spec.readinessCheck.portName ?? 'http-api' } : {};

/** `events`: the deployment's events (deploymentEvents), deployment_info first. */
export function newDeployment(appId: string, events: Array<Record<string, unknown>>): Deployment {
  const plan = events[0]?.plan as { id?: string; version?: string } | undefined;
  return { id: plan?.id ?? randomUUID(), version: plan?.version ?? now(), affectedApps: [appId], newTasks: new Map(), endEvents: events.slice(1) };
}

/**
 * `readinessCheckResults`: one entry per running task the deployment started, only while it runs and only
 * for an app with a check (Marathon keeps no results afterwards).
 */
export function readinessResults(app: App, tasks: Task[]): Array<Record<string, unknown>> {
  const d = app.deployment;
  if (!d || !app.spec.readinessCheck) return [];
  const name = app.spec.readinessCheck.name ?? 'readinessCheck';
  return tasks.filter((t) => t.state === 'TASK_RUNNING' && d.newTasks.has(t.id)).map((t) => {
    const ready = d.newTasks.get(t.id)!;
    return {
      name, taskId: t.id, ready,
      lastResponse: { status: ready ? 200 : 503, contentType: 'text/plain', body: ready ? 'ready' : 'not ready' },
    };
  });
}

/** GET /v2/deployments: the deployments in progress. */
export function deploymentsJson(apps: Iterable<App>): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const app of apps) {
    const d = app.deployment;
    if (!d) continue;
    const actions = [{ action: 'RestartApplication', app: app.id }];
    out.push({ id: d.id, version: d.version, affectedApps: d.affectedApps, steps: [{ actions }], currentActions: actions, currentStep: 1, totalSteps: 1 });
  }
  return out;
}
