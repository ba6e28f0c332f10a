import t from 'tap';
import { runtimeOps, type RuntimeOp, type ServerLine } from '../../src/haproxy/server-diff.js';
import { canAddAtRuntime } from '../../src/haproxy/runtime-api.js';

/**
 * The reference the fast path is tested against: whole-file parsing with split('\n'), written apart from
 * the code under test (the windowed, streamed parser of server-diff.ts).
 */
function runtimeOpsWhole(before: string, after: string): RuntimeOp[] | null {
  const SERVER = /^\s*server\s+(\S+)\s+(\S+):(\d+)(?:\s+(.*?))?\s*$/;
  const SECTION = /^(global|defaults|frontend|backend|listen|resolvers|peers|userlist|program|cache|http-errors|ring|mailers)\b/;
  type Section = { header: string; body: string[]; servers: Map<string, ServerLine> };
  const parse = (text: string): Section[] | null => {
    const sections: Section[] = [{ header: '', body: [], servers: new Map() }];
    for (const raw of text === '' ? [] : text.split('\n')) {
      const line = raw.replace(/\s+$/, '');
      if (SECTION.test(line)) {
        sections.push({ header: line, body: [], servers: new Map() });
        continue;
      }
      const current = sections[sections.length - 1];
      const m = SERVER.exec(line);
      if (m && current.header.startsWith('backend ')) {
        if (current.servers.has(m[1])) return null;
        current.servers.set(m[1], { name: m[1], address: m[2], port: Number(m[3]), options: m[4] ?? '' });
        continue;
      }
      current.body.push(line);
    }
    return sections;
  };
  const a = parse(before);
  const b = parse(after);
  if (!a || !b || a.length !== b.length) return null;
  const ops: RuntimeOp[] = [];
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x.header !== y.header || x.body.join('\n') !== y.body.join('\n')) return null;
    if (!x.header.startsWith('backend ')) {
      if (x.servers.size || y.servers.size) return null;
      continue;
    }
    const backend = x.header.split(/\s+/)[1] ?? '';
    for (const [name, server] of x.servers) {
      const next = y.servers.get(name);
      if (!next) ops.push({ op: 'remove', backend, server });
      else if (next.address !== server.address || next.port !== server.port || next.options !== server.options) {
        const change = limitsOnly(server, next, x.body);
        if (change === undefined) ops.push({ op: 'remove', backend, server }, { op: 'add', backend, server: next });
        else {
          if (change.weight !== undefined) ops.push({ op: 'weight', backend, server: next, weight: change.weight });
          if (change.maxconn !== undefined) ops.push({ op: 'maxconn', backend, server: next, maxconn: change.maxconn });
        }
      }
    }
    for (const [name, server] of y.servers) if (!x.servers.has(name)) ops.push({ op: 'add', backend, server });
  }
  return ops;
}

/** The reference's own reading of a weight/maxconn-only change: token lists without those pairs. */
function limitsOnly(a: ServerLine, b: ServerLine, body: string[]): { weight?: number; maxconn?: number } | undefined {
  if (a.address !== b.address || a.port !== b.port) return undefined;
  const split = (o: string): { values: Record<string, string | undefined>; rest: string[] } => {
    const tokens = o.split(/\s+/).filter(Boolean);
    const values: Record<string, string | undefined> = {};
    for (const name of ['weight', 'maxconn']) {
      const at = tokens.indexOf(name);
      if (at !== -1 && /^\d+$/.test(tokens[at + 1] ?? '')) values[name] = tokens.splice(at, 2)[1];
    }
    return { values, rest: tokens };
  };
  const x = split(a.options);
  const y = split(b.options);
  if (x.rest.join(' ') !== y.rest.join(' ')) return undefined;
  const changed = ['weight', 'maxconn'].filter((n) => x.values[n] !== y.values[n]);
  if (changed.length === 0 || changed.some((n) => y.values[n] === undefined)) return undefined;
  const balance = body.map((l) => l.trim().split(/\s+/)).find((w) => w[0] === 'balance')?.[1] ?? '';
  const consistent = body.some((l) => l.trim().startsWith('hash-type consistent'));
  const dynamic = ['roundrobin', 'leastconn', 'random'].includes(balance) || (consistent && !['', 'static-rr', 'first'].includes(balance));
  if (changed.includes('weight') && !dynamic) return undefined;
  return Object.fromEntries(changed.map((n) => [n, Number(y.values[n])]));
}

