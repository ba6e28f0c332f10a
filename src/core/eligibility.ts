/** Which tasks take traffic, and where they are reached. */
import type { App, Task } from './model.js';

export interface Endpoint {
  host: string;
  port: number;
}

/**
 * A task serves only when TASK_RUNNING and, if its app has health checks, known healthy. TASK_KILLING,
 * terminal, lost and unreachable tasks never serve.
 */
export function isServing(app: App, task: Task): boolean {
  if (task.state !== 'TASK_RUNNING') return false;
  if (app.healthChecks.length > 0 && task.healthy !== true) return false;
  return endpointOf(app, task) !== null;
}

/**
 * Host networking and bridge: the agent's host and the first host port. IP-per-task: the task's own IP
 * and the app's first container port (unless Marathon also mapped a host port).
 */
export function endpointOf(app: App, task: Task): Endpoint | null {
  if (app.network === 'container' && task.ports.length === 0) {
    const ip = task.ipAddresses[0];
    const port = app.containerPorts[0];
    return ip && port ? { host: ip, port } : null;
  }
  const port = task.ports[0];
  return task.host && port ? { host: task.host, port } : null;
}

export function servingTasks(app: App): Task[] {
  return Object.values(app.tasks).filter((t) => isServing(app, t));
}
