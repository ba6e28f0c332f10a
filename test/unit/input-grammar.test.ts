import t, { type Test } from 'tap';
import {
  checkApp, isAppId, isHealthCheckPath, isHost, isIpAddress, isPort, isTaskId, isVirtualHost, isWildcardHost, quote, quoteFormat, type Rejection,
} from '../../src/core/input-grammar.js';
import { AppsMapper } from '../../src/core/marathon-map.js';
import { toDomainEvent } from '../../src/core/events.js';
import { app, healthChecks, task, tasks } from '../helpers/builders.js';

const table = <T>(t: Test, name: string, fn: (v: T) => boolean, good: T[], bad: T[]): void => {
  for (const v of good) t.ok(fn(v), `${name} accepts ${JSON.stringify(v)}`);
  for (const v of bad) t.notOk(fn(v), `${name} refuses ${JSON.stringify(v)}`);
};

t.test('grammar of each field', async (t) => {
  table(t, 'app id', isAppId,
    ['/web', '/grp/sub/app', '/a1', '/my.app', '/a-b/c-d', '/App'],
    ['', '/', 'web', '/web/', '//web', '/-web', '/web-', '/a b', '/a\nb', '/a#b', '/a"b', "/a'b", '/a$b', '/a_b', `/${'a'.repeat(600)}`]);
  table(t, 'task id', isTaskId,
    ['web.3c1e5c7e-0000-11ea-8d71-362b9e155667', 'grp_app.instance-6b2c1c1e-1111-11ea-8d71-362b9e155667._app.1', 't1'],
    ['', 'a b', 'a\nb', 'a#b', 'a"b', "a'b", 'a$b', 'a\\b', 'a;b']);
  table(t, 'host', isHost,
    ['127.0.0.1', '10.0.2.148', 'agent-1.example.com', 'agent_7', 'AGENT.local.', '::1', '2001:db8::8:800:200c:417a', 'localhost'],
    ['', '127.0.0.1 redir http://evil.example #', '127.0.0.1\nglobal', 'a..b', '-a.b', 'a-.b', '999.1.1.1', '1.2.3', 'a/b', 'a:b', '[::1]', ':::', `${'a'.repeat(64)}.b`]);
  table(t, 'ip address', isIpAddress,
    ['10.9.0.7', '0.0.0.0', 'fe80::1', '::ffff:10.0.0.1'],
    ['10.9.0.256', '10.9.0', 'fe80::1%eth0', 'fe80:::1', 'host', '']);
  table(t, 'virtual host', isVirtualHost,
    ['web.example.com', 'localhost', '10.0.0.1', 'a-b.c0'],
    ['', '*.example.com', 'web.example.com:80', 'web.example.com/x', 'Web.example.com', 'a_b.com', 'a..b', `${'a.'.repeat(127)}a`]);
  table(t, 'wildcard virtual host', isWildcardHost,
    ['*.example.com', '*.b.example.com', '*.co.uk', '*.a-b.c0', `*.${'a.'.repeat(125)}a`],
    ['*', '*.', '*.com', '*.local', '*.a-b', '*..com', 'a.*.com', '*example.com', '*.*.example.com', 'example.*', '**.example.com', '*.example.com:80', '*.example.com/x',
      ' *.example.com', '*.Example.com', '*.0.0.1', '*.10.0.0.1', '*.-a.com', `*.${'a.'.repeat(126)}a`]);
  table<unknown>(t, 'port', isPort, [1, 80, 65535], [0, -1, 65536, 1.5, Number.NaN, '80', null]);
  table(t, 'health-check path', isHealthCheckPath,
    ['/', '/health', '/v1/health?deep=true&x=1', '/a%20b', '/a:b@c'],
    ['', 'health', '/a b', '/a\nb', '/a#b', '/a"b', "/a'b", '/a$b', '/a\\b', '/a\tb']);
});

t.test('quote: one HAProxy word, nothing interpreted', async (t) => {
  t.equal(quote('plain'), "'plain'");
  t.equal(quote("it's"), "'it'\\''s'", "a single quote closes, is escaped, reopens");
  t.equal(quote('$HOME "${X}" # \\'), "'$HOME \"${X}\" # \\'", 'no escaping needed inside single quotes');
  t.equal(quoteFormat('%[env(SECRET)]'), "'%%[env(SECRET)]'", 'log-format fetches disabled');
  t.throws(() => quote('a\nb'), /control character/, 'a newline cannot be quoted');
});

