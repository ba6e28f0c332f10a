// Marathon event bodies, fields in the order of their case classes (core/event/Events.scala), and the
// Jetty EventSource framing of /v2/events.
import { randomUUID } from 'node:crypto';
import { type App, type MarathonVersion, type Task, appDefinition, hostPorts, ipAddresses, now } from './model.js';

export type EventBody = Record<string, unknown>;

/** Jetty EventSource.Emitter.event(): "event: " line, one "data: " line per data line, blank line; CRLF. */
export const sseFrame = (eventType: string, json: string): string =>
  `event: ${eventType}\r\n${json.split('\n').map((l) => `data: ${l}\r\n`).join('')}\r\n`;

export function statusUpdateEvent(app: App, t: Task, state: string, message = ''): EventBody {
  return {
    slaveId: t.slaveId,
    taskId: t.id,
    taskStatus: state,
    message,
    appId: app.id,
    host: t.host,
    ipAddresses: ipAddresses(t),
    ports: hostPorts(app, t),
    version: t.version,
    eventType: 'status_update_event',
    timestamp: now(),
  };
}

const CONDITIONS: Record<string, string> = {
  TASK_STAGING: 'Staging',
  TASK_STARTING: 'Starting',
  TASK_RUNNING: 'Running',
  TASK_KILLING: 'Killing',
  TASK_KILLED: 'Killed',
  TASK_FAILED: 'Failed',
  TASK_FINISHED: 'Finished',
  TASK_ERROR: 'Error',
  TASK_LOST: 'Gone',
  TASK_GONE: 'Gone',
  TASK_GONE_BY_OPERATOR: 'Gone',
  TASK_DROPPED: 'Dropped',
  TASK_UNREACHABLE: 'Unreachable',
  TASK_UNKNOWN: 'Unknown',
};

export function instanceChangedEvent(app: App, t: Task, state: string): EventBody {
  return {
    instanceId: t.instanceId,
    condition: CONDITIONS[state] ?? 'Unknown',
    runSpecId: app.id,
    agentId: t.slaveId,
    host: t.host,
    runSpecVersion: app.version,
    timestamp: now(),
    eventType: 'instance_changed_event',
  };
}

export function healthStatusChangedEvent(app: App, t: Task, alive: boolean): EventBody {
  return {
    appId: app.id,
    instanceId: t.instanceId,
    version: t.version,
    alive,
    eventType: 'health_status_changed_event',
    timestamp: now(),
  };
}

export function instanceHealthChangedEvent(app: App, t: Task, healthy: boolean | null): EventBody {
  return {
    instanceId: t.instanceId,
    runSpecId: app.id,
    healthy,
    runSpecVersion: app.version,
    timestamp: now(),
    eventType: 'instance_health_changed_event',
  };
}

export const apiPostEvent = (v: MarathonVersion, app: App, tasks: Task[], uri: string): EventBody => ({
  clientIp: '127.0.0.1',
  uri,
  appDefinition: appDefinition(v, app, tasks),
  eventType: 'api_post_event',
  timestamp: now(),
});

export const groupChangeSuccess = (version: string): EventBody => ({
  groupId: '/',
  version,
  eventType: 'group_change_success',
  timestamp: now(),
});

export const appTerminatedEvent = (app: App): EventBody => ({
  appId: app.id,
  eventType: 'app_terminated_event',
  timestamp: now(),
});

/**
 * The events of one deployment: deployment_info and deployment_step_success per step, then deployment_success.
 * Plans carry original/target up to 1.7 ("heavy" format); 1.8+ sends light plans.
 */
export function deploymentEvents(
  v: MarathonVersion,
  appId: string,
  actions: string[],
  groups: () => { original: EventBody; target: EventBody },
): EventBody[] {
  const steps = actions.map((action) => ({ actions: [{ action, app: appId }] }));
  const version = now();
  const plan: EventBody = { id: randomUUID() };
  // Heavy plans (whole groups) only where Marathon sends them: built lazily, they cost O(apps).
  if (v !== '1.10') Object.assign(plan, groups());
  Object.assign(plan, { steps, version });
  const out: EventBody[] = [];
  for (const step of steps) {
    out.push({ plan, currentStep: step, eventType: 'deployment_info', timestamp: now() });
    out.push({ plan, currentStep: step, eventType: 'deployment_step_success', timestamp: now() });
  }
  out.push({ id: plan.id, plan, eventType: 'deployment_success', timestamp: now() });
  return out;
}

export const subscriptionEvent = (
  kind: 'subscribe_event' | 'unsubscribe_event',
  clientIp: string,
  callbackUrl: string,
): EventBody => ({ callbackUrl, clientIp, eventType: kind, timestamp: now() });

export const streamEvent = (kind: 'event_stream_attached' | 'event_stream_detached', remoteAddress: string): EventBody => ({
  remoteAddress,
  eventType: kind,
  timestamp: now(),
});
