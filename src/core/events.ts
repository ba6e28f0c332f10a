/**
 * Pure mapping of Marathon event bodies (callback POSTs and SSE `data:` lines) to culm's domain events.
 * Anything not understood becomes `ignored` or `invalid`, which callers count; nothing here throws.
 */
import { mapApp, normaliseAppId } from './marathon-map.js';
import type { App } from './model.js';
import {
  checkApp, isAppId, isHost, isIpAddress, isPort, isTaskId, isTaskState, isVersion, shown, type InputField,
} from './input-grammar.js';

export type DomainEvent =
  | {
      kind: 'task';
      appId: string;
      taskId: string;
      state: string;
      host: string;
      ports: number[];
      ipAddresses: string[];
      version?: string;
    }
  | { kind: 'health'; appId: string; taskId?: string; instanceId?: string; alive: boolean | null }
  | { kind: 'app-removed'; appId: string }
  /** An app's definition as posted (api_post_event): its backend can exist before the resync confirms it. */
  | { kind: 'app-upsert'; app: App }
  /**
   * A deployment started (deployment_info): the apps it names are deploying from now on, so a task it starts
   * is judged by readiness (readiness.ts) before the resync confirms the deployment. A resync follows.
   */
  | { kind: 'deployment'; deploymentId: string; appIds: string[] }
  /** Something app-level changed (definition, deployment, group): fetch /v2/apps again soon. */
  | { kind: 'resync'; reason: string }
  | { kind: 'ignored'; eventType: string }
  /** `field`, `value` (shown, cut short): what the input grammar (input-grammar.ts) refused, when that is why. */
  | { kind: 'invalid'; eventType: string; reason: string; field?: InputField; value?: string };

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

/** Event types that say an app's definition, deployment or existence changed. */
const RESYNC_TYPES = new Set([
  'api_post_event', 'deployment_info', 'deployment_success', 'deployment_failed', 'deployment_step_success',
  'deployment_step_failure', 'group_change_success', 'group_change_failed', 'unknown_instance_terminated_event',
]);

/** Event types that carry nothing culm routes on (their content reaches culm through other events). */
const IGNORED_TYPES = new Set([
  'event_stream_attached', 'event_stream_detached', 'subscribe_event', 'unsubscribe_event',
  'failed_health_check_event', 'instance_changed_event', 'add_health_check_event', 'remove_health_check_event',
  'framework_message_event', 'scheduler_registered_event', 'scheduler_reregistered_event',
  'scheduler_disconnected_event', 'pod_created_event', 'pod_updated_event',
  'pod_deleted_event', 'app_terminated_event_ack',
]);

export function parseEventJson(text: string, sseType?: string): DomainEvent {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { kind: 'invalid', eventType: sseType ?? 'unknown', reason: 'body is not JSON' };
  }
  return toDomainEvent(body, sseType);
}

/** Module-level, not closures made per event: every callback goes through toDomainEvent. */
const isNumber = (p: unknown): p is number => typeof p === 'number';
const ipOf = (a: Json): string | undefined => str(a.ipAddress);
const nonEmpty = (a: string | undefined): a is string => !!a;
const notPort = (p: number): boolean => !isPort(p);
const notIpAddress = (a: string): boolean => !isIpAddress(a);
const invalid = (type: string, reason: string): DomainEvent => ({ kind: 'invalid', eventType: type, reason });
// Bounded reasons (a metrics label): the value itself is not part of it.
const refused = (type: string, field: InputField, value: unknown): DomainEvent => ({
  kind: 'invalid', eventType: type, reason: `invalid ${field}`, field, ...(value === undefined ? {} : { value: shown(value) }),
});

