import { EXTRA_KEYS, SETTINGS, type Setting } from './defaults.js';
import { collect, type LoadInput } from './load.js';
import { redactUrl } from '../core/text.js';
import type { CulmConfig } from './types.js';
import { validate } from './validate.js';

export type { CulmConfig, EventMode } from './types.js';
export type { LoadInput } from './load.js';
export { parseFlags } from './load.js';
export { DOCKER_ENDPOINT_PLACEHOLDER, packageRoot } from './defaults.js';

/**
 * Loads the configuration synchronously: built-in defaults < config file (`--config` or CONFIG_PATH,
 * Bamboo's JSON format) < environment < flags (`--config`, `--bind`, `--log`, each env name in lower case), then validates once
 * and deep-freezes. Any problem is a CulmError E_CONFIG with a one-line message naming the key
 * (file key, env name, flag) and where the bad value came from; main prints it and exits 2.
 */
export function loadConfig(input: LoadInput): CulmConfig {
  const cwd = input.cwd ?? process.cwd();
  return validate(collect({ ...input, cwd }), cwd);
}

const REDACTED = '[redacted]';

/**
 * A plain, mutable copy safe to log: every setting of kind `secret` (its id is its path in the config) and
 * URL userinfo are redacted, so a new secret is redacted by declaring it.
 */
export function redactConfig(c: CulmConfig): unknown {
  const copy = structuredClone(c) as unknown as Record<string, unknown> & {
    marathon: { endpoints: string[] };
    bamboo: { endpoint: string };
  };
  for (const [id, setting] of Object.entries(SETTINGS) as Array<[string, Setting]>) {
    if (setting.kind !== 'secret') continue;
    const keys = id.split('.');
    const parent = keys.slice(0, -1).reduce<Record<string, unknown> | undefined>(
      (node, key) => (node?.[key] as Record<string, unknown> | undefined), copy);
    const leaf = keys[keys.length - 1];
    if (parent && typeof parent[leaf] === 'string' && parent[leaf] !== '') parent[leaf] = REDACTED;
  }
  copy.marathon.endpoints = copy.marathon.endpoints.map(redactUrl);
  copy.bamboo.endpoint = redactUrl(copy.bamboo.endpoint);
  return copy;
}

export interface ConfigKey {
  /** Path in CulmConfig (or a name for rows that are not settings). */
  readonly key: string;
  readonly file?: string;
  readonly env?: string;
  readonly flag?: string;
  readonly default: string;
  readonly doc: string;
}

/** Every key culm reads, in one list: the README's configuration table is generated from it. */
export const CONFIG_KEYS: ReadonlyArray<ConfigKey> = Object.freeze([
  ...Object.entries(SETTINGS).map(([key, s]: [string, Setting]): ConfigKey => ({
    key,
    ...(s.file === undefined ? {} : { file: s.file }),
    ...(s.env === undefined ? {} : { env: s.env }),
    ...(s.flag === undefined ? {} : { flag: `--${s.flag}` }),
    default: typeof s.default === 'string' ? s.default : s.default.derived,
    doc: s.doc,
  })),
  ...EXTRA_KEYS.map((k): ConfigKey => ({ ...k, ...('flag' in k ? { flag: `--${k.flag}` } : {}) })),
].map((k) => Object.freeze(k)));

/** The reference table as Markdown (defaults in backticks unless already formatted). */
export function configReferenceMarkdown(): string {
  const cell = (s: string | undefined): string => (s === undefined || s === '' ? '' : s.replace(/\|/g, '\\|').replace(/\n/g, ' '));
  const code = (s: string | undefined): string => (s === undefined || s === '' ? '' : s.split(', ').map((x) => `\`${x}\``).join(', '));
  const shownDefault = (d: string): string => (d === '' ? '' : d.includes('`') ? d : `\`${d}\``);
  const rows = CONFIG_KEYS.map((k) =>
    `| ${cell(code(k.file))} | ${cell(code(k.env))} | ${cell(code(k.flag))} | ${cell(shownDefault(k.default))} | ${cell(k.doc)} |`);
  return [
    '| File key | Environment | Flag | Default | Description |',
    '|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}
