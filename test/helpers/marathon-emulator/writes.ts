// The write routes of Marathon 1.10's REST API that a person (or the demo) uses to change apps and tasks, as
// AppsResource, AppTasksResource and TasksResource answer them (bodies and statuses from their source and
// apps.raml/tasks.raml; errors as MarathonExceptionMapper writes them). The change itself runs at once through
// scheduler.ts, with the events Marathon sends for it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { DeploymentRef, MarathonEmulator } from '../marathon-emulator.js';
import { appSpecFrom, type Refusal } from './app-json.js';
import { notAllowed, sendJson } from './http.js';
import { type App, type Task, instanceIdOf, normalizeAppId, renderApp, renderTask } from './model.js';
import { createApp, killTasks, restartApp, updateApp } from './scheduler.js';

type Headers = Record<string, string>;
const MAX_BODY = 1024 * 1024;

/** AppLockedException: the app has a deployment in progress and the request did not say `force=true`. */
const LOCKED_MESSAGE =
  "App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/<DEPLOYMENT_ID>'.";

const flag = (u: URL, name: string, dflt: boolean): boolean => {
  const v = u.searchParams.get(name);
  return v === null ? dflt : v === 'true';
};

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      text += c;
      if (text.length > MAX_BODY) req.destroy(new Error('request body too large'));
    });
    req.on('end', () => resolve(text));
    req.on('error', reject);
  });
}

/** Jackson's JsonParseException: 400 {"message":"Invalid JSON","details": <the parser's message>}. */
function parse(text: string): { ok: true; value: unknown } | { ok: false; refusal: Refusal } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, refusal: { status: 400, body: { message: 'Invalid JSON', details: (err as Error).message } } };
  }
}

class Answer {
  constructor(private readonly emu: MarathonEmulator, private readonly res: ServerResponse, private readonly h: Headers) {}

  json(status: number, body: unknown, extra: Headers = {}): void {
    sendJson(this.res, status, body, { ...this.h, ...extra });
  }

  refuse(r: Refusal): void {
    this.json(r.status, r.body);
  }

  unknownApp(id: string): void {
    this.json(404, { message: `App '${normalizeAppId(id)}' does not exist` });
  }

  /** RestResource.deploymentResult: {version, deploymentId} and the Marathon-Deployment-Id header. */
  deployment(d: DeploymentRef, status = 200, extra: Headers = {}): void {
    this.json(status, { version: d.version, deploymentId: d.id }, { 'Marathon-Deployment-Id': d.id, ...extra });
  }

  /** False (and a 409 sent) when the app is locked; with `force` the deployment in progress is cancelled. */
  unlocked(app: App, force: boolean): boolean {
    if (!app.deployment) return true;
    if (force) {
      this.emu.finishDeployment(app.id, 'failed');
      return true;
    }
    this.json(409, { message: LOCKED_MESSAGE, deployments: [{ id: app.deployment.id }] });
    return false;
  }
}

/** The task an id names in an app: the task itself, or (Task.Id.parse) any task of the same instance. */
function findTask(emu: MarathonEmulator, appId: string, taskId: string): Task | undefined {
  let instance: string;
  try {
    instance = instanceIdOf(taskId);
  } catch {
    return undefined; // not a task id: Marathon finds nothing (MatchError)
  }
  return emu.tasksOf(appId).find((t) => t.id === taskId || t.instanceId === instance);
}

