import t from 'tap';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { aclSpecificity, buildView, mesosDnsId, orderFrontends } from '../../src/core/view.js';
import { diffViews } from '../../src/core/diff.js';
import { Renderer } from '../../src/haproxy/render.js';
import { makeRule } from '../../src/core/rules.js';
import type { Rule } from '../../src/core/model.js';
import { app, healthChecks, labels, network, stateOf, task, tasks } from '../helpers/builders.js';

const paths = { HttpBind: '127.0.0.1:18080', StatsSocket: '/run/culm/haproxy.cfg.sock', PidFile: '/run/culm/haproxy.cfg.pid', OutputPath: '/run/culm/haproxy.cfg', ServerStateFile: '/run/culm/haproxy.cfg.state' };
const templatePath = new URL('../../templates/haproxy.cfg.eta', import.meta.url).pathname;
const goldenPath = new URL('../fixtures/golden/default.cfg', import.meta.url).pathname;

function sample() {
  const state = stateOf(
    app('/web', healthChecks({ protocol: 'HTTP', path: '/health' }),
      tasks(task(31002, { id: 'web.b', healthy: true }), task(31001, { id: 'web.a', healthy: true }), task(31003, { id: 'web.c', healthy: false }))),
    app('/web/api', tasks(task(31010, { id: 'api.a' }), task(31011, { id: 'api.k', state: 'TASK_KILLING' }))),
    app('/grp/empty'),
    app('/ipt', network('container', [8080]), tasks(task(0, { id: 'ipt.a', ports: [], ipAddresses: ['10.9.0.7'] }))),
    // marathon-lb's labels: a host and a path, with a redirect to https; one host label that is not a host.
    app('/lb', labels({ HAPROXY_0_VHOST: 'shop.example.com,Shop.example.org', HAPROXY_0_PATH: '/cart', HAPROXY_0_REDIRECT_TO_HTTPS: 'true' }),
      tasks(task(31020, { id: 'lb.a' }))),
    app('/lbbad', labels({ HAPROXY_0_VHOST: 'shop.example.com:443' }), tasks(task(31021, { id: 'lbbad.a' }))),
  );
  const rules = new Map<string, Rule>([['/grp/empty', makeRule('/grp/empty', 'hdr(host) -i empty.example.com')]]);
  return { state, rules };
}

t.test('view: names, ordering, serving tasks', async (t) => {
  const { state, rules } = sample();
  const v = buildView(state, rules, paths);
  t.same(v.Apps.map((a) => a.Id), ['/grp/empty', '/ipt', '/lb', '/web', '/web/api'], 'apps sorted by id; /lbbad left out');
  t.match(v.NotServed, { '/lbbad': /HAPROXY_0_VHOST/ }, 'with the reason');
  t.same(v.Frontends.map((a) => a.Id), ['/grp/empty', '/lb', '/web/api', '/ipt', '/web'], 'custom ACL first, then labels, then longer prefixes');
  const web = v.Apps.find((a) => a.Id === '/web')!;
  t.equal(web.Backend, '::web-cluster');
  t.same(web.Tasks.map((x) => x.Server), ['::web-127.0.0.1-31001', '::web-127.0.0.1-31002'], 'unhealthy excluded, sorted by name');
  t.equal(web.AllTasks.length, 3);
  t.equal(web.Acl, 'path_beg -i /web');
  t.equal(web.HealthCheckPath, '/health');
  t.equal(v.Apps.find((a) => a.Id === '/web/api')!.Tasks.length, 1, 'killing excluded');
  t.same(v.Apps.find((a) => a.Id === '/ipt')!.Tasks.map((x) => `${x.Host}:${x.Port}`), ['10.9.0.7:8080']);
  t.equal(v.Services['/grp/empty'].Acl, 'hdr(host) -i empty.example.com');
  t.equal(mesosDnsId('/another/group/app'), 'app-group-another');
  t.equal(aclSpecificity('path_beg -i /abc'), 4);
  t.equal(aclSpecificity('path_beg /abc'), 4);
  t.equal(aclSpecificity('hdr(host) -i x'), Infinity);
});

t.test('view: isolation options leave out an app or its rule', async (t) => {
  const { state, rules } = sample();
  const v = buildView(state, rules, paths, { excludedApps: new Set(['/web']), ignoredRules: new Set(['/grp/empty']) });
  t.notOk(v.Apps.find((a) => a.Id === '/web'));
  t.equal(v.Apps.find((a) => a.Id === '/grp/empty')!.Acl, 'path_beg -i /grp/empty');
  t.notOk(v.Services['/grp/empty']);
});

