import { readFileSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
import { resolve } from 'node:path';
import { CulmError, errorMessage } from '../core/errors.js';
import { flagNames, SETTINGS, type Setting, type SettingId } from './defaults.js';
import { applyDockerAutoHost, type OwnNetwork } from './docker.js';
import { asBool, Invalid, typeName } from './parse.js';
import type { Origin, RawValue } from './types.js';

/** The raw values that beat the defaults, highest layer last written, plus what is worth a log line. */
export interface Collected {
  readonly raw: Map<SettingId, RawValue>;
  readonly file?: string;
  readonly warnings: string[];
  /** Informational start-up lines (which address BAMBOO_DOCKER_AUTO_HOST took, a config file not read). */
  readonly notices: string[];
  /** Why BAMBOO_DOCKER_AUTO_HOST could not fill Bamboo.Endpoint, for callback mode's error. */
  readonly autoHostMissed?: string;
  /** The endpoint BAMBOO_DOCKER_AUTO_HOST guessed without HOST (a bridge address Marathon may not reach). */
  readonly autoHostGuessed?: string;
}

export interface LoadInput {
  /** Arguments after the script name (process.argv.slice(2)). */
  readonly argv: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** This machine's interfaces and name, for BAMBOO_DOCKER_AUTO_HOST without HOST (node:os unless a test says). */
  readonly network?: OwnNetwork;
}

const STATSD_ENV = ['STATSD_ENABLED', 'STATSD_HOST', 'STATSD_PREFIX'] as const;

/** defaults < file < BAMBOO_DOCKER_AUTO_HOST rewrite < environment < flags. */
export function collect(input: LoadInput): Collected {
  const cwd = input.cwd ?? process.cwd();
  const flags = parseFlags(input.argv);
  const raw = new Map<SettingId, RawValue>();
  const warnings: string[] = [];
  const notices: string[] = [];
  const statsd: string[] = [];

  const configFlag = flags.get('config');
  const onlyFlags = controlBool(flags, 'config_from_flags');
  if (onlyFlags && configFlag !== undefined) {
    throw new CulmError('E_CONFIG', `--${configFlag.name} and --config_from_flags contradict each other: name a config file or read none`);
  }
  if (onlyFlags && nonEmpty(input.env.CONFIG_PATH) !== undefined) notices.push('--config_from_flags: CONFIG_PATH is not read');
  if (!controlBool(flags, 'haproxy_check', true)) {
    warnings.push('--haproxy_check=false is ignored: culm checks every candidate configuration (HAProxy.ReloadValidationCommand); set HAPROXY_RELOAD_VALIDATION_CMD to an empty value to skip the check');
  }
  const configPath = onlyFlags ? undefined : configFlag?.value ?? nonEmpty(input.env.CONFIG_PATH);
  let file: string | undefined;
  if (configPath !== undefined) {
    const via = configFlag !== undefined ? `flag --${configFlag.name}` : 'env CONFIG_PATH';
    if (configPath === '') throw new CulmError('E_CONFIG', `config file path from ${via} is empty`);
    file = resolve(cwd, configPath);
    const json = readConfigFile(file, via);
    walkFile(json, FILE_TREE, '', { layer: 'file', where: `file ${file}` }, raw, warnings, () => statsd.push(`StatsD section in ${file}`));
  }

  for (const [id, setting] of entries()) {
    if (setting.env === undefined) continue;
    const value = nonEmpty(input.env[setting.env]);
    if (value !== undefined) raw.set(id, { value, origin: { layer: 'env', where: `env ${setting.env}` } });
  }
  for (const name of STATSD_ENV) if (nonEmpty(input.env[name]) !== undefined) statsd.push(name);

  for (const [id] of entries()) {
    const flag = flags.get(id);
    if (flag !== undefined) raw.set(id, { value: flag.value, origin: { layer: 'flag', where: `flag --${flag.name}` } });
  }

  const autoHost = applyDockerAutoHost(input.env, raw, input.network ?? { interfaces: networkInterfaces, hostname });
  if (autoHost.notice !== undefined) notices.push(autoHost.notice);

  if (statsd.length > 0) {
    warnings.unshift(`StatsD settings are ignored (${statsd.join(', ')}): culm exports Prometheus metrics at /metrics instead`);
  }
  return {
    raw, warnings, notices,
    ...(file === undefined ? {} : { file }),
    ...(autoHost.missed === undefined ? {} : { autoHostMissed: autoHost.missed }),
    ...(autoHost.guessed === undefined ? {} : { autoHostGuessed: autoHost.guessed }),
  };
}

/** The flags that steer loading itself rather than set a setting; true: a boolean flag. */
const CONTROL_FLAGS = { config: false, config_from_flags: true, haproxy_check: true } as const;

/** What a flag sets: a setting (by id) or a control flag (by name); `-x` alone means true for a boolean. */
export interface FlagTarget {
  readonly key: string;
  readonly bool: boolean;
}

/**
 * Every flag culm takes, derived from the settings table: each setting's own flag and its environment name in
 * lower case, plus the control flags. Two things under one name is a programming error, refused at load.
 */
export function flagTable(): Map<string, FlagTarget> {
  const table = new Map<string, FlagTarget>();
  const add = (name: string, target: FlagTarget): void => {
    const had = table.get(name);
    if (had !== undefined && had.key !== target.key) throw new Error(`flag --${name} would set both ${had.key} and ${target.key}`);
    table.set(name, target);
  };
  for (const [name, bool] of Object.entries(CONTROL_FLAGS)) add(name, { key: name, bool });
  for (const [id, setting] of entries()) for (const name of flagNames(setting)) add(name, { key: id, bool: setting.kind === 'bool' });
  return table;
}

const FLAGS = flagTable();

/** A flag's value and the name it was given under (for messages). */
export interface FlagValue {
  readonly value: string;
  readonly name: string;
}

/**
 * Go's flag package: `-x v`, `-x=v`, `--x v`, `--x=v`, and `-x` alone for a boolean (true; a boolean takes its
 * value only as `-x=false`, as in Go); the last one wins; `--` ends the flags. Keyed by what the flag sets, so
 * two names of one setting also resolve to the last. Unlike Go, a stray positional argument is an error rather
 * than silently ignored.
 */
export function parseFlags(argv: readonly string[]): Map<string, FlagValue> {
  const out = new Map<string, FlagValue>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      if (i + 1 < argv.length) throw new CulmError('E_CONFIG', `unexpected argument ${JSON.stringify(argv[i + 1])}`);
      break;
    }
    const m = /^--?([^-=][^=]*)(?:=([\s\S]*))?$/.exec(arg);
    if (!m) throw new CulmError('E_CONFIG', `unexpected argument ${JSON.stringify(arg)} (${FLAG_HELP})`);
    const name = m[1];
    const target = FLAGS.get(name);
    if (target === undefined) throw new CulmError('E_CONFIG', `unknown flag ${JSON.stringify(arg.split('=')[0])} (${FLAG_HELP})`);
    let value = m[2];
    if (value === undefined && target.bool) value = 'true';
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new CulmError('E_CONFIG', `flag needs an argument: --${name}`);
      value = argv[++i];
    }
    out.delete(target.key); // re-inserted: the map's order stays the order of last use
    out.set(target.key, { value, name });
  }
  return out;
}

