import { isIP } from 'node:net';
import { resolve } from 'node:path';
import type { LogLevel } from '../log/logger.js';
import { MAX_MS, type Kind, type Setting, type SETTINGS, type SettingId } from './defaults.js';
import type { EventMode } from './types.js';
import { redactUrl } from '../core/text.js';
import { isCertPath } from '../core/input-grammar.js';

/** Thrown by a parser; the caller turns it into a CulmError naming the key and the value's origin. */
export class Invalid extends Error {}

export const EVENT_MODES: readonly EventMode[] = ['auto', 'callback', 'sse'];
export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function show(s: string): string {
  const clipped = s.length > 80 ? `${s.slice(0, 77)}...` : s;
  return JSON.stringify(redactUrl(clipped));
}

export function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

export function asString(v: unknown): string {
  if (typeof v !== 'string') throw new Invalid(`must be a string, got ${typeName(v)}`);
  if (v.includes('\0')) throw new Invalid('contains a NUL character');
  return v;
}

/** A string the file may also give as an array of strings; entries may themselves be comma-separated. */
function asList(v: unknown): string[] {
  const parts = Array.isArray(v) ? v.map((x) => asString(x)) : [asString(v)];
  return parts.flatMap((p) => p.split(',')).map((p) => p.trim()).filter((p) => p !== '');
}