t.test('diff reasons', async (t) => {
  const { state, rules } = sample();
  const before = buildView(state, rules, paths);
  const after = buildView(stateOf(
    app('/web', healthChecks({ protocol: 'HTTP', path: '/health' }),
      tasks(task(31001, { id: 'web.a', healthy: true }), task(31005, { id: 'web.d', healthy: true }), task(31006, { id: 'web.e', healthy: true }))),
    app('/grp/empty'), app('/new', tasks(task(32000))),
  ), new Map(), paths);
  t.same(diffViews(before, after), [
    'rule /grp/empty changed',
    'app /new added (1 server)',
    'backend /web: +2 servers, -1 server',
    'app /ipt removed',
    'app /lb removed',
    'app /web/api removed',
  ]);
  t.same(diffViews(undefined, after), ['initial config: 3 apps']);
  t.same(diffViews(after, after), ['template or settings changed']);
});

t.test('shipped templates are ASCII: a rendered config stays a one-byte string (half the memory at 10,000 apps)', async (t) => {
  const dir = new URL('../../templates/', import.meta.url);
  for (const name of readdirSync(dir)) {
    const text = readFileSync(new URL(name, dir), 'utf8');
    t.notOk(/[^\x00-\x7f]/.test(text), `${name} has no character outside ASCII`);
  }
});