export function toDomainEvent(body: unknown, sseType?: string): DomainEvent {
  if (!isObj(body)) return { kind: 'invalid', eventType: sseType ?? 'unknown', reason: 'body is not a JSON object' };
  const type = str(body.eventType) ?? sseType ?? 'unknown';

  switch (type) {
    case 'status_update_event': {
      const appId = str(body.appId);
      const taskId = str(body.taskId);
      const state = str(body.taskStatus);
      if (!appId || !taskId || !state) return invalid(type, 'status_update_event needs appId, taskId and taskStatus');
      const ports = Array.isArray(body.ports) ? body.ports.filter(isNumber) : [];
      // Built-ins, not an array literal filled by push: V8 pretenures a literal's allocation site once the arrays it
      // made end up in the state (a new task keeps the event's), and every later event's array was then made in the
      // old space, keeping its strings alive through scavenges (measured: 100 KB promoted per scavenge, not 5).
      const ipAddresses = Array.isArray(body.ipAddresses) ? body.ipAddresses.filter(isObj).map(ipOf).filter(nonEmpty) : [];
      const host = str(body.host) ?? '';
      const version = str(body.version);
      const id = normaliseAppId(appId);
      if (!isAppId(id)) return refused(type, 'app_id', appId);
      if (!isTaskId(taskId)) return refused(type, 'task_id', taskId);
      if (!isTaskState(state)) return refused(type, 'task_state', state);
      if (host !== '' && !isHost(host)) return refused(type, 'host', host);
      const badPort = ports.find(notPort);
      if (badPort !== undefined) return refused(type, 'port', badPort);
      const badIp = ipAddresses.find(notIpAddress);
      if (badIp !== undefined) return refused(type, 'ip_address', badIp);
      if (version && !isVersion(version)) return refused(type, 'version', version);
      const event: DomainEvent = { kind: 'task', appId: id, taskId, state, host, ports, ipAddresses };
      if (version) event.version = version;
      return event;
    }
    case 'health_status_changed_event': {
      const appId = str(body.appId);
      const instanceId = str(body.instanceId);
      const taskId = str(body.taskId);
      if (!appId || (!instanceId && !taskId) || typeof body.alive !== 'boolean') {
        return invalid(type, 'health_status_changed_event needs appId, instanceId or taskId, and alive');
      }
      if (!isAppId(normaliseAppId(appId))) return refused(type, 'app_id', appId);
      if (!isTaskId(instanceId ?? taskId!)) return refused(type, 'task_id', instanceId ?? taskId);
      return { kind: 'health', appId: normaliseAppId(appId), alive: body.alive, ...(instanceId ? { instanceId } : { taskId }) };
    }
    case 'instance_health_changed_event': {
      const appId = str(body.runSpecId);
      const instanceId = str(body.instanceId);
      if (!appId || !instanceId) return invalid(type, 'instance_health_changed_event needs runSpecId and instanceId');
      if (!isAppId(normaliseAppId(appId))) return refused(type, 'app_id', appId);
      if (!isTaskId(instanceId)) return refused(type, 'task_id', instanceId);
      const alive = typeof body.healthy === 'boolean' ? body.healthy : null;
      return { kind: 'health', appId: normaliseAppId(appId), instanceId, alive };
    }
    case 'api_post_event': {
      if (!isObj(body.appDefinition)) return { kind: 'resync', reason: type };
      try {
        // A definition that fails the input grammar is left to the resync (which refuses it with its reason).
        const app = checkApp({ ...mapApp(body.appDefinition), tasks: {} }, []);
        return { kind: 'app-upsert', app };
      } catch {
        return { kind: 'resync', reason: type };
      }
    }
    case 'deployment_info':
      return deploymentStarted(body) ?? { kind: 'resync', reason: type };
    case 'app_terminated_event': {
      const appId = str(body.appId);
      if (!appId) return invalid(type, 'app_terminated_event needs appId');
      if (!isAppId(normaliseAppId(appId))) return refused(type, 'app_id', appId);
      return { kind: 'app-removed', appId: normaliseAppId(appId) };
    }
    default:
      if (RESYNC_TYPES.has(type)) return { kind: 'resync', reason: type };
      if (IGNORED_TYPES.has(type)) return { kind: 'ignored', eventType: type };
      return { kind: 'ignored', eventType: type };
  }
}

/**
 * The deployment id and the apps of a deployment_info's plan (steps as `[{actions: [{app}]}]`, or `[{app}]` in
 * old docs, and the current step); undefined when a value is missing or fails the input grammar.
 */
function deploymentStarted(body: Json): DomainEvent | undefined {
  const plan = isObj(body.plan) ? body.plan : undefined;
  const id = plan ? str(plan.id) : undefined;
  if (!plan || !id || !isTaskId(id)) return undefined;
  const steps = [...(Array.isArray(plan.steps) ? plan.steps : []), body.currentStep].filter(isObj);
  const apps = new Set<string>();
  for (const step of steps) {
    for (const action of [step, ...(Array.isArray(step.actions) ? step.actions : [])].filter(isObj)) {
      const app = str(action.app);
      if (app === undefined) continue;
      if (!isAppId(normaliseAppId(app))) return undefined;
      apps.add(normaliseAppId(app));
    }
  }
  return apps.size > 0 ? { kind: 'deployment', deploymentId: id, appIds: [...apps] } : undefined;
}

/**
 * The instance id Marathon (1.4+) reports in health events for a task id (Marathon's Task.Id.instanceId):
 * `app.instance-UUID._app.1` → `app.instance-UUID`; a legacy `app.UUID` → `app.marathon-UUID`.
 * App ids may contain dots, so the last `.instance-`/`.marathon-` marker counts.
 */
export function instanceIdOf(taskId: string): string {
  const withInstance = /^(.*)\.(instance-|marathon-)([^.]+)(\..*)?$/.exec(taskId);
  if (withInstance) return `${withInstance[1]}.${withInstance[2]}${withInstance[3]}`;
  const dot = taskId.lastIndexOf('.');
  if (dot <= 0) return taskId;
  return `${taskId.slice(0, dot)}.marathon-${taskId.slice(dot + 1)}`;
}

/** A bounded metrics label for an event: its kind, or for ignored events a known Marathon type or `other`. */
export function eventLabel(event: DomainEvent): string {
  if (event.kind !== 'ignored') return event.kind;
  return IGNORED_TYPES.has(event.eventType) || RESYNC_TYPES.has(event.eventType) ? event.eventType : 'other';
}
