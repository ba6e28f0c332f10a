/**
 * Pure: can the change from one rendered config to the next be applied through the runtime API, without a
 * reload? Yes when the two texts differ only in `server` lines inside `backend` sections that exist in both
 * (the same backends, in the same order, with every other line identical). Works on the rendered text, so it
 * holds for any template, not only the default one. A server whose line changed only in its `weight` or
 * `maxconn` is changed in place (`set server … weight`, where the backend's algorithm takes weights at
 * runtime; `set maxconn server …`).
 */

export interface ServerLine {
  name: string;
  address: string;
  port: number;
  /** Everything after `address:port` (check, weight…), as the config says it. */
  options: string;
}

export type RuntimeOp =
  | { op: 'add'; backend: string; server: ServerLine }
  | { op: 'remove'; backend: string; server: ServerLine }
  /** `server` as the new line has it; only its weight (and maybe its maxconn) changed. */
  | { op: 'weight'; backend: string; server: ServerLine; weight: number }
  /** `server` as the new line has it; only its maxconn (and maybe its weight) changed. */
  | { op: 'maxconn'; backend: string; server: ServerLine; maxconn: number };

interface Section {
  header: string;
  /** Non-server lines, in order. */
  body: string[];
  servers: Map<string, ServerLine>;
}

const SERVER = /^\s*server\s+(\S+)\s+(\S+):(\d+)(?:\s+(.*?))?\s*$/;
/** A line that opens a section of an HAProxy config (section keywords start at column 0). */
export const SECTION = /^(global|defaults|frontend|backend|listen|resolvers|peers|userlist|program|cache|http-errors|ring|mailers)\b/;

/** A section of the text, or `null` for duplicate server names in a backend (HAProxy judges that file). */
type Parsed = Section | null;

/**
 * The sections of `text`, one at a time (the first one continues the section `header` names): two texts are
 * compared section by section, so a comparison that fails early parses little, and no more than one section
 * of each text is held at once.
 */
function* sections(text: string, header = ''): Generator<Parsed> {
  let current: Section = { header, body: [], servers: new Map() };
  let from = 0;
  while (from < text.length) {
    let to = text.indexOf('\n', from);
    if (to === -1) to = text.length;
    const line = text.slice(from, to).replace(/\s+$/, '');
    from = to + 1;
    if (SECTION.test(line)) {
      yield current;
      current = { header: line, body: [], servers: new Map() };
      continue;
    }
    const m = current.header.startsWith('backend ') ? SERVER.exec(line) : null;
    if (m) {
      if (current.servers.has(m[1])) {
        yield null;
        return;
      }
      current.servers.set(m[1], { name: m[1], address: m[2], port: Number(m[3]), options: m[4] ?? '' });
      continue;
    }
    current.body.push(line);
  }
  // A text ending with a newline has an empty last line, as split('\n') gives.
  if (text.endsWith('\n')) current.body.push('');
  yield current;
}

const backendName = (header: string): string => header.split(/\s+/)[1] ?? '';

/**
 * Block size for the prefix and suffix scans: each block is one native compare of two slices (a memcmp on
 * flat strings), so a 7 MB config is crossed in ~2,000 compares instead of a binary search's ~20 compares of
 * megabytes each.
 */
const BLOCK = 4096;

/** Length of the longest common prefix. */
function commonPrefix(a: string, b: string): number {
  const max = Math.min(a.length, b.length);
  let at = 0;
  while (at + BLOCK <= max && a.slice(at, at + BLOCK) === b.slice(at, at + BLOCK)) at += BLOCK;
  while (at < max && a.charCodeAt(at) === b.charCodeAt(at)) at++;
  return at;
}

/** Length of the longest common suffix, at most `max`. */
function commonSuffix(a: string, b: string, max: number): number {
  const limit = Math.min(max, a.length, b.length);
  let n = 0;
  while (n + BLOCK <= limit && a.slice(a.length - n - BLOCK, a.length - n) === b.slice(b.length - n - BLOCK, b.length - n)) n += BLOCK;
  while (n < limit && a.charCodeAt(a.length - n - 1) === b.charCodeAt(b.length - n - 1)) n++;
  return n;
}

/** The section header line (e.g. `backend x`) that the text at `pos` belongs to. */
function headerAt(text: string, pos: number): string {
  let end = pos;
  while (end > 0) {
    // The line that ends at `end` (its newline included); the first line starts at 0.
    const start = end < 2 ? 0 : text.lastIndexOf('\n', end - 2) + 1;
    const line = text.slice(start, end).replace(/\s+$/, '');
    if (SECTION.test(line)) return line;
    if (start >= end) break;
    end = start;
  }
  return '';
}

/**
 * The runtime operations that turn `before` into `after`, or null when a reload is needed (or when there would
 * be more than `maxOps`: the comparison stops there). Only the lines between the common prefix and suffix are
 * parsed: one change in a 7 MB config costs a few milliseconds.
 */
