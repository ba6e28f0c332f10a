/**
 * Whether a task is ready, by Bamboo's rule (QubitProducts/bamboo, services/marathon/marathon.go,
 * `readinessCalculator`), with the time passed in:
 * - a task that is not TASK_RUNNING is not ready;
 * - no deployment of its app runs, or the app has no readiness check: ready (afterwards readiness is the
 *   health checks' business);
 * - Marathon has a result for the task id: that result;
 * - otherwise the task is new and Marathon has not checked it yet, or it is an old task of the previous
 *   version (Marathon checks only the tasks a deployment starts). It is taken for new, so not ready, until
 *   the check's timeoutSeconds + 5 s after its `startedAt` (10 s when the timeout is unset), then for old:
 *   ready. An unparseable `startedAt` means not ready.
 * The last case changes with time alone: `readinessChangesAt` says when, so callers that cache (views,
 * counts) know how long a result holds and the poller knows when to re-apply. Pure: no clock inside.
 */
import type { App, Task } from './model.js';

/** Bamboo's `readinessCheckSafetyMargin`, added to a set timeout. */
export const READINESS_SAFETY_MARGIN_MS = 5000;
/** Bamboo's `readinessCheckDefaultTimeout`, the whole wait when the check has no timeout. */
export const READINESS_DEFAULT_WAIT_MS = 10_000;

/** A deployment runs and the app has a readiness check: only then does readiness depend on Marathon's results. */
export const readinessApplies = (app: App): boolean => app.deployments.length > 0 && app.readinessCheck !== undefined;

// RFC 3339, as Go's time.Parse(time.RFC3339, …) takes it (fractional seconds allowed, a zone required).
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/i;

/** When a running task without a result is taken for an old one (ms since epoch); NaN when `startedAt` is unparseable. */
function oldTaskAt(app: App, task: Task): number {
  const started = task.startedAt !== undefined && RFC3339.test(task.startedAt) ? Date.parse(task.startedAt) : Number.NaN;
  const timeout = app.readinessCheck?.timeoutSeconds;
  const wait = timeout ? timeout * 1000 + READINESS_SAFETY_MARGIN_MS : READINESS_DEFAULT_WAIT_MS;
  return started + wait;
}

export function isReady(app: App, task: Task, now: number): boolean {
  if (task.state !== 'TASK_RUNNING') return false;
  if (!readinessApplies(app)) return true;
  const result = app.readinessResults?.[task.id];
  if (result !== undefined) return result;
  return now >= oldTaskAt(app, task); // false for NaN
}

/**
 * The first instant after `now` at which `isReady` of one of the app's tasks changes with no new input from
 * Marathon (a task without a result turning "old"); Infinity when none will.
 */
export function readinessChangesAt(app: App, now: number): number {
  if (!readinessApplies(app)) return Number.POSITIVE_INFINITY;
  let next = Number.POSITIVE_INFINITY;
  for (const id in app.tasks) {
    const task = app.tasks[id];
    if (task.state !== 'TASK_RUNNING' || app.readinessResults?.[id] !== undefined) continue;
    const at = oldTaskAt(app, task);
    if (at > now && at < next) next = at;
  }
  return next;
}
