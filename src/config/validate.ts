import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { CulmError } from '../core/errors.js';
import { defaultTemplatePath, SETTINGS, type Setting, type SettingId } from './defaults.js';
import type { Collected } from './load.js';
import {
  asBool, asChoice, asCommand, asHaproxyBind, asHostList, asInteger, asListen, asMs, asOptionalUrl, asPath, asSecondsInMs, asString,
  asUrls, asZkHosts, asZkPath, EVENT_MODES, Invalid, LOG_LEVELS,
} from './parse.js';
import type { CulmConfig, RawValue } from './types.js';
import { shellQuote } from '../core/text.js';
import { isCertPath } from '../core/input-grammar.js';
import { certState } from '../fs/cert-files.js';

// Longest path a Unix socket can bind (sun_path is 108 bytes with the terminating NUL).
const MAX_SOCKET_PATH = 107;

/** "HAProxy.OutputPath / HAPROXY_OUTPUT_PATH": every way the user can set the key. */
export function keyLabel(id: SettingId): string {
  const s: Setting = SETTINGS[id];
  return [s.file, s.env, s.flag === undefined ? undefined : `--${s.flag}`].filter((x) => x !== undefined).join(' / ');
}

function fail(id: SettingId, problem: string, raw?: RawValue): never {
  const from = raw === undefined ? '' : ` (from ${raw.origin.where})`;
  return fail0(`config ${keyLabel(id)}: ${problem}${from}`);
}

function fail0(message: string): never {
  throw new CulmError('E_CONFIG', message.replace(/[\r\n]+/g, ' '));
}

