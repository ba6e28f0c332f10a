/**
 * Pure: HAProxy's own view of its servers, read from `show stat <backend> 4 -1` (CSV, one line a server, a
 * `# pxname,svname,…` header naming the columns). Columns are found by name, not position: HAProxy appends
 * columns between versions.
 */

/** One server as HAProxy sees it now. */
export interface ServerStat {
  backend: string;
  server: string;
  /** `addr` (host:port) as HAProxy has it; '' when not shown. */
  address: string;
  /** HAProxy's word for it: UP, DOWN, MAINT, DRAIN, NOLB, `no check`, with a transition such as `UP 1/3`. */
  status: string;
  /** Sessions open on the server now (`scur`). */
  sessions: number;
  /** The last check's result (`check_status`, e.g. L4OK, L4CON, L7STS), '' without checks. */
  check: string;
  /** Its description (`check_desc`, e.g. "Connection refused"). */
  checkDetail: string;
}

/** The servers in one reply of `show stat … 4 -1`; an unknown backend ("No such proxy.") has none. */
export function parseServerStats(reply: string): ServerStat[] {
  const lines = reply.split('\n').map((l) => l.trim()).filter(Boolean);
  const header = lines.find((l) => l.startsWith('# '));
  if (!header) return [];
  const names = header.slice(2).split(',');
  const at = (name: string): number => names.indexOf(name);
  const [px, sv, status, scur, check, desc, addr] = ['pxname', 'svname', 'status', 'scur', 'check_status', 'check_desc', 'addr'].map(at);
  if (px < 0 || sv < 0 || status < 0) return [];
  const out: ServerStat[] = [];
  for (const line of lines) {
    if (line.startsWith('#')) continue;
    const f = splitCsv(line);
    // Type 4 asks for servers only, but a proxy's BACKEND/FRONTEND line is not a server either way.
    if (f.length < names.length - 1 || f[sv] === 'BACKEND' || f[sv] === 'FRONTEND') continue;
    out.push({
      backend: f[px],
      server: f[sv],
      address: addr >= 0 ? f[addr] ?? '' : '',
      status: f[status],
      sessions: Number.parseInt(scur >= 0 ? f[scur] : '', 10) || 0,
      check: check >= 0 ? f[check] ?? '' : '',
      checkDetail: desc >= 0 ? f[desc] ?? '' : '',
    });
  }
  return out;
}

/** HAProxy quotes a field that holds a comma or a quote (`"…"`, `""` for a quote), as CSV does. */
export function splitCsv(line: string): string[] {
  if (!line.includes('"')) return line.split(',');
  const out: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') { field += '"'; i++; } else if (c === '"') quoted = false; else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { out.push(field); field = ''; } else field += c;
  }
  out.push(field);
  return out;
}

/** A server HAProxy sends no traffic to: down (checks failed) or in maintenance. */
export const outOfService = (status: string): boolean => /^(DOWN|MAINT)/i.test(status.trim());