export function runtimeOps(before: string, after: string, maxOps = Infinity): RuntimeOp[] | null {
  if (before === after) return [];
  let start = commonPrefix(before, after);
  start = before.lastIndexOf('\n', start - 1) + 1; // back to a line start (same in both: common prefix)
  const suffix = commonSuffix(before, after, Math.min(before.length, after.length) - start);
  let beforeEnd = before.length - suffix;
  let afterEnd = after.length - suffix;
  // Forward to the end of the line the window's last character is on (an empty window stays empty).
  const eol = (text: string, end: number): number => {
    if (end <= start) return start;
    const i = text.indexOf('\n', end - 1);
    return i === -1 ? text.length : i;
  };
  beforeEnd = eol(before, beforeEnd);
  afterEnd = eol(after, afterEnd);
  const header = headerAt(before, start);
  // The window may start inside a backend: whether it takes runtime weights is read from its whole section.
  const weights = new Map<string, boolean>();
  const takesWeights = (backend: string): boolean => {
    let known = weights.get(backend);
    if (known === undefined) weights.set(backend, known = dynamicWeights(sectionLines(before, `backend ${backend}`)));
    return known;
  };
  const ops = compareSections(sections(before.slice(start, beforeEnd), header), sections(after.slice(start, afterEnd), header), maxOps, takesWeights);
  // A name added in the window may repeat one of the same backend outside it (HAProxy would refuse that file):
  // only the window's first and last sections can reach outside it.
  if (!ops || !ops.some((o) => o.op === 'add')) return ops;
  for (const edge of new Set([header, headerAt(after, afterEnd)])) {
    if (!edge.startsWith('backend ')) continue;
    const backend = backendName(edge);
    if (ops.some((o) => o.op === 'add' && o.backend === backend) && repeatsName(sectionLines(after, edge))) return null;
  }
  return ops;
}

function repeatsName(lines: readonly string[]): boolean {
  const names = new Set<string>();
  for (const line of lines) {
    const m = SERVER.exec(line);
    if (!m) continue;
    if (names.has(m[1])) return true;
    names.add(m[1]);
  }
  return false;
}

/** The lines of the section `header` names in `text` (its first such section), up to the next section. */
function sectionLines(text: string, header: string): string[] {
  let at = text.startsWith(`${header}\n`) ? 0 : text.indexOf(`\n${header}\n`);
  if (at === -1) return [];
  if (at > 0) at += 1;
  const lines: string[] = [];
  let from = text.indexOf('\n', at) + 1;
  while (from > 0 && from < text.length) {
    let to = text.indexOf('\n', from);
    if (to === -1) to = text.length;
    const line = text.slice(from, to);
    if (SECTION.test(line)) break;
    lines.push(line);
    from = to + 1;
  }
  return lines;
}

function compareSections(a: Iterator<Parsed>, b: Iterator<Parsed>, maxOps: number, takesWeights: (backend: string) => boolean): RuntimeOp[] | null {
  const ops: RuntimeOp[] = [];
  for (;;) {
    const xa = a.next();
    const yb = b.next();
    if (xa.done || yb.done) return xa.done && yb.done ? ops : null;
    const x = xa.value;
    const y = yb.value;
    if (!x || !y) return null;
    if (x.header !== y.header || x.body.length !== y.body.length || x.body.some((l, j) => l !== y.body[j])) return null;
    if (!x.header.startsWith('backend ')) {
      if (x.servers.size || y.servers.size) return null;
      continue;
    }
    const backend = backendName(x.header);
    for (const [name, server] of x.servers) {
      const next = y.servers.get(name);
      if (!next) ops.push({ op: 'remove', backend, server });
      else if (next.address !== server.address || next.port !== server.port || next.options !== server.options) {
        const change = next.address === server.address && next.port === server.port ? limitsChange(server.options, next.options) : undefined;
        if (change && (change.weight === undefined || takesWeights(backend))) {
          if (change.weight !== undefined) ops.push({ op: 'weight', backend, server: next, weight: change.weight });
          if (change.maxconn !== undefined) ops.push({ op: 'maxconn', backend, server: next, maxconn: change.maxconn });
        } else ops.push({ op: 'remove', backend, server }, { op: 'add', backend, server: next });
      }
    }
    for (const [name, server] of y.servers) if (!x.servers.has(name)) ops.push({ op: 'add', backend, server });
    if (ops.length > maxOps) return null;
  }
}

const OPTION = (name: string): RegExp => new RegExp(`(?:^|\\s)${name}\\s+(\\d+)(?=\\s|$)`);
const WEIGHT = OPTION('weight');
const MAXCONN = OPTION('maxconn');

/**
 * The new line's weight and maxconn, each where it changed, when they are all that changed between two
 * servers' options; undefined otherwise. The new line must say each changed one: one dropped means a default
 * that `default-server` lines may set elsewhere.
 */
export function limitsChange(before: string, after: string): { weight?: number; maxconn?: number } | undefined {
  const rest = (options: string): string => options.replace(WEIGHT, ' ').replace(MAXCONN, ' ').trim().split(/\s+/).join(' ');
  if (rest(before) !== rest(after)) return undefined;
  const out: { weight?: number; maxconn?: number } = {};
  for (const [key, re] of [['weight', WEIGHT], ['maxconn', MAXCONN]] as const) {
    const was = re.exec(before)?.[1];
    const now = re.exec(after)?.[1];
    if (was === now) continue;
    if (now === undefined) return undefined;
    out[key] = Number(now);
  }
  return out.weight === undefined && out.maxconn === undefined ? undefined : out;
}

/**
 * Whether a backend (its lines other than servers) takes weight changes at runtime: HAProxy refuses them for
 * static algorithms ("only accepts weights '0%' and '100%'"): static-rr, and the hashes unless consistent. A
 * backend that names no algorithm gets the defaults' one, unknown here: a reload.
 */
export function dynamicWeights(body: readonly string[]): boolean {
  let algorithm = '';
  let consistent = false;
  for (const line of body) {
    const b = /^\s*balance\s+(\S+)/.exec(line);
    if (b) algorithm = b[1];
    else if (/^\s*hash-type\s+consistent\b/.test(line)) consistent = true;
  }
  if (algorithm === 'roundrobin' || algorithm === 'leastconn' || /^random\b/.test(algorithm)) return true;
  return consistent && algorithm !== '' && algorithm !== 'static-rr' && algorithm !== 'first';
}
