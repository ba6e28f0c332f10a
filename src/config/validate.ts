import { CulmError } from '../core/errors.js';
import { certState } from '../fs/cert-files.js';
import { SETTINGS, type Setting, type SettingId } from './defaults.js';
import { deriveDefaults } from './derived.js';
import type { Collected } from './load.js';
import { assemble } from './assemble.js';
import { Invalid, PARSERS, type SettingValues } from './parse.js';
import type { CulmConfig, RawValue } from './types.js';

// Longest path a Unix socket can bind (sun_path is 108 bytes with the terminating NUL).
const MAX_SOCKET_PATH = 107;

/** "HAProxy.OutputPath / HAPROXY_OUTPUT_PATH": every way the user can set the key. */
export function keyLabel(id: SettingId): string {
  const s: Setting = SETTINGS[id];
  return [s.file, s.env, s.flag === undefined ? undefined : `--${s.flag}`].filter((x) => x !== undefined).join(' / ');
}

function fail(id: SettingId, problem: string, raw?: RawValue): never {
  const from = raw === undefined ? '' : ` (from ${raw.origin.where})`;
  throw new CulmError('E_CONFIG', `config ${keyLabel(id)}: ${problem}${from}`.replace(/[\r\n]+/g, ' '));
}

/** The highest layer's raw value, or the static default; undefined for derived defaults left unset. */
function rawOf(collected: Collected, id: SettingId): RawValue | undefined {
  const d: Setting['default'] = SETTINGS[id].default;
  return collected.raw.get(id) ?? (typeof d === 'string' ? { value: d, origin: { layer: 'default', where: 'default' } } : undefined);
}

interface CheckContext {
  readonly collected: Collected;
  /** Fails naming the key and where its value came from. */
  fail(id: SettingId, problem: string): never;
  warn(message: string): void;
}

/** Settings another one can make unused: a bad value there is refused only when it is used (as before the table). */
const UNUSED_WHEN: Partial<Record<SettingId, (v: SettingValues) => boolean>> = {
  // Without a user HAProxy keeps culm's user and group: the group is not read.
  'haproxy.group': (v) => v['haproxy.user'] === '',
};

/** Rules across settings, or on how one is used, run in this order once every value is parsed and derived. */
const CHECKS: Readonly<Record<string, (v: SettingValues, c: CheckContext) => void>> = {
  'the output is a file of its own': (v, c) => {
    if (v['haproxy.outputPath'] === v.dataDir) c.fail('haproxy.outputPath', 'is the data directory; it must name a file');
    if (v['haproxy.outputPath'] === v['haproxy.templatePath']) c.fail('haproxy.outputPath', 'is the template path; writing it would destroy the template');
  },
  'the stats socket path fits a Unix socket': (v, c) => {
    const path = v['haproxy.statsSocketPath'];
    if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
      c.fail('haproxy.statsSocketPath', `${path} is longer than ${MAX_SOCKET_PATH} bytes, the Unix socket limit; set a shorter path`);
    }
  },
  'the validation command checks the candidate': (v, c) => {
    const command = v['haproxy.validationCommand'];
    if (command.trim() !== '' && !command.includes('{{.}}')) {
      c.warn(`config ${keyLabel('haproxy.validationCommand')} has no {{.}} placeholder, so it does not check the candidate configuration`);
    }
  },
  'callback mode has an endpoint Marathon can reach': (v, c) => {
    const { autoHostMissed, autoHostGuessed } = c.collected;
    const endpoint = v['bamboo.endpoint'];
    if (v['marathon.eventMode'] === 'callback' && endpoint === '') {
      const why = autoHostMissed === undefined ? '' : ` (${autoHostMissed}: set HOST or BAMBOO_ENDPOINT)`;
      fail('bamboo.endpoint', `required when the event mode (${keyLabel('marathon.eventMode')}) is callback; Marathon needs a URL to call${why}`);
    }
    if (v['marathon.eventMode'] !== 'sse' && autoHostGuessed !== undefined && endpoint === autoHostGuessed) {
      c.warn(`Marathon will call back ${autoHostGuessed}, an address BAMBOO_DOCKER_AUTO_HOST took from this container without HOST: `
        + 'on a Docker bridge network Marathon cannot reach it; set HOST (the agent\'s address) or BAMBOO_ENDPOINT, or use host networking or CULM_EVENT_MODE=sse');
    }
  },
  'ZooKeeper credentials are digest credentials': (v, c) => {
    const auth = v['bamboo.zookeeper.auth'];
    if (auth !== '' && !/^[^:]+:/.test(auth)) c.fail('bamboo.zookeeper.auth', 'must be digest credentials user:password');
  },
  'strict groups name a group': (v, c) => {
    if (v['haproxy.strictGroups'] && v['haproxy.serveGroups'].length === 0) {
      c.fail('haproxy.strictGroups', `is true but ${keyLabel('haproxy.serveGroups')} names no group: no app would be served`);
    }
  },
  'the certificates are readable': (v, c) => {
    for (const cert of v['haproxy.sslCerts']) {
      const { problem } = certState(cert, true);
      if (problem) c.fail('haproxy.sslCerts', `certificate ${cert}: ${problem}`);
    }
  },
  'read auth has credentials to check': (v, c) => {
    if (v['api.readAuth'] && v['api.token'] === '' && v['api.usersFile'] === '') {
      c.fail('api.readAuth', `is true but neither ${keyLabel('api.token')} nor ${keyLabel('api.usersFile')} is set: nobody could read`);
    }
  },
};

/**
 * Turns the collected raw layers into the typed, checked, deep-frozen configuration: every setting is parsed by
 * its kind's parser (SETTINGS drives it), derived defaults fill what nobody set, then the CHECKS run.
 */
export function validate(collected: Collected, cwd: string): CulmConfig {
  const parsed: Partial<Record<SettingId, unknown>> = {};
  const unusedIfBad: Array<{ id: SettingId; problem: string; raw: RawValue }> = [];
  for (const [id, setting] of Object.entries(SETTINGS) as Array<[SettingId, Setting]>) {
    const raw = rawOf(collected, id);
    if (raw === undefined) continue;
    try {
      parsed[id] = PARSERS[setting.kind](raw.value, setting, cwd);
    } catch (err) {
      if (!(err instanceof Invalid)) throw err;
      if (UNUSED_WHEN[id] === undefined) fail(id, err.message, raw);
      unusedIfBad.push({ id, problem: err.message, raw });
    }
  }
  const v = deriveDefaults(parsed, { cwd, given: new Set(collected.raw.keys()) });
  for (const bad of unusedIfBad) if (!UNUSED_WHEN[bad.id]!(v)) fail(bad.id, bad.problem, bad.raw);
  const warnings = [...collected.warnings];
  const context: CheckContext = { collected, fail: (id, problem) => fail(id, problem, rawOf(collected, id)), warn: (m) => warnings.push(m) };
  for (const check of Object.values(CHECKS)) check(v, context);
  return assemble(v, collected, warnings);
}
