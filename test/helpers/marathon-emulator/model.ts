// The emulator's cluster model and the Marathon JSON it renders, per API generation.
// Shapes follow /work/shared/reference/marathon (FACTS.md, the 1.4.13 and 1.10 doc examples and the
// marathon-lb capture of a real Marathon 1.5 /v2/apps?embed=apps.tasks answer).
import { randomUUID } from 'node:crypto';
import { firstPortName, readinessChecks, readinessResults, type Deployment, type ReadinessCheckSpec } from './readiness.js';

export type MarathonVersion = '1.4' | '1.5' | '1.10';
export type NetworkMode = 'host' | 'bridge' | 'container';
/** `legacy`: `<app>.<uuid>` (what 1.4 and 1.5 generate); `instance`: `<app>.instance-<uuid>._app.1` (1.8+). */
export type TaskIdFormat = 'legacy' | 'instance';

export interface HealthCheckSpec {
  protocol: 'HTTP' | 'HTTPS' | 'TCP' | 'COMMAND' | 'MESOS_HTTP' | 'MESOS_HTTPS' | 'MESOS_TCP';
  path?: string;
  portIndex?: number;
  /** A fixed port checked instead of `portIndex` (Marathon then sends no portIndex). */
  port?: number;
}

export interface AppSpec {
  id: string;
  instances?: number;
  network?: NetworkMode;
  /** Default: one port allocated from 10000 up (Marathon's local_port_min). */
  servicePorts?: number[];
  /** bridge/container networking; default: the first task's port for 'container', else 80. */
  containerPort?: number;
  /** Name of the container network ('container' mode); default "dcos". */
  networkName?: string;
  healthChecks?: HealthCheckSpec[];
  /** Marathon's readiness check (at most one per app); see readiness.ts. */
  readinessCheck?: ReadinessCheckSpec;
  labels?: Record<string, string>;
  env?: Record<string, string>;
  cmd?: string;
  image?: string;
}

export interface TaskSpec {
  /** Agent host, default 127.0.0.1. */
  host?: string;
  /** Host port; for network 'container' the container port (the task then has no host ports). */
  port: number;
  /** Further host ports of a multi-port app (one per service port). */
  extraPorts?: number[];
  /** Address reported in ipAddresses; default: host. */
  ip?: string;
  state?: string;
  /** undefined/null: no health check result yet. */
  healthy?: boolean | null;
  slaveId?: string;
}

export interface HealthResult {
  alive: boolean;
  consecutiveFailures: number;
  firstSuccess: string | null;
  lastFailure: string | null;
  lastSuccess: string | null;
  lastFailureCause: string | null;
  instanceId: string;
}

export interface App {
  id: string;
  spec: AppSpec;
  network: NetworkMode;
  servicePorts: number[];
  version: string;
  lastScalingAt: string;
  lastConfigChangeAt: string;
  lastTaskFailure?: Record<string, unknown>;
  /** The deployment in progress (startDeployment), if any. */
  deployment?: Deployment;
}

export interface Task {
  id: string;
  instanceId: string;
  appId: string;
  host: string;
  /** Host ports, or the container port for 'container' networking. */
  ports: number[];
  ip: string;
  state: string;
  stagedAt: string;
  startedAt?: string;
  version: string;
  slaveId: string;
  /** undefined: no results yet (field omitted); []: results lost, e.g. after a leader failover. */
  health?: HealthResult[];
}

export type Embed = 'tasks' | 'deployments' | 'readiness' | 'lastTaskFailure' | 'counts' | 'taskStats';

export const TERMINAL_STATES = new Set([
  'TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_LOST', 'TASK_ERROR', 'TASK_DROPPED', 'TASK_GONE',
  'TASK_GONE_BY_OPERATOR',
]);

export const now = (): string => new Date().toISOString();

export function normalizeAppId(id: string): string {
  const trimmed = id.replace(/\/+$/, '');
  return trimmed.startsWith('/') ? trimmed : `/${trimmed}`;
}

/** Marathon's PathId.safePath: no leading slash, '/' becomes '_'. */
export const safePath = (appId: string): string => normalizeAppId(appId).slice(1).replaceAll('/', '_');