t.test('checkApp: a bad app is refused whole, a bad task or label is left out', async (t) => {
  const cases: Array<{ desc: string; build: () => ReturnType<typeof app>; throws?: RegExp; tasks?: number; labels?: string[]; fields?: string[] }> = [
    { desc: 'all good: the same object', build: () => app('/web', tasks(task(31001))), tasks: 1, fields: [] },
    { desc: 'health path with a newline', build: () => app('/web', healthChecks({ protocol: 'HTTP', path: '/h\nlisten x' })), throws: /health_check_path/ },
    { desc: 'health protocol with a space', build: () => app('/web', healthChecks({ protocol: 'HTTP x' })), throws: /health_check_protocol/ },
    { desc: 'fixed health-check port out of range', build: () => app('/web', healthChecks({ protocol: 'TCP', port: 65536 })), throws: /health_check_port\b/ },
    { desc: 'fixed health-check port not an integer', build: () => app('/web', healthChecks({ protocol: 'HTTP', path: '/', port: 80.5 })), throws: /health_check_port\b/ },
    { desc: 'fixed health-check port in range', build: () => app('/web', healthChecks({ protocol: 'TCP', port: 8080 }), tasks(task(31001))), tasks: 1, fields: [] },
    { desc: 'service port out of range', build: () => { const a = app('/web'); a.servicePorts = [70000]; return a; }, throws: /service_port/ },
    { desc: 'bad id', build: () => app('/we b'), throws: /app_id/ },
    { desc: 'host with a newline: task left out', build: () => app('/web', tasks(task(31001), task(31002, { host: '1.2.3.4\nglobal' }))), tasks: 1, fields: ['host'] },
    { desc: 'host with spaces: task left out', build: () => app('/web', tasks(task(31002, { host: '127.0.0.1 redir http://evil #' }))), tasks: 0, fields: ['host'] },
    { desc: 'port 0 on a task', build: () => app('/web', tasks(task(0))), tasks: 0, fields: ['port'] },
    { desc: 'bad ip', build: () => app('/web', tasks(task(1, { ipAddresses: ['10.0.0.1 x'] }))), tasks: 0, fields: ['ip_address'] },
    { desc: 'bad state', build: () => app('/web', tasks(task(1, { state: 'TASK_RUNNING\n' }))), tasks: 0, fields: ['task_state'] },
    {
      desc: 'label with a newline left out, others kept',
      build: () => { const a = app('/web'); a.labels = { GOOD: 'a b "c" #d', BAD: 'x\nbackend y' }; a.env = { E: 'v\r' }; return a; },
      labels: ['GOOD'], fields: ['label', 'env'],
    },
  ];
  for (const c of cases) {
    const input = c.build();
    const rejected: Rejection[] = [];
    if (c.throws) {
      t.throws(() => checkApp(input, rejected), c.throws, c.desc);
      continue;
    }
    const out = checkApp(input, rejected);
    if (c.tasks !== undefined) t.equal(Object.keys(out.tasks).length, c.tasks, `${c.desc}: tasks kept`);
    if (c.labels) t.same(Object.keys(out.labels), c.labels, `${c.desc}: labels kept`);
    t.same(rejected.map((r) => r.field), c.fields, `${c.desc}: rejections`);
    if (c.fields?.length === 0) t.equal(out, input, `${c.desc}: unchanged input is returned as is`);
    t.ok(rejected.every((r) => r.appId === '/web'), `${c.desc}: rejections name the app`);
  }
});

t.test('AppsMapper: refusals reported with their field; the other apps map', async (t) => {
  const mapper = new AppsMapper();
  mapper.add({ id: '/good', tasks: [{ id: 'good.1', host: '10.0.0.1', ports: [31000], state: 'TASK_RUNNING' }] });
  mapper.add({ id: '/evil', healthChecks: [{ protocol: 'HTTP', path: '/x\nprogram pwn' }] });
  mapper.add({ id: '/mixed', tasks: [
    { id: 'mixed.1', host: '10.0.0.2', ports: [31001], state: 'TASK_RUNNING' },
    { id: 'mixed.2', host: '10.0.0.3:1\nglobal\n  master-worker', ports: [31002], state: 'TASK_RUNNING' },
  ] });
  const out = mapper.result();
  t.same(out.apps.map((a) => a.id), ['/good', '/mixed']);
  t.same(Object.keys(out.apps[1].tasks), ['mixed.1']);
  t.same(out.skipped.map((s) => s.id), ['/evil']);
  t.same(out.rejected.map((r) => [r.appId, r.field]), [['/evil', 'health_check_path'], ['/mixed', 'host']]);
});

t.test('events: a value that fails the grammar makes the event invalid, with its field', async (t) => {
  const status = (over: Record<string, unknown>) => toDomainEvent({
    eventType: 'status_update_event', appId: '/web', taskId: 'web.1', taskStatus: 'TASK_RUNNING', host: '10.0.0.1', ports: [31000], ...over,
  });
  t.equal(status({}).kind, 'task');
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ host: '127.0.0.1:21666\nglobal\n    master-worker\nprogram pwn\n    command /bin/sh -c "id"\n#' }, 'host'],
    [{ host: '127.0.0.1 redir http://evil.example #' }, 'host'],
    [{ ports: [70000] }, 'port'],
    [{ ports: [0] }, 'port'],
    [{ appId: '/web\nlisten x' }, 'app_id'],
    [{ taskId: 'web 1' }, 'task_id'],
    [{ taskStatus: 'TASK_RUNNING x' }, 'task_state'],
    [{ ipAddresses: [{ ipAddress: '10.0.0.1\n' }] }, 'ip_address'],
  ];
  for (const [over, field] of cases) {
    const e = status(over);
    t.equal(e.kind, 'invalid', `${JSON.stringify(over)} refused`);
    if (e.kind === 'invalid') {
      t.equal(e.field, field);
      t.equal(e.reason, `invalid ${field}`, 'a bounded reason (metrics label)');
    }
  }
  const health = toDomainEvent({ eventType: 'health_status_changed_event', appId: '/web', taskId: 'web 1', alive: true });
  t.equal(health.kind, 'invalid');
  const term = toDomainEvent({ eventType: 'app_terminated_event', appId: '/a b' });
  t.equal(term.kind, 'invalid');
  const post = toDomainEvent({ eventType: 'api_post_event', appDefinition: { id: '/x', healthChecks: [{ path: '/a b' }] } });
  t.equal(post.kind, 'resync', 'a definition that fails the grammar is left to the resync');
});
