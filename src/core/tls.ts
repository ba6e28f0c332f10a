/**
 * The HTTPS frontend's certificates (marathon-lb's `--ssl-certs` and `HAPROXY_{n}_SSL_CERT`): the operator's
 * files and directories (`HAProxy.SslCerts`) as `crt` words on the bind line, the first being the default
 * certificate, and the apps' certificates in one crt-list file, so HAProxy picks one by SNI among all of them.
 * Whether a file is there and readable is told by the caller (`CertCheck`: core reads no file); an app's
 * certificate that is not usable, or that HAProxy refused at its check, is left out with the reason, and
 * the app is still routed over HTTPS (with the default certificate). The crt-list is culm's to write, named by
 * a hash of its text and of the files' state, so a renewed certificate changes the config and reloads. Pure.
 */
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import type { PortView } from './lb-labels.js';
import type { ListenerView } from './service-ports.js';
import { escapeRegExp } from './text.js';

/** What the edge knows of a certificate path: '' when usable, else why not; `stamp` changes with the file. */
export interface CertState {
  problem: string;
  stamp: string;
  /** The path with its links resolved, when known (an app's label may name a link to the edge's own certificate). */
  real?: string;
}

/** `directory`: the operator's entries may be directories (HAProxy loads every file in them); an app's may not. */
export type CertCheck = (path: string, directory: boolean) => CertState;

/** Every file is usable (a view built without access to files: tests, the golden files). */
export const TRUST_CERTS: CertCheck = () => ({ problem: '', stamp: '' });

/** One line of the crt-list: a certificate file and the apps that named it. */
export interface CrtListEntry {
  Cert: string;
  AppIds: readonly string[];
}

export interface CrtListView {
  Path: string;
  /** The file: one certificate path a line. */
  Text: string;
  Entries: readonly CrtListEntry[];
}

/** The HTTPS frontend (the template context's `Tls`; undefined without `HAProxy.SslCerts` or any usable certificate). */
export interface TlsView {
  /** `HAProxy.HttpsBind`. */
  Bind: string;
  /** The operator's certificates that are usable now, in the setting's order (the first is the default). */
  Certs: readonly string[];
  /** The apps' certificates; undefined when no served app names a usable one. */
  CrtList?: CrtListView;
  /** What follows the address on the bind line: `ssl crt <a> crt <b> crt-list <file>`. */
  BindOptions: string;
  /** A hash of the certificate files' state: written in the config, so a renewed file reloads HAProxy. */
  Stamp: string;
}

/** A certificate left out of this render: an app's (`AppId`) or the operator's (`AppId` ''). */
export interface CertProblem {
  AppId: string;
  Cert: string;
  Reason: string;
  /** The service-port frontend left out with it (`Listeners`' name); absent: the HTTPS frontend's certificate. */
  Frontend?: string;
  /** The label is ignored, not refused: this edge honours no app certificate (`HAProxy.SslCerts` empty). */
  Ignored?: true;
}

export interface TlsSettings {
  bind: string;
  certs: readonly string[];
}

/** An app as far as its certificates go: its id and its served ports (AppView has both). */
export interface CertApp {
  Id: string;
  Ports: readonly PortView[];
}

const NO_PROBLEMS: readonly CertProblem[] = Object.freeze([]);

/**
 * The HTTPS frontend for these apps (in render order), or none; and the certificates left out. `refused`:
 * certificates the applier leaves out after HAProxy's check (it refused them, or stalled on them), by path, with why.
 */