export function newTaskId(appId: string, format: TaskIdFormat): string {
  const uuid = randomUUID();
  return format === 'legacy' ? `${safePath(appId)}.${uuid}` : `${safePath(appId)}.instance-${uuid}._app.1`;
}

const WITH_INSTANCE = /^(.+)\.(instance-|marathon-)([^._]+)(?:[._].*)?$/;
const LEGACY_RESIDENT = /^(.+)[._]([^._]+)\.\d+$/;
const LEGACY = /^(.+)[._]([^._]+)$/;

/**
 * The instance id Marathon (>= 1.4) derives from a task id (Task.Id.instanceId in its source):
 * `<app>.instance-<uuid>._app.1` -> `<app>.instance-<uuid>`; an instance id maps to itself; a legacy
 * `<app>.<uuid>` / `<app>_<uuid>` (optionally `.<attempt>`) -> `<app>.marathon-<uuid>` (calculateLegacyExecutorId).
 */
export function instanceIdOf(taskId: string): string {
  const m = WITH_INSTANCE.exec(taskId);
  if (m) return `${m[1]}.${m[2]}${m[3]}`;
  const l = LEGACY_RESIDENT.exec(taskId) ?? LEGACY.exec(taskId);
  if (!l) throw new Error(`not a Marathon task id: ${taskId}`);
  return `${l[1]}.marathon-${l[2]}`;
}

/** InfoEmbedResolver: prefixes "apps.", "app.", "group.apps." or none; tasks implies deployments. */
export function resolveEmbeds(values: string[]): Set<Embed> {
  const out = new Set<Embed>();
  for (const raw of values) {
    const v = raw.replace(/^group\.apps\./, '').replace(/^apps\./, '').replace(/^app\./, '');
    if (v === 'tasks') out.add('tasks').add('deployments');
    else if (v === 'failures') out.add('tasks').add('lastTaskFailure').add('deployments');
    else if (['deployments', 'readiness', 'lastTaskFailure', 'counts', 'taskStats'].includes(v)) out.add(v as Embed);
  }
  return out;
}

const ipProtocol = (ip: string): string => (ip.includes(':') ? 'IPv6' : 'IPv4');
export const ipAddresses = (t: Task): Array<{ ipAddress: string; protocol: string }> => [
  { ipAddress: t.ip, protocol: ipProtocol(t.ip) },
];

/** Host ports as Marathon reports them: none for 'container' networking (IP-per-task). */
export const hostPorts = (app: App, t: Task): number[] => (app.network === 'container' ? [] : t.ports);

function containerPorts(app: App, tasks: Task[]): number[] {
  const first = app.spec.containerPort ?? (app.network === 'container' ? tasks[0]?.ports[0] : undefined) ?? 80;
  return app.servicePorts.map((_, i) => first + i);
}

function healthChecks(v: MarathonVersion, app: App): Array<Record<string, unknown>> {
  return (app.spec.healthChecks ?? []).map((hc) => {
    const o: Record<string, unknown> = {
      gracePeriodSeconds: 300,
      intervalSeconds: 60,
      maxConsecutiveFailures: 3,
      protocol: hc.protocol,
      timeoutSeconds: 20,
    };
    if (hc.port !== undefined) o.port = hc.port;
    else o.portIndex = hc.portIndex ?? 0;
    if (v !== '1.4') o.delaySeconds = 15;
    if (hc.protocol === 'COMMAND') o.command = { value: 'curl -f http://$HOST:$PORT0/' };
    else if (hc.protocol !== 'TCP' && hc.protocol !== 'MESOS_TCP') {
      o.path = hc.path ?? '/';
      o.ignoreHttp1xx = false;
    }
    return o;
  });
}

const docker = (app: App): Record<string, unknown> => ({
  forcePullImage: false,
  image: app.spec.image ?? 'nginx:alpine',
  parameters: [],
  privileged: false,
});