const FLAG_HELP = 'flags: --config, --config_from_flags, --haproxy_check, --bind, --log, and every setting\'s environment name in lower case, e.g. --marathon_endpoint; see the README, "Configuration"';

/** A boolean control flag as Go's strconv.ParseBool reads it; `fallback` when absent. */
function controlBool(flags: Map<string, FlagValue>, key: keyof typeof CONTROL_FLAGS, fallback = false): boolean {
  const flag = flags.get(key);
  if (flag === undefined) return fallback;
  try {
    return asBool(flag.value);
  } catch (err) {
    if (err instanceof Invalid) throw new CulmError('E_CONFIG', `flag --${flag.name}: ${err.message}`);
    throw err;
  }
}

function readConfigFile(file: string, via: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EISDIR' ? 'is a directory' : `cannot be read (${errorMessage(cause)})`;
    throw new CulmError('E_CONFIG', `config file ${file} (from ${via}) ${why}`, { cause });
  }
  let json: unknown;
  try {
    json = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (cause) {
    throw new CulmError('E_CONFIG', `config file ${file} is not valid JSON: ${oneLine(errorMessage(cause))}`, { cause });
  }
  if (!isObject(json)) throw new CulmError('E_CONFIG', `config file ${file} must hold a JSON object`);
  return json;
}

// The file's shape, derived from the settings' `file` paths: section → … → setting id.
interface Tree { readonly [folded: string]: { readonly name: string; readonly node: Tree | SettingId | 'statsd' } }

function buildTree(): Tree {
  const root: Record<string, { name: string; node: Tree | SettingId | 'statsd' }> = {
    statsd: { name: 'StatsD', node: 'statsd' },
  };
  for (const [id, setting] of entries()) {
    if (setting.file === undefined) continue;
    const parts = setting.file.split('.');
    let level = root;
    for (const [i, part] of parts.entries()) {
      const key = fold(part);
      if (i === parts.length - 1) {
        level[key] = { name: part, node: id };
      } else {
        level[key] ??= { name: part, node: {} };
        level = level[key].node as Record<string, { name: string; node: Tree | SettingId | 'statsd' }>;
      }
    }
  }
  return root;
}

const FILE_TREE = buildTree();

/**
 * Go's encoding/json: keys match fields case-insensitively (with Unicode simple folding), the last
 * matching key wins, null leaves a field alone and unknown keys are ignored — here with a warning.
 */
function walkFile(
  obj: Record<string, unknown>, tree: Tree, prefix: string, origin: Origin,
  raw: Map<SettingId, RawValue>, warnings: string[], onStatsd: () => void,
): void {
  for (const [key, value] of Object.entries(obj)) {
    const entry = tree[fold(key)];
    const path = prefix + (entry?.name ?? key);
    if (entry === undefined) {
      warnings.push(`unknown key ${path} in ${origin.where} ignored`);
    } else if (entry.node === 'statsd') {
      onStatsd();
    } else if (value === null) {
      continue;
    } else if (typeof entry.node === 'string') {
      raw.set(entry.node, { value, origin });
    } else if (isObject(value)) {
      walkFile(value, entry.node, `${path}.`, origin, raw, warnings, onStatsd);
    } else {
      throw new CulmError('E_CONFIG', `config ${path}: must be a JSON object, got ${typeName(value)} (from ${origin.where})`);
    }
  }
}

function entries(): Array<[SettingId, Setting]> {
  return Object.entries(SETTINGS) as Array<[SettingId, Setting]>;
}

// Go folds case with Unicode simple folding: K (Kelvin) is k, ſ (long s) is s.
function fold(key: string): string {
  return key.toLowerCase().replace(/\u017f/g, 's');
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function oneLine(s: string): string {
  return s.replace(/\s*[\r\n]+\s*/g, ' ');
}
