// In-process stand-in for Marathon (1.4, 1.5, 1.10 API generations) for culm's tests: REST (/v2/apps, /v2/tasks,
// /v2/info, /v2/leader) and the write routes a person uses to change apps and tasks (POST/PUT/DELETE /v2/apps…,
// POST /v2/tasks/delete: writes.ts), the /v2/events SSE stream, 1.4 http_callback subscriptions, leader redirect/proxying,
// basic auth and fault injection. Behaviour follows /work/shared/reference/marathon/FACTS.md.
//
// Non-leader mode (leaderUrl set): '1.10' answers GET /v2/events with a 302 to the leader (1.7+ behaviour);
// '1.4'/'1.5' proxy it like every other request (LeaderProxyFilter, <= 1.6). All other paths are proxied on
// every version, adding X-Marathon-Via. Auth and faults apply before either.
//
// Usage: `const m = await MarathonEmulator.start({ version: '1.4' }); m.addApp({ id: '/web' });
// m.addTask('/web', { port: 31001, healthy: true }); ... await m.stop();` (default version: '1.10').
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import { CallbackSubscribers, type Delivery } from './marathon-emulator/callbacks.js';
import * as ev from './marathon-emulator/events.js';
import { newDeployment } from './marathon-emulator/readiness.js';
import {
  NO_CACHE, Faults, applyFault, authorized, proxyToLeader, sendJettyError, sendJson, type Fault,
} from './marathon-emulator/http.js';
import {
  TERMINAL_STATES, type App, type AppSpec, type MarathonVersion, type Task, type TaskIdFormat, type TaskSpec,
  appDefinition, healthResult, instanceIdOf, newTaskId, normalizeAppId, now,
} from './marathon-emulator/model.js';
import { SseHub } from './marathon-emulator/sse.js';
import { route } from './marathon-emulator/routes.js';

export type {
  App, AppSpec, HealthCheckSpec, HealthResult, Task, MarathonVersion, NetworkMode, TaskIdFormat, TaskSpec,
} from './marathon-emulator/model.js';
export type { Delivery } from './marathon-emulator/callbacks.js';
export type { ReadinessCheckSpec } from './marathon-emulator/readiness.js';
export type { Fault } from './marathon-emulator/http.js';
export { instanceIdOf } from './marathon-emulator/model.js';
export { sseFrame } from './marathon-emulator/events.js';

export interface EmulatorOptions {
  version?: MarathonVersion;
  /** 1.4 only: --event_subscriber http_callback. Default true; false answers 400 on /v2/eventSubscriptions. */
  callbacksEnabled?: boolean;
  /** 1.4: --http_endpoints, subscribers registered at start. */
  httpEndpoints?: string[];
  /** --http_credentials; every endpoint then demands basic auth (realm "Mesosphere"). */
  auth?: { user: string; password: string };
  /** SSE heartbeat period (Jetty: 10 s). */
  keepaliveMs?: number;
  /** Makes this instance a non-leader whose leader is at this base URL. */
  leaderUrl?: string;
  /** Default: 'legacy' for 1.4/1.5 (what they generate), 'instance' for 1.10. */
  taskIdFormat?: TaskIdFormat;
  /** Callback answers slower than this count as failures (default 10000). */
  callbackSlowMs?: number;
  /** Callback requests are abandoned after this long (default 10000). */
  callbackRequestTimeoutMs?: number;
  /** Length of one backoff "second" (default 1000): n failures skip events for 2^n units. */
  callbackBackoffUnitMs?: number;
  /** /v2/info "version"; default 1.4.13, 1.5.0, 1.10.26. */
  infoVersion?: string;
  /** Keep every published event in `events` (default true; benchmarks with 100,000 tasks turn it off). */
  recordEvents?: boolean;
  /** Port to listen on (default: any free one). */
  port?: number;
  /**
   * Where a task the emulator launches itself goes (a REST create, scale, restart, or the replacement of a
   * killed task): the "agent" and port Mesos would offer. Default: 127.0.0.1, host ports from 31000 up.
   * The emulator does not probe: a launched task of an app with health checks passes them at once.
   */
  launch?: (app: App) => TaskSpec;
}

export interface RequestRecord {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
}