/** <= 1.4 shape: `ports`, `portDefinitions`, `container.docker.network`/`portMappings`, `ipAddress`. */
function appDefinition14(app: App, tasks: Task[]): Record<string, unknown> {
  const cports = containerPorts(app, tasks);
  let container: Record<string, unknown> | null = null;
  let ipAddress: Record<string, unknown> | null = null;
  if (app.network === 'bridge') {
    const portMappings = app.servicePorts.map((sp, i) => ({
      containerPort: cports[i], hostPort: 0, servicePort: sp, protocol: 'tcp', labels: {}, ...(i === 0 ? firstPortName(app) : {}),
    }));
    container = { type: 'DOCKER', volumes: [], docker: { ...docker(app), network: 'BRIDGE', portMappings } };
  } else if (app.network === 'container') {
    ipAddress = {
      groups: [],
      labels: {},
      discovery: { ports: cports.map((n, i) => ({ number: n, name: i === 0 ? 'http' : `port${i}`, protocol: 'tcp' })) },
      networkName: app.spec.networkName ?? 'dcos',
    };
  }
  const o: Record<string, unknown> = {
    id: app.id,
    cmd: app.spec.cmd ?? 'sleep 3600',
    args: null,
    user: null,
    env: app.spec.env ?? {},
    instances: app.spec.instances ?? 1,
    cpus: 0.1,
    mem: 128,
    disk: 0,
    gpus: 0,
    executor: '',
    constraints: [],
    uris: [],
    fetch: [],
    storeUrls: [],
    backoffSeconds: 1,
    backoffFactor: 1.15,
    maxLaunchDelaySeconds: 3600,
    container,
    healthChecks: healthChecks('1.4', app),
    readinessChecks: readinessChecks(app),
    dependencies: [],
    upgradeStrategy: { minimumHealthCapacity: 1, maximumOverCapacity: 1 },
    labels: app.spec.labels ?? {},
    acceptedResourceRoles: null,
    ipAddress,
    version: app.version,
    versionInfo: { lastScalingAt: app.lastScalingAt, lastConfigChangeAt: app.lastConfigChangeAt },
    unreachableStrategy: { inactiveAfterSeconds: 300, expungeAfterSeconds: 600 },
    killSelection: 'YOUNGEST_FIRST',
  };
  // 1.4 AppDefinition writes: top-level port fields are incompatible with IP-per-task.
  if (!ipAddress) {
    o.ports = app.servicePorts;
    o.portDefinitions =
      app.network === 'host' ? app.servicePorts.map((port, i) => ({ port, protocol: 'tcp', labels: {}, ...(i === 0 ? firstPortName(app) : {}) })) : [];
    o.requirePorts = false;
  }
  return o;
}

/** 1.5+ (RAML) shape: `networks`, `container.portMappings`, `portDefinitions` for host only; no legacy fields. */
function appDefinition15(v: MarathonVersion, app: App, tasks: Task[]): Record<string, unknown> {
  const cports = containerPorts(app, tasks);
  const o: Record<string, unknown> = {
    id: app.id,
    backoffFactor: 1.15,
    backoffSeconds: 1,
    cmd: app.spec.cmd ?? 'sleep 3600',
  };
  if (app.network !== 'host') {
    const portMappings = app.servicePorts.map((sp, i) => {
      const pm: Record<string, unknown> = { containerPort: cports[i] };
      if (app.network === 'bridge') pm.hostPort = 0;
      return { ...pm, labels: {}, protocol: 'tcp', servicePort: sp, ...(i === 0 ? firstPortName(app) : {}) };
    });
    o.container = { type: 'DOCKER', docker: docker(app), volumes: [], portMappings };
  }
  Object.assign(o, {
    cpus: 0.1,
    disk: 0,
    env: app.spec.env ?? {},
    executor: '',
    instances: app.spec.instances ?? 1,
    labels: app.spec.labels ?? {},
    maxLaunchDelaySeconds: 3600,
    mem: 128,
    gpus: 0,
    networks:
      app.network === 'host'
        ? [{ mode: 'host' }]
        : app.network === 'bridge'
          ? [{ mode: 'container/bridge' }]
          : [{ mode: 'container', name: app.spec.networkName ?? 'dcos' }],
  });
  if (app.network === 'host') o.portDefinitions = app.servicePorts.map((port, i) => ({ port, protocol: 'tcp', labels: {}, ...(i === 0 ? firstPortName(app) : {}) }));
  const hcs = healthChecks(v, app);
  if (hcs.length > 0) o.healthChecks = hcs;
  if (app.spec.readinessCheck) o.readinessChecks = readinessChecks(app);
  Object.assign(o, {
    requirePorts: false,
    upgradeStrategy: { maximumOverCapacity: 1, minimumHealthCapacity: 1 },
    version: app.version,
    versionInfo: { lastScalingAt: app.lastScalingAt, lastConfigChangeAt: app.lastConfigChangeAt },
    killSelection: 'YOUNGEST_FIRST',
    unreachableStrategy: { inactiveAfterSeconds: 300, expungeAfterSeconds: 600 },
  });
  return o;
}