t.test('default template: golden file, and HAProxy accepts it', async (t) => {
  const { state, rules } = sample();
  const view = buildView(state, rules, paths);
  const text = new Renderer(templatePath).render(view).replace(templatePath, 'templates/haproxy.cfg.eta');
  if (process.env.UPDATE_GOLDEN) writeFileSync(goldenPath, text);
  t.equal(text, readFileSync(goldenPath, 'utf8'), 'matches test/fixtures/golden/default.cfg (UPDATE_GOLDEN=1 to refresh)');
  t.match(text, 'acl ::grp::empty-aclrule hdr(host) -i empty.example.com\n    acl ::lb-0-host hdr(host),field(1,:),lower -m str shop.example.com shop.example.org\n    acl ::lb-0-path path_beg /cart\n'
    + '    use_backend ::grp::empty-cluster if ::grp::empty-aclrule\n    use_backend ::lb-cluster if ::lb-0-host ::lb-0-path\n', 'a host rule stays an acl, first; then the labels');
  t.match(text, /backend ::lb-cluster\n\s+balance leastconn\n\s+option forwardfor\n\s+# [^\n]+\n\s+http-request redirect scheme https code 301 if !\{ ssl_fc \}\n/, 'the redirect in the labelled app\'s backend');
  t.notMatch(text, 'lbbad', 'the app with a bad label is not rendered');
  t.equal(view.RouteMap?.Text, '/web/api ::web::api-cluster\n/ipt ::ipt-cluster\n/web ::web-cluster\n', 'path prefixes in the map, /web/api before /web');
  t.match(text, `use_backend %[path,lower,map_beg(${view.RouteMap?.Path})]`);
  t.match(text, /backend ::grp::empty-cluster\n\s+balance leastconn\n\s+option forwardfor\n\n/, 'an app with no task keeps its backend');
  const dir = mkdtempSync(join(tmpdir(), 'culm-golden-'));
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(file, text.replaceAll('/run/culm/', `${dir}/`));
  writeFileSync(view.RouteMap!.Path.replace('/run/culm/', `${dir}/`), view.RouteMap!.Text);
  const out = execFileSync('haproxy', ['-c', '-f', file], { encoding: 'utf8' });
  t.match(out, /Configuration file is valid/);
});

t.test('default template: HAProxy.User/UserGroup become user/group in global, and HAProxy accepts them', async (t) => {
  const { state, rules } = sample();
  const dir = mkdtempSync(join(tmpdir(), 'culm-user-'));
  const own = { ...paths, StatsSocket: join(dir, 's'), PidFile: join(dir, 'p'), OutputPath: join(dir, 'haproxy.cfg') };
  const plain = new Renderer(templatePath).render(buildView(state, rules, own));
  t.notMatch(plain, /^\s+(user|group) /m, 'no user: no user/group lines');
  const view = buildView(state, rules, { ...own, User: 'nobody', Group: 'nogroup' });
  const text = new Renderer(templatePath).render(view);
  t.match(text, /hard-stop-after 30s\n\s+#[^\n]*\n\s+user nobody\n\s+group nogroup\n/, 'user and group in global');
  writeFileSync(own.OutputPath, text);
  writeFileSync(view.RouteMap!.Path, view.RouteMap!.Text);
  t.match(execFileSync('haproxy', ['-c', '-f', own.OutputPath], { encoding: 'utf8' }), /Configuration file is valid/);
});

t.test('default template: HAProxy.Log sends HAProxy\'s log to culm (up to notice; info and httplog with request logs)', async (t) => {
  const { state, rules } = sample();
  const dir = mkdtempSync(join(tmpdir(), 'culm-log-'));
  const own = { ...paths, StatsSocket: join(dir, 's'), PidFile: join(dir, 'p'), OutputPath: join(dir, 'haproxy.cfg') };
  const plain = new Renderer(templatePath).render(buildView(state, rules, own));
  t.notMatch(plain, /^\s+(log|option httplog)\b/m, 'off: no log lines');
  for (const requestLog of [false, true]) {
    const view = buildView(state, rules, { ...own, LogTarget: '127.0.0.1:5514', RequestLog: requestLog });
    const text = new Renderer(templatePath).render(view);
    t.match(text, new RegExp(`\\n\\s+log 127\\.0\\.0\\.1:5514 len 4096 local0 ${requestLog ? 'info' : 'notice'}\\n`), `global log line, request logs ${requestLog}`);
    t.match(text, /\ndefaults\n(?:[^\n]*\n)*?\s+log global\n/, 'defaults: log global (server and proxy messages)');
    t.equal(/^\s+option httplog$/m.test(text), requestLog, 'option httplog only with request logs');
    writeFileSync(own.OutputPath, text);
    writeFileSync(view.RouteMap!.Path, view.RouteMap!.Text);
    t.match(execFileSync('haproxy', ['-c', '-f', own.OutputPath], { encoding: 'utf8' }), /Configuration file is valid/);
  }
});

t.test('route map: the plain path_beg -i tail of the routing, in order; the rest stays acl lines', async (t) => {
  const mk = (id: string, acl?: string) => [id, acl] as const;
  const cases: Array<{ desc: string; rules: Array<readonly [string, string | undefined]>; acl: string[]; map: string }> = [
    { desc: 'defaults only, lower-cased, longer prefixes first', rules: [mk('/App1'), mk('/app10'), mk('/b')], acl: [], map: '/app10 ::app10-cluster\n/app1 ::App1-cluster\n/b ::b-cluster\n' },
    { desc: 'a non-path rule first stays an acl', rules: [mk('/h', 'hdr(host) -i h.example'), mk('/p')], acl: ['/h'], map: '/p ::p-cluster\n' },
    { desc: 'case-sensitive, two patterns, odd characters: acl lines', rules: [mk('/cs', 'path_beg /CS'), mk('/two', 'path_beg -i /x /y'), mk('/odd', 'path_beg -i /a"b'), mk('/rel', 'path_beg -i noslash')], acl: ['/cs', '/odd', '/rel', '/two'], map: '' },
    { desc: 'a plain rule before a non-plain one in the order stays an acl (order kept)', rules: [mk('/z', 'hdr(host) -i z'), mk('/p', 'path_beg -i /p'), mk('/q', 'path_beg /Q')], acl: ['/p', '/q', '/z'], map: '' },
  ];
  for (const c of cases) {
    const state = stateOf(...c.rules.map(([id]) => app(id, tasks(task(31000)))));
    const rules = new Map(c.rules.filter(([, acl]) => acl).map(([id, acl]) => [id, makeRule(id, acl!)]));
    const view = buildView(state, rules, paths);
    t.equal(view.AclRoutes.length + (view.RouteMap?.Routes.length ?? 0), view.Routes.length, `${c.desc}: every route once`);
    t.same(view.Routes.slice(0, view.AclRoutes.length), view.AclRoutes, `${c.desc}: acl routes are the head`);
    if (c.acl.length) t.same([...view.AclRoutes.map((r) => r.Id)].sort(), c.acl, `${c.desc}: acl lines`);
    if (c.map) t.equal(view.RouteMap?.Text, c.map, `${c.desc}: map`);
    if (!c.map) t.equal(view.RouteMap, undefined, `${c.desc}: no map`);
  }
  // The same routes: the same map object (and path); another map text: another path.
  const state = stateOf(app('/a', tasks(task(1))), app('/b', tasks(task(2))));
  const one = buildView(state, new Map(), paths);
  const two = buildView(stateOf(app('/a', tasks(task(3))), app('/b', tasks(task(2)))), new Map(), paths);
  t.equal(two.RouteMap, one.RouteMap, 'a task change keeps the map');
  const three = buildView(state, new Map([['/b', makeRule('/b', 'path_beg -i /bee')]]), paths);
  t.not(three.RouteMap?.Path, one.RouteMap?.Path, 'a rule change names another map file');
  t.match(three.RouteMap?.Path, /^\/run\/culm\/haproxy\.cfg\.routes-[0-9a-f]{16}\.map$/);
});

t.test('template errors are E_TEMPLATE, and a fixed template is picked up', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'culm-tpl-'));
  const file = join(dir, 't.eta');
  writeFileSync(file, 'global\n<% if ( { %>\n');
  const r = new Renderer(file);
  const { state } = sample();
  const view = buildView(state, new Map(), paths);
  t.throws(() => r.render(view), { code: 'E_TEMPLATE' });
  writeFileSync(file, '<%= it.nothing.here %>\n');
  t.throws(() => r.render(view), { code: 'E_TEMPLATE', message: /failed/ });
  writeFileSync(file, '   \n');
  t.throws(() => r.render(view), { code: 'E_TEMPLATE', message: /empty/ });
  writeFileSync(file, '<% for (const a of it.Apps) { -%>\n<%= a.EscapedId %> <%= it.hasKey(it.Services, a.Id) %> <%= it.ToUpper(it.Join(it.Split(a.Id, "/"), "_")) %> <%= it.Replace("a-b-c", "-", "+", 1) %>\n<% } -%>\n');
  const out = r.render(buildView(state, new Map([['/web', makeRule('/web', 'path_beg /w')]]), paths));
  t.equal(out.split('\n')[0], '::grp::empty false _GRP_EMPTY a+b-c', 'Bamboo helpers');
  t.match(out, /::web true _WEB/);
  t.throws(() => new Renderer(join(dir, 'missing.eta')).render(view), { code: 'E_TEMPLATE', message: /cannot read/ });
});

