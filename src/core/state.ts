/**
 * The pure reducer: (state, event) → state. Unchanged input returns the very same object, so callers can
 * stop early with `===`. Marathon does not order events and callbacks arrive concurrently, hence:
 * - terminal task ids are tombstoned and never come back, from a late event or a stale resync;
 * - a task never moves back in its life cycle (STAGING → STARTING → RUNNING → KILLING);
 * - health unknown after a leader failover keeps the last known value.
 * Tombstones are a persistent map (tombstones.ts): a terminal event costs O(log n), never a copy of them all.
 */
import type { DomainEvent } from './events.js';
import { instanceIdOf } from './events.js';
import type { App, ClusterState, Task } from './model.js';
import { TERMINAL_STATES } from './model.js';
import { sameJson } from './json.js';
import { sameTaskData } from './marathon-map.js';
import { Tombstones } from './tombstones.js';

/** Tombstones outlive any plausible delay of an event or a resync answer. */
export const TOMBSTONE_TTL_MS = 10 * 60_000;

const LIFECYCLE_RANK: Record<string, number> = {
  TASK_STAGING: 1, TASK_STARTING: 2, TASK_RUNNING: 3, TASK_KILLING: 4,
};

export interface Reduction {
  state: ClusterState;
  /** The event names an app or task culm does not know (yet): a resync will place it. */
  needsResync?: boolean;
}

function withApp(state: ClusterState, app: App): ClusterState {
  const apps = new Map(state.apps);
  apps.set(app.id, app);
  return { ...state, apps };
}

function moveAllowed(from: string, to: string): boolean {
  const a = LIFECYCLE_RANK[from];
  const b = LIFECYCLE_RANK[to];
  // States outside the life cycle (TASK_LOST, TASK_UNREACHABLE, TASK_UNKNOWN) may move either way.
  if (a === undefined || b === undefined) return true;
  return b >= a;
}

function sameDefinition(a: App, b: App): boolean {
  const def = (x: App): string => JSON.stringify([x.labels, x.env, x.instances, x.version, x.healthChecks, x.servicePorts, x.containerPorts, x.network, x.readinessCheck ?? null]);
  return def(a) === def(b);
}

export function reduce(state: ClusterState, event: DomainEvent, now: number): Reduction {
  switch (event.kind) {
    case 'task': return reduceTask(state, event, now);
    case 'health': return reduceHealth(state, event);
    case 'app-upsert': {
      // The definition is Marathon's; the tasks are what culm knows (task events and resyncs own them).
      const previous = state.apps.get(event.app.id);
      const next: App = { ...event.app, tasks: previous?.tasks ?? {}, deployments: previous?.deployments ?? event.app.deployments };
      // Readiness results come with reads of the app, never with its definition.
      if (previous?.readinessResults) next.readinessResults = previous.readinessResults;
      else delete next.readinessResults;
      if (previous && sameDefinition(previous, next)) return { state };
      return { state: withApp(state, next), needsResync: true };
    }
    case 'deployment': {
      let next = state;
      for (const id of event.appIds) {
        const app = next.apps.get(id);
        if (app && !app.deployments.includes(event.deploymentId)) next = withApp(next, { ...app, deployments: [...app.deployments, event.deploymentId] });
      }
      return { state: next, needsResync: true };
    }
    case 'app-removed': {
      if (!state.apps.has(event.appId)) return { state };
      const apps = new Map(state.apps);
      let tombstones = Tombstones.of(state.tombstones);
      for (const id of Object.keys(state.apps.get(event.appId)!.tasks)) tombstones = tombstones.with(id, now);
      apps.delete(event.appId);
      return { state: { ...state, apps, tombstones } };
    }
    default:
      return { state };
  }
}

