/**
 * What happens inside culm, as it happens: app and task changes, applies and rule changes, for the live
 * stream `GET /api/events` (the console and scripts). The daemon publishes here, and only here; the HTTP edge
 * subscribes. Every event's data names the app(s) it is about (`appId`, or `appIds` for an apply).
 *
 * Nothing is computed for nobody: the daemon asks `listening()` before it diffs the cluster, so without a
 * subscriber an event costs one check. A change touching more than CHANGE_LIMIT apps or tasks (a first sync
 * of 10,000 apps) is one `resync` event with a count, not thousands a client would have to swallow.
 */
import type { App, ClusterState, Task } from '../core/model.js';
import type { ApplyRecord, RuleChangeRecord } from './types.js';

export type Change = 'added' | 'changed' | 'removed';

export interface AppEvent { type: 'app'; data: { appId: string; change: Change; tasks: number } }
export interface TaskEvent {
  type: 'task';
  data: { appId: string; taskId: string; change: Change; state: string; host: string; ports: number[]; healthy: boolean | null };
}
export interface ResyncEvent { type: 'resync'; data: { appIds: string[]; apps: number; tasks: number } }
/** `moreAppIds`: how many more apps changed than `appIds` names. */
export interface ApplyEvent { type: 'apply'; data: ApplyRecord & { appIds: string[]; moreAppIds?: number } }
export interface RuleEvent { type: 'rule'; data: RuleChangeRecord & { appId: string | null } }

export type LiveEvent = AppEvent | TaskEvent | ResyncEvent | ApplyEvent | RuleEvent;
export type LiveListener = (event: LiveEvent) => void;

/** Above this many app and task changes at once, one `resync` event says how many. */
export const CHANGE_LIMIT = 200;
/** App ids an apply (or resync) event names at most; the rest are counted. */
export const APP_IDS_LIMIT = 100;

export class EventBus {
  private readonly listeners = new Set<LiveListener>();

  subscribe(listener: LiveListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  listening(): boolean {
    return this.listeners.size > 0;
  }

  publish(event: LiveEvent): void {
    for (const listener of this.listeners) {
      // One failing subscriber (a socket that broke mid-write) must not keep the event from the others.
      try {
        listener(event);
      } catch {
        this.listeners.delete(listener);
      }
    }
  }
}

/**
 * The app and task events between two cluster states (apps compared by reference: the reducer returns the
 * same object for an unchanged app), or one `resync` event when there are more than `limit`.
 */
export function clusterChanges(before: ClusterState['apps'], after: ClusterState['apps'], limit = CHANGE_LIMIT): LiveEvent[] {
  const out: LiveEvent[] = [];
  const touched: string[] = [];
  let tasks = 0;
  const note = (events: LiveEvent[]): void => {
    for (const e of events) {
      if (e.type === 'task') tasks++;
      if (out.length <= limit) out.push(e);
    }
  };
  for (const [id, app] of after) {
    const prev = before.get(id);
    if (prev === app) continue;
    touched.push(id);
    note(appChanges(prev, app));
  }
  for (const [id, prev] of before) {
    if (after.has(id)) continue;
    touched.push(id);
    note(appChanges(prev, undefined));
  }
  if (out.length <= limit) return out;
  return [{ type: 'resync', data: { appIds: touched.slice(0, APP_IDS_LIMIT), apps: touched.length, tasks } }];
}

function appChanges(prev: App | undefined, app: App | undefined): LiveEvent[] {
  const current = (app ?? prev) as App;
  const change: Change = !prev ? 'added' : !app ? 'removed' : 'changed';
  const out: LiveEvent[] = [{ type: 'app', data: { appId: current.id, change, tasks: Object.keys(current.tasks).length } }];
  const was = prev?.tasks ?? {};
  const now = app?.tasks ?? {};
  for (const [id, task] of Object.entries(now)) {
    const old = was[id];
    if (old === task) continue;
    if (!old) out.push(taskEvent(task, 'added'));
    else if (!sameTaskView(old, task)) out.push(taskEvent(task, 'changed'));
  }
  for (const [id, task] of Object.entries(was)) if (!(id in now)) out.push(taskEvent(task, 'removed'));
  return out;
}

/** What a task event shows; a change elsewhere (version, timestamps) is not worth an event. */
function sameTaskView(a: Task, b: Task): boolean {
  return a.state === b.state && a.healthy === b.healthy && a.host === b.host && a.ports.join() === b.ports.join();
}

function taskEvent(task: Task, change: Change): TaskEvent {
  return { type: 'task', data: { appId: task.appId, taskId: task.id, change, state: task.state, host: task.host, ports: task.ports, healthy: task.healthy } };
}

/** Collects the app ids changed since the last apply, for the next apply event (bounded, the rest counted). */
export class TouchedApps {
  private ids = new Set<string>();
  private more = 0;

  add(ids: Iterable<string>): void {
    for (const id of ids) {
      if (this.ids.has(id)) continue;
      if (this.ids.size < APP_IDS_LIMIT) this.ids.add(id);
      else this.more++;
    }
  }

  /** The ids, sorted, then cleared; `more` says how many were left out. */
  take(): { appIds: string[]; more: number } {
    const out = { appIds: [...this.ids].sort(), more: this.more };
    this.ids = new Set();
    this.more = 0;
    return out;
  }
}

/** The app ids in a list of app, task and resync events. */
export function appIdsOf(events: readonly LiveEvent[]): string[] {
  const ids: string[] = [];
  for (const e of events) {
    if (e.type === 'app') ids.push(e.data.appId);
    else if (e.type === 'resync') ids.push(...e.data.appIds);
  }
  return ids;
}