const cfg = (servers: Record<string, string[]>, extra = ''): string => [
  'global', '    stats socket /x.sock', '', 'frontend http-in', '    bind *:80', '    use_backend a if a_acl', extra,
  ...Object.entries(servers).flatMap(([b, lines]) => ['', `backend ${b}`, '    balance leastconn', ...lines.map((l) => `    ${l}`)]),
].join('\n');

t.test('server-only changes become runtime ops', async (t) => {
  const before = cfg({ a: ['server a-1 10.0.0.1:31001 check inter 5s', 'server a-2 10.0.0.2:31002 check inter 5s'], b: [] });
  const after = cfg({ a: ['server a-2 10.0.0.2:31002 check inter 5s', 'server a-3 10.0.0.3:31003 check inter 5s'], b: ['server b-1 10.0.0.9:80'] });
  t.same(runtimeOps(before, after), [
    { op: 'remove', backend: 'a', server: { name: 'a-1', address: '10.0.0.1', port: 31001, options: 'check inter 5s' } },
    { op: 'add', backend: 'a', server: { name: 'a-3', address: '10.0.0.3', port: 31003, options: 'check inter 5s' } },
    { op: 'add', backend: 'b', server: { name: 'b-1', address: '10.0.0.9', port: 80, options: '' } },
  ]);
  t.same(runtimeOps(before, before), [], 'identical: nothing to do');
});

t.test('a server inserted before an existing one with the same name prefix', async (t) => {
  const before = cfg({ web: ['server ::web-127.0.0.1-44761 127.0.0.1:44761'] });
  const after = cfg({ web: ['server ::web-127.0.0.1-39075 127.0.0.1:39075', 'server ::web-127.0.0.1-44761 127.0.0.1:44761'] });
  t.same(runtimeOps(before, after)?.map((o) => `${o.op} ${o.server.name}`), ['add ::web-127.0.0.1-39075']);
  t.same(runtimeOps(after, before)?.map((o) => `${o.op} ${o.server.name}`), ['remove ::web-127.0.0.1-39075']);
});

t.test('a re-addressed server is removed and added again', async (t) => {
  const ops = runtimeOps(cfg({ a: ['server s 10.0.0.1:1'] }), cfg({ a: ['server s 10.0.0.1:2'] }));
  t.same(ops?.map((o) => o.op), ['remove', 'add']);
});

t.test('anything else needs a reload', async (t) => {
  const base = cfg({ a: ['server a-1 10.0.0.1:31001'] });
  const table: Array<[string, string]> = [
    ['new backend', cfg({ a: ['server a-1 10.0.0.1:31001'], c: [] })],
    ['backend removed', cfg({})],
    ['frontend line changed', cfg({ a: ['server a-1 10.0.0.1:31001'] }, '    acl x path_beg /x')],
    ['backend option changed', base.replace('balance leastconn', 'balance roundrobin')],
  ];
  for (const [desc, after] of table) t.equal(runtimeOps(base, after), null, desc);
  t.equal(runtimeOps(cfg({ a: ['server s 1.1.1.1:1', 'server s 1.1.1.1:2'] }), base), null, 'duplicate server names');
});

t.test('a weight or maxconn change alone changes the server in place (a weight where the algorithm takes weights at runtime)', async (t) => {
  const line = (options: string): string => `server s 10.0.0.1:1 ${options}`.trim();
  const ops = (before: string, after: string, balance = 'leastconn'): string[] | null => {
    const text = (o: string): string => cfg({ a: [line(o)] }).replace('balance leastconn', `balance ${balance}`);
    return runtimeOps(text(before), text(after))?.map((o) => (o.op === 'weight' ? `weight ${o.weight}` : o.op === 'maxconn' ? `maxconn ${o.maxconn}` : o.op)) ?? null;
  };
  t.same(ops('check inter 5s weight 5', 'check inter 5s weight 7'), ['weight 7'], 'a weight changed');
  t.same(ops('check inter 5s', 'check inter 5s weight 7'), ['weight 7'], 'a weight set');
  t.same(ops('weight 5 maxconn 100', 'weight 0 maxconn 100'), ['weight 0'], 'to 0, another option beside it');
  t.same(ops('weight 5', 'weight 7', 'roundrobin'), ['weight 7'], 'roundrobin');
  t.same(ops('weight 5', 'weight 7', 'random'), ['weight 7'], 'random');
  t.same(ops('check inter 5s weight 5', 'check inter 5s'), ['remove', 'add'], 'a weight dropped: the default is not known here');
  t.same(ops('weight 5', 'weight 7 maxconn 100'), ['weight 7', 'maxconn 100'], 'weight and maxconn');
  t.same(ops('check maxconn 100', 'check maxconn 200', 'static-rr'), ['maxconn 200'], 'maxconn alone, whatever the algorithm');
  t.same(ops('maxconn 100', ''), ['remove', 'add'], 'a maxconn dropped');
  t.same(ops('weight 5 maxconn 1', 'weight 7 maxconn 2', 'static-rr'), ['remove', 'add'], 'a weight among them on a static algorithm');
  t.same(ops('weight 5', 'weight 7 check'), ['remove', 'add'], 'something else changed too');
  t.same(ops('weight 5', 'weight 7', 'static-rr'), ['remove', 'add'], 'a static algorithm refuses runtime weights');
  t.same(ops('weight 5', 'weight 7', 'source'), ['remove', 'add'], 'a map-based hash too');
  const consistent = runtimeOps(cfg({ a: ['hash-type consistent', line('weight 5')] }).replace('balance leastconn', 'balance source'), cfg({ a: ['hash-type consistent', line('weight 7')] }).replace('balance leastconn', 'balance source'));
  t.same(consistent?.map((o) => o.op), ['weight'], 'a consistent hash takes them');
  t.same(runtimeOps(cfg({ a: [line('weight 5')] }).replace('    balance leastconn\n', ''), cfg({ a: [line('weight 7')] }).replace('    balance leastconn\n', ''))?.map((o) => o.op), ['remove', 'add'], 'no balance line: the defaults\' algorithm is not known');
});

