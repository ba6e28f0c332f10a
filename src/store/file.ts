/**
 * The embedded store used when no ZooKeeper is configured: rules and the state snapshot as JSON files in
 * the data directory, written atomically (temp file, fsync, rename), so a crash never leaves half a file.
 * Rules are kept in Bamboo's per-rule representation ({"version":"2","config":{"Acl":…}}), keyed by id.
 */
import { createReadStream } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { AppsSplitter } from '../marathon/apps-splitter.js';
import { writeAtomically } from '../fs/atomic.js';
import { join } from 'node:path';
import { CulmError, errorMessage } from '../core/errors.js';
import type { Rule } from '../core/model.js';
import { makeRule } from '../core/rules.js';
import type { RuleStore, Snapshot, StateStore } from './types.js';
import { byId } from '../core/compare.js';

async function readJson(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return JSON.parse(text);
}

type StoredRules = Record<string, { version: string; config: Record<string, string> } | string>;

/** Parses Bamboo's per-rule value: v2 JSON, or a bare string (v1: the string is the ACL). */
export function parseStoredRule(id: string, value: unknown): Rule | null {
  if (typeof value === 'string') return makeRule(id, value);
  if (typeof value === 'object' && value !== null && (value as { version?: unknown }).version === '2') {
    const config = (value as { config?: unknown }).config;
    if (typeof config !== 'object' || config === null) return null;
    const strings: Record<string, string> = {};
    for (const [k, v] of Object.entries(config)) if (typeof v === 'string') strings[k] = v;
    return makeRule(id, strings.Acl ?? '', strings);
  }
  return null;
}

export class FileRuleStore implements RuleStore {
  private readonly path: string;
  private queue: Promise<unknown> = Promise.resolve();
  private lastError?: string;

  constructor(dataDir: string, private readonly onSkipped?: (id: string, reason: string) => void) {
    this.path = join(dataDir, 'rules.json');
  }

  private async readAll(): Promise<Map<string, Rule>> {
    let raw: unknown;
    try {
      raw = await readJson(this.path);
      this.lastError = undefined;
    } catch (err) {
      this.lastError = errorMessage(err);
      throw new CulmError('E_STORE_UNAVAILABLE', `rule file ${this.path} cannot be read: ${errorMessage(err)}`, { status: 503, cause: err });
    }
    const rules = new Map<string, Rule>();
    if (raw === undefined) return rules;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      throw new CulmError('E_STORE_UNAVAILABLE', `rule file ${this.path} is not a JSON object`, { status: 503 });
    }
    for (const [id, value] of Object.entries(raw)) {
      const rule = parseStoredRule(id, value);
      if (rule) rules.set(rule.id, rule);
      else this.onSkipped?.(id, 'unreadable rule');
    }
    return rules;
  }

  private async writeAll(rules: Map<string, Rule>): Promise<void> {
    const out: StoredRules = {};
    for (const rule of [...rules.values()].sort(byId)) {
      out[rule.id] = { version: '2', config: { ...rule.config } };
    }
    try {
      await mkdir(join(this.path, '..'), { recursive: true });
      await writeAtomically(this.path, `${JSON.stringify(out, null, 2)}\n`);
      this.lastError = undefined;
    } catch (err) {
      this.lastError = errorMessage(err);
      throw new CulmError('E_STORE_UNAVAILABLE', `rule file ${this.path} cannot be written: ${errorMessage(err)}`, { status: 503, cause: err });
    }
  }

  /** Writes are serialised so two concurrent REST calls cannot lose each other's rule. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  async list(): Promise<Rule[]> {
    return [...(await this.readAll()).values()];
  }

  put(rule: Rule): Promise<void> {
    return this.serial(async () => {
      const rules = await this.readAll();
      rules.set(rule.id, rule);
      await this.writeAll(rules);
    });
  }

  delete(id: string): Promise<boolean> {
    return this.serial(async () => {
      const rules = await this.readAll();
      if (!rules.delete(id)) return false;
      await this.writeAll(rules);
      return true;
    });
  }

  watch(): () => void {
    return () => undefined; // one process owns the file: nobody else writes it
  }

  health(): { ok: boolean; detail: string } {
    return this.lastError ? { ok: false, detail: this.lastError } : { ok: true, detail: `file ${this.path}` };
  }

  async close(): Promise<void> {
    await this.queue;
  }
}

function* snapshotText(snapshot: Snapshot): Generator<string> {
  yield `{"savedAt":${JSON.stringify(snapshot.savedAt)},"apps":[`;
  let first = true;
  for (const app of snapshot.apps) {
    yield first ? JSON.stringify(app) : `,${JSON.stringify(app)}`;
    first = false;
  }
  yield ']}';
}

export class FileStateStore implements StateStore {
  private readonly path: string;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(dataDir: string) {
    this.path = join(dataDir, 'state.json');
  }

  /** Read app by app (AppsSplitter): the file of a 10,000-app cluster is tens of MB. Unreadable → null. */
  async load(): Promise<Snapshot | null> {
    const apps: Snapshot['apps'] = [];
    const splitter = new AppsSplitter((app) => apps.push(app as Snapshot['apps'][number]));
    try {
      for await (const chunk of createReadStream(this.path)) splitter.push(chunk as Buffer);
      const { savedAt } = splitter.end() as { savedAt?: unknown };
      return typeof savedAt === 'number' ? { savedAt, apps } : null;
    } catch {
      return null;
    }
  }

  /** Written app by app: the same text as JSON.stringify(snapshot), never whole in memory. */
  save(snapshot: Snapshot): Promise<void> {
    const next = this.queue.then(async () => {
      await mkdir(join(this.path, '..'), { recursive: true });
      await writeAtomically(this.path, snapshotText(snapshot));
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  async close(): Promise<void> {
    await this.queue;
  }
}