const START_PATH = ['TASK_STAGING', 'TASK_STARTING', 'TASK_RUNNING'];

/** A deployment as the write routes answer it (Marathon's DeploymentResult: deploymentId, version). */
export interface DeploymentRef {
  id: string;
  version: string;
}

/**
 * Every task by id, and by app (same order as the tasks were added): an app's tasks are looked up on every
 * /v2/apps answer, which at 10,000 apps × 10 tasks must not scan all tasks once per app.
 */
export class TaskTable extends Map<string, Task> {
  private readonly byApp = new Map<string, Map<string, Task>>();

  override set(id: string, task: Task): this {
    const previous = this.get(id);
    if (previous && previous.appId !== task.appId) this.byApp.get(previous.appId)?.delete(id);
    let own = this.byApp.get(task.appId);
    if (!own) this.byApp.set(task.appId, (own = new Map()));
    own.set(id, task);
    return super.set(id, task);
  }

  override delete(id: string): boolean {
    const task = this.get(id);
    if (task) this.byApp.get(task.appId)?.delete(id);
    return super.delete(id);
  }

  override clear(): void {
    this.byApp.clear();
    super.clear();
  }

  ofApp(appId: string): Task[] {
    return [...(this.byApp.get(appId)?.values() ?? [])];
  }
}

export class MarathonEmulator {
  readonly version: MarathonVersion;
  private readonly recordEvents: boolean;
  /** Every request received, in order, before faults and auth are applied. */
  requests: RequestRecord[] = [];
  /** Every event published (to SSE clients and callback subscribers), in order. */
  readonly events: Array<{ eventType: string; body: Record<string, unknown> }> = [];

  // Model and parts, public for routes.ts and for tests that want to look inside; change them via the methods.
  readonly apps = new Map<string, App>();
  readonly tasks = new TaskTable();
  readonly frameworkId = `${randomUUID()}-0000`;
  readonly opts: EmulatorOptions;
  readonly callbacks: CallbackSubscribers | undefined;
  readonly hub: SseHub;

  private readonly server: http.Server;
  private readonly faultTable = new Faults();
  private readonly hung = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly proxied = new Set<http.ClientRequest>();
  private readonly agents = new Map<string, string>();
  private readonly clusterId = randomUUID();
  private nextServicePort = 10000;
  /** Mesos agents offer host ports from 31000 (the default ports resource). */
  private nextHostPort = 31000;
  private port = 0;

