import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { shellQuote } from '../core/text.js';
import { defaultTemplatePath, type SETTINGS, type SettingId } from './defaults.js';
import type { SettingValues } from './parse.js';

/** The settings whose default is computed from other settings (`default: { derived }` in SETTINGS). */
type DerivedId = { [I in SettingId]: (typeof SETTINGS)[I]['default'] extends string ? never : I }[SettingId];

export interface DeriveContext {
  readonly cwd: string;
  /** The settings some layer set (not their static default). */
  readonly given: ReadonlySet<SettingId>;
}

/**
 * How each derived default is computed when no layer sets it. They run in this order, so each reads only the
 * settings above it or ones with a static default; the type makes a new `derived` row name its rule here.
 */
const DERIVED: { readonly [I in DerivedId]: (v: SettingValues, c: DeriveContext) => SettingValues[I] } = {
  'marathon.eventMode': (v) => (v['marathon.useEventStream'] ? 'sse' : 'auto'),
  'haproxy.templatePath': () => defaultTemplatePath(),
  'haproxy.outputPath': (v) => join(v.dataDir, 'haproxy.cfg'),
  'haproxy.pidPath': (v, c) => {
    const fromCommand = c.given.has('haproxy.reloadCommand') ? pidFileOf(v['haproxy.reloadCommand']) : undefined;
    return fromCommand === undefined ? `${v['haproxy.outputPath']}.pid` : resolve(c.cwd, fromCommand);
  },
  'haproxy.statsSocketPath': (v) => `${v['haproxy.outputPath']}.sock`,
  'haproxy.reloadCommand': (v) => defaultReloadCommand(v['haproxy.outputPath'], v['haproxy.pidPath'], v['haproxy.statsSocketPath']),
  'haproxy.validationCpuSeconds': (v) => Math.ceil(v['haproxy.commandTimeoutMs'] / 1000),
  'haproxy.user': defaultHaproxyUser,
  'haproxy.group': (v) => v['haproxy.user'],
  'api.allowedHosts': () => [],
};

/** The parsed values of the given and static settings, completed with the derived defaults nobody set. */
export function deriveDefaults(parsed: Partial<Record<SettingId, unknown>>, c: DeriveContext): SettingValues {
  const values: Partial<Record<SettingId, unknown>> = { ...parsed };
  for (const [id, derive] of Object.entries(DERIVED) as Array<[DerivedId, (v: SettingValues, c: DeriveContext) => unknown]>) {
    if (!(id in values)) values[id] = derive(values as SettingValues, c);
  }
  return values as SettingValues;
}

/** `haproxy` when culm runs as root and the system has that user (Debian's package creates it), else ''. */
function defaultHaproxyUser(): string {
  if (process.getuid?.() !== 0) return '';
  try {
    return /^haproxy:/m.test(readFileSync('/etc/passwd', 'utf8')) ? 'haproxy' : '';
  } catch {
    return '';
  }
}

/**
 * Bamboo's `-sf` reload, plus `-x <stats socket>` so the new process takes the listening sockets over from the
 * old one (no connection queued on the old listeners is lost). HAProxy 2.6 exits 1 when `-x` names a missing
 * socket, one no process listens on (the first start; the supervisor's restart after `kill -9` leaves the file)
 * or one without `expose-fd listeners` (a custom template): `-x` is only tried while the process the pid file
 * names is alive and the socket exists, and a start refused with it is tried again without it.
 */
export function defaultReloadCommand(outputPath: string, pidPath: string, statsSocketPath: string): string {
  const pid = `$(cat ${shellQuote(pidPath)} 2>/dev/null)`;
  const start = `haproxy -f ${shellQuote(outputPath)} -p ${shellQuote(pidPath)} -D`;
  return `{ kill -0 ${pid} 2>/dev/null && [ -S ${shellQuote(statsSocketPath)} ] && ${start} -x ${shellQuote(statsSocketPath)} -sf ${pid} 2>/dev/null; } `
    + `|| ${start} -sf ${pid}`;
}

/** The `-p <pidfile>` of a Bamboo-style reload command, when it is a plain word we can read. */
export function pidFileOf(command: string): string | undefined {
  const m = /(?:^|\s)-p\s+("[^"$`\\]+"|'[^']+'|[^\s;&|()<>$`'"\\]+)(?=$|[\s;&|)])/.exec(command);
  return m === null ? undefined : m[1].replace(/^(["'])(.*)\1$/, '$2');
}