/** The app definition alone, as in api_post_event.appDefinition and deployment plans. */
export function appDefinition(v: MarathonVersion, app: App, tasks: Task[]): Record<string, unknown> {
  return v === '1.4' ? appDefinition14(app, tasks) : appDefinition15(v, app, tasks);
}

/** `embedded`: inside an app; 1.5+ then leaves servicePorts out (as in the real 1.5 capture). */
export function renderTask(v: MarathonVersion, app: App, t: Task, embedded: boolean): Record<string, unknown> {
  const withHealth = (o: Record<string, unknown>): Record<string, unknown> => {
    if ((app.spec.healthChecks ?? []).length > 0 && t.health !== undefined) o.healthCheckResults = t.health;
    return o;
  };
  const servicePorts = app.network === 'container' && v === '1.4' ? [] : app.servicePorts;
  if (v === '1.4') {
    const o: Record<string, unknown> = { id: t.id, slaveId: t.slaveId, host: t.host, state: t.state };
    if (t.startedAt) o.startedAt = t.startedAt;
    Object.assign(o, {
      stagedAt: t.stagedAt,
      ports: hostPorts(app, t),
      version: t.version,
      ipAddresses: ipAddresses(t),
      appId: app.id,
      servicePorts,
    });
    return withHealth(o);
  }
  const o: Record<string, unknown> = { ipAddresses: ipAddresses(t), stagedAt: t.stagedAt, state: t.state };
  o.ports = hostPorts(app, t);
  if (t.startedAt) o.startedAt = t.startedAt;
  Object.assign(o, { version: t.version, id: t.id, appId: app.id, slaveId: t.slaveId, host: t.host });
  if (!embedded) o.servicePorts = servicePorts;
  if (v === '1.10') o.role = '*';
  return withHealth(o);
}

export function counts(tasks: Task[]): Record<string, number> {
  const hasResults = (t: Task): boolean => (t.health ?? []).length > 0;
  return {
    tasksStaged: tasks.filter((t) => !t.startedAt).length,
    tasksRunning: tasks.filter((t) => t.state === 'TASK_RUNNING').length,
    tasksHealthy: tasks.filter((t) => hasResults(t) && (t.health ?? []).every((h) => h.alive)).length,
    tasksUnhealthy: tasks.filter((t) => (t.health ?? []).some((h) => !h.alive)).length,
  };
}

/** AppInfo: definition + counts + deployments always (GET /v2/apps adds both), the rest on request. */
export function renderApp(v: MarathonVersion, app: App, tasks: Task[], embed: Set<Embed>): Record<string, unknown> {
  const deployments = app.deployment ? [{ id: app.deployment.id }] : [];
  const o: Record<string, unknown> = { ...appDefinition(v, app, tasks), ...counts(tasks), deployments };
  if (embed.has('readiness')) o.readinessCheckResults = readinessResults(app, tasks);
  if (embed.has('tasks')) o.tasks = tasks.map((t) => renderTask(v, app, t, true));
  if (embed.has('lastTaskFailure') && app.lastTaskFailure) o.lastTaskFailure = app.lastTaskFailure;
  return o;
}

export function healthResult(instanceId: string, alive: boolean, prev: HealthResult | undefined): HealthResult {
  const ts = now();
  return alive
    ? {
        alive: true,
        consecutiveFailures: 0,
        firstSuccess: prev?.firstSuccess ?? ts,
        lastFailure: prev?.lastFailure ?? null,
        lastSuccess: ts,
        lastFailureCause: prev?.lastFailureCause ?? null,
        instanceId,
      }
    : {
        alive: false,
        consecutiveFailures: (prev && !prev.alive ? prev.consecutiveFailures : 0) + 1,
        firstSuccess: prev?.firstSuccess ?? null,
        lastFailure: ts,
        lastSuccess: prev?.lastSuccess ?? null,
        lastFailureCause: 'ConnectException: Connection refused',
        instanceId,
      };
}