  private constructor(opts: EmulatorOptions) {
    this.opts = opts;
    this.version = opts.version ?? '1.10';
    this.recordEvents = opts.recordEvents ?? true;
    if (this.version === '1.4' && opts.callbacksEnabled !== false) {
      this.callbacks = new CallbackSubscribers({
        slowMs: opts.callbackSlowMs ?? 10_000,
        requestTimeoutMs: opts.callbackRequestTimeoutMs ?? 10_000,
        backoffUnitMs: opts.callbackBackoffUnitMs ?? 1000,
      });
      for (const url of opts.httpEndpoints ?? []) this.callbacks.add(url);
    }
    this.hub = new SseHub(opts.keepaliveMs ?? 10_000, (remote) =>
      this.publish(ev.streamEvent('event_stream_detached', remote)),
    );
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) sendJson(res, 500, { message: (err as Error).message });
        else res.destroy();
      });
    });
  }

  static async start(opts: EmulatorOptions = {}): Promise<MarathonEmulator> {
    const emu = new MarathonEmulator(opts);
    await new Promise<void>((resolve, reject) => {
      emu.server.once('error', reject);
      emu.server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
    });
    emu.port = (emu.server.address() as AddressInfo).port;
    return emu;
  }

  /** http://127.0.0.1:PORT */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get hostPort(): string {
    return `127.0.0.1:${this.port}`;
  }

  get isLeader(): boolean {
    return this.opts.leaderUrl === undefined;
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.hub.destroyAll();
    this.callbacks?.close();
    for (const r of this.proxied) r.destroy();
    for (const s of this.hung) s.destroy();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  // ---- cluster model --------------------------------------------------------------------------------------------

  /** Creates (or replaces) an app: api_post_event, group_change_success, deployment_info/step_success/success. */
  addApp(def: AppSpec): void {
    const existing = this.apps.has(normalizeAppId(def.id));
    const original = this.groupBefore();
    const app = this.storeApp(def, existing ? `/v2/apps${normalizeAppId(def.id)}` : '/v2/apps');
    this.deploy(app.id, existing ? ['RestartApplication'] : ['StartApplication', 'ScaleApplication'], original);
  }

  /** Kills the app's tasks (TASK_KILLED each), then app_terminated_event, inside a StopApplication deployment. */
  removeApp(appId: string): DeploymentRef {
    const app = this.app(appId);
    const original = this.groupBefore();
    this.apps.delete(app.id);
    return this.deploy(app.id, ['StopApplication'], original, () => {
      for (const t of this.tasksOf(app.id)) this.transition(app, t, 'TASK_KILLED');
      this.publish(ev.appTerminatedEvent(app));
    });
  }

  /**
   * Stores an app definition as a new version (service ports kept or allocated) and publishes api_post_event
   * for `uri`, the request that posted it (none without: a restart or a scale by kill posts nothing). No
   * deployment: `deploy` runs one.
   */
  storeApp(def: AppSpec, uri?: string): App {
    const id = normalizeAppId(def.id);
    const existing = this.apps.get(id);
    const ts = now();
    const servicePorts = (def.servicePorts ?? existing?.servicePorts ?? [0]).map((p) => (p > 0 ? p : this.nextServicePort++));
    const app: App = {
      id,
      spec: { ...def, id },
      network: def.network ?? 'host',
      servicePorts,
      version: ts,
      lastScalingAt: ts,
      lastConfigChangeAt: ts,
      lastTaskFailure: existing?.lastTaskFailure,
    };
    this.apps.set(id, app);
    if (uri !== undefined) this.publish(ev.apiPostEvent(this.version, app, this.tasksOf(id), uri));
    return app;
  }

  /** The root group as it is now, for the `original` of a heavy plan (1.10 sends light plans: nothing). */
  groupBefore(): Record<string, unknown> {
    return this.version === '1.10' ? {} : this.groupJson();
  }

  /**
   * One deployment that runs to its end at once: group_change_success, then per step deployment_info, the
   * step's work (`step(action)`: tasks launched or killed…) and deployment_step_success; deployment_success.
   */
  deploy(appId: string, actions: string[], original: Record<string, unknown>, step?: (action: string) => void): DeploymentRef {
    const events = ev.deploymentEvents(this.version, appId, actions, () => ({ original, target: this.groupJson() }));
    const plan = events[0].plan as { id: string; version: string };
    this.publish(ev.groupChangeSuccess(plan.version));
    actions.forEach((action, i) => {
      this.publish(events[2 * i]);
      step?.(action);
      this.publish(events[2 * i + 1]);
    });
    this.publish(events[events.length - 1]);
    return { id: plan.id, version: plan.version };
  }

  /** Launches one task of the app where `launch` says (see EmulatorOptions.launch), up to TASK_RUNNING. */
  launchTask(appId: string): string {
    const app = this.app(appId);
    const spec = this.opts.launch?.(app) ?? { port: this.nextHostPort++ };
    const healthy = spec.healthy ?? ((app.spec.healthChecks ?? []).length > 0 ? true : undefined);
    return this.addTask(app.id, { ...spec, ...(healthy === undefined ? {} : { healthy }) });
  }

  /** Launches a task: status_update_event (+ instance_changed_event) for STAGING, STARTING, RUNNING up to `state`. */
  addTask(appId: string, spec: TaskSpec): string {
    const app = this.app(appId);
    const id = newTaskId(app.id, this.opts.taskIdFormat ?? (this.version === '1.10' ? 'instance' : 'legacy'));
    const host = spec.host ?? '127.0.0.1';
    const task: Task = {
      id,
      instanceId: instanceIdOf(id),
      appId: app.id,
      host,
      ports: [spec.port, ...(spec.extraPorts ?? [])],
      ip: spec.ip ?? host,
      state: 'TASK_STAGING',
      stagedAt: now(),
      version: app.version,
      slaveId: spec.slaveId ?? this.agentId(host),
    };
    this.tasks.set(id, task);
    // Started by the deployment in progress: Marathon checks its readiness.
    app.deployment?.newTasks.set(id, false);
    const target = spec.state ?? 'TASK_RUNNING';
    const i = START_PATH.indexOf(target);
    for (const s of i >= 0 ? START_PATH.slice(0, i + 1) : [...START_PATH, target]) this.transition(app, task, s);
    if (typeof spec.healthy === 'boolean' && this.tasks.has(id)) this.setTaskHealth(id, spec.healthy);
    return id;
  }

  /**
   * Starts a deployment of the app that stays in progress (a rolling restart waiting for readiness):
   * group_change_success and deployment_info now; the tasks added until it ends are its new tasks, not ready
   * until `setTaskReady`. It ends (deployment_step_success, deployment_success) once every new task still
   * there is ready, or with `finishDeployment`. Returns the deployment id.
   */
  startDeployment(appId: string): string {
    const app = this.app(appId);
    if (app.deployment) throw new Error(`app ${app.id} is already being deployed`);
    const original = this.version === '1.10' ? {} : this.groupJson();
    const events = ev.deploymentEvents(this.version, app.id, ['RestartApplication'], () => ({ original, target: this.groupJson() }));
    app.deployment = newDeployment(app.id, events);
    this.publish(ev.groupChangeSuccess(now()));
    this.publish(events[0]);
    return app.deployment.id;
  }

  /** Marathon's readiness result for a new task of the deployment in progress; the last one ready ends it. */
  setTaskReady(taskId: string, ready = true): void {
    const task = this.task(taskId);
    const app = this.app(task.appId);
    const d = app.deployment;
    if (!d?.newTasks.has(taskId)) throw new Error(`task ${taskId} was not started by a deployment in progress`);
    d.newTasks.set(taskId, ready);
    if ([...d.newTasks].every(([id, r]) => r || !this.tasks.has(id))) this.finishDeployment(app.id);
  }

  /** Ends the deployment in progress: deployment_success (its step first), or deployment_failed. */
  finishDeployment(appId: string, result: 'success' | 'failed' = 'success'): void {
    const app = this.app(appId);
    const d = app.deployment;
    if (!d) throw new Error(`app ${app.id} has no deployment in progress`);
    app.deployment = undefined;
    if (result === 'success') for (const e of d.endEvents) this.publish(e);
    else this.publish({ ...d.endEvents.at(-1), eventType: 'deployment_failed', timestamp: now() });
  }

  /** TASK_KILLING first when withKilling, then the terminal state; the task disappears. */
  killTask(
    taskId: string,
    opts: { state?: 'TASK_KILLED' | 'TASK_FAILED' | 'TASK_FINISHED' | 'TASK_LOST'; withKilling?: boolean; message?: string } = {},
  ): void {
    const task = this.task(taskId);
    const app = this.app(task.appId);
    if (opts.withKilling) this.transition(app, task, 'TASK_KILLING');
    this.transition(app, task, opts.state ?? 'TASK_KILLED', opts.message ?? '');
  }

  /** Any Mesos state change (e.g. TASK_KILLING, TASK_UNREACHABLE); terminal states remove the task. */
  setTaskState(taskId: string, state: string, message = ''): void {
    const task = this.task(taskId);
    this.transition(this.app(task.appId), task, state, message);
  }

  /**
   * Records a health check result. As Marathon's HealthCheckActor: health_status_changed_event and
   * instance_health_changed_event only when `alive` changes (a task without results counts as not alive).
   */
  setTaskHealth(taskId: string, alive: boolean): void {
    const task = this.task(taskId);
    const app = this.app(task.appId);
    if ((app.spec.healthChecks ?? []).length === 0) throw new Error(`app ${app.id} has no health checks`);
    const prev = task.health?.[0];
    task.health = [healthResult(task.instanceId, alive, prev)];
    if ((prev?.alive ?? false) !== alive) {
      this.publish(ev.healthStatusChangedEvent(app, task, alive));
      this.publish(ev.instanceHealthChangedEvent(app, task, alive));
    }
  }

  /** Leader failover: every task's healthCheckResults becomes [] (no event). */
  clearHealthResults(): void {
    for (const t of this.tasks.values()) t.health = [];
  }

  /** Publishes a raw event (body sent as is) to SSE clients and callback subscribers. */
  emit(eventType: string, body: object): void {
    this.dispatch(eventType, body as Record<string, unknown>);
  }

  // ---- faults and observability --------------------------------------------------------------------------------

  /** Adds a fault for a path prefix (replacing one on the same prefix); null clears them all. */
  fault(f: Fault | null): void {
    this.faultTable.set(f);
  }

  get subscriptions(): string[] {
    return this.callbacks?.list() ?? [];
  }

  /** Callback POST outcomes (1.4), in completion order; skipped ones are recorded when skipped. */
  get deliveries(): Delivery[] {
    return this.callbacks?.deliveries ?? [];
  }

  /** Resolves once every callback POST started so far has completed. */
  async callbacksSettled(): Promise<void> {
    await this.callbacks?.settled();
  }

  sseClients(): number {
    return this.hub.size;
  }

  silenceKeepalives(on: boolean): void {
    this.hub.silence(on);
  }

  dropStreams(): void {
    this.hub.dropAll();
  }

  // ---- internals shared with routes.ts ------------------------------------------------------------------------

  app(appId: string): App {
    const app = this.apps.get(normalizeAppId(appId));
    if (!app) throw new Error(`no app ${appId}`);
    return app;
  }

  tasksOf(appId: string): Task[] {
    return this.tasks.ofApp(appId);
  }

  publish(body: Record<string, unknown>): void {
    this.dispatch(String(body.eventType), body);
  }

  /** Headers every leader response carries. */
  leaderHeaders(): Record<string, string> {
    return { 'X-Marathon-Leader': this.url, ...NO_CACHE };
  }

  private dispatch(eventType: string, body: Record<string, unknown>): void {
    if (this.recordEvents) this.events.push({ eventType, body });
    const json = JSON.stringify(body);
    this.hub.send(eventType, json);
    this.callbacks?.broadcast(eventType, json);
  }

  private task(taskId: string): Task {
    const t = this.tasks.get(taskId);
    if (!t) throw new Error(`no task ${taskId}`);
    return t;
  }

  private transition(app: App, task: Task, state: string, message = ''): void {
    task.state = state;
    if (state === 'TASK_RUNNING' && !task.startedAt) task.startedAt = now();
    if (TERMINAL_STATES.has(state)) this.tasks.delete(task.id);
    if (state === 'TASK_FAILED') {
      app.lastTaskFailure = {
        appId: app.id, host: task.host, message, state, taskId: task.id, timestamp: now(), version: task.version,
        slaveId: task.slaveId,
      };
    }
    this.publish(ev.statusUpdateEvent(app, task, state, message));
    this.publish(ev.instanceChangedEvent(app, task, state));
  }

  private agentId(host: string): string {
    let id = this.agents.get(host);
    if (!id) this.agents.set(host, (id = `${this.clusterId}-S${this.agents.size}`));
    return id;
  }

  groupJson(): Record<string, unknown> {
    const apps = [...this.apps.values()].map((a) => appDefinition(this.version, a, this.tasksOf(a.id)));
    return {
      id: '/', apps, groups: [], ...(this.version === '1.4' ? {} : { pods: [] }), dependencies: [], version: now(),
    };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', 'http://emulator');
    this.requests.push({ method: req.method ?? 'GET', path: u.pathname, query: u.searchParams, headers: req.headers });
    const f = this.faultTable.take(u.pathname);
    if (f && (await applyFault(f, req, res, this.hung, this.timers))) return;
    if (this.opts.auth && !authorized(req, this.opts.auth)) {
      sendJettyError(res, 401, 'Unauthorized', u.pathname, { 'WWW-Authenticate': 'Basic realm="Mesosphere"' });
      return;
    }
    if (this.opts.leaderUrl !== undefined) {
      const leader = this.opts.leaderUrl.replace(/\/+$/, '');
      if (this.version === '1.10' && u.pathname === '/v2/events') {
        const q = (req.url ?? '').indexOf('?');
        res.writeHead(302, { Location: `${leader}/v2/events${q >= 0 ? (req.url ?? '').slice(q) : ''}`, 'Content-Length': '0' });
        res.end();
      } else {
        proxyToLeader(leader, this.hostPort, req, res, this.proxied);
      }
      return;
    }
    await route(this, req, res, u);
  }
}
