/**
 * A route map's change as a few entry edits (`add map`, `set map`, `del map` on the live map) instead of a
 * whole versioned swap (`prepare`, payload of every line, `commit`): at 1,000 apps a rule change is one or two
 * entries, and the swap of 1,000 lines was most of the time from `PUT` to routed (3-13 ms measured, against
 * ~0.5 ms for one session of two commands).
 *
 * HAProxy answers `map_beg` by the first entry in the live list's order that matches, and `add map` appends.
 * culm writes the file longest prefix first, so for any two keys where one is a prefix of the other, the longer
 * comes first. Edits keep that true: a deletion or a new value cannot break it; an appended key keeps it only
 * when no other key of the new map is a prefix of it (then the appended key, last, is the shorter one in each
 * prefix relation it has). Any other change (a key with a prefix among the others, a line not `<key> <value>`,
 * a key listed twice, more than `maxEdits`), and the whole map is swapped, which puts the file's order back.
 * Only for maps looked up by `map_beg` or exact match (`usedOnlyByPrefixOrExact`): a `map_reg` or `map_sub`
 * answers by the order in other ways.
 */

export type MapEdit =
  | { op: 'add'; key: string; value: string }
  | { op: 'set'; key: string; value: string }
  | { op: 'del'; key: string };

/** Keys and values the CLI takes as one word each (no blank, quote, backslash or `;` to escape). */
const WORD = /^[^\s'"\\;#]+$/;

/** `<key> <value>` per non-blank line, in order; null for any other line or a key listed twice. */
function entries(text: string): Map<string, string> | null {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const space = line.indexOf(' ');
    if (space <= 0) return null;
    const key = line.slice(0, space);
    const value = line.slice(space + 1);
    if (!WORD.test(key) || !WORD.test(value) || out.has(key)) return null;
    out.set(key, value);
  }
  return out;
}

/** True when another key of `keys` is a proper prefix of `key`. */
function hasPrefixIn(key: string, keys: ReadonlyMap<string, string>): boolean {
  for (let n = 1; n < key.length; n++) if (keys.has(key.slice(0, n))) return true;
  return false;
}

/**
 * The edits that turn the live map holding `before`'s entries into one that answers as `after` does, adds
 * first (so a key moving between two entries is never missing), then new values, then deletions; null when
 * only a whole swap does. Empty when the entries are the same.
 */
export function mapEdits(before: string, after: string, maxEdits = 64): MapEdit[] | null {
  const old = entries(before);
  const next = entries(after);
  if (!old || !next) return null;
  const adds: MapEdit[] = [];
  const sets: MapEdit[] = [];
  const dels: MapEdit[] = [];
  for (const [key, value] of next) {
    const was = old.get(key);
    if (was === value) continue;
    if (was !== undefined) sets.push({ op: 'set', key, value });
    else if (hasPrefixIn(key, next)) return null;
    else adds.push({ op: 'add', key, value });
    if (adds.length + sets.length > maxEdits) return null;
  }
  for (const key of old.keys()) {
    if (next.has(key)) continue;
    dels.push({ op: 'del', key });
    if (adds.length + sets.length + dels.length > maxEdits) return null;
  }
  return [...adds, ...sets, ...dels];
}

const LOOKUPS = ['map_beg(', 'map_str(', 'map('];

/**
 * True when every mention of the map `path` in `config` is a `map_beg(` or exact `map(`/`map_str(` lookup of it:
 * the only matches whose answer the edits above keep. One scan of the config (several MB at 10,000 apps).
 */
export function usedOnlyByPrefixOrExact(config: string, path: string): boolean {
  let found = false;
  for (let at = config.indexOf(path); at !== -1; at = config.indexOf(path, at + path.length)) {
    const after = config[at + path.length];
    if ((after !== ',' && after !== ')') || !LOOKUPS.some((l) => config.endsWith(l, at) && !/\w/.test(config[at - l.length - 1] ?? ''))) return false;
    found = true;
  }
  return found;
}

/** The CLI commands of `edits` on the live map `live`. */
export const mapEditCommands = (live: string, edits: readonly MapEdit[]): string[] =>
  edits.map((e) => (e.op === 'del' ? `del map ${live} ${e.key}` : `${e.op} map ${live} ${e.key} ${e.value}`));
