/**
 * culm's model of what Marathon runs. Plain data (JSON-serialisable) so the snapshot can be stored as is;
 * treated as immutable: reducers return new objects and share what did not change.
 */
import { Tombstones } from './tombstones.js';

/** How a task is reached. */
export type NetworkMode = 'host' | 'bridge' | 'container';

export interface HealthCheck {
  protocol: string;          // HTTP, HTTPS, TCP, COMMAND, MESOS_HTTP, MESOS_HTTPS, MESOS_TCP…
  path?: string;
  /** Which of the task's ports is checked (Marathon's default: 0, the serving port). */
  portIndex?: number;
  /** A fixed port checked instead (Marathon takes one or the other; with both, this one wins). */
  port?: number;
}

/**
 * Marathon's readiness check (an app has at most one). Marathon probes it only for the tasks a deployment
 * starts; culm never probes, it reads Marathon's results (see readiness.ts).
 */
export interface ReadinessCheck {
  name: string;
  protocol: string;          // HTTP or HTTPS
  path: string;
  portName: string;
  intervalSeconds: number;
  /** Undefined when Marathon's answer had none (Bamboo's rule then waits 10 s, see readiness.ts). */
  timeoutSeconds?: number;
  httpStatusCodesForReady: number[];
}

/** A task as culm keeps it. `sameTaskData` (marathon-map.ts) compares every field: add a new field there too. */
export interface Task {
  id: string;
  appId: string;
  host: string;
  /** Host ports (empty for IP-per-task apps). */
  ports: number[];
  ipAddresses: string[];
  state: string;             // TASK_* as Mesos names it
  /**
   * Health from Marathon's results: true/false when known, null when no result was ever seen.
   * Kept across a leader failover (results vanish then) so backends are not emptied.
   */
  healthy: boolean | null;
  version?: string;
  stagedAt?: string;
  startedAt?: string;
}

export interface App {
  id: string;
  labels: Record<string, string>;
  env: Record<string, string>;
  instances: number;
  version?: string;
  healthChecks: HealthCheck[];
  servicePorts: number[];
  /** Container ports, for IP-per-task apps (the port a task listens on at its own IP). */
  containerPorts: number[];
  network: NetworkMode;
  /** Deployments in progress (ids), as Marathon reports them. */
  deployments: string[];
  /** The app's readiness check, if it has one. */
  readinessCheck?: ReadinessCheck;
  /**
   * Marathon's readiness results by task id (`readinessCheckResults`, embed=apps.readiness): only while a
   * deployment runs, absent otherwise.
   */
  readinessResults?: Record<string, boolean>;
  tasks: Record<string, Task>;
}

/** A per-app rule, Bamboo's "service": the ACL and free-form config a template may use. */
export interface Rule {
  id: string;
  acl: string;
  config: Record<string, string>;
}

export interface ClusterState {
  apps: ReadonlyMap<string, App>;
  /**
   * Tasks that reached a terminal state, with the time it was seen (ms). Task ids are never reused by
   * Marathon, so a later event or a stale resync naming one of them must not bring it back.
   */
  tombstones: ReadonlyMap<string, number>;
  /** When the last full resync from Marathon was applied (ms since epoch), 0 if never. */
  syncedAt: number;
}

export const emptyState = (): ClusterState => ({ apps: new Map(), tombstones: Tombstones.empty, syncedAt: 0 });

export const TERMINAL_STATES: ReadonlySet<string> = new Set([
  'TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR', 'TASK_DROPPED', 'TASK_GONE',
  'TASK_GONE_BY_OPERATOR',
]);
