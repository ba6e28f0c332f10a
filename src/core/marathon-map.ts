/**
 * Pure mapping of Marathon's JSON (GET /v2/apps?embed=apps.tasks, 1.4 and 1.5+ shapes) to culm's model.
 * One malformed app never spoils the others: it is reported in `skipped` with its id and the reason.
 */
import type { App, HealthCheck, NetworkMode, ReadinessCheck, Task } from './model.js';
import { sameJson } from './json.js';
import { checkApp, InputError, type Rejection } from './input-grammar.js';
import { reportLabelProblems } from './lb-labels.js';
import { exact } from './exact.js';

type Json = Record<string, unknown>;

export interface MappedApps {
  apps: App[];
  skipped: Array<{ id: string; reason: string }>;
  /** Values refused by the input grammar (input-grammar.ts): a task, label or env entry left out, or a whole app (also in `skipped`). */
  rejected: Rejection[];
}

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isObj(v)) return out;
  // Marathon env values can be secret references ({"secret": "..."}): only plain strings are exposed.
  for (const [k, val] of Object.entries(v)) if (typeof val === 'string') out[k] = val;
  return out;
}

function ports(v: unknown): number[] {
  return exact(arr(v).map(num).filter((p): p is number => p !== undefined));
}

function networkOf(app: Json): NetworkMode {
  const networks = arr(app.networks).filter(isObj);
  if (networks.length > 0) {
    const mode = str(networks[0].mode);
    if (mode === 'container/bridge') return 'bridge';
    if (mode === 'container') return 'container';
    return 'host';
  }
  const container = isObj(app.container) ? app.container : undefined;
  const docker = container && isObj(container.docker) ? container.docker : undefined;
  const legacy = docker ? str(docker.network) : undefined;
  if (isObj(app.ipAddress) || legacy === 'USER') return 'container';
  if (legacy === 'BRIDGE') return 'bridge';
  return 'host';
}

/** Port mappings from 1.5+ (container.portMappings) or 1.4 (container.docker.portMappings). */
function portMappings(app: Json): Json[] {
  const container = isObj(app.container) ? app.container : undefined;
  if (!container) return [];
  const modern = arr(container.portMappings).filter(isObj);
  if (modern.length > 0) return modern;
  return isObj(container.docker) ? arr(container.docker.portMappings).filter(isObj) : [];
}

function servicePortsOf(app: Json, mappings: Json[]): number[] {
  const legacy = ports(app.ports);
  if (legacy.length > 0) return legacy;
  const defs = exact(arr(app.portDefinitions).filter(isObj).map((d) => num(d.port)).filter((p): p is number => p !== undefined));
  if (defs.length > 0) return defs;
  return mappings.map((m) => num(m.servicePort) ?? 0);
}

function containerPortsOf(app: Json, mappings: Json[]): number[] {
  const fromMappings = exact(mappings.map((m) => num(m.containerPort)).filter((p): p is number => p !== undefined));
  if (fromMappings.length > 0) return fromMappings;
  const ip = isObj(app.ipAddress) ? app.ipAddress : undefined;
  const discovery = ip && isObj(ip.discovery) ? ip.discovery : undefined;
  return discovery ? arr(discovery.ports).filter(isObj).map((p) => num(p.number) ?? 0) : [];
}

function healthChecksOf(app: Json): HealthCheck[] {
  return arr(app.healthChecks).filter(isObj).map((h) => {
    const check: HealthCheck = { protocol: (str(h.protocol) ?? 'HTTP').toUpperCase() };
    const path = str(h.path);
    if (path !== undefined) check.path = path;
    const portIndex = num(h.portIndex);
    if (portIndex !== undefined) check.portIndex = portIndex;
    // 0 is "none" here as in Marathon's other port fields; anything else must be a port (input-grammar.ts).
    const port = num(h.port);
    if (port !== undefined && port !== 0) check.port = port;
    return check;
  });
}

/**
 * The app's readiness check (Marathon allows at most one; the first is Bamboo's too), with Marathon's
 * defaults for what its answer left out. The format is the same in 1.4 and 1.5+; only what `portName` names
 * differs (portDefinitions or portMappings), and culm does not probe, so it is kept as a name.
 */
