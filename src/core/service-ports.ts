/**
 * Service ports as frontends of their own (marathon-lb binds every service port; `HAProxy.BindServicePorts`):
 * one listener per served port that Marathon gave a service port, `mode tcp` for `HAPROXY_{n}_MODE=tcp`, plus
 * Bamboo's `BAMBOO_TCP_PORT`; each port's backend holds that port index of every serving task. Two apps on
 * one port (or an app on HAProxy's own HTTP bind port) would fail `haproxy -c` for everyone: the first claim,
 * by app id, keeps the port and the later one's listener is left out with the reason (`resolveClashes`).
 * Pure.
 */
import type { HttpExtras } from './http-labels.js';
import type { PortMode, PortView } from './lb-labels.js';
import type { SettledSettings } from './backend-settings.js';

/** A frontend of one service port (the template context's `Listeners`). */
export interface ListenerView {
  /** The frontend's name: `<EscapedId>-port-<port>` (a port is bound once, so the name is unique). */
  Name: string;
  /** `<ServicePortBindAddress>:<port>`. */
  Bind: string;
  Mode: PortMode;
  Backend: string;
  AppId: string;
  /** n of the app's service port (0 for `BAMBOO_TCP_PORT`, which serves port 0's tasks). */
  Index: number;
  Port: number;
  /** `BAMBOO_TCP_PORT` (Bamboo's env) rather than Marathon's service port n. */
  Bamboo: boolean;
  /** `HAPROXY_{n}_FRONTEND_HEAD` lines, after culm's `bind`/`mode` (HAProxy.TrustLabelConfig; raw-labels.ts). */
  RawHead: readonly string[];
  /** `HAPROXY_{n}_FRONTEND_BACKEND_GLUE` lines, written instead of `default_backend` (null: culm's). */
  RawGlue: readonly string[] | null;
}

/** A task as a server of one port's backend: the subset of TaskView a backend's `server` line uses. */
export interface PortServer {
  Server: string;
  Host: string;
  Port: number;
  CheckPort: number;
  /** The sticky cookie's value for this server (a sticky backend only): marathon-lb's, a short hash of the server. */
  Cookie?: string;
}

/**
 * One backend of an app: port 0's (`Backend`, Bamboo's), port n's, or `BAMBOO_TCP_PORT`'s; with its settled
 * settings (backend-settings.ts: `Balance`, `Sticky`, `Weight`, `MaxConn`, `TimeoutServer`, `ServerOptions`).
 */
export interface BackendView extends SettledSettings {
  Name: string;
  Mode: PortMode;
  Index: number;
  Servers: readonly PortServer[];
  RedirectToHttps: boolean;
  /** Port 0's HTTP or TCP check is written (the app's health check probes port 0 unless it names another). */
  Checked: boolean;
  /** `HAPROXY_{n}_BACKEND_HEAD` lines, after culm's head lines (HAProxy.TrustLabelConfig; raw-labels.ts). */
  RawHead: readonly string[];
  /** `HAPROXY_{n}_BACKEND_HTTP_OPTIONS` lines, written instead of `option forwardfor` (null: culm's). */
  RawHttpOptions: readonly string[] | null;
  /** Lines and `userlist` from marathon-lb's value labels (PROXYPASS_PATH, AUTH, …; http-labels.ts). */
  Http: HttpExtras;
}

const NO_LINES: readonly string[] = Object.freeze([]);

/** Where `bind` addresses name a port: `*:80`, `127.0.0.1:8080,[::]:8080`; unix sockets name none. */
export function boundPorts(bind: string): number[] {
  const out: number[] = [];
  for (const entry of bind.split(',')) {
    const m = /:([0-9]{1,5})$/.exec(entry.trim());
    if (m && !entry.includes('@')) out.push(Number(m[1]));
  }
  return out;
}

/** The app's listeners: served ports with a service port (when `bindAddress` is set), then `BAMBOO_TCP_PORT`. */
export function listenersOf(appId: string, escaped: string, ports: readonly PortView[], tcpPort: number, bindAddress: string | undefined): ListenerView[] {
  const out: ListenerView[] = [];
  const address = bindAddress ?? '*';
  const listener = (port: PortView, number: number, mode: PortMode, backend: string, bamboo: boolean): ListenerView => Object.freeze({
    Name: `${escaped}-port-${number}`, Bind: `${address}:${number}`, Mode: mode, Backend: backend, AppId: appId, Index: port.Index, Port: number, Bamboo: bamboo,
    RawHead: NO_LINES, RawGlue: null,
  });
  if (bindAddress !== undefined) {
    for (const port of ports) {
      if (port.NotServed || port.ServicePort <= 0 || port.ServicePort === tcpPort) continue;
      out.push(listener(port, port.ServicePort, port.Mode, port.Backend, false));
    }
  }
  if (tcpPort > 0 && !ports[0].NotServed) out.push(listener(ports[0], tcpPort, 'tcp', `${escaped}-tcp-cluster`, true));
  return out;
}

export interface Clashes {
  listeners: readonly ListenerView[];
  /** By app id: why some of its listeners are left out. */
  clashes: Readonly<Record<string, string>>;
}

/**
 * The listeners that can all be bound: in the order given (apps by id, each app's ports in order), a port
 * already claimed, or one of `reserved` (HAProxy's HTTP bind) or `reservedHttps` (its HTTPS bind), is left out with the reason.
 */
export function resolveClashes(perApp: ReadonlyArray<readonly ListenerView[]>, reserved: readonly number[], reservedHttps: readonly number[] = []): Clashes {
  const owner = new Map<number, string>();
  for (const port of reservedHttps) owner.set(port, "HAProxy's HTTPS bind (HAProxy.HttpsBind)");
  for (const port of reserved) owner.set(port, "HAProxy's HTTP bind (HAProxy.HttpBind)");
  const listeners: ListenerView[] = [];
  const clashes: Record<string, string> = {};
  for (const list of perApp) {
    for (const l of list) {
      const claimed = owner.get(l.Port);
      if (claimed === undefined) {
        owner.set(l.Port, `app ${l.AppId} ${l.Bamboo ? 'BAMBOO_TCP_PORT' : `port ${l.Index}`}`);
        listeners.push(l);
        continue;
      }
      const what = l.Bamboo ? `BAMBOO_TCP_PORT ${l.Port}` : `port ${l.Index} (service port ${l.Port})`;
      const reason = `port clash: ${what} is already bound by ${claimed}: left out`;
      clashes[l.AppId] = clashes[l.AppId] ? `${clashes[l.AppId]}; ${reason}` : reason;
    }
  }
  return { listeners: Object.freeze(listeners), clashes: Object.freeze(clashes) };
}
