/**
 * Service ports as frontends of their own (marathon-lb binds every service port; `HAProxy.BindServicePorts`):
 * one listener per served port that Marathon gave a service port, `mode tcp` for `HAPROXY_{n}_MODE=tcp`, plus
 * Bamboo's `BAMBOO_TCP_PORT`; each port's backend holds that port index of every serving task. Two apps on
 * one port (or an app on HAProxy's own HTTP bind port) would fail `haproxy -c` for everyone: the first claim,
 * by app id, keeps the port and the later one's listener is left out with the reason (`resolveClashes`). A
 * port binds on `HAPROXY_{n}_BIND_ADDR`, else the edge's address: one port on two different addresses is no
 * clash, a wildcard (`*`, `0.0.0.0`, `::`) clashes with every address. Pure.
 */
import type { HttpExtras } from './http-labels.js';
import type { PortMode, PortView } from './lb-labels.js';
import type { SettledSettings } from './backend-settings.js';
import { isIpAddress } from './input-grammar.js';

/** A frontend of one service port (the template context's `Listeners`). */
export interface ListenerView {
  /** The frontend's name: `<EscapedId>-port-<port>` (a port is bound once, so the name is unique). */
  Name: string;
  /** `<address>:<port>`. */
  Bind: string;
  /** The address: the port's `HAPROXY_{n}_BIND_ADDR`, else `HAProxy.ServicePortBindAddress`. */
  Address: string;
  /**
   * `HAPROXY_{n}_SSL_CERT`: the certificate this frontend terminates TLS with (`ssl crt <file>`, marathon-lb's
   * bind line, HTTP and TCP ports alike); '' for none. A frontend whose file is not usable is left out (tls.ts).
   */
  SslCert: string;
  /** A hash of the certificate file's state ('' without one): written in the frontend, so a renewed file reloads HAProxy. */
  CertStamp: string;
  /** `HAPROXY_{n}_BIND_OPTIONS`' words, '' for none (HAProxy.TrustLabelConfig only; raw-labels.ts). */
  BindOptions: string;
  /** What the `bind` line says: `<address>:<port>`, then ` ssl crt <file>`, then the bind options (marathon-lb's order). */
  BindLine: string;
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
  /**
   * `HAPROXY_{n}_USE_HSTS` (HTTP ports): marathon-lb's `Strict-Transport-Security` line, or the port's trusted
   * `HAPROXY_{n}_BACKEND_HSTS_OPTIONS` lines instead; empty without the label.
   */
  Hsts: readonly string[];
  /** Lines and `userlist` from marathon-lb's value labels (PROXYPASS_PATH, AUTH, …; http-labels.ts). */
  Http: HttpExtras;
}

const NO_LINES: readonly string[] = Object.freeze([]);

/** An address and port a `bind` line takes (`address` '' for `:80`). */
export interface BoundAddress { address: string; port: number }

/** Where `bind` addresses name a port: `*:80`, `127.0.0.1:8080,[::]:8080`, `ipv6@::1:80`; unix sockets name none. */
export function boundAddresses(bind: string): BoundAddress[] {
  const out: BoundAddress[] = [];
  for (const entry of bind.split(',')) {
    const text = entry.trim().replace(/^(?:ipv4|ipv6|tcp|tcp4|tcp6)@/, '');
    const m = /^(.*):([0-9]{1,5})$/.exec(text);
    if (m && !text.includes('@')) out.push({ address: m[1].replace(/^\[(.*)\]$/, '$1'), port: Number(m[2]) });
  }
  return out;
}

export const boundPorts = (bind: string): number[] => boundAddresses(bind).map((b) => b.port);

/** `bind`'s words for a listener: marathon-lb's `{bindAddr}:{servicePort}{sslCert}{bindOptions}`. */
export const bindLineOf = (l: Pick<ListenerView, 'Bind' | 'SslCert' | 'BindOptions'>): string =>
  `${l.Bind}${l.SslCert ? ` ssl crt ${l.SslCert}` : ''}${l.BindOptions ? ` ${l.BindOptions}` : ''}`;

