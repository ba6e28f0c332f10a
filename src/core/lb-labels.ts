/**
 * marathon-lb's labels read from an app as they are (`HAPROXY_GROUP`, `HAPROXY_{n}_VHOST`, …): one entry per
 * service port, checked value by value. A label value that fails its grammar (input-grammar.ts) leaves that
 * port out, with the reason, never the config and never another port or app: the same function reports the
 * problem where the app enters (checkApp) and decides the port in the view, so the two cannot disagree.
 * Which ports an edge serves also depends on its group setting (`HAProxy.Group`, marathon-lb's `--group`):
 * `groupRefusal`. Pure.
 *
 * Read now: HAPROXY_GROUP, HAPROXY_{n}_GROUP, HAPROXY_{n}_VHOST, HAPROXY_{n}_PATH, HAPROXY_{n}_REDIRECT_TO_HTTPS,
 * HAPROXY_{n}_MODE (a TCP frontend on that service port, view.ts / service-ports.ts), HAPROXY_{n}_BALANCE and
 * HAPROXY_{n}_STICKY (backend-settings.ts), HAPROXY_{n}_SSL_CERT (a certificate for the HTTPS frontend and the
 * port's own frontend, tls.ts), HAPROXY_{n}_BIND_ADDR (the address of the port's own frontend), HAPROXY_{n}_USE_HSTS
 * (the HSTS header on the port's answers), and Bamboo's `BAMBOO_TCP_PORT` app env (a TCP frontend on that port to port 0's tasks). Others are left to
 * templates (`Labels`).
 */
import type { App } from './model.js';
import { httpExtrasOf, portLabel } from './http-labels.js';
import { isCertPath, isIpAddress, isOneLabelWildcard, isPathPrefix, isVirtualHost, isWildcardHost, shown, type Rejection } from './input-grammar.js';
import { booleanOf, labelSettings, type BackendSettings } from './backend-settings.js';
import { exact } from './exact.js';

export type PortMode = 'http' | 'tcp';

/** One service port of an app, as its labels describe it (the template context's `Ports`). */
export interface PortView {
  /** n in `HAPROXY_{n}_…`: the port's position in the app definition. */
  Index: number;
  /** Marathon's service port (0: none assigned). */
  ServicePort: number;
  /** `HAPROXY_{n}_MODE`; `http` without it (Bamboo routes every app by HTTP). */
  Mode: PortMode;
  /** `HAPROXY_{n}_VHOST`, lower case, in label order, exact hosts and wildcards (`*.example.com`) alike; empty: none. */
  Vhosts: readonly string[];
  /** `HAPROXY_{n}_PATH`; '' for none. */
  Path: string;
  /** `HAPROXY_{n}_GROUP`, else `HAPROXY_GROUP`, split at commas; empty: no group named. */
  Groups: readonly string[];
  /** `HAPROXY_{n}_REDIRECT_TO_HTTPS`. */
  RedirectToHttps: boolean;
  /** Why the port is left out ('' when it is served): a bad label, or this edge's group setting. */
  NotServed: string;
  /** The port's backend: `<EscapedId>-cluster` for port 0 (Bamboo's name), `<EscapedId>-<n>-cluster` beyond. */
  Backend: string;
  /** `HAPROXY_{n}_BALANCE` / `_STICKY` as read (backend-settings.ts); the backend's settled ones, a rule's `Config` over these, are in `Backends`. */
  Settings: Readonly<BackendSettings>;
  /**
   * `HAPROXY_{n}_SSL_CERT`: a PEM file on the edge host the HTTPS frontend also offers (chosen by SNI); ''
   * for none. Whether the file is usable is judged where files are (tls.ts, `Tls` in the context).
   */
  SslCert: string;
  /**
   * `HAPROXY_{n}_SSL_CERT` is there but not a path culm takes: no certificate, and no frontend of the port's own
   * (it would answer in clear where TLS is expected); the port is still routed by the HTTP frontend.
   */
  SslCertRefused: boolean;
  /**
   * `HAPROXY_{n}_BIND_ADDR`: the address the port's own frontend binds on, an IPv4 or IPv6 literal or `*`
   * (never a name: HAProxy would resolve it once, at start); '' for the edge's `HAProxy.ServicePortBindAddress`.
   */
  BindAddr: string;
  /** `HAPROXY_{n}_USE_HSTS`: the port's HTTP backend sets `Strict-Transport-Security` on its answers. */
  Hsts: boolean;
}