function reduceTask(state: ClusterState, e: Extract<DomainEvent, { kind: 'task' }>, now: number): Reduction {
  if (state.tombstones.has(e.taskId)) return { state };
  const app = state.apps.get(e.appId);
  if (TERMINAL_STATES.has(e.state)) {
    // Persistent: a terminal event costs O(log n), not a copy of every tombstone.
    const tombstones = Tombstones.of(state.tombstones).with(e.taskId, now);
    if (!app || !app.tasks[e.taskId]) return { state: { ...state, tombstones } };
    const tasks = { ...app.tasks };
    delete tasks[e.taskId];
    return { state: { ...withApp(state, { ...app, tasks }), tombstones } };
  }
  if (!app) return { state, needsResync: true };
  const previous = app.tasks[e.taskId];
  if (previous && !moveAllowed(previous.state, e.state)) return { state };
  // Most events repeat what is known (Marathon re-sends, resync overlap): judged without building a task.
  if (previous && repeats(previous, e)) return { state };
  const task: Task = {
    id: e.taskId,
    appId: e.appId,
    host: e.host || previous?.host || '',
    // Marathon sends no ports for a task that is not active; keep what was known.
    ports: e.ports.length > 0 ? e.ports : previous?.ports ?? [],
    ipAddresses: e.ipAddresses.length > 0 ? e.ipAddresses : previous?.ipAddresses ?? [],
    state: e.state,
    healthy: previous?.healthy ?? null,
  };
  const version = e.version ?? previous?.version;
  if (version) task.version = version;
  if (previous?.stagedAt) task.stagedAt = previous.stagedAt;
  if (previous?.startedAt) task.startedAt = previous.startedAt;
  if (previous && sameTaskData(previous, task)) return { state };
  return { state: withApp(state, { ...app, tasks: { ...app.tasks, [task.id]: task } }) };
}

/** The task reduceTask would build from `e` is `sameTask` as `previous` (same rules, no allocation). */
function repeats(previous: Task, e: Extract<DomainEvent, { kind: 'task' }>): boolean {
  if (previous.state !== e.state || (e.host || previous.host || '') !== previous.host) return false;
  // The built task carries a version only when there is a non-empty one.
  if ((e.version ?? previous.version ?? '') !== (previous.version || '') || previous.version === '') return false;
  const samePorts = e.ports.length === 0 || (e.ports.length === previous.ports.length && e.ports.every((p, i) => p === previous.ports[i]));
  if (!samePorts) return false;
  return e.ipAddresses.length === 0
    || (e.ipAddresses.length === previous.ipAddresses.length && e.ipAddresses.every((a, i) => a === previous.ipAddresses[i]));
}

function reduceHealth(state: ClusterState, e: Extract<DomainEvent, { kind: 'health' }>): Reduction {
  const app = state.apps.get(e.appId);
  if (!app) return { state, needsResync: true };
  // An unknown (null) health report carries no news: keep what is known.
  if (e.alive === null) return { state };
  let changed = false;
  let matched = false;
  const tasks = { ...app.tasks };
  for (const task of Object.values(app.tasks)) {
    const match = e.taskId ? task.id === e.taskId : task.id === e.instanceId || instanceIdOf(task.id) === e.instanceId;
    if (!match) continue;
    matched = true;
    if (task.healthy !== e.alive) {
      tasks[task.id] = { ...task, healthy: e.alive };
      changed = true;
    }
  }
  // Health for a task not seen yet (its status update is late): Marathon will not repeat it, a resync has it.
  if (!matched) return { state, needsResync: true };
  return changed ? { state: withApp(state, { ...app, tasks }) } : { state };
}

/**
 * A full resync: Marathon's list is the truth, filtered by tombstones and the life-cycle rule, with
 * last known health filled in where Marathon has no results (after a leader failover).
 */
