import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CulmError, errorMessage } from '../core/errors.js';
import { DOCKER_ENDPOINT_PLACEHOLDER, SETTINGS, type Setting, type SettingId } from './defaults.js';
import type { Origin, RawValue } from './types.js';

/** The raw values that beat the defaults, highest layer last written, plus what is worth a warning. */
export interface Collected {
  readonly raw: Map<SettingId, RawValue>;
  readonly file?: string;
  readonly warnings: string[];
}

export interface LoadInput {
  /** Arguments after the script name (process.argv.slice(2)). */
  readonly argv: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

const STATSD_ENV = ['STATSD_ENABLED', 'STATSD_HOST', 'STATSD_PREFIX'] as const;

/** defaults < file < BAMBOO_DOCKER_AUTO_HOST rewrite < environment < flags. */
export function collect(input: LoadInput): Collected {
  const cwd = input.cwd ?? process.cwd();
  const flags = parseFlags(input.argv);
  const raw = new Map<SettingId, RawValue>();
  const warnings: string[] = [];
  const statsd: string[] = [];

  const configFlag = flags.get('config');
  const configPath = configFlag ?? nonEmpty(input.env.CONFIG_PATH);
  let file: string | undefined;
  if (configPath !== undefined) {
    const via = configFlag !== undefined ? 'flag --config' : 'env CONFIG_PATH';
    if (configPath === '') throw new CulmError('E_CONFIG', `config file path from ${via} is empty`);
    file = resolve(cwd, configPath);
    const json = readConfigFile(file, via);
    walkFile(json, FILE_TREE, '', { layer: 'file', where: `file ${file}` }, raw, warnings, () => statsd.push(`StatsD section in ${file}`));
  }

  applyDockerAutoHost(input.env, raw);

  for (const [id, setting] of entries()) {
    if (setting.env === undefined) continue;
    const value = nonEmpty(input.env[setting.env]);
    if (value !== undefined) raw.set(id, { value, origin: { layer: 'env', where: `env ${setting.env}` } });
  }
  for (const name of STATSD_ENV) if (nonEmpty(input.env[name]) !== undefined) statsd.push(name);

  for (const [id, setting] of entries()) {
    if (setting.flag === undefined) continue;
    const value = flags.get(setting.flag);
    if (value !== undefined) raw.set(id, { value, origin: { layer: 'flag', where: `flag --${setting.flag}` } });
  }

  if (statsd.length > 0) {
    warnings.unshift(`StatsD settings are ignored (${statsd.join(', ')}): culm exports Prometheus metrics at /metrics instead`);
  }
  return file === undefined ? { raw, warnings } : { raw, file, warnings };
}

const FLAGS = new Set(['config', ...entries().flatMap(([, s]) => (s.flag === undefined ? [] : [s.flag]))]);

/**
 * Go's flag package, for Bamboo's three flags: `-x v`, `-x=v`, `--x v`, `--x=v`; the last one wins;
 * `--` ends the flags. Unlike Go, a stray positional argument is an error rather than silently ignored.
 */
export function parseFlags(argv: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      if (i + 1 < argv.length) throw new CulmError('E_CONFIG', `unexpected argument ${JSON.stringify(argv[i + 1])}`);
      break;
    }
    const m = /^--?([^-=][^=]*)(?:=([\s\S]*))?$/.exec(arg);
    if (!m) throw new CulmError('E_CONFIG', `unexpected argument ${JSON.stringify(arg)} (flags: ${flagList()})`);
    const name = m[1];
    if (!FLAGS.has(name)) throw new CulmError('E_CONFIG', `unknown flag ${JSON.stringify(arg.split('=')[0])} (flags: ${flagList()})`);
    let value = m[2];
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new CulmError('E_CONFIG', `flag needs an argument: --${name}`);
      value = argv[++i];
    }
    out.set(name, value);
  }
  return out;
}

function flagList(): string {
  return [...FLAGS].map((f) => `--${f}`).join(', ');
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

/**
 * Bamboo's Docker run.sh rewrote `"Endpoint": "http://haproxy-ip-address:8000"` in the config file to
 * http://$HOST:8000 whenever BAMBOO_DOCKER_AUTO_HOST was non-empty. Bamboo's default file carried that
 * placeholder, so an endpoint the file leaves unset is filled too. BAMBOO_ENDPOINT, applied later, wins.
 */
function applyDockerAutoHost(env: NodeJS.ProcessEnv, raw: Map<SettingId, RawValue>): void {
  if (nonEmpty(env.BAMBOO_DOCKER_AUTO_HOST) === undefined) return;
  const current = raw.get('bamboo.endpoint');
  if (current !== undefined && current.value !== DOCKER_ENDPOINT_PLACEHOLDER && current.value !== '') return;
  if (nonEmpty(env.BAMBOO_ENDPOINT) !== undefined) return;
  const host = env.HOST?.trim() ?? '';
  if (host === '') {
    throw new CulmError('E_CONFIG', 'config Bamboo.Endpoint / BAMBOO_DOCKER_AUTO_HOST: BAMBOO_DOCKER_AUTO_HOST is set but HOST is empty; set HOST (Marathon sets it for tasks) or BAMBOO_ENDPOINT');
  }
  const hostPart = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  raw.set('bamboo.endpoint', {
    value: `http://${hostPart}:8000`,
    origin: { layer: 'docker', where: `env BAMBOO_DOCKER_AUTO_HOST with HOST=${host}` },
  });
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

export function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

export function oneLine(s: string): string {
  return s.replace(/\s*[\r\n]+\s*/g, ' ');
}