function readinessCheckOf(app: Json): ReadinessCheck | undefined {
  const raw = arr(app.readinessChecks).find(isObj);
  if (!raw) return undefined;
  const check: ReadinessCheck = {
    name: str(raw.name) ?? 'readinessCheck',
    protocol: (str(raw.protocol) ?? 'HTTP').toUpperCase(),
    path: str(raw.path) ?? '/',
    portName: str(raw.portName) ?? 'http-api',
    intervalSeconds: num(raw.intervalSeconds) ?? 30,
    httpStatusCodesForReady: Array.isArray(raw.httpStatusCodesForReady) ? ports(raw.httpStatusCodesForReady) : [200],
  };
  const timeout = num(raw.timeoutSeconds);
  if (timeout !== undefined) check.timeoutSeconds = timeout;
  return check;
}

/** `readinessCheckResults` by task id (a task with several entries: not ready if any says so). */
function readinessResultsOf(app: Json): Record<string, boolean> | undefined {
  const list = arr(app.readinessCheckResults).filter(isObj);
  if (list.length === 0) return undefined;
  const out: Record<string, boolean> = {};
  for (const r of list) {
    const taskId = str(r.taskId);
    if (taskId === undefined || typeof r.ready !== 'boolean') continue;
    out[taskId] = (out[taskId] ?? true) && r.ready;
  }
  return out;
}

/**
 * Health from Marathon's results: a dead result makes the task unhealthy; all checks alive makes it
 * healthy; no results (or fewer than checks, all alive) is "unknown" (null), which the reducer resolves
 * with what it knew before (results vanish after a leader failover).
 */
export function healthFromResults(results: unknown, checkCount: number): boolean | null {
  const list = arr(results).filter(isObj);
  if (list.some((r) => r.alive === false)) return false;
  if (list.length === 0 || list.length < checkCount) return null;
  return list.every((r) => r.alive === true);
}

/**
 * Mesos' task states, one string each: JSON.parse makes a copy per task (100,000 copies of `TASK_RUNNING` are
 * 2.3 MB of heap at 10,000 apps).
 */