t.test('options add server accepts', async (t) => {
  t.ok(canAddAtRuntime(''));
  t.ok(canAddAtRuntime('check inter 5s'));
  t.ok(canAddAtRuntime('check inter 5s weight 10 maxconn 100'));
  // What the default template writes for each health-check kind (all taken by HAProxy 2.6's `add server`:
  // test/integration/health-checks.test.ts adds an HTTPS one).
  t.ok(canAddAtRuntime('check inter 5s port 31002'), 'a check on another port');
  t.ok(canAddAtRuntime('check inter 5s ssl verify none check-ssl'), 'HTTPS');
  t.ok(canAddAtRuntime('check inter 5s ssl verify none check-ssl port 31002'), 'HTTPS on another port');
  t.notOk(canAddAtRuntime('check inter 5s ssl verify none check-ssl cookie abc'), 'a keyword dynamic servers refuse');
  t.notOk(canAddAtRuntime('check port 31002 ca-file /etc/ssl/ca.pem'), 'a file to read: only at a reload');
  t.notOk(canAddAtRuntime('cookie abc'));
  t.notOk(canAddAtRuntime('check; evil'));
});

t.test('the windowed diff agrees with whole-file parsing on random server changes', async (t) => {
  let seed = 42;
  const rnd = (n: number): number => {
    // 32-bit arithmetic (a float product loses its low bits: the backends came out nearly always empty) and
    // the high bits (an LCG's low bits cycle short).
    seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
    return (seed >>> 12) % n;
  };
  const rw = rnd;
  const make = (backends: string[][]): string => cfg(Object.fromEntries(backends.map((lines, i) => [`b${i}`, lines])));
  let mismatches = 0;
  let weighted = 0;
  let limited = 0;
  for (let round = 0; round < 2000; round++) {
    const backends = Array.from({ length: 5 }, (_, i) => Array.from({ length: rnd(4) }, (_, k) => `server ::b${i}-10.0.0.1-${31000 + k * 7} 10.0.0.1:${31000 + k * 7}`));
    let before = make(backends);
    const next = backends.map((b) => [...b]);
    for (let c = 0; c <= rnd(3); c++) {
      const b = next[rnd(next.length)];
      const what = rnd(3);
      if (what === 0 && b.length) b.splice(rnd(b.length), 1);
      else if (what === 1) { const port = 31000 + rnd(40); b.splice(rnd(b.length + 1), 0, `server ::b0-10.0.0.1-${port} 10.0.0.1:${port}`); }
      else if (b.length) b[rnd(b.length)] = b[0].replace(/:\d+$/, `:${33000 + rnd(100)}`);
      // Weights: set, changed, dropped, and with another option beside them.
      const w = rw(5);
      if (b.length && w === 0) { const k = rw(b.length); b[k] = `${b[k].replace(/ weight \d+/, '')} weight ${rw(257)}`; }
      else if (b.length && w === 1) { const k = rw(b.length); b[k] = b[k].replace(/ weight \d+/, ''); }
      else if (b.length && w === 2) { const k = rw(b.length); b[k] = `${b[k].replace(/ maxconn \d+/, '')} maxconn ${1 + rw(3)}`; }
      else if (b.length && w === 3) { const k = rw(b.length); b[k] = b[k].replace(/ maxconn \d+/, ''); }
    }
    let after = make(next);
    if (rnd(10) === 0) after = after.replace(`backend b${rnd(5)}\n    balance leastconn`, (m) => m.replace('leastconn', 'roundrobin'));
    // Both sides static: a weight change there is a remove and an add.
    if (rw(8) === 0) { const b = `backend b${rw(5)}\n    balance leastconn`; after = after.replace(b, b.replace('leastconn', 'static-rr')); before = before.replace(b, b.replace('leastconn', 'static-rr')); }
    const fast = runtimeOps(before, after);
    const whole = runtimeOpsWhole(before, after);
    if (fast?.some((o) => o.op === 'weight')) weighted++;
    if (fast?.some((o) => o.op === 'maxconn')) limited++;
    const key = (ops: ReturnType<typeof runtimeOps>): string => JSON.stringify(ops?.map((o) => `${o.op} ${o.backend}/${o.server.name} ${o.server.address}:${o.server.port} ${o.op === 'weight' ? o.weight : o.op === 'maxconn' ? o.maxconn : ''}`).sort() ?? null);
    if (key(fast) !== key(whole)) {
      mismatches++;
      if (mismatches < 3) t.fail(`round ${round}: ${key(fast)} vs ${key(whole)}`);
    }
  }
  t.equal(mismatches, 0, '2000 random rounds agree');
  t.ok(weighted > 100, `weight changes among them (${weighted} rounds)`);
  t.ok(limited > 100, `maxconn changes among them (${limited} rounds)`);
});

