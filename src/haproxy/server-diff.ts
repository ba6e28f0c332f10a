/**
 * Pure: can the change from one rendered config to the next be applied through the runtime API, without a
 * reload? Yes when the two texts differ only in `server` lines inside `backend` sections that exist in both
 * (the same backends, in the same order, with every other line identical). Works on the rendered text, so it
 * holds for any template, not only the default one.
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
  | { op: 'remove'; backend: string; server: ServerLine };

interface Section {
  header: string;
  /** Non-server lines, in order. */
  body: string[];
  servers: Map<string, ServerLine>;
}

const SERVER = /^\s*server\s+(\S+)\s+(\S+):(\d+)(?:\s+(.*?))?\s*$/;
const SECTION = /^(global|defaults|frontend|backend|listen|resolvers|peers|userlist|program|cache|http-errors|ring|mailers)\b/;

function parse(text: string): Section[] | null {
  const sections: Section[] = [{ header: '', body: [], servers: new Map() }];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\s+$/, '');
    if (SECTION.test(line)) {
      sections.push({ header: line, body: [], servers: new Map() });
      continue;
    }
    const current = sections[sections.length - 1];
    const m = SERVER.exec(line);
    if (m && current.header.startsWith('backend ')) {
      if (current.servers.has(m[1])) return null; // duplicate names: let HAProxy judge the whole file
      current.servers.set(m[1], { name: m[1], address: m[2], port: Number(m[3]), options: m[4] ?? '' });
      continue;
    }
    current.body.push(line);
  }
  return sections;
}

const backendName = (header: string): string => header.split(/\s+/)[1] ?? '';

/** The runtime operations that turn `before` into `after`, or null when a reload is needed. */
export function runtimeOps(before: string, after: string): RuntimeOp[] | null {
  const a = parse(before);
  const b = parse(after);
  if (!a || !b || a.length !== b.length) return null;
  const ops: RuntimeOp[] = [];
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
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
        ops.push({ op: 'remove', backend, server }, { op: 'add', backend, server: next });
      }
    }
    for (const [name, server] of y.servers) if (!x.servers.has(name)) ops.push({ op: 'add', backend, server });
  }
  return ops;
}
