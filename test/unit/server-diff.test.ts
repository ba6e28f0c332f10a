import t from 'tap';
import { runtimeOps } from '../../src/haproxy/server-diff.js';
import { canAddAtRuntime } from '../../src/haproxy/runtime-api.js';

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

t.test('options add server accepts', async (t) => {
  t.ok(canAddAtRuntime(''));
  t.ok(canAddAtRuntime('check inter 5s'));
  t.ok(canAddAtRuntime('check inter 5s weight 10 maxconn 100'));
  t.notOk(canAddAtRuntime('cookie abc'));
  t.notOk(canAddAtRuntime('check; evil'));
});