t.test('view: order reused from the last build only while it still fits', async (t) => {
  // Each step builds a view, then checks it against what a build from scratch gives (orderFrontends on the
  // sorted apps), whatever the previous builds left behind.
  const rules = new Map<string, Rule>();
  let state = stateOf(app('/b', tasks(task(1))), app('/a'), app('/a/long/path'));
  const check = (desc: string, options: Parameters<typeof buildView>[3] = {}): ReturnType<typeof buildView> => {
    const v = buildView(state, rules, paths, options);
    const ids = [...state.apps.keys()].filter((id) => !options.excludedApps?.has(id)).sort();
    t.same(v.Apps.map((a) => a.Id), ids, `${desc}: apps sorted by id`);
    t.same(v.Frontends.map((a) => a.Id), orderFrontends(v.Apps).map((a) => a.Id), `${desc}: frontends ordered`);
    t.ok(v.Frontends.every((f) => v.Apps.includes(f)), `${desc}: frontends are this build's views`);
    t.same(v.Routes, v.Frontends.map((f) => f.Route), `${desc}: routes follow the frontends`);
    return v;
  };
  const first = check('first');
  state = stateOf(app('/b', tasks(task(1), task(2))), app('/a'), app('/a/long/path'));
  const taskChange = check('a task changed');
  t.equal(taskChange.Routes, first.Routes, 'routes unchanged: the same array');
  state = stateOf(app('/b'), app('/a'), app('/c'));
  check('same count, one app replaced');
  state = stateOf(app('/b'), app('/a'), app('/c'), app('/0'));
  check('one app more');
  check('an app excluded', { excludedApps: new Set(['/a', '/not-there']) });
  rules.set('/c', makeRule('/c', 'hdr(host) -i c.example'));
  const ruled = check('a rule set');
  t.equal(ruled.Frontends[0].Id, '/c', 'a host rule goes first');
  check('the rule ignored', { ignoredRules: new Set(['/c']) });
  t.ok(Object.isFrozen(ruled.Services['/c']), 'service views are shared, so frozen');
  state = stateOf(app('/b', labels({ HAPROXY_0_VHOST: 'b.example' })), app('/a'), app('/c'), app('/0'));
  const labelled = check('a vhost label set');
  t.same(labelled.Frontends.map((f) => f.Id), ['/c', '/b', '/0', '/a'], 'the rule, then the label route, then prefixes');
  state = stateOf(app('/b', labels({ HAPROXY_0_VHOST: 'b.example', HAPROXY_0_PATH: '/p' })), app('/a'), app('/c'), app('/0'));
  t.not(check('a path label added').Routes, labelled.Routes, 'a label change is a routing change');
  t.same(diffViews(labelled, buildView(state, rules, paths)), ['labels of /b changed (routing)'], 'and says so');
});

t.test('diff reasons do not depend on the order apps are listed in', async (t) => {
  const { state, rules } = sample();
  const before = buildView(state, rules, paths);
  const after = buildView(stateOf(app('/web'), app('/new')), new Map(), paths);
  const shuffled = { ...after, Apps: [...after.Apps].reverse() };
  t.same(diffViews(before, shuffled), diffViews(before, after));
});
