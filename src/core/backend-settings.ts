/**
 * Per-app backend settings, as named settings each with its grammar: the load-balancing algorithm, sticky
 * sessions (marathon-lb's cookie insert), the servers' weight and maxconn, and `timeout server`. They come from
 * marathon-lb's labels per service port (`HAPROXY_{n}_BALANCE`, `HAPROXY_{n}_STICKY`: marathon-lb has no label
 * for the other three) and from a Bamboo REST rule's `Config` map (`balance`, `sticky`, `weight`, `maxconn`,
 * `timeoutServer`), which wins over the labels of port 0, as the rule wins over them for routing. A value
 * reaches the config only when its grammar takes it: a bad label leaves its port out (lb-labels.ts), a bad
 * `Config` value refuses the rule (rules.ts). Pure.
 */

/** What a backend's settings say; a field left out keeps the default template's default. */
export interface BackendSettings {
  balance?: string;
  sticky?: boolean;
  weight?: number;
  maxconn?: number;
  timeoutServer?: string;
}

/** Bamboo's default, and culm's: marathon-lb's is `roundrobin`. */
export const DEFAULT_BALANCE = 'leastconn';

/** The cookie marathon-lb's `HAPROXY_BACKEND_STICKY_OPTIONS` inserts (kept, so clients' cookies keep their name). */
export const STICKY_COOKIE = 'mesosphere_server_id';

// HAProxy 2.6's algorithms that take no argument, plus the two cheap ones with a name.
const BALANCE = /^(?:roundrobin|static-rr|leastconn|first|source|uri|random|rdp-cookie|hdr\([A-Za-z0-9-]{1,64}\)|url_param [A-Za-z0-9_.-]{1,64})$/;

/** The algorithm as HAProxy takes it (`url_param` with one space before its name), or undefined. */
export function balanceOf(value: string): string | undefined {
  const v = value.trim().replace(/\s+/g, ' ');
  const lowered = v.startsWith('hdr(') || v.startsWith('url_param ') ? v : v.toLowerCase();
  return BALANCE.test(lowered) ? lowered : undefined;
}

/** HAProxy's server weight: 0 (no new traffic) to 256. */
export function weightOf(value: string): number | undefined {
  const v = value.trim();
  return /^[0-9]{1,3}$/.test(v) && Number(v) <= 256 ? Number(v) : undefined;
}

const MAX_INT = 2 ** 31 - 1;

