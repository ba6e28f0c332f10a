import type { SettingId } from './defaults.js';
import type { Collected } from './load.js';
import type { SettingValues } from './parse.js';
import type { CulmConfig } from './types.js';

/**
 * Where each setting's value goes in the deep-frozen CulmConfig: mostly at its id's path; an optional key is left
 * out when its value is `''` or an empty list.
 */
export function assemble(v: SettingValues, collected: Collected, warnings: string[]): CulmConfig {
  const config: CulmConfig = {
    marathon: {
      endpoints: v['marathon.endpoints'],
      ...optional(v, 'marathon', ['user', 'password']),
      ...pick(v, 'marathon', ['eventMode', 'requestTimeoutMs', 'resyncIntervalMs', 'settleMs', 'subscriptionCheckMs', 'sseWatchdogMs', 'callbackToken']),
    },
    bamboo: {
      endpoint: v['bamboo.endpoint'],
      zookeeper: {
        ...pick(v, 'bamboo.zookeeper', ['hosts', 'path', 'reportingDelayMs', 'sessionTimeoutMs']),
        ...optional(v, 'bamboo.zookeeper', ['auth']),
      },
    },
    haproxy: {
      ...pick(v, 'haproxy', ['templatePath', 'outputPath', 'reloadCommand', 'validationCommand', 'cleanupCommand', 'httpBind', 'sslCerts', 'httpsBind', 'pidPath',
        'statsSocketPath', 'user']),
      // Without a user HAProxy keeps culm's user and group.
      group: v['haproxy.user'] === '' ? '' : v['haproxy.group'],
      ...pick(v, 'haproxy', ['serveGroups', 'strictGroups', 'labelRouting', 'bindServicePorts', 'trustLabelConfig', 'servicePortBindAddress', 'commandTimeoutMs',
        'validationCpuSeconds', 'validationMemoryMiB', 'aclFilesDir', 'reloadIntervalMs', 'runtimeApi', 'stopOnExit', 'stopGraceMs', 'log',
        'requestLog']),
    },
    http: v['http.bind'],
    api: { token: v['api.token'], ...optional(v, 'api', ['usersFile']), readAuth: v['api.readAuth'], ...optional(v, 'api', ['allowedHosts']) },
    ...pick(v, '', ['dataDir', 'heapGrowingPercent', 'logLevel']),
    ...optional(v, '', ['logFile']),
    warnings,
    notices: [...collected.notices],
    source: collected.file === undefined ? {} : { file: collected.file },
  };
  return deepFreeze(config);
}

/** The keys of the settings under `prefix` ('' for top-level ones). */
type Suffix<I, P extends string> = I extends `${P}.${infer R}` ? R : never;
type Under<P extends string> = P extends '' ? SettingId : Suffix<SettingId, P>;
type Picked<P extends string, K extends string> = { [R in K]: SettingValues[Extract<P extends '' ? R : `${P}.${R}`, SettingId>] };

function pick<P extends string, K extends Under<P>>(v: SettingValues, prefix: P, keys: readonly K[]): Picked<P, K> {
  return Object.fromEntries(keys.map((k) => [k, v[(prefix === '' ? k : `${prefix}.${k}`) as SettingId]])) as Picked<P, K>;
}

function optional<P extends string, K extends Under<P>>(v: SettingValues, prefix: P, keys: readonly K[]): Partial<Picked<P, K>> {
  const all: Record<string, unknown> = pick(v, prefix, keys);
  return Object.fromEntries(Object.entries(all).filter(([, x]) => x !== '' && !(Array.isArray(x) && x.length === 0))) as Partial<Picked<P, K>>;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const x of Object.values(value)) deepFreeze(x);
  }
  return value;
}