export function applySnapshot(state: ClusterState, fresh: readonly App[], now: number): ClusterState {
  const tombstones = liveTombstones(state.tombstones, now);
  const apps = new Map<string, App>();
  // A periodic resync usually brings nothing new: unchanged apps keep their objects (so their views and
  // rendered backends are reused), and when every app is unchanged, in the same order, so is the map.
  const previousIds = state.apps.keys();
  let unchanged = fresh.length === state.apps.size;
  for (const app of fresh) {
    const previous = state.apps.get(app.id);
    const merged = mergeApp(previous, app, tombstones);
    apps.set(app.id, merged);
    unchanged &&= merged === previous && previousIds.next().value === app.id;
  }
  return { apps: unchanged ? state.apps : apps, tombstones, syncedAt: now };
}

/**
 * One app read from Marathon (`GET /v2/apps/{id}`), `null` when Marathon says it does not exist: that app
 * replaced as a resync would (tombstones and the life-cycle rule kept), every other app and the tombstones
 * untouched. The same state object when nothing changes.
 */
export function applyAppRead(state: ClusterState, appId: string, fresh: App | null): ClusterState {
  const previous = state.apps.get(appId);
  if (fresh === null) {
    if (!previous) return state;
    const apps = new Map(state.apps);
    apps.delete(appId);
    return { ...state, apps };
  }
  // An answer about another app than the one asked for is not an answer.
  if (fresh.id !== appId) return state;
  const merged = mergeApp(previous, fresh, state.tombstones);
  return merged === previous ? state : withApp(state, merged);
}

/**
 * Marathon's app with culm's rules applied: tombstoned tasks left out, no task moved back in its life
 * cycle, last known health kept where Marathon has no results. `previous` itself when nothing differs.
 */
function mergeApp(previous: App | undefined, app: App, tombstones: ReadonlyMap<string, number>): App {
  // A new app with no tombstone anywhere is Marathon's as is (every app at start: 100,000 tasks not walked).
  if (previous === undefined && tombstones.size === 0) return app;
  // Copied only from the first task that differs from Marathon's (at start, and on a resync that brings what
  // culm already holds, no task does: 100,000 tasks are not copied for nothing).
  let tasks: Record<string, Task> | undefined;
  const list = Object.values(app.tasks);
  for (let i = 0; i < list.length; i++) {
    const task = list[i];
    let next: Task | undefined = tombstones.has(task.id) ? undefined : task;
    const known = previous?.tasks[task.id];
    if (next && known) {
      if (!moveAllowed(known.state, next.state)) next = { ...next, state: known.state };
      if (next.healthy === null && known.healthy !== null && app.healthChecks.length > 0) next = { ...next, healthy: known.healthy };
      // Every field: a read that brings what an event could not (startedAt, which readiness needs) is taken.
      if (sameTaskData(known, next)) next = known;
    }
    if (tasks === undefined && next !== task) {
      tasks = {};
      for (let j = 0; j < i; j++) tasks[list[j].id] = list[j];
    }
    if (tasks !== undefined && next !== undefined) tasks[task.id] = next;
  }
  const kept = tasks ?? app.tasks;
  const same = previous !== undefined
    && ((previous === app && kept === app.tasks) || (sameTasks(previous.tasks, kept) && sameAppFields(previous, app)));
  return same ? previous : kept === app.tasks ? app : { ...app, tasks: kept };
}

/** The tombstones not yet expired: the same object when none has. */
function liveTombstones(all: ReadonlyMap<string, number>, now: number): Tombstones {
  const current = Tombstones.of(all);
  for (const at of current.values()) {
    if (now - at >= TOMBSTONE_TTL_MS) return Tombstones.from([...current].filter(([, t]) => now - t < TOMBSTONE_TTL_MS));
  }
  return current;
}

/** The same task objects under the same ids, in the same order. */
function sameTasks(a: Record<string, Task>, b: Record<string, Task>): boolean {
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && kb.every((id, i) => ka[i] === id && a[id] === b[id]);
}

/** Every field but the tasks equal, whatever fields App has (plain JSON data, compared deeply). */
function sameAppFields(a: App, b: App): boolean {
  const { tasks: _a, ...x } = a;
  const { tasks: _b, ...y } = b;
  return sameJson(x, y);
}