/** A server's maxconn: a positive integer. */
export function maxconnOf(value: string): number | undefined {
  const v = value.trim();
  return /^[1-9][0-9]{0,9}$/.test(v) && Number(v) <= MAX_INT ? Number(v) : undefined;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** An HAProxy time, positive and below its timer's limit (2^31-1 ms): `30s`, `500ms`, `2m`, `30000` (ms). */
export function timeOf(value: string): string | undefined {
  const m = /^([1-9][0-9]{0,9})(us|ms|s|m|h|d)?$/.exec(value.trim());
  if (!m) return undefined;
  const ms = Number(m[1]) * UNIT_MS[m[2] ?? 'ms'];
  return ms >= 1 && ms <= MAX_INT ? `${m[1]}${m[2] ?? ''}` : undefined;
}

// marathon-lb's string_to_bool takes these as true and anything else as false; a typo is refused here instead.
const TRUE = new Set(['true', 't', 'yes', 'y', '1']);
const FALSE = new Set(['false', 'f', 'no', 'n', '0']);

/** A boolean label or Config value, or undefined for anything else. */
export function booleanOf(value: string): boolean | undefined {
  const v = value.trim().toLowerCase();
  return TRUE.has(v) ? true : FALSE.has(v) ? false : undefined;
}

/** One setting: where it is read from (label suffix, Config key), its grammar, and what the grammar says. */
interface Setting<K extends keyof BackendSettings> {
  key: K;
  /** `HAPROXY_{n}_<label>`; undefined: marathon-lb has no label for it. */
  label?: string;
  parse: (value: string) => BackendSettings[K] | undefined;
  expected: string;
}

const SETTINGS: ReadonlyArray<Setting<keyof BackendSettings>> = [
  { key: 'balance', label: 'BALANCE', parse: balanceOf, expected: 'an HAProxy algorithm (roundrobin, static-rr, leastconn, first, source, uri, random, rdp-cookie, hdr(<name>), url_param <name>)' },
  { key: 'sticky', label: 'STICKY', parse: booleanOf, expected: 'a boolean (true/false, yes/no, 1/0)' },
  { key: 'weight', parse: weightOf, expected: 'a weight from 0 to 256' },
  { key: 'maxconn', parse: maxconnOf, expected: 'a positive integer' },
  { key: 'timeoutServer', parse: timeOf, expected: 'an HAProxy time such as 30s, 500ms or 2m' },
];

/** The Config keys read, as documented (matched in any case: Bamboo's own `Acl` key is capitalised). */
export const CONFIG_KEYS: readonly string[] = SETTINGS.map((s) => s.key);

export interface SettingProblem {
  /** The label suffix (`BALANCE`) or the Config key (`weight`). */
  name: string;
  value: string;
  why: string;
}

/** The settings of service port n from its labels; `refuse` hears of each bad value. */
export function labelSettings(label: (name: string) => string | undefined, refuse: (name: string, value: string, why: string) => void): BackendSettings {
  const out: BackendSettings = {};
  for (const s of SETTINGS) {
    if (!s.label) continue;
    const value = label(s.label);
    if (value === undefined) continue;
    const parsed = s.parse(value);
    if (parsed === undefined) refuse(s.label, value, `is not ${s.expected}`);
    else (out as Record<string, unknown>)[s.key] = parsed;
  }
  return out;
}

/** The settings a rule's `Config` map names, and each value its grammar refuses (keys in any case). */
export function configSettings(config: Readonly<Record<string, string>>): { settings: BackendSettings; problems: SettingProblem[] } {
  const settings: BackendSettings = {};
  const problems: SettingProblem[] = [];
  const byKey = new Map<string, string[]>();
  for (const name of Object.keys(config)) {
    const lower = name.toLowerCase();
    byKey.set(lower, [...(byKey.get(lower) ?? []), name]);
  }
  for (const s of SETTINGS) {
    const names = byKey.get(s.key.toLowerCase());
    if (!names) continue;
    if (names.length > 1) {
      problems.push({ name: s.key, value: names.join(', '), why: `is given ${names.length} times (${names.join(', ')}): give it once` });
      continue;
    }
    const value = config[names[0]];
    const parsed = s.parse(value);
    if (parsed === undefined) problems.push({ name: names[0], value, why: `is not ${s.expected}` });
    else (settings as Record<string, unknown>)[s.key] = parsed;
  }
  return { settings, problems };
}

/** A backend's settings as the default template writes them (the template context's `BackendView` fields). */
export interface SettledSettings {
  Balance: string;
  Sticky: boolean;
  /** -1: none written (HAProxy's default, 1). */
  Weight: number;
  /** 0: none written. */
  MaxConn: number;
  /** '': the defaults' `timeout server`. */
  TimeoutServer: string;
  /** What each `server` line carries for these settings (` weight 5 maxconn 100`), '' for none; the cookie aside. */
  ServerOptions: string;
}

const cache = new Map<string, SettledSettings>();

/**
 * The labels' settings with the rule's over them; sticky only in HTTP (a cookie needs HTTP). One frozen object
 * per distinct outcome (10,000 backends share a handful).
 */
export function settle(labels: BackendSettings, rule: BackendSettings | undefined, mode: 'http' | 'tcp'): SettledSettings {
  const s = rule ? { ...labels, ...rule } : labels;
  const Balance = s.balance ?? DEFAULT_BALANCE;
  const Sticky = mode === 'http' && s.sticky === true;
  const Weight = s.weight ?? -1;
  const MaxConn = s.maxconn ?? 0;
  const TimeoutServer = s.timeoutServer ?? '';
  const key = `${Balance}|${Sticky}|${Weight}|${MaxConn}|${TimeoutServer}`;
  let settled = cache.get(key);
  if (!settled) {
    const ServerOptions = `${Weight >= 0 ? ` weight ${Weight}` : ''}${MaxConn > 0 ? ` maxconn ${MaxConn}` : ''}`;
    settled = Object.freeze({ Balance, Sticky, Weight, MaxConn, TimeoutServer, ServerOptions });
    // Bounded by the few values apps use; a flood of distinct ones only costs a fresh object each.
    if (cache.size < 10_000) cache.set(key, settled);
  }
  return settled;
}

const SHOWN: ReadonlyArray<[keyof SettledSettings, string]> = [['Balance', 'balance'], ['Sticky', 'sticky'], ['Weight', 'weight'], ['MaxConn', 'maxconn'], ['TimeoutServer', 'timeout server']];

/** What changed between two backends' settings, for a diff reason ("weight 5 → 7"); empty when nothing did. */
export function settingsChanges(a: SettledSettings, b: SettledSettings): string[] {
  if (a === b) return [];
  const value = (s: SettledSettings, k: keyof SettledSettings): string => {
    const v = s[k];
    const unset = (k === 'Weight' && v === -1) || (k === 'MaxConn' && v === 0) || (k === 'TimeoutServer' && v === '');
    return unset ? 'default' : String(v);
  };
  return SHOWN.filter(([k]) => a[k] !== b[k]).map(([k, name]) => `${name} ${value(a, k)} → ${value(b, k)}`);
}