/** Handles a non-GET request; answers 405 for a path or method Marathon has no write route for. */
export async function writeRoute(emu: MarathonEmulator, req: IncomingMessage, res: ServerResponse, u: URL, path: string, h: Headers): Promise<void> {
  const method = req.method ?? 'GET';
  const answer = new Answer(emu, res, h);
  const body = ['POST', 'PUT'].includes(method) ? await readBody(req) : '';
  const force = flag(u, 'force', false);
  const scale = flag(u, 'scale', false);
  const scaleAndWipe = (): void => answer.json(400, { message: 'You cannot use scale and wipe at the same time.' });

  if (method === 'POST' && path === '/v2/apps') {
    const json = parse(body);
    if (!json.ok) return answer.refuse(json.refusal);
    const spec = appSpecFrom(json.value);
    if (!spec.ok) return answer.refuse(spec.refusal);
    if (emu.apps.has(spec.value.id)) return answer.json(409, { message: `An app with id [${spec.value.id}] already exists.` });
    const { app, deployment } = createApp(emu, spec.value, u.pathname);
    const info = { ...renderApp(emu.version, app, [], new Set()), deployments: [{ id: deployment.id }] };
    return answer.json(201, info, { Location: `${emu.url}${app.id}`, 'Marathon-Deployment-Id': deployment.id });
  }

  if (method === 'POST' && path === '/v2/tasks/delete') {
    if (scale && flag(u, 'wipe', false)) return scaleAndWipe();
    const json = parse(body);
    if (!json.ok) return answer.refuse(json.refusal);
    const ids = (json.value as { ids?: unknown } | null)?.ids;
    if (!Array.isArray(ids) || !ids.every((i) => typeof i === 'string')) {
      return answer.refuse({ status: 422, body: { message: 'Invalid JSON', details: [{ path: '/ids', errors: ['error.expected.jsarray'] }] } });
    }
    const tasks = new Set<Task>();
    for (const id of ids as string[]) {
      let instance: string;
      try {
        instance = instanceIdOf(id);
      } catch {
        return answer.json(400, { message: `Invalid task id '${id}'. [${id} (of class java.lang.String)]` });
      }
      // Ids of tasks Marathon does not know are left out, silently.
      for (const t of emu.tasks.values()) if (t.id === id || t.instanceId === instance) tasks.add(t);
    }
    return killAnswer(emu, answer, [...tasks], scale, force, (killed) => answer.json(200, { tasks: killed }));
  }

  // /v2/apps/{app id, slashes and all}[/restart | /tasks[/{task id}]]
  const m = /^\/v2\/apps(\/.+?)(?:\/(restart)|\/(tasks)(?:\/([^/]+))?)?$/.exec(path);
  if (!m || !['PUT', 'DELETE', 'POST'].includes(method)) return notAllowed(res, h);
  const appId = normalizeAppId(m[1]);
  const app = emu.apps.get(appId);

  if (m[2] === 'restart') {
    if (method !== 'POST') return notAllowed(res, h);
    if (!app) return answer.unknownApp(appId);
    if (!answer.unlocked(app, force)) return;
    return answer.deployment(restartApp(emu, appId));
  }

  if (m[3] === 'tasks') {
    if (method !== 'DELETE') return notAllowed(res, h);
    if (scale && flag(u, 'wipe', false)) return scaleAndWipe();
    if (!app) return answer.unknownApp(appId);
    if (m[4] !== undefined) {
      const taskId = decodeURIComponent(m[4]);
      const task = findTask(emu, appId, taskId);
      if (!task) return answer.json(404, { message: `Task '${taskId}' does not exist` });
      return killAnswer(emu, answer, [task], scale, force, (killed) => answer.json(200, { task: killed[0] }));
    }
    const host = u.searchParams.get('host');
    // AppTasksResource.deleteMany: `hostname.contains(host)` on an Option, an exact match.
    const tasks = emu.tasksOf(appId).filter((t) => host === null || host === '*' || t.host === host);
    return killAnswer(emu, answer, tasks, scale, force, (killed) => answer.json(200, { tasks: killed }));
  }

  if (method === 'DELETE') {
    if (!app) return answer.unknownApp(appId);
    // AppsResource.delete: force defaults to true (a deployment in progress is cancelled).
    if (!answer.unlocked(app, flag(u, 'force', true))) return;
    return answer.deployment(emu.removeApp(appId));
  }

  if (method === 'PUT') {
    const json = parse(body);
    if (!json.ok) return answer.refuse(json.refusal);
    const partial = flag(u, 'partialUpdate', true);
    const spec = appSpecFrom(json.value, { pathId: appId, ...(app && partial ? { existing: app.spec } : {}) });
    if (!spec.ok) return answer.refuse(spec.refusal);
    if (!app) return answer.deployment(createApp(emu, spec.value, u.pathname).deployment, 201, { Location: `${emu.url}${appId}` });
    if (!answer.unlocked(app, force)) return;
    // partialUpdate=false replaces the whole definition: a missing `instances` is Marathon's default, 1.
    const next = partial ? spec.value : { ...spec.value, instances: spec.value.instances ?? 1 };
    return answer.deployment(updateApp(emu, next, u.pathname));
  }
  return notAllowed(res, h);
}

/**
 * Kills `tasks` and answers: without `scale`, the tasks as they were (a TaskList or TaskSingle, by `send`);
 * with `scale`, the deployment (locked apps refused unless `force`).
 */
function killAnswer(
  emu: MarathonEmulator, answer: Answer, tasks: Task[], scale: boolean, force: boolean, send: (killed: unknown[]) => void,
): void {
  if (scale) {
    for (const appId of new Set(tasks.map((t) => t.appId))) if (!answer.unlocked(emu.app(appId), force)) return;
  }
  const rendered = tasks.map((t) => renderTask(emu.version, emu.app(t.appId), t, false));
  const deployment = killTasks(emu, tasks, scale);
  if (scale && deployment) return answer.deployment(deployment);
  send(rendered);
}
