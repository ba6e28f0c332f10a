/**
 * Which check HAProxy runs for an app, from Marathon's health checks. Pure; the view hands the result to
 * templates, which only print it.
 *
 * - HTTP: `option httpchk GET <path>` + `check`.
 * - HTTPS: the task serves TLS on the checked port, so the check is HTTPS (`check-ssl`, needed as soon as a
 *   `port` is given: HAProxy only carries `ssl` over to checks on the serving port) and, as Bamboo's default
 *   template does, traffic goes over TLS too (`ssl verify none`: tasks have no certificate HAProxy could verify),
 *   also when the check is on another port (Bamboo never looked at the port; an app whose serving port is plain
 *   HTTP beside an HTTPS check port needs a custom template).
 * - TCP: `check` without httpchk, a connect check.
 * - COMMAND, MESOS_HTTP, MESOS_HTTPS, MESOS_TCP and anything else: run by the Mesos agent, seen only in
 *   Marathon's results (which already decide whether a task serves). HAProxy runs no check of its own, which
 *   could only mark down a task Marathon calls healthy (it cannot run a command, and a Mesos check may reach the
 *   task where HAProxy cannot).
 * Several checks: the first HTTP or HTTPS one (the one Bamboo's `HealthCheckPath` names), else the first TCP one.
 */
import type { App, HealthCheck, Task } from './model.js';

export type CheckKind = 'HTTP' | 'HTTPS' | 'TCP' | '';

export interface CheckView {
  /** What HAProxy checks: '' for no check at all. */
  Kind: CheckKind;
  /** The path of `option httpchk GET <path>` (HTTP and HTTPS), '' otherwise. */
  Path: string;
  /** Check and traffic over TLS (`ssl verify none check-ssl`). */
  Tls: boolean;
}

const NO_CHECK: CheckView = Object.freeze({ Kind: '', Path: '', Tls: false });

/** The Marathon check HAProxy mirrors, if any. */
export function chosenCheck(app: App): HealthCheck | undefined {
  return app.healthChecks.find((h) => h.protocol === 'HTTP' || h.protocol === 'HTTPS')
    ?? app.healthChecks.find((h) => h.protocol === 'TCP');
}

export function checkOf(app: App): CheckView {
  const h = chosenCheck(app);
  if (!h) return NO_CHECK;
  // Frozen: views are shared between renders (view.ts).
  if (h.protocol === 'TCP') return Object.freeze({ Kind: 'TCP', Path: '', Tls: false });
  // Marathon's default path for HTTP(S) checks.
  return Object.freeze({ Kind: h.protocol as CheckKind, Path: h.path ?? '/', Tls: h.protocol === 'HTTPS' });
}

/**
 * The port HAProxy's check probes on this task when it is not the serving port `servingPort`, else 0. A fixed
 * `port` wins over `portIndex` (Marathon takes one or the other); `portIndex` n is the task's n-th host port, or for IP-per-task
 * the app's n-th container port. A port index the task does not have gives 0 (check the serving port): Marathon
 * cannot check that task either, so it never reports it healthy and it does not serve anyway.
 */
export function checkPortOf(app: App, task: Task, servingPort: number): number {
  const h = chosenCheck(app);
  if (!h) return 0;
  let port = h.port;
  if (port === undefined) {
    const index = h.portIndex ?? 0;
    port = app.network === 'container' && task.ports.length === 0 ? app.containerPorts[index] : task.ports[index];
  }
  return port !== undefined && port > 0 && port !== servingPort ? port : 0;
}
