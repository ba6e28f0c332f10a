/**
 * The grammar of every value from Marathon (its REST answers, its events, a callback POST) that can reach a
 * config line: app and task ids, hosts and IPs, ports, health-check paths and protocols, label and env
 * entries. HAProxy's config is line- and word-oriented: a newline starts a directive, a space starts a new
 * argument, `#` a comment, quotes and `\` change how the rest is read, `"${VAR}"` expands the environment.
 * A value is checked where it enters the model (marathon-map.ts, events.ts, the saved snapshot), so nothing
 * downstream (the view, a custom template) ever holds one that could write a directive. Pure: no I/O.
 */
import type { App, ReadinessCheck, Task } from './model.js';

/** Which field a refused value came from: the `field` label of `culm_marathon_data_rejected_total`. */
export type InputField =
  | 'app_id' | 'task_id' | 'host' | 'ip_address' | 'port' | 'service_port' | 'container_port'
  | 'health_check_path' | 'health_check_protocol' | 'health_check_port_index' | 'health_check_port'
  | 'task_state'
  | 'label' | 'env' | 'version'
  | 'lb_label'
  | 'readiness_check_path' | 'readiness_check_protocol' | 'readiness_check_name' | 'readiness_check_port_name'
  | 'readiness_check_number' | 'readiness_task_id';

export interface Rejection {
  /** The app the value belongs to (as given, for the log line; it may itself be the refused value). */
  appId: string;
  field: InputField;
  reason: string;
}

export class InputError extends Error {
  constructor(readonly field: InputField, message: string) {
    super(message);
    this.name = 'InputError';
  }
}