export function tlsOf(apps: readonly CertApp[], settings: TlsSettings, outputPath: string, check: CertCheck, refused?: ReadonlyMap<string, string>): { tls?: TlsView; problems: readonly CertProblem[] } {
  if (settings.certs.length === 0) return { problems: NO_PROBLEMS };
  const problems: CertProblem[] = [];
  const stamps: string[] = [];
  const certs: string[] = [];
  for (const cert of settings.certs) {
    const state = check(cert, true);
    if (state.problem) problems.push({ AppId: '', Cert: cert, Reason: state.problem });
    else {
      certs.push(cert);
      stamps.push(`${cert} ${state.stamp}`);
    }
  }
  const byCert = new Map<string, string[]>();
  const states = new Map<string, CertState>();
  for (const app of apps) {
    for (const port of app.Ports) {
      const cert = port.SslCert;
      if (!cert || port.NotServed || port.Mode !== 'http' || settings.certs.includes(cert)) continue;
      let state = states.get(cert);
      if (state === undefined) {
        const why = refused?.get(cert);
        state = why ? { problem: why, stamp: '' } : check(cert, false);
        states.set(cert, state);
      }
      if (state.problem) {
        problems.push({ AppId: app.Id, Cert: cert, Reason: `HAPROXY_${port.Index}_SSL_CERT ${cert}: ${state.problem}: its certificate left out (HTTPS gets the default one)` });
        continue;
      }
      const ids = byCert.get(cert);
      if (ids === undefined) byCert.set(cert, [app.Id]);
      else if (ids[ids.length - 1] !== app.Id) ids.push(app.Id);
    }
  }
  const entries = [...byCert].map(([Cert, ids]) => Object.freeze({ Cert, AppIds: Object.freeze(ids) }));
  if (certs.length === 0 && entries.length === 0) return { problems: Object.freeze(problems) };
  for (const e of entries) stamps.push(`${e.Cert} ${states.get(e.Cert)!.stamp}`);
  const stamp = hash(stamps.join('\n'));
  let crtList: CrtListView | undefined;
  if (entries.length > 0) {
    const text = entries.map((e) => `${e.Cert}\n`).join('');
    crtList = Object.freeze({ Path: `${outputPath}.certs-${hash(`${text}\0${stamp}`)}.crtlist`, Text: text, Entries: Object.freeze(entries) });
  }
  const words = ['ssl', ...certs.map((c) => `crt ${c}`), ...(crtList ? [`crt-list ${crtList.Path}`] : [])];
  const tls: TlsView = Object.freeze({ Bind: settings.bind, Certs: Object.freeze(certs), ...(crtList ? { CrtList: crtList } : {}), BindOptions: words.join(' '), Stamp: stamp });
  return { tls, problems: problems.length ? Object.freeze(problems) : NO_PROBLEMS };
}

/**
 * The service-port frontends with their certificates judged as the HTTPS frontend's are (`check`, `refused`):
 * a usable one gets its file's stamp (a renewed file changes the config); one that is not leaves its frontend
 * out, with the reason, rather than answer in clear on a port meant for TLS. `operatorCerts` (`HAProxy.SslCerts`)
 * is the edge's own identity: empty, this edge honours no app certificate (the label is ignored, and the
 * frontend still left out, never served in clear); one of them, or a file in one of its directories, is never
 * an app's. `listeners` itself when none names a certificate.
 */
export function listenerCerts(listeners: readonly ListenerView[], check: CertCheck, operatorCerts: readonly string[], refused?: ReadonlyMap<string, string>): { listeners: readonly ListenerView[]; problems: readonly CertProblem[] } {
  if (!listeners.some((l) => l.SslCert)) return { listeners, problems: NO_PROBLEMS };
  const out: ListenerView[] = [];
  const problems: CertProblem[] = [];
  const own = operatorCerts.length ? edgeOwn(operatorCerts, check) : undefined;
  for (const l of listeners) {
    if (!l.SslCert) {
      out.push(l);
      continue;
    }
    const leftOut = `the frontend of service port ${l.Port} left out`;
    if (!own) {
      problems.push({ AppId: l.AppId, Cert: l.SslCert, Frontend: l.Name, Ignored: true, Reason: `HAPROXY_${l.Index}_SSL_CERT ${l.SslCert}: ignored: this edge honours app certificates only with HAProxy.SslCerts set: ${leftOut}` });
      continue;
    }
    const why = refused?.get(l.SslCert);
    const state = why ? { problem: why, stamp: '' } : check(l.SslCert, false);
    const problem = state.problem || (own(l.SslCert, state.real) ? "the edge's own certificate (HAProxy.SslCerts), not an app's" : '');
    if (problem) {
      problems.push({ AppId: l.AppId, Cert: l.SslCert, Frontend: l.Name, Reason: `HAPROXY_${l.Index}_SSL_CERT ${l.SslCert}: ${problem}: ${leftOut}` });
      continue;
    }
    const CertStamp = hash(state.stamp);
    out.push(l.CertStamp === CertStamp ? l : Object.freeze({ ...l, CertStamp }));
  }
  return { listeners: Object.freeze(out), problems: problems.length ? Object.freeze(problems) : NO_PROBLEMS };
}

