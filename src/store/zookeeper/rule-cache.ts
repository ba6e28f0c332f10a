/**
 * The last rule list read from (or written to) ZooKeeper, kept in a file so culm can start and serve its
 * rules while ZooKeeper is unreachable. Same per-rule representation as the embedded file store.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { errorMessage } from '../../core/errors.js';
import type { Rule } from '../../core/model.js';
import { writeAtomically } from '../../fs/atomic.js';
import type { Logger } from '../../log/logger.js';
import { parseStoredRule } from '../file.js';
import { byId } from '../../core/compare.js';

interface CacheFile {
  hosts: string;
  path: string;
  savedAt: string;
  rules: Record<string, { version: '2'; config: Record<string, string> }>;
}

export class RuleCache {
  readonly file: string;
  private written = '';
  private queue: Promise<unknown> = Promise.resolve();

  constructor(cacheDir: string, private readonly zkPath: string, private readonly hosts: string, private readonly log: Logger) {
    this.file = join(cacheDir, 'zookeeper-rules.json');
  }

  /** The cached rules, or null when there is no usable cache (none yet, another path, unreadable). */
  loadSync(): Rule[] | null {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(this.file, 'utf8'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.log.warn({ file: this.file, err: errorMessage(err) }, 'zookeeper rule cache unreadable; ignored');
      }
      return null;
    }
    const cache = raw as Partial<CacheFile> | null;
    if (typeof cache !== 'object' || cache === null || typeof cache.rules !== 'object' || cache.rules === null) {
      this.log.warn({ file: this.file }, 'zookeeper rule cache is not a cache file; ignored');
      return null;
    }
    if (cache.path !== this.zkPath) {
      this.log.warn({ file: this.file, cached: cache.path, path: this.zkPath }, 'zookeeper rule cache is for another path; ignored');
      return null;
    }
    const rules: Rule[] = [];
    for (const [id, value] of Object.entries(cache.rules)) {
      const rule = parseStoredRule(id, value);
      if (rule) rules.push(rule);
    }
    this.log.info({ file: this.file, rules: rules.length, savedAt: cache.savedAt }, 'zookeeper rule cache loaded');
    return rules;
  }

  /** Writes the list when it differs from what was last written; never throws (the cache is a convenience). */
  save(rules: readonly Rule[]): Promise<void> {
    const out: CacheFile['rules'] = {};
    for (const rule of [...rules].sort(byId)) {
      out[rule.id] = { version: '2', config: { ...rule.config } };
    }
    const body = JSON.stringify(out);
    if (body === this.written) return this.queue.then(() => undefined);
    this.written = body;
    const text = `${JSON.stringify({ hosts: this.hosts, path: this.zkPath, savedAt: new Date().toISOString(), rules: out }, null, 2)}\n`;
    const next = this.queue.then(async () => {
      try {
        mkdirSync(join(this.file, '..'), { recursive: true });
        await writeAtomically(this.file, text);
      } catch (err) {
        this.written = '';
        this.log.warn({ file: this.file, err: errorMessage(err) }, 'zookeeper rule cache not written');
      }
    });
    this.queue = next;
    return next;
  }

  async flush(): Promise<void> {
    await this.queue;
  }
}