const TASK_STATES = new Map(['TASK_STAGING', 'TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED',
  'TASK_ERROR', 'TASK_LOST', 'TASK_DROPPED', 'TASK_UNREACHABLE', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR', 'TASK_UNKNOWN'].map((s) => [s, s]));

export function mapTask(raw: unknown, appId: string, checkCount: number): Task {
  if (!isObj(raw)) throw new Error('task is not an object');
  const id = str(raw.id);
  if (!id) throw new Error('task has no id');
  const ipAddresses = exact(arr(raw.ipAddresses).filter(isObj).map((a) => str(a.ipAddress)).filter((a): a is string => !!a));
  // Old Marathons omit `state` on tasks they list; a listed task with startedAt is running.
  const given = str(raw.state);
  const state = given === undefined ? (str(raw.startedAt) ? 'TASK_RUNNING' : 'TASK_STAGING') : (TASK_STATES.get(given) ?? given);
  const task: Task = {
    id,
    appId: normaliseAppId(str(raw.appId) ?? appId),
    host: str(raw.host) ?? '',
    ports: ports(raw.ports),
    ipAddresses,
    state,
    healthy: checkCount > 0 ? healthFromResults(raw.healthCheckResults, checkCount) : null,
  };
  const version = str(raw.version);
  if (version) task.version = version;
  const stagedAt = str(raw.stagedAt);
  if (stagedAt) task.stagedAt = stagedAt;
  const startedAt = str(raw.startedAt);
  if (startedAt) task.startedAt = startedAt;
  return task;
}

/** Marathon ids are absolute paths since 0.7; old ids without the leading slash get one. */
export function normaliseAppId(id: string): string {
  return id.startsWith('/') ? id : `/${id}`;
}

export function mapApp(raw: unknown): App {
  if (!isObj(raw)) throw new Error('app is not an object');
  const rawId = str(raw.id);
  if (!rawId) throw new Error('app has no id');
  const id = normaliseAppId(rawId);
  const mappings = portMappings(raw);
  const healthChecks = healthChecksOf(raw);
  const tasks: Record<string, Task> = {};
  for (const t of arr(raw.tasks)) {
    const task = mapTask(t, id, healthChecks.length);
    tasks[task.id] = task;
  }
  const app: App = {
    id,
    labels: stringMap(raw.labels),
    env: stringMap(raw.env),
    instances: num(raw.instances) ?? 0,
    healthChecks,
    servicePorts: servicePortsOf(raw, mappings),
    containerPorts: containerPortsOf(raw, mappings),
    network: networkOf(raw),
    deployments: arr(raw.deployments).filter(isObj).map((d) => str(d.id)).filter((d): d is string => !!d),
    tasks,
  };
  const version = str(raw.version);
  if (version) {
    app.version = version;
    // A task runs the app's version (or an older one): the app's string, not a copy per task.
    for (const t of Object.values(tasks)) if (t.version === version) t.version = version;
  }
  const readinessCheck = readinessCheckOf(raw);
  if (readinessCheck) app.readinessCheck = readinessCheck;
  const readinessResults = readinessResultsOf(raw);
  if (readinessResults) app.readinessResults = readinessResults;
  return app;
}

/**
 * Maps the elements of an `apps` array one at a time (as a streamed answer delivers them), so the caller never
 * needs Marathon's whole answer in memory; `result()` gives what `mapApps` gives.
 */
export class AppsMapper {
  private readonly out: MappedApps = { apps: [], skipped: [], rejected: [] };
  private readonly seen = new Set<string>();

  /**
   * `known` gives the app culm already holds under an id: a mapped app or task identical to it (every field
   * equal) is replaced by the held object. Nothing changes for the caller but memory: on a resync
   * that brings little new, the fresh copies die young instead of doubling the model until it is compared.
   */
  constructor(
    private readonly known?: (id: string) => App | undefined,
    /** HAProxy.BindServicePorts: whether labels only a service port's own frontend reads are checked (lb-labels.ts portsOf). */
    private readonly ownFrontends = true,
    /** Called with each app as it is taken (the daemon builds its view meanwhile); what it throws is ignored. */
    private readonly onApp?: (app: App) => void,
  ) {}

  add(raw: unknown): void {
    const id = isObj(raw) && typeof raw.id === 'string' ? raw.id : '(no id)';
    try {
      const previous = this.known?.(isObj(raw) && typeof raw.id === 'string' ? normaliseAppId(raw.id) : '');
      // A task identical to one culm holds was checked when it came in: 100,000 tasks are not checked again.
      const mapped = checkApp(mapApp(raw), this.out.rejected, previous && ((t) => {
        const known = previous.tasks[t.id];
        return known !== undefined && sameTaskData(known, t);
      }));
      const app = previous ? reuseKnown(mapped, previous) : mapped;
      reportLabelProblems(app, this.out.rejected, this.ownFrontends);
      if (this.seen.has(app.id)) throw new Error('duplicate app id');
      this.seen.add(app.id);
      this.out.apps.push(app);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      if (err instanceof InputError) this.out.rejected.push({ appId: id, field: err.field, reason });
      this.out.skipped.push({ id, reason });
      return;
    }
    try {
      this.onApp?.(this.out.apps[this.out.apps.length - 1]);
    } catch {
      /* a preparation only */
    }
  }

  result(): MappedApps {
    return this.out;
  }
}

/**
 * Every field of two tasks equal (the Task interface's fields, one by one: 100,000 of these per resync at
 * 10,000 apps, where a generic deep comparison was a tenth of the resync's CPU). A field added to Task must be
 * added here.
 */
export function sameTaskData(a: Task, b: Task): boolean {
  return a.id === b.id && a.appId === b.appId && a.host === b.host && a.state === b.state && a.healthy === b.healthy
    && a.version === b.version && a.stagedAt === b.stagedAt && a.startedAt === b.startedAt
    && sameList(a.ports, b.ports) && sameList(a.ipAddresses, b.ipAddresses);
}

const sameList = <T>(a: readonly T[], b: readonly T[]): boolean => {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
};

/** `fresh` with every task identical to one of `previous` replaced by it; `previous` itself when all is identical. */
function reuseKnown(fresh: App, previous: App): App {
  let allTasks = true;
  let count = 0;
  for (const id in fresh.tasks) {
    count++;
    const known = previous.tasks[id];
    if (known !== undefined && sameTaskData(known, fresh.tasks[id])) fresh.tasks[id] = known;
    else allTasks = false;
  }
  if (!allTasks || count !== Object.keys(previous.tasks).length) return fresh;
  const { tasks: _f, ...f } = fresh;
  const { tasks: _p, ...p } = previous;
  return sameJson(f, p) && sameJson(Object.keys(fresh.tasks), Object.keys(previous.tasks)) ? previous : fresh;
}

/** Maps a whole `{apps: [...]}` answer (`ownFrontends` as AppsMapper's); throws only if the envelope itself is wrong. */
export function mapApps(body: unknown, ownFrontends = true): MappedApps {
  if (!isObj(body) || !Array.isArray(body.apps)) throw new Error('Marathon answer has no "apps" array');
  const mapper = new AppsMapper(undefined, ownFrontends);
  for (const raw of body.apps) mapper.add(raw);
  return mapper.result();
}