/** Whether a path (or its resolved form) is one of the operator's certificates or inside one of their directories. */
function edgeOwn(operatorCerts: readonly string[], check: CertCheck): (path: string, real?: string) => boolean {
  const roots = new Set<string>();
  for (const c of operatorCerts) {
    roots.add(posix.normalize(c).replace(/(.)\/+$/, '$1'));
    const real = check(c, true).real;
    if (real) roots.add(real);
  }
  const inside = (p: string): boolean => {
    for (let at = posix.normalize(p); ; at = posix.dirname(at)) {
      if (roots.has(at)) return true;
      if (at === '/' || at === '.') return false;
    }
  };
  return (path, real) => inside(path) || (real !== undefined && inside(real));
}

const hash = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 16);

/** Every app certificate in a view, with the apps naming it: the crt-list's and the service-port frontends'. */
export function appCertsOf(view: { Tls?: TlsView; Listeners?: readonly ListenerView[] }): CrtListEntry[] {
  const byCert = new Map<string, string[]>();
  const named = (cert: string, ids: readonly string[]): void => {
    const known = byCert.get(cert) ?? [];
    for (const id of ids) if (!known.includes(id)) known.push(id);
    byCert.set(cert, known);
  };
  for (const e of view.Tls?.CrtList?.Entries ?? []) named(e.Cert, e.AppIds);
  for (const l of view.Listeners ?? []) if (l.SslCert) named(l.SslCert, [l.AppId]);
  return [...byCert].map(([Cert, AppIds]) => ({ Cert, AppIds }));
}

/**
 * The app certificates a `haproxy -c` failure names (`unable to load certificate from file '<path>'`, `No Private
 * Key found in '<path>.key'`), with the apps naming them: HAProxy quotes the file, so each certificate of the
 * crt-list and of the service-port frontends is looked for followed by its quote.
 */
export function certsAtFailure(message: string, view: { Tls?: TlsView; Listeners?: readonly ListenerView[] }): CrtListEntry[] {
  return appCertsOf(view).filter((e) => namesCert(message, e.Cert));
}

/** Whether HAProxy's output names the certificate `cert` (or a file beside it: `'<cert>.key'`). */
export const namesCert = (message: string, cert: string): boolean => new RegExp(`'${escapeRegExp(cert)}(?:\\.[A-Za-z]+)?'`).test(message);

/**
 * A config that loads each of `certs` on a bind line of its own, under the config's `global` lines (its SSL
 * settings apply): HAProxy 2.6 names only the first crt-list line it cannot load, one per check, but every bind
 * line it cannot load in one check. Only for `haproxy -c`: nothing is bound.
 */
export function certCheckConfig(certs: readonly string[], global: readonly string[]): string {
  const lines = [...global, 'frontend culm-cert-check', '    mode tcp', '    timeout client 1s'];
  for (const cert of certs) lines.push(`    bind 127.0.0.1:1 ssl crt ${cert}`);
  return `${lines.join('\n')}\n`;
}