/** Which apps and ports an edge serves (`HAProxy.Group`, `HAProxy.StrictGroups`, `HAProxy.BindServicePorts`). */
export interface GroupPolicy {
  /** Empty: every app, whatever its labels (Bamboo). `*`: every app, as in marathon-lb. */
  readonly groups: readonly string[];
  /** Apps without a group label are left out (marathon-lb's behaviour); off: served (Bamboo's). */
  readonly strict: boolean;
  /**
   * The address every served service port gets a frontend on (HAProxy.BindServicePorts /
   * ServicePortBindAddress, service-ports.ts); absent: none (Bamboo's single HTTP frontend).
   */
  readonly servicePortBind?: string;
  /**
   * Whether `HAPROXY_{n}_VHOST`/`_PATH`/`_REDIRECT_TO_HTTPS` route (HAProxy.LabelRouting); false: Bamboo's
   * routing, the REST rule or `path_beg -i <id>`, whatever the labels. Absent: true.
   */
  readonly labelRouting?: boolean;
  /**
   * Whether raw HAProxy lines from marathon-lb's labels (`HAPROXY_{n}_BACKEND_HEAD`, …: raw-labels.ts) are
   * written (HAProxy.TrustLabelConfig): a trust decision, any app owner writes into the shared edge. Absent: not.
   */
  readonly trustLabelConfig?: boolean;
}

export const SERVE_ALL: GroupPolicy = Object.freeze({ groups: Object.freeze([]), strict: false });

export interface LabelProblem {
  index: number;
  label: string;
  reason: string;
}

export interface AppPorts {
  ports: readonly PortView[];
  /** Bamboo's `BAMBOO_TCP_PORT` app env: a TCP frontend on this port to port 0's tasks; 0: none (or a bad value). */
  tcpPort: number;
  problems: readonly LabelProblem[];
}

