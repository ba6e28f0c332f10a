/**
 * The diff of each apply (and of each rejected candidate) against the config applied before it, for the
 * history: kept in memory for the last DIFFS_KEPT records, each capped at DIFF_MAX_CHARS, so its size is
 * bounded whatever the config's. A config is its text and its side files (the route map): a rule change
 * through the map changes the map's lines, and only the map file's name in the config.
 * A diff is made after the apply has returned (a 10,000-app config is ~100,000 lines: tens of ms of work the
 * apply does not wait for), or at once when it is asked for first.
 */
import { lineDiff } from '../core/line-diff.js';
import { redactConfigText } from '../core/text.js';
import type { SideFile } from '../haproxy/driver.js';

export const DIFFS_KEPT = 50;
export const DIFF_MAX_CHARS = 16_384;

interface Delivered {
  text: string;
  files: readonly SideFile[];
}

/** The map file's name without its directory and content hash (`routes-<hash>.map` → `routes.map`). */
const mapName = (path: string): string => path.replace(/^.*\//, '').replace(/-[0-9a-f]{8,}(\.map)$/, '$1');

export class ConfigDiffs {
  private applied?: Delivered;
  private next = 1;
  private readonly kept = new Map<number, string | (() => string)>();

  /**
   * Keeps the diff of `text` against the config applied last and returns its id; undefined when there is
   * none to make (the first config: it is all new, see /api/config). `applied`: it becomes the one to compare with.
   */
  record(text: string, files: readonly SideFile[], applied: boolean): number | undefined {
    const before = this.applied;
    if (applied) this.applied = { text, files };
    if (!before) return undefined;
    const id = this.next++;
    this.kept.set(id, () => this.make(id, before, { text, files }));
    setImmediate(() => this.get(id)).unref();
    if (this.kept.size > DIFFS_KEPT) this.kept.delete(this.kept.keys().next().value as number);
    return id;
  }

  /** The diff kept under this id ('' for a config with the same lines), or undefined once it is dropped. */
  get(id: number): string | undefined {
    const kept = this.kept.get(id);
    return typeof kept === 'function' ? kept() : kept;
  }

  private make(id: number, before: Delivered, { text, files }: Delivered): string {
    const parts = [lineDiff(before.text, text, { from: 'a/haproxy.cfg', to: 'b/haproxy.cfg', maxChars: DIFF_MAX_CHARS })];
    const maps = files.filter((f) => f.map);
    const old = before.files.filter((f) => f.map);
    for (let i = 0; i < Math.max(maps.length, old.length); i++) {
      const name = mapName(maps[i]?.path ?? old[i].path);
      parts.push(lineDiff(old[i]?.text ?? '', maps[i]?.text ?? '', { from: `a/${name}`, to: `b/${name}`, maxChars: DIFF_MAX_CHARS }));
    }
    // The diff, not the whole config, is redacted (off the apply's path; a 10,000-app config is 6 MB).
    const all = redactConfigText(parts.filter(Boolean).join(''));
    const diff = all.length > DIFF_MAX_CHARS ? `${all.slice(0, all.lastIndexOf('\n', DIFF_MAX_CHARS) + 1)}… diff cut at ${DIFF_MAX_CHARS} characters\n` : all;
    // Made once: the texts it was made from are let go (unless dropped meanwhile, then it is not kept again).
    if (this.kept.has(id)) this.kept.set(id, diff);
    return diff;
  }
}