export function asUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Invalid(`${show(text)} is not a URL (expected e.g. http://marathon:8080)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Invalid(`${show(text)} is not an http(s) URL`);
  if (url.hostname === '') throw new Invalid(`${show(text)} has no host`);
  if (url.search !== '' || url.hash !== '') throw new Invalid(`${show(text)} must not carry a query or fragment`);
  return url.href.replace(/\/+$/, '');
}

export function asUrls(v: unknown): string[] {
  const list = asList(v);
  if (list.length === 0) throw new Invalid('must name at least one http(s) URL');
  return list.map(asUrl);
}

export function asOptionalUrl(v: unknown): string {
  const text = asString(v).trim();
  if (text === '') return '';
  if (text.includes(',')) throw new Invalid(`${show(text)} must be a single URL`);
  return asUrl(text);
}

const GO_TRUE = ['1', 't', 'T', 'TRUE', 'true', 'True'];
const GO_FALSE = ['0', 'f', 'F', 'FALSE', 'false', 'False'];

/** JSON booleans from the file; strings as Go's strconv.ParseBool reads them. */
export function asBool(v: unknown): boolean {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string') {
    if (GO_TRUE.includes(v.trim())) return true;
    if (GO_FALSE.includes(v.trim())) return false;
    throw new Invalid(`${show(v)} is not a boolean (use true or false)`);
  }
  throw new Invalid(`must be a boolean, got ${typeName(v)}`);
}

/** A whole number within [min, max]; the file gives a JSON number, env and flags a string of digits. */
export function asInteger(v: unknown, setting: Setting, unit: string, max: number): number {
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string' && /^\s*-?\d+\s*$/.test(v)) n = Number(v.trim());
  else if (typeof v === 'string') throw new Invalid(`${show(v)} is not a whole number of ${unit}`);
  else throw new Invalid(`must be a number of ${unit}, got ${typeName(v)}`);
  if (!Number.isInteger(n)) throw new Invalid(`${n} is not a whole number of ${unit}`);
  const min = setting.min ?? 0;
  if (n < min) throw new Invalid(`${n} is below the minimum of ${min} ${unit}`);
  if (n > max) throw new Invalid(`${n} is above the maximum of ${max} ${unit}`);
  return n;
}

export function asMs(v: unknown, setting: Setting): number {
  return asInteger(v, setting, 'milliseconds', setting.max ?? MAX_MS);
}

export function asSecondsInMs(v: unknown, setting: Setting): number {
  return asInteger(v, setting, 'seconds', setting.max ?? Math.floor(MAX_MS / 1000)) * 1000;
}

export function asChoice<T extends string>(v: unknown, choices: readonly T[]): T {
  const text = asString(v).trim().toLowerCase();
  const hit = choices.find((c) => c === text);
  if (hit === undefined) throw new Invalid(`${show(asString(v))} is not one of ${choices.join(', ')}`);
  return hit;
}

/** Non-empty, resolved against the working directory (Bamboo's paths were relative to its cwd). */
export function asPath(v: unknown, cwd: string, isFile = false): string {
  const text = asString(v);
  if (text.trim() === '') throw new Invalid('must not be empty');
  if (isFile && /(^|\/)\.{0,2}$/.test(text)) throw new Invalid(`${show(text)} must name a file, not a directory`);
  return resolve(cwd, text);
}

export function asCommand(v: unknown, optional: boolean): string {
  const text = asString(v);
  if (!optional && text.trim() === '') throw new Invalid('must not be empty');
  return text;
}

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$/;

function asPort(text: string, whole: string, allowZero: boolean): number {
  if (!/^\d{1,5}$/.test(text)) throw new Invalid(`${show(whole)} has no valid port`);
  const port = Number(text);
  if (port > 65535 || (!allowZero && port === 0)) throw new Invalid(`${show(whole)}: port ${port} is out of range`);
  return port;
}

/** Splits "host:port", "[v6]:port" or ":port"; host is returned without brackets. */
function splitHostPort(text: string): { host: string; port: string } {
  const bracketed = /^\[([^\]]*)\]:([^:]*)$/.exec(text);
  if (bracketed) {
    if (isIP(bracketed[1]) !== 6) throw new Invalid(`${show(text)}: ${show(bracketed[1])} is not an IPv6 address`);
    return { host: bracketed[1], port: bracketed[2] };
  }
  const colon = text.lastIndexOf(':');
  if (colon < 0) throw new Invalid(`${show(text)} has no port (expected host:port)`);
  const host = text.slice(0, colon);
  if (host.includes(':')) throw new Invalid(`${show(text)}: put an IPv6 address in brackets, e.g. [::1]:8000`);
  if (host !== '' && isIP(host) !== 4 && !HOSTNAME.test(host)) throw new Invalid(`${show(text)}: ${show(host)} is not a host name or address`);
  return { host, port: text.slice(colon + 1) };
}

/**
 * Go's listen address, as Bamboo's -bind took it: ":8000" (all interfaces), "127.0.0.1:8000",
 * "[::1]:8000", "localhost:8000". A bare port is accepted too. Port 0 asks the OS for one (tests).
 */
export function asListen(v: unknown): { host: string; port: number } {
  const text = asString(v).trim();
  if (text === '') throw new Invalid('must not be empty (expected e.g. :8000)');
  if (/^\d+$/.test(text)) return { host: '', port: asPort(text, text, true) };
  const { host, port } = splitHostPort(text);
  return { host, port: asPort(port, text, true) };
}

/**
 * HAProxy `bind` addresses, comma-separated: "*:80", ":80", "0.0.0.0:80", "[::]:80", ":::80",
 * "ipv4@…", port ranges, "unix@/path", "/path". Options (ssl, crt…) belong in the template, and the
 * value must not be able to inject template lines, so whitespace is refused.
 */
export function asHaproxyBind(v: unknown): string {
  const text = asString(v).trim();
  if (text === '') throw new Invalid('must not be empty (expected e.g. *:80)');
  if (/\s/.test(text)) throw new Invalid(`${show(text)} must be address(es) only, without spaces or options`);
  for (const part of text.split(',')) {
    if (/^(unix@|abns@|fd@|sockpair@|\/)./.test(part)) continue;
    const m = /^(?:(?:ipv4|ipv6|tcp|tcp4|tcp6|udp|udp4|udp6|quic4|quic6)@)?(.*):(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new Invalid(`${show(part)} is not a HAProxy bind address (expected e.g. *:80)`);
    const host = m[1].replace(/^\[(.*)\]$/, '$1');
    if (host !== '' && host !== '*' && host !== '::' && isIP(host) === 0 && !HOSTNAME.test(host)) {
      throw new Invalid(`${show(part)}: ${show(m[1])} is not an address`);
    }
    asPort(m[2], part, false);
    if (m[3] !== undefined && asPort(m[3], part, false) < Number(m[2])) throw new Invalid(`${show(part)}: port range is reversed`);
  }
  return text;
}

/**
 * CULM_ALLOWED_HOSTS: "name", "name:port", "[v6]:port", an origin "https://name[:port]", or "*" (no check).
 * Returned lower-cased, IPv6 in brackets, so they compare with a Host header as written. Empty: none listed.
 */
export function asHostList(v: unknown): string[] {
  // Empty: the derived default (the caller's business).
  return asList(v).map((entry) => {
    if (entry === '*') return entry;
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(entry)) {
      const origin = asUrl(entry);
      const url = new URL(origin);
      if (url.pathname !== '/') throw new Invalid(`${show(entry)}: an origin has no path`);
      return url.origin;
    }
    const hasPort = entry.startsWith('[') ? /\]:[^\]]*$/.test(entry) : entry.includes(':') && isIP(entry) !== 6;
    if (!hasPort) {
      const bare = entry.replace(/^\[(.*)\]$/, '$1');
      if (isIP(bare) === 6) return `[${bare.toLowerCase()}]`;
      if (isIP(bare) !== 4 && !HOSTNAME.test(bare)) throw new Invalid(`${show(entry)} is not a host name or address`);
      return bare.toLowerCase();
    }
    const { host, port } = splitHostPort(entry);
    if (host === '') throw new Invalid(`${show(entry)} has no host`);
    const p = asPort(port, entry, false);
    return `${host.includes(':') ? `[${host.toLowerCase()}]` : host.toLowerCase()}:${p}`;
  });
}

/** "host[:port],…" as go-zookeeper takes it; a missing port is 2181, as go-zookeeper adds. */
export function asZkHosts(v: unknown): string[] {
  return asList(v).map((entry) => {
    if (/^[a-z]+:\/\//i.test(entry) || entry.includes('/')) {
      throw new Invalid(`${show(entry)}: use host:port,host:port without a scheme or path (the path is Bamboo.Zookeeper.Path)`);
    }
    const hasPort = entry.startsWith('[') ? /\]:[^\]]*$/.test(entry) : entry.includes(':');
    const { host, port } = splitHostPort(hasPort ? entry : `${entry}:2181`);
    if (host === '') throw new Invalid(`${show(entry)} has no host`);
    const p = asPort(port, entry, false);
    return `${host.includes(':') ? `[${host}]` : host}:${p}`;
  });
}

export function asZkPath(v: unknown): string {
  const text = asString(v).trim();
  if (!/^(\/[^/]+)+$/.test(text)) throw new Invalid(`${show(text)} is not an absolute znode path like /marathon-haproxy/state`);
  if (text.split('/').some((seg) => seg === '.' || seg === '..')) throw new Invalid(`${show(text)} must not contain . or .. segments`);
  return text;
}

/** A user or group name as HAProxy's `user`/`group` take it (POSIX portable names); '' for none. */
export function asAccountName(v: unknown): string {
  const name = asString(v).trim();
  if (name !== '' && !/^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/.test(name)) throw new Invalid(`${JSON.stringify(name)} is not a user or group name`);
  return name;
}

/** marathon-lb group names (its `--group`), comma-separated; `*` is one of them. */
export function asGroups(v: unknown): string[] {
  const groups = asList(v);
  for (const g of groups) {
    if (!/^[A-Za-z0-9_.*-]{1,128}$/.test(g)) throw new Invalid(`group ${JSON.stringify(g)} is not a group name (letters, digits, _ . - or *)`);
  }
  return groups;
}

/** Certificate paths (HAProxy.SslCerts): each one word of a `bind … crt <path>` line; whether it is readable is a CHECK. */
export function asCertPaths(v: unknown, _s: Setting, cwd: string): string[] {
  const paths = asList(v).map((p) => resolve(cwd, p));
  for (const p of paths) if (!isCertPath(p)) throw new Invalid(`${JSON.stringify(p)} is not a file path HAProxy can take as one word (no spaces, #, quotes or ..)`);
  return [...new Set(paths)];
}

/** `*`, or an IP address a `bind` line takes before `:<port>` (HAProxy reads the port after the last colon). */
export function asBindAddress(v: unknown): string {
  const raw = asString(v);
  const text = raw === '' ? '*' : raw.trim();
  if (text !== '*' && isIP(text) === 0) throw new Invalid(`${JSON.stringify(text)} is not * or an IP address`);
  return text;
}

/** What each kind of setting parses to. */
export interface KindValue {
  urls: string[]; url: string; text: string; secret: string; bool: boolean;
  ms: number; percent: number; seconds: number; wholeSeconds: number; mebibytes: number;
  eventMode: EventMode; logLevel: LogLevel;
  path: string; optionalPath: string; dir: string; optionalDir: string;
  command: string; optionalCommand: string; account: string;
  listen: { host: string; port: number }; haproxyBind: string; bindAddress: string; groups: string[]; certPaths: string[]; hostList: string[];
  zkHosts: string[]; zkPath: string;
}

type Parser<T> = (v: unknown, setting: Setting, cwd: string) => T;

const optional = <T>(parse: Parser<T>, none: T): Parser<T> => (v, s, cwd) => (asString(v) === '' ? none : parse(v, s, cwd));

/** The one parser of each kind; a setting's `min`/`max` bound its number. */
export const PARSERS: { readonly [K in Kind]: Parser<KindValue[K]> } = {
  urls: asUrls,
  url: asOptionalUrl,
  text: (v) => asString(v),
  secret: (v) => asString(v),
  bool: asBool,
  ms: asMs,
  percent: (v, s) => asInteger(v, s, 'percent', s.max ?? 400),
  seconds: asSecondsInMs,
  wholeSeconds: (v, s) => asSecondsInMs(v, s) / 1000,
  mebibytes: (v, s) => asInteger(v, s, 'MiB', s.max ?? 1024 * 1024),
  eventMode: (v) => asChoice(v, EVENT_MODES),
  logLevel: (v) => asChoice(v, LOG_LEVELS),
  path: (v, _s, cwd) => asPath(v, cwd, true),
  optionalPath: optional((v, _s, cwd) => asPath(v, cwd, true), ''),
  dir: (v, _s, cwd) => asPath(v, cwd),
  optionalDir: optional((v, _s, cwd) => asPath(v, cwd), ''),
  command: (v) => asCommand(v, false),
  optionalCommand: (v) => asCommand(v, true),
  account: asAccountName,
  listen: asListen,
  haproxyBind: asHaproxyBind,
  bindAddress: asBindAddress,
  groups: asGroups,
  certPaths: asCertPaths,
  hostList: asHostList,
  zkHosts: asZkHosts,
  zkPath: asZkPath,
};

/** Every setting's parsed value, typed by its kind. */
export type SettingValues = { readonly [I in SettingId]: KindValue[(typeof SETTINGS)[I]['kind']] };