/** A value quoted for a log line or an error: JSON-escaped (control characters visible), cut short. */
export function shown(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

// Marathon's PathId segment (PathId.scala): lower-case letters, digits, '-' inside, '.' between words.
// Upper case is accepted too (harmless in a config, and seen in ids of very old Marathons).
// One expression for the whole id (`/` and a segment, once or more): no split, nothing allocated per event.
const APP_ID = /^(?:\/[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*)+$/i;
const MAX_ID = 512;

/** An absolute app id: `/seg/seg…`, each segment by Marathon's grammar. */
export function isAppId(id: string): boolean {
  return id.length >= 2 && id.length <= MAX_ID && APP_ID.test(id);
}

/**
 * Marathon's task ids: `<app_id with / as _>.<uuid>` (legacy) or `…instance-<uuid>._app.<n>` (1.4+). Mesos
 * allows more, so the set is the printable characters that cannot end a word or change quoting.
 */
const TASK_ID = /^[A-Za-z0-9._:@+~-]{1,512}$/;
export const isTaskId = (id: string): boolean => TASK_ID.test(id);

const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const IPV6_CHARS = /^[0-9A-Fa-f:.]{2,45}$/;

export function isIpAddress(value: string): boolean {
  if (IPV4.test(value)) return true;
  if (!IPV6_CHARS.test(value) || !value.includes(':')) return false;
  // WHATWG's URL parser implements RFC 4291's text forms exactly (and is pure).
  try {
    new URL(`http://[${value}]/`);
    return true;
  } catch {
    return false;
  }
}

// RFC 1123 labels; '_' accepted (some agents' names have it; HAProxy resolves them through libc).
const LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

/** A Mesos agent's host: an IP address or a DNS name. */
export function isHost(value: string): boolean {
  if (isIpAddress(value)) return true;
  const name = value.endsWith('.') ? value.slice(0, -1) : value;
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.split('.');
  // All-numeric dotted names are malformed IPv4 addresses, not names.
  if (labels.every((l) => /^\d+$/.test(l))) return false;
  return labels.every((l) => LABEL.test(l));
}

export const isPort = (p: unknown): p is number => Number.isInteger(p) && (p as number) >= 1 && (p as number) <= 65535;
/** Service and container ports: 0 means "none assigned" in Marathon's app definitions. */
export const isPortOrZero = (p: unknown): p is number => p === 0 || isPort(p);

/**
 * An HTTP health-check path as `option httpchk GET <path>` writes it: one word, RFC 3986 path and query
 * characters, without the ones HAProxy's parser reads specially (quotes, `\`, `#`, `$`).
 */
const HEALTH_PATH = /^\/[A-Za-z0-9\-._~!&()*+,;=:@%/?]{0,1023}$/;
export const isHealthCheckPath = (p: string): boolean => HEALTH_PATH.test(p);

/**
 * A path prefix from a marathon-lb label (`HAPROXY_{n}_PATH`), written as `path_beg <prefix>`: the health-check
 * path's characters without `?` (a prefix of the path, not of the query). One word, nothing HAProxy reads
 * specially; a subset of what the route map takes for rule prefixes.
 */
const PATH_PREFIX = /^\/[A-Za-z0-9\-._~!&()*+,;=:@%/]{0,1023}$/;
export const isPathPrefix = (p: string): boolean => PATH_PREFIX.test(p);

/**
 * A certificate file from a label (`HAPROXY_{n}_SSL_CERT`) or the operator's `HAProxy.SslCerts`: an absolute
 * path, one word in a `bind … crt <path>` line and in a crt-list line (no space, quote, `#`, backslash, `$`, `[`), no `..`.
 */
const CERT_PATH = /^\/[A-Za-z0-9\-._~+,=:@%/]{0,1023}$/;
export const isCertPath = (p: string): boolean => CERT_PATH.test(p) && !p.split('/').includes('..');

// RFC 1123 labels, without the `_` agents' names may have: what a browser sends in `Host:`.
const VHOST_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * A virtual host from a label (`HAPROXY_{n}_VHOST`), lower case: a DNS name or an IPv4 address, no port,
 * no path, no wildcard. Matched against `Host:` with its port cut off, so a port here could never match.
 */
export function isVirtualHost(value: string): boolean {
  if (value.length === 0 || value.length > 253) return false;
  return value.split('.').every((l) => VHOST_LABEL.test(l));
}

/**
 * A wildcard virtual host (`*.example.com`): `*.` and a DNS name of at least two labels, nothing else (`*`,
 * `a.*.com`, `*example.com`, `*.*.example.com` are not), and not over an address (`*.0.0.1`: its last label all
 * digits). It matches any name ending with `.example.com`, at any depth, never `example.com` itself (routing.ts).
 * One label (`*.com`, `*.local`) is refused: host routes come before every path prefix, so such a wildcard would
 * take a whole top-level domain's requests from every app that no exact host names.
 */
export function isWildcardHost(value: string): boolean {
  if (!value.startsWith('*.') || value.length > 253) return false;
  const name = value.slice(2);
  const labels = name.split('.');
  return labels.length >= 2 && isVirtualHost(name) && !/^[0-9]+$/.test(labels[labels.length - 1]);
}

/** `*.` and one DNS label (`*.com`, `*.mesos`): a wildcard isWildcardHost refuses for its reach, not its form. */
export const isOneLabelWildcard = (value: string): boolean => value.startsWith('*.') && VHOST_LABEL.test(value.slice(2)) && !/^[0-9]+$/.test(value.slice(2));

const PROTOCOL = /^[A-Z][A-Z0-9_]{0,31}$/;
export const isHealthCheckProtocol = (p: string): boolean => PROTOCOL.test(p);

const TASK_STATE = /^TASK_[A-Z_]{1,40}$/;
export const isTaskState = (s: string): boolean => TASK_STATE.test(s);

// Versions are ISO timestamps; anything word-like is accepted (only custom templates could show one).
const VERSION = /^[A-Za-z0-9.:+_-]{1,64}$/;
export const isVersion = (v: string): boolean => VERSION.test(v);

const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/**
 * A label or env entry handed to templates: any text without control characters (a newline would start a
 * directive). Spaces, quotes and `#` stay (marathon-lb's labels have them): a template writes such a value
 * as one word with `quote()`.
 */
export const isTemplateText = (key: string, value: string): boolean =>
  key.length > 0 && key.length <= 256 && value.length <= 16_384 && !CONTROL.test(key) && !CONTROL.test(value);

/**
 * marathon-lb's raw-config labels (`HAPROXY_{n}_BACKEND_HEAD`, …, `_BIND_OPTIONS`: raw-labels.ts), whose values are
 * HAProxy lines or words: [, n, name]. They keep their newlines (and tabs) in the model; their lines are checked where they are
 * written (only with `HAProxy.TrustLabelConfig`), and a template must not print them as they are.
 */
export const RAW_CONFIG_LABEL = /^HAPROXY_([0-9]{1,3})_(BACKEND_HEAD|BACKEND_HTTP_OPTIONS|BACKEND_HSTS_OPTIONS|FRONTEND_HEAD|FRONTEND_BACKEND_GLUE|BIND_OPTIONS)$/;
export const MULTI_LINE_CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u2028\u2029]/;
const isRawConfigText = (key: string, value: string): boolean =>
  RAW_CONFIG_LABEL.test(key) && value.length <= 16_384 && !MULTI_LINE_CONTROL.test(value);

/**
 * `value` as one HAProxy word, whatever it holds: single-quoted (HAProxy reads nothing inside single
 * quotes: no `$`, `\` or `#`), with each `'` written as `'\''` (close, escaped quote, reopen). Control
 * characters cannot be quoted on one line: they are refused.
 */
export function quote(value: string): string {
  if (CONTROL.test(value)) throw new InputError('label', `quote(): ${shown(value)} holds a control character`);
  return `'${value.replace(/'/g, "'\\''")}'`;
}

/**
 * `quote()` for an argument HAProxy reads as a log-format string (`http-request set-header`, `return ...
 * hdr`, `lf-string`): `%` is doubled too, so a value such as `%[env(SECRET)]` stays text and fetches nothing.
 */
export const quoteFormat = (value: string): string => quote(value.replace(/%/g, '%%'));

// ---- whole apps, as the model holds them ----


/**
 * The task if every value in it is well formed; otherwise undefined, with the reason in `rejected`. A task
 * without host or ports is kept (it is not served, see eligibility.ts): only what is there is checked.
 */
export function checkTask(task: Task, rejected: Rejection[]): Task | undefined {
  const refuse = (field: InputField, value: unknown): undefined => {
    rejected.push({ appId: task.appId, field, reason: `task ${shown(task.id)}: ${field} ${shown(value)} is not valid` });
    return undefined;
  };
  if (!isTaskId(task.id)) return refuse('task_id', task.id);
  if (task.host !== '' && !GOOD_HOSTS.has(task.host, isHost)) return refuse('host', task.host);
  for (const p of task.ports) if (!isPort(p)) return refuse('port', p);
  for (const ip of task.ipAddresses) if (!GOOD_IPS.has(ip, isIpAddress)) return refuse('ip_address', ip);
  if (!GOOD_STATES.has(task.state, isTaskState)) return refuse('task_state', task.state);
  if (task.version !== undefined && !GOOD_VERSIONS.has(task.version, isVersion)) return refuse('version', task.version);
  return task;
}

/**
 * Values seen good before. A cluster has a few thousand agents, states and versions, but 100,000 tasks: a
 * first sync at that size checks each distinct host once (the grammar's share of it: ~240 -> ~70 ms).
 * Bounded: emptied when full, so made-up values cannot grow it.
 */
class GoodValues {
  private readonly seen = new Set<string>();
  constructor(private readonly limit: number) {}

  has(value: string, check: (v: string) => boolean): boolean {
    if (this.seen.has(value)) return true;
    if (!check(value)) return false;
    if (this.seen.size >= this.limit) this.seen.clear();
    this.seen.add(value);
    return true;
  }
}
// One set per grammar: a good host name is not a good IP address.
const GOOD_HOSTS = new GoodValues(20_000);
const GOOD_IPS = new GoodValues(20_000);
const GOOD_STATES = new GoodValues(100);
const GOOD_VERSIONS = new GoodValues(2_000);

/**
 * The app with every value checked: an app whose id, ports or health checks are malformed is refused whole
 * (InputError: the caller keeps its last known state); a malformed task, label or env entry is left out, the
 * rest kept. `trusted(task)` says a task was already checked (identical to one culm holds): not checked again.
 * Returns `app` itself when nothing was left out.
 */
export function checkApp(app: App, rejected: Rejection[], trusted?: (task: Task) => boolean): App {
  const refuse = (field: InputField, value: unknown): never => {
    throw new InputError(field, `${field} ${shown(value)} is not valid`);
  };
  if (!isAppId(app.id)) refuse('app_id', app.id);
  for (const p of app.servicePorts) if (!isPortOrZero(p)) refuse('service_port', p);
  for (const p of app.containerPorts) if (!isPortOrZero(p)) refuse('container_port', p);
  for (const h of app.healthChecks) {
    if (!isHealthCheckProtocol(h.protocol)) refuse('health_check_protocol', h.protocol);
    if (h.path !== undefined && !isHealthCheckPath(h.path)) refuse('health_check_path', h.path);
    if (h.portIndex !== undefined && !(Number.isInteger(h.portIndex) && h.portIndex >= 0 && h.portIndex < 1000)) refuse('health_check_port_index', h.portIndex);
    if (h.port !== undefined && !isPort(h.port)) refuse('health_check_port', h.port);
  }
  if (app.version !== undefined && !isVersion(app.version)) refuse('version', app.version);
  if (app.readinessCheck) checkReadinessCheck(app.readinessCheck, refuse);
  for (const id in app.readinessResults) if (!isTaskId(id)) refuse('readiness_task_id', id);
  const labels = checkTexts(app.id, 'label', app.labels, rejected);
  const env = checkTexts(app.id, 'env', app.env, rejected);
  let tasks: Record<string, Task> | undefined;
  for (const id in app.tasks) {
    const task = app.tasks[id];
    if (trusted?.(task) || checkTask(task, rejected)) continue;
    tasks ??= { ...app.tasks };
    delete tasks[id];
  }
  if (labels === app.labels && env === app.env && tasks === undefined) return app;
  return { ...app, labels, env, tasks: tasks ?? app.tasks };
}

// Marathon's grammar for a readiness check's name and port name (readinessCheck.raml: `^[a-z][-a-z0-9]*$`
// for the port name); the name is free text there, held to a word here (only a template could show it).
const CHECK_NAME = /^[A-Za-z0-9._-]{1,64}$/;
const PORT_NAME = /^[a-z][-a-z0-9]{0,62}$/;
const isCount = (n: unknown, max: number): boolean => Number.isInteger(n) && (n as number) >= 0 && (n as number) <= max;

/** A readiness check reaches templates (`ReadinessCheckPath`): its path by the health-check path's grammar. */
function checkReadinessCheck(c: ReadinessCheck, refuse: (field: InputField, value: unknown) => never): void {
  if (!isHealthCheckPath(c.path)) refuse('readiness_check_path', c.path);
  if (c.protocol !== 'HTTP' && c.protocol !== 'HTTPS') refuse('readiness_check_protocol', c.protocol);
  if (!CHECK_NAME.test(c.name)) refuse('readiness_check_name', c.name);
  if (!PORT_NAME.test(c.portName)) refuse('readiness_check_port_name', c.portName);
  if (!isCount(c.intervalSeconds, 86_400)) refuse('readiness_check_number', c.intervalSeconds);
  if (c.timeoutSeconds !== undefined && !isCount(c.timeoutSeconds, 86_400)) refuse('readiness_check_number', c.timeoutSeconds);
  for (const code of c.httpStatusCodesForReady) if (!(Number.isInteger(code) && code >= 100 && code <= 599)) refuse('readiness_check_number', code);
}

function checkTexts(appId: string, field: 'label' | 'env', entries: Record<string, string>, rejected: Rejection[]): Record<string, string> {
  let out: Record<string, string> | undefined;
  for (const key in entries) {
    if (isTemplateText(key, entries[key]) || (field === 'label' && isRawConfigText(key, entries[key]))) continue;
    out ??= { ...entries };
    // A marathon-lb label left out would quietly route its port another way (a lost vhost falls back to the
    // default path route): it is kept with each control character made U+FFFD, which no label grammar takes,
    // so its port is left out instead (lb-labels.ts).
    const kept = field === 'label' && key.startsWith('HAPROXY_') && isTemplateText(key, '') ? entries[key].slice(0, 16_384).replace(CONTROLS, '\ufffd') : undefined;
    rejected.push({ appId, field, reason: `${field} ${shown(key)} has a control character or is too long: ${kept === undefined ? 'left out' : 'its port is left out'}` });
    if (kept === undefined) delete out[key];
    else out[key] = kept;
  }
  return out ?? entries;
}

const CONTROLS = new RegExp(CONTROL.source, 'g');