t.test('configs larger than the scan block: changes at, before and after block edges', async (t) => {
  // 300 backends (~25 kB): the prefix and suffix scans cross several 4 kB blocks before the change.
  const servers = (n: number, port: (k: number) => number): string[] => Array.from({ length: n }, (_, k) => `server s${k} 10.0.0.1:${port(k)}`);
  const backends = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`b${String(i).padStart(3, '0')}`, servers(2, (k) => 31000 + k)]));
  const before = cfg(backends);
  let checked = 0;
  for (const i of [0, 1, 47, 48, 49, 95, 96, 150, 298, 299]) {
    const name = `b${String(i).padStart(3, '0')}`;
    for (const change of ['add', 'remove', 'move'] as const) {
      const next = { ...backends };
      if (change === 'add') next[name] = [...backends[name], 'server s9 10.0.0.1:31009'];
      if (change === 'remove') next[name] = backends[name].slice(1);
      if (change === 'move') next[name] = servers(2, (k) => 32000 + k);
      const after = cfg(next);
      t.same(runtimeOps(before, after), runtimeOpsWhole(before, after), `${change} in ${name}`);
      t.same(runtimeOps(after, before), runtimeOpsWhole(after, before), `${change} in ${name}, undone`);
      checked++;
    }
  }
  t.equal(checked, 30);
  t.ok(before.length > 6 * 4096);
});

t.test('more ops than the limit: null (a reload), whatever comes after', async (t) => {
  const servers = (n: number, port: number): string[] => Array.from({ length: n }, (_, i) => `server s${i} 10.0.0.1:${port + i}`);
  const before = cfg({ a: servers(3, 1000), b: servers(3, 2000) });
  const after = cfg({ a: servers(3, 1100), b: servers(3, 2100) });
  t.equal(runtimeOps(before, after)?.length, 12, 'every server re-addressed: 6 removes + 6 adds');
  t.equal(runtimeOps(before, after, 12)?.length, 12, 'at the limit: the ops');
  t.equal(runtimeOps(before, after, 11), null, 'over the limit: a reload');
  t.equal(runtimeOps(before, after, 5), null, 'over it within the first backend already');
  t.equal(runtimeOps(before, `${after.replace('backend b', 'backend c')}`, 100), null, 'a structural change after the ops still needs a reload');
});

t.test('a config that starts with blank lines (a custom template): the change is still found', async (t) => {
  const before = `\n\n# 3 apps\n${cfg({ a: ['server a-1 10.0.0.1:1'] })}`;
  t.equal(runtimeOps(before, before.replace('# 3 apps', '# 4 apps')), null, 'a comment before the first section: reload');
  t.same(runtimeOps(before, before.replace('10.0.0.1:1', '10.0.0.1:2'))?.map((o) => o.op), ['remove', 'add']);
  t.same(runtimeOps(`\n${before}`, `\n${before}`), []);
});