/** The app's listeners: served ports with a service port (when `bindAddress` is set), then `BAMBOO_TCP_PORT`. */
export function listenersOf(appId: string, escaped: string, ports: readonly PortView[], tcpPort: number, bindAddress: string | undefined): ListenerView[] {
  const out: ListenerView[] = [];
  const listener = (port: PortView, number: number, mode: PortMode, backend: string, bamboo: boolean): ListenerView => {
    // BAMBOO_TCP_PORT is Bamboo's, not a marathon-lb service port: the edge's address, no TLS.
    const address = (bamboo ? '' : port.BindAddr) || (bindAddress ?? '*');
    const bind = { Bind: `${address}:${number}`, SslCert: bamboo ? '' : port.SslCert, BindOptions: '' };
    return Object.freeze({
      Name: `${escaped}-port-${number}`, ...bind, Address: address, CertStamp: '', BindLine: bindLineOf(bind),
      Mode: mode, Backend: backend, AppId: appId, Index: port.Index, Port: number, Bamboo: bamboo, RawHead: NO_LINES, RawGlue: null,
    });
  };
  if (bindAddress !== undefined) {
    for (const port of ports) {
      if (port.NotServed || port.ServicePort <= 0 || port.ServicePort === tcpPort || port.SslCertRefused) continue;
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
 * An address as clashes compare it: IPv6 in one spelling (`0:0::1` is `::1`), an IPv4-mapped one as its IPv4
 * address (`::ffff:127.0.0.2` is `127.0.0.2`: HAProxy binds both with SO_REUSEPORT, and one of the two apps
 * would get no connection); '' for a wildcard, which takes the port on every address (`*`, `0.0.0.0`, `::`:
 * Linux binds `::` for IPv4 too), and for a host name, whose addresses culm does not know.
 */
function claimedAddress(address: string): string {
  if (address === '*' || address === '' || address === '0.0.0.0') return '';
  if (!isIpAddress(address)) return '';
  if (!address.includes(':')) return address;
  const v6 = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  // The URL parser writes a mapped address in hex: ::ffff:7f00:2.
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(v6);
  if (mapped) {
    const [hi, lo] = [parseInt(mapped[1], 16), parseInt(mapped[2], 16)];
    return claimedAddress(`${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`);
  }
  return v6 === '::' ? '' : v6;
}

interface Claim { address: string; owner: string; appId: string }

/**
 * The listeners that can all be bound: in the order given (apps by id, each app's ports in order), a port
 * already claimed on the same address (or on any, for a wildcard), or one of `reserved` (HAProxy's HTTP bind)
 * or `reservedHttps` (its HTTPS bind), is left out with the reason. An app's two ports on one number clash
 * whatever their addresses (its frontends are named by the port).
 */
export function resolveClashes(perApp: ReadonlyArray<readonly ListenerView[]>, reserved: readonly BoundAddress[], reservedHttps: readonly BoundAddress[] = []): Clashes {
  const claims = new Map<number, Claim[]>();
  const claim = (port: number, c: Claim): void => {
    const list = claims.get(port);
    if (list) list.push(c);
    else claims.set(port, [c]);
  };
  for (const b of reserved) claim(b.port, { address: claimedAddress(b.address), owner: "HAProxy's HTTP bind (HAProxy.HttpBind)", appId: '' });
  for (const b of reservedHttps) claim(b.port, { address: claimedAddress(b.address), owner: "HAProxy's HTTPS bind (HAProxy.HttpsBind)", appId: '' });
  const listeners: ListenerView[] = [];
  const clashes: Record<string, string> = {};
  for (const list of perApp) {
    for (const l of list) {
      const address = claimedAddress(l.Address);
      const claimed = claims.get(l.Port)?.find((c) => c.appId === l.AppId || c.address === '' || address === '' || c.address === address)?.owner;
      if (claimed === undefined) {
        claim(l.Port, { address, owner: `app ${l.AppId} ${l.Bamboo ? 'BAMBOO_TCP_PORT' : `port ${l.Index}`}`, appId: l.AppId });
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