/** Turns the collected raw layers into the typed, checked, deep-frozen configuration. */
export function validate(collected: Collected, cwd: string): CulmConfig {
  const warnings = [...collected.warnings];

  /** The highest layer's raw value, or the static default; undefined for derived defaults left unset. */
  const rawOf = (id: SettingId): RawValue | undefined => {
    const set = collected.raw.get(id);
    if (set !== undefined) return set;
    const d: Setting['default'] = SETTINGS[id].default;
    return typeof d === 'string' ? { value: d, origin: { layer: 'default', where: 'default' } } : undefined;
  };
  function read<T>(id: SettingId, parse: (v: unknown, s: Setting) => T): T;
  function read<T>(id: SettingId, parse: (v: unknown, s: Setting) => T, derive: () => T): T;
  function read<T>(id: SettingId, parse: (v: unknown, s: Setting) => T, derive?: () => T): T {
    const raw = rawOf(id);
    if (raw === undefined) {
      if (derive === undefined) throw new Error(`no default for ${id}`);
      return derive();
    }
    try {
      return parse(raw.value, SETTINGS[id]);
    } catch (err) {
      if (err instanceof Invalid) fail(id, err.message, raw);
      throw err;
    }
  }
  const text = (id: SettingId): string | undefined => {
    const v = read(id, (x) => asString(x));
    return v === '' ? undefined : v;
  };
  const path = (id: SettingId, derive?: () => string): string => {
    const parse = (v: unknown): string => asPath(v, cwd, id !== 'dataDir' && id !== 'haproxy.aclFilesDir');
    return derive === undefined ? read(id, parse) : read(id, parse, derive);
  };

  const useEventStream = read('marathon.useEventStream', asBool);
  const eventMode = read('marathon.eventMode', (v) => asChoice(v, EVENT_MODES), () => (useEventStream ? 'sse' : 'auto'));

  const dataDir = path('dataDir');
  const templatePath = path('haproxy.templatePath', defaultTemplatePath);
  const outputPath = path('haproxy.outputPath', () => join(dataDir, 'haproxy.cfg'));
  if (outputPath === dataDir) fail('haproxy.outputPath', 'is the data directory; it must name a file', rawOf('haproxy.outputPath'));
  if (outputPath === templatePath) fail('haproxy.outputPath', 'is the template path; writing it would destroy the template', rawOf('haproxy.outputPath'));
  const customReload = collected.raw.has('haproxy.reloadCommand') ? read('haproxy.reloadCommand', (v) => asCommand(v, false)) : undefined;
  const pidPath = path('haproxy.pidPath', () => {
    const fromCommand = customReload === undefined ? undefined : pidFileOf(customReload);
    return fromCommand === undefined ? `${outputPath}.pid` : resolve(cwd, fromCommand);
  });
  const statsSocketPath = path('haproxy.statsSocketPath', () => `${outputPath}.sock`);
  if (Buffer.byteLength(statsSocketPath) > MAX_SOCKET_PATH) {
    fail('haproxy.statsSocketPath', `${statsSocketPath} is longer than ${MAX_SOCKET_PATH} bytes, the Unix socket limit; set a shorter path`, rawOf('haproxy.statsSocketPath'));
  }
  const reloadCommand = customReload ?? defaultReloadCommand(outputPath, pidPath, statsSocketPath);
  const validationCommand = read('haproxy.validationCommand', (v) => asCommand(v, true));
  if (validationCommand.trim() !== '' && !validationCommand.includes('{{.}}')) {
    warnings.push(`config ${keyLabel('haproxy.validationCommand')} has no {{.}} placeholder, so it does not check the candidate configuration`);
  }

  const haproxyUser = read('haproxy.user', (v) => asAccountName(v), defaultHaproxyUser);
  const haproxyGroup = haproxyUser === '' ? '' : read('haproxy.group', (v) => asAccountName(v), () => haproxyUser);

  const endpoint = read('bamboo.endpoint', asOptionalUrl);
  if (eventMode === 'callback' && endpoint === '') {
    const why = collected.autoHostMissed === undefined ? '' : ` (${collected.autoHostMissed}: set HOST or BAMBOO_ENDPOINT)`;
    fail0(`config ${keyLabel('bamboo.endpoint')}: required when the event mode (${keyLabel('marathon.eventMode')}) is callback; Marathon needs a URL to call${why}`);
  }
  if (eventMode !== 'sse' && collected.autoHostGuessed !== undefined && endpoint === collected.autoHostGuessed) {
    warnings.push(`Marathon will call back ${collected.autoHostGuessed}, an address BAMBOO_DOCKER_AUTO_HOST took from this container without HOST: `
      + 'on a Docker bridge network Marathon cannot reach it; set HOST (the agent\'s address) or BAMBOO_ENDPOINT, or use host networking or CULM_EVENT_MODE=sse');
  }
  const user = text('marathon.user');
  const password = text('marathon.password');
  const auth = text('bamboo.zookeeper.auth');
  if (auth !== undefined && !/^[^:]+:/.test(auth)) fail('bamboo.zookeeper.auth', 'must be digest credentials user:password', rawOf('bamboo.zookeeper.auth'));
  const logFile = text('logFile') === undefined ? undefined : path('logFile');
  const commandTimeoutMs = read('haproxy.commandTimeoutMs', asMs);
  const aclFilesDir = text('haproxy.aclFilesDir') === undefined ? '' : path('haproxy.aclFilesDir');
  const serveGroups = (text('haproxy.serveGroups') ?? '').split(',').map((g) => g.trim()).filter((g) => g !== '');
  for (const g of serveGroups) {
    if (!/^[A-Za-z0-9_.*-]{1,128}$/.test(g)) fail('haproxy.serveGroups', `group ${JSON.stringify(g)} is not a group name (letters, digits, _ . - or *)`, rawOf('haproxy.serveGroups'));
  }
  const strictGroups = read('haproxy.strictGroups', asBool);
  if (strictGroups && serveGroups.length === 0) {
    fail('haproxy.strictGroups', `is true but ${keyLabel('haproxy.serveGroups')} names no group: no app would be served`, rawOf('haproxy.strictGroups'));
  }
  const sslCerts = certsSetting(text('haproxy.sslCerts') ?? '', cwd, (problem) => fail('haproxy.sslCerts', problem, rawOf('haproxy.sslCerts')));
  const bindServicePorts = read('haproxy.bindServicePorts', asBool);
  const servicePortBindAddress = (text('haproxy.servicePortBindAddress') ?? '*').trim();
  if (!isBindAddress(servicePortBindAddress)) fail('haproxy.servicePortBindAddress', `${JSON.stringify(servicePortBindAddress)} is not * or an IP address`, rawOf('haproxy.servicePortBindAddress'));
  const usersFile = text('api.usersFile') === undefined ? undefined : path('api.usersFile');
  const hostList = read('api.allowedHosts', asHostList, () => []);
  const allowedHosts = hostList.length === 0 ? undefined : hostList;
  const api = {
    token: text('api.token') ?? '',
    ...(usersFile === undefined ? {} : { usersFile }),
    readAuth: read('api.readAuth', asBool),
    ...(allowedHosts === undefined ? {} : { allowedHosts }),
  };
  if (api.readAuth && api.token === '' && usersFile === undefined) {
    fail('api.readAuth', `is true but neither ${keyLabel('api.token')} nor ${keyLabel('api.usersFile')} is set: nobody could read`, rawOf('api.readAuth'));
  }

  const config: CulmConfig = {
    marathon: {
      endpoints: read('marathon.endpoints', asUrls),
      ...(user === undefined ? {} : { user }),
      ...(password === undefined ? {} : { password }),
      eventMode,
      requestTimeoutMs: read('marathon.requestTimeoutMs', asMs),
      resyncIntervalMs: read('marathon.resyncIntervalMs', asMs),
      settleMs: read('marathon.settleMs', asMs),
      subscriptionCheckMs: read('marathon.subscriptionCheckMs', asMs),
      sseWatchdogMs: read('marathon.sseWatchdogMs', asMs),
      callbackToken: text('marathon.callbackToken') ?? '',
    },
    bamboo: {
      endpoint,
      zookeeper: {
        hosts: read('bamboo.zookeeper.hosts', asZkHosts),
        path: read('bamboo.zookeeper.path', asZkPath),
        reportingDelayMs: read('bamboo.zookeeper.reportingDelayMs', asSecondsInMs),
        sessionTimeoutMs: read('bamboo.zookeeper.sessionTimeoutMs', asMs),
        ...(auth === undefined ? {} : { auth }),
      },
    },
    haproxy: {
      templatePath,
      outputPath,
      reloadCommand,
      validationCommand,
      cleanupCommand: read('haproxy.cleanupCommand', (v) => asCommand(v, true)),
      httpBind: read('haproxy.httpBind', asHaproxyBind),
      sslCerts,
      httpsBind: read('haproxy.httpsBind', asHaproxyBind),
      pidPath,
      statsSocketPath,
      user: haproxyUser,
      group: haproxyGroup,
      serveGroups,
      strictGroups,
      labelRouting: read('haproxy.labelRouting', asBool),
      bindServicePorts,
      servicePortBindAddress,
      commandTimeoutMs,
      validationCpuSeconds: read('haproxy.validationCpuSeconds', (v, st) => asSecondsInMs(v, st) / 1000, () => Math.ceil(commandTimeoutMs / 1000)),
      validationMemoryMiB: read('haproxy.validationMemoryMiB', (v, st) => asInteger(v, st, 'MiB', st.max ?? 1024 * 1024)),
      aclFilesDir,
      reloadIntervalMs: read('haproxy.reloadIntervalMs', asMs),
      runtimeApi: read('haproxy.runtimeApi', asBool),
      stopOnExit: read('haproxy.stopOnExit', asBool),
      stopGraceMs: read('haproxy.stopGraceMs', asMs),
      log: read('haproxy.log', asBool),
      requestLog: read('haproxy.requestLog', asBool),
    },
    http: read('http.bind', asListen),
    api,
    dataDir,
    heapGrowingPercent: read('heapGrowingPercent', (v, st) => asInteger(v, st, 'percent', st.max ?? 400)),
    logLevel: read('logLevel', (v) => asChoice(v, LOG_LEVELS)),
    ...(logFile === undefined ? {} : { logFile }),
    warnings,
    notices: [...collected.notices],
    source: collected.file === undefined ? {} : { file: collected.file },
  };
  return deepFreeze(config);
}

/**
 * HAProxy.SslCerts: comma-separated paths (relative ones against the working directory), each a readable PEM
 * file or directory now; `refuse` throws.
 */
function certsSetting(value: string, cwd: string, refuse: (problem: string) => never): string[] {
  const certs = value.split(',').map((c) => c.trim()).filter((c) => c !== '').map((c) => resolve(cwd, c));
  for (const cert of certs) {
    if (!isCertPath(cert)) refuse(`${JSON.stringify(cert)} is not a file path HAProxy can take as one word (no spaces, #, quotes or ..)`);
    const { problem } = certState(cert, true);
    if (problem) refuse(`certificate ${cert}: ${problem}`);
  }
  return [...new Set(certs)];
}

/** A user or group name as HAProxy's `user`/`group` take it (POSIX portable names); '' for none. */
function asAccountName(v: unknown): string {
  const name = asString(v).trim();
  if (name !== '' && !/^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/.test(name)) throw new Invalid(`${JSON.stringify(name)} is not a user or group name`);
  return name;
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

export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** `*`, or an IP address a `bind` line takes before `:<port>` (HAProxy reads the port after the last colon). */
function isBindAddress(value: string): boolean {
  return value === '*' || isIP(value) !== 0;
}