export const escapeId = (id: string): string => id.replace(/\//g, '::');

/** A port as a label or env value gives it: digits only, 1-65535; 0 for anything else. */
export function portNumber(value: string): number {
  const v = value.trim();
  const n = /^[0-9]{1,5}$/.test(v) ? Number(v) : 0;
  return n <= 65535 ? n : 0;
}

/** A bind address from a label: `*`, or an IPv4 or IPv6 literal (brackets dropped: `bind ::1:10000` is HAProxy's form too); '' for anything else. */
export function bindAddressOf(value: string): string {
  const v = value.trim();
  if (v === '*') return v;
  const bracketed = /^\[(.*)\]$/.exec(v)?.[1];
  if (bracketed !== undefined) return bracketed.includes(':') && isIpAddress(bracketed) ? bracketed : '';
  return isIpAddress(v) ? v : '';
}

const list = (value: string): string[] => value.split(',').map((v) => v.trim()).filter((v) => v !== '');

// Shared by the many apps without labels (10,000 views hold these).
const NONE: readonly string[] = Object.freeze([]);
const NO_PROBLEMS: readonly LabelProblem[] = Object.freeze([]);
const frozen = (values: string[]): readonly string[] => (values.length === 0 ? NONE : Object.freeze(exact(values)));

const NO_SETTINGS: Readonly<BackendSettings> = Object.freeze({});

/**
 * The app's ports as its labels describe them: at least port 0, which Bamboo's routing always had. Not
 * cached here: it runs once where an app enters and once when its view is built (views are cached).
 * `ownFrontends` (HAProxy.BindServicePorts): off, no service port gets a frontend of its own, so the labels
 * only such a frontend reads, `HAPROXY_{n}_MODE` and `_BIND_ADDR`, are ignored, never refused: a bad value
 * there would leave out a port that nothing of it would reach.
 */
export function portsOf(app: App, ownFrontends = true): AppPorts {
  const labels = app.labels;
  const problems: LabelProblem[] = [];
  const appGroups = labels.HAPROXY_GROUP === undefined ? [] : list(labels.HAPROXY_GROUP);
  const count = Math.max(1, app.servicePorts.length);
  const escaped = escapeId(app.id);
  const ports: PortView[] = [];
  for (let index = 0; index < count; index++) {
    const own: LabelProblem[] = [];
    const label = portLabel(labels, index);
    const refuse = (name: string, value: string, why: string): void => {
      own.push({ index, label: `HAPROXY_${index}_${name}`, reason: `label HAPROXY_${index}_${name} ${shown(value)} ${why}: port ${index} left out` });
    };
    const mode = ownFrontends ? label('MODE') : undefined;
    const vhost = label('VHOST');
    const path = label('PATH');
    const group = label('GROUP');
    const redirect = label('REDIRECT_TO_HTTPS');
    let Mode: PortMode = 'http';
    if (mode !== undefined) {
      const m = mode.trim().toLowerCase();
      if (m === 'http' || m === 'tcp') Mode = m;
      else refuse('MODE', mode, 'is not http or tcp');
    }
    const listed = vhost === undefined ? [] : list(vhost.toLowerCase());
    // A wildcard over one label (`*.mesos`, `*.local`) is left out alone, with a problem line: the app keeps
    // its other hosts. Refused when nothing else is listed (the port would route by its path instead).
    const Vhosts = listed.filter((host) => !isOneLabelWildcard(host));
    if (Vhosts.length > 0) for (const host of listed) {
      if (isOneLabelWildcard(host)) problems.push({ index, label: `HAPROXY_${index}_VHOST`, reason: `label HAPROXY_${index}_VHOST ${shown(host)} is a wildcard over one label (it would take every request to that top-level domain no exact host names): that host left out` });
    }
    if (vhost !== undefined && Vhosts.length === 0) refuse('VHOST', vhost, listed.length === 0 ? 'names no host' : 'names no host but wildcards over one label');
    for (const host of Vhosts) if (!isVirtualHost(host) && !isWildcardHost(host)) refuse('VHOST', host, 'is not a host name or a wildcard *.<host name of two labels or more> (no port, path or space)');
    const Path = path?.trim() ?? '';
    if (path !== undefined && !isPathPrefix(Path)) refuse('PATH', path, 'is not a path prefix (one word starting with /)');
    let RedirectToHttps = false;
    if (redirect !== undefined) {
      const r = booleanOf(redirect);
      if (r === undefined) refuse('REDIRECT_TO_HTTPS', redirect, 'is not a boolean');
      else RedirectToHttps = r;
    }
    let Hsts = false;
    const hsts = label('USE_HSTS');
    if (hsts !== undefined) {
      const h = booleanOf(hsts);
      if (h === undefined) refuse('USE_HSTS', hsts, 'is not a boolean');
      else Hsts = h;
    }
    const bindAddr = ownFrontends ? label('BIND_ADDR') : undefined;
    const BindAddr = bindAddr === undefined ? '' : bindAddressOf(bindAddr);
    if (bindAddr !== undefined && BindAddr === '') refuse('BIND_ADDR', bindAddr, 'is not * or an IP address (a host name is not taken)');
    const settings = labelSettings(label, refuse);
    const backendName = index === 0 ? `${escaped}-cluster` : `${escaped}-${index}-cluster`;
    // PROXYPASS, REVPROXY, REDIR, NETWORK_ALLOWED, AUTH (http-labels.ts): checked here, written by the view.
    if (own.length === 0) own.push(...httpExtrasOf(labels, index, backendName, Mode, Vhosts).problems);
    // A bad certificate path leaves the certificate out, not the port: the app is still reached by HTTP.
    const cert = label('SSL_CERT');
    const SslCert = cert === undefined ? '' : cert.trim();
    const certProblem = cert !== undefined && !isCertPath(SslCert);
    if (certProblem) problems.push({ index, label: `HAPROXY_${index}_SSL_CERT`, reason: `label HAPROXY_${index}_SSL_CERT ${shown(cert)} is not an absolute file path (one word, no #, quotes or ..): its certificate left out, and the port's own frontend with it` });
    problems.push(...own);
    ports.push(Object.freeze({
      Index: index,
      ServicePort: app.servicePorts[index] ?? 0,
      Mode,
      Vhosts: own.length ? NONE : frozen(Vhosts),
      Path: own.length ? '' : Path,
      // An empty port label falls back to the app's, as marathon-lb's `if app.haproxy_groups`.
      Groups: frozen(group !== undefined && list(group).length > 0 ? list(group) : appGroups),
      RedirectToHttps: own.length ? false : RedirectToHttps,
      NotServed: own.map((p) => p.reason).join('; '),
      Backend: backendName,
      Settings: own.length || Object.keys(settings).length === 0 ? NO_SETTINGS : Object.freeze(settings),
      SslCert: own.length || certProblem ? '' : SslCert,
      SslCertRefused: certProblem,
      BindAddr: own.length ? '' : BindAddr,
      Hsts: own.length ? false : Hsts,
    }));
  }
  const bamboo = app.env.BAMBOO_TCP_PORT;
  const tcpPort = bamboo === undefined ? 0 : portNumber(bamboo);
  if (bamboo !== undefined && tcpPort === 0) {
    problems.push({ index: 0, label: 'BAMBOO_TCP_PORT', reason: `env BAMBOO_TCP_PORT ${shown(bamboo)} is not a port (1-65535): its TCP frontend left out` });
  }
  return { ports: Object.freeze(exact(ports)), tcpPort, problems: problems.length ? problems : NO_PROBLEMS };
}

/** Why an edge with `policy` does not serve a port naming `groups` ('' when it does): marathon-lb's has_group. */
export function groupRefusal(groups: readonly string[], policy: GroupPolicy): string {
  if (policy.groups.length === 0 || policy.groups.includes('*')) return '';
  if (groups.length === 0) {
    return policy.strict ? `no HAPROXY_GROUP label, and HAProxy.StrictGroups serves only groups ${policy.groups.join(',')}` : '';
  }
  if (groups.some((g) => policy.groups.includes(g))) return '';
  return `group ${groups.join(',')} is not served by this edge (HAProxy.Group ${policy.groups.join(',')})`;
}

/** The ports as this edge serves them (`NotServed` also says when the group setting leaves one out); `ports` itself when it serves them all. */
export function servedPorts(ports: readonly PortView[], policy: GroupPolicy): readonly PortView[] {
  let out: PortView[] | undefined;
  for (let i = 0; i < ports.length; i++) {
    const refusal = ports[i].NotServed ? '' : groupRefusal(ports[i].Groups, policy);
    if (!refusal) continue;
    out ??= [...ports];
    out[i] = Object.freeze({ ...ports[i], NotServed: refusal });
  }
  return out ? Object.freeze(out) : ports;
}

/**
 * Where an app enters: each bad label value as a refused value (`culm_marathon_data_rejected_total{field="lb_label"}`);
 * `ownFrontends` as the views' (`portsOf`).
 */
export function reportLabelProblems(app: App, rejected: Rejection[], ownFrontends = true): void {
  for (const p of portsOf(app, ownFrontends).problems) rejected.push({ appId: app.id, field: 'lb_label', reason: p.reason });
}
