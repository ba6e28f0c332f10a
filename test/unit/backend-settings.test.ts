/**
 * Per-app backend settings (backend-settings.ts): each grammar, marathon-lb-style app JSON (1.4 and 1.5+
 * shapes) through the real mapping, view and default template to the backend lines they must give, a REST
 * rule's Config over the labels, a bad value leaving only its port out (a label) or refusing the rule (Config),
 * a golden file HAProxy accepts, and the saved server state's weights (server-state.ts).
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { balanceOf, booleanOf, configSettings, maxconnOf, timeOf, weightOf } from '../../src/core/backend-settings.js';
import { mapApps } from '../../src/core/marathon-map.js';
import { buildView, type HaproxyPaths } from '../../src/core/view.js';
import { admitRules, checkRule, makeRule } from '../../src/core/rules.js';
import { applySnapshot } from '../../src/core/state.js';
import { emptyState, type Rule } from '../../src/core/model.js';
import { CulmError } from '../../src/core/errors.js';
import { Renderer } from '../../src/haproxy/render.js';
import { withIntendedWeights } from '../../src/haproxy/server-state.js';
import { diffViews } from '../../src/core/diff.js';
import { requireBinary } from '../helpers/processes.js';

const dir = mkdtempSync(join(tmpdir(), 'culm-backend-settings-'));
const paths: HaproxyPaths = { HttpBind: '127.0.0.1:18080', StatsSocket: join(dir, 's'), PidFile: join(dir, 'p'), OutputPath: join(dir, 'haproxy.cfg') };
const renderer = new Renderer(new URL('../../templates/haproxy.cfg.eta', import.meta.url).pathname);

/** An app as Marathon's /v2/apps gives it (1.4 `ports` or 1.5+ `portDefinitions`), two running tasks. */
function marathonApp(id: string, labels: Record<string, string>, shape: '1.4' | '1.5', servicePorts = [10000]): Record<string, unknown> {
  const tasks = [1, 2].map((n) => ({ id: `${id.slice(1)}.t${n}`, host: `10.0.0.${n}`, ports: servicePorts.map((_, i) => 31000 + i), state: 'TASK_RUNNING', startedAt: '2026-12-01T00:00:00Z' }));
  const app: Record<string, unknown> = { id, instances: 2, labels, env: {}, healthChecks: [], tasks };
  if (shape === '1.4') app.ports = servicePorts;
  else app.portDefinitions = servicePorts.map((port) => ({ port, protocol: 'tcp' }));
  return app;
}

function render(apps: Array<Record<string, unknown>>, rules: Rule[] = [], p: HaproxyPaths = paths) {
  const mapped = mapApps({ apps });
  const view = buildView(applySnapshot(emptyState(), mapped.apps, 1), new Map(rules.map((r) => [r.id, r])), p);
  return { view, text: renderer.render(view), rejected: mapped.rejected };
}

/** The lines of one backend section. */
const backendOf = (text: string, name: string): string[] => {
  const at = text.indexOf(`\nbackend ${name}\n`);
  return at === -1 ? [] : text.slice(at + 1).split('\n\n')[0].split('\n').map((l) => l.trim());
};

t.test('each setting\'s grammar', async (t) => {
  // Per setting: [value, what the grammar makes of it] (undefined: refused).
  const table: Array<[string, (v: string) => unknown, Array<[string, unknown]>]> = [
    ['balance', balanceOf, [['roundrobin', 'roundrobin'], [' LeastConn ', 'leastconn'], ['static-rr', 'static-rr'], ['source', 'source'],
      ['hdr(X-User)', 'hdr(X-User)'], ['url_param  userid', 'url_param userid'], ['roundrobin\n    bind :1', undefined],
      ['uri whole depth 3', undefined], ['hdr(a b)', undefined], ['bogus', undefined], ['roundrobin # x', undefined]]],
    ['weight', weightOf, [['0', 0], ['256', 256], ['257', undefined], ['-1', undefined], ['5.5', undefined]]],
    ['maxconn', maxconnOf, [['100', 100], ['0', undefined], ['99999999999', undefined], ['1e3', undefined]]],
    ['timeout', timeOf, [['30s', '30s'], ['500ms', '500ms'], ['30000', '30000'], ['2m', '2m'], ['25d', undefined], ['0', undefined],
      ['30 s', undefined], ['30sec', undefined]]],
    ['sticky', booleanOf, [['TRUE', true], ['no', false], ['maybe', undefined]]],
  ];
  for (const [name, parse, cases] of table) for (const [value, want] of cases) t.same(parse(value), want, `${name} ${JSON.stringify(value)}`);
});

t.test('labels to backend lines, both Marathon shapes; a rule\'s Config over port 0\'s labels', async (t) => {
  const cases: Array<{ desc: string; labels: Record<string, string>; rule?: Record<string, string>; want: RegExp[]; not?: RegExp[] }> = [
    { desc: 'no label: Bamboo\'s leastconn, no cookie', labels: {}, want: [/^balance leastconn$/, /^server \S+ 10\.0\.0\.1:31000$/], not: [/cookie/] },
    { desc: 'HAPROXY_0_BALANCE', labels: { HAPROXY_0_BALANCE: 'roundrobin' }, want: [/^balance roundrobin$/] },
    {
      desc: 'HAPROXY_0_STICKY: marathon-lb\'s cookie insert, one cookie per server', labels: { HAPROXY_0_STICKY: 'true' },
      want: [/^cookie mesosphere_server_id insert indirect nocache$/, /^server ::web-10\.0\.0\.1-31000 10\.0\.0\.1:31000 cookie [0-9a-f]{10}$/],
    },
    { desc: 'HAPROXY_0_STICKY=false', labels: { HAPROXY_0_STICKY: 'false' }, want: [/^balance leastconn$/], not: [/cookie/] },
    {
      desc: 'the rule\'s Config wins over the labels', labels: { HAPROXY_0_BALANCE: 'roundrobin', HAPROXY_0_STICKY: 'true' },
      rule: { balance: 'source', sticky: 'false', weight: '5', maxconn: '100', timeoutServer: '30s' },
      want: [/^balance source$/, /^timeout server 30s$/, /^server ::web-10\.0\.0\.2-31000 10\.0\.0\.2:31000 weight 5 maxconn 100$/], not: [/cookie/],
    },
    { desc: 'Config keys in any case (Bamboo capitalises its own Acl)', labels: {}, rule: { Balance: 'first', Weight: '0' }, want: [/^balance first$/, /^server \S+ 10\.0\.0\.1:31000 weight 0$/] },
    { desc: 'the rule sets what the labels do not', labels: { HAPROXY_0_STICKY: 'yes' }, rule: { weight: '3' }, want: [/^cookie mesosphere_server_id/, /^server \S+ 10\.0\.0\.1:31000 weight 3 cookie [0-9a-f]{10}$/] },
  ];
  for (const shape of ['1.4', '1.5'] as const) {
    for (const c of cases) {
      const rules = c.rule ? [makeRule('/web', 'path_beg -i /web', c.rule)] : [];
      const lines = backendOf(render([marathonApp('/web', c.labels, shape)], rules).text, '::web-cluster');
      for (const w of c.want) t.ok(lines.some((l) => w.test(l)), `${shape} ${c.desc}: ${w}`);
      for (const n of c.not ?? []) t.notOk(lines.some((l) => n.test(l)), `${shape} ${c.desc}: not ${n}`);
    }
  }
  const { view, text } = render([marathonApp('/web', { HAPROXY_0_STICKY: 'true' }, '1.5')]);
  const cookies = view.Apps[0].Backends[0].Servers.map((s) => s.Cookie);
  t.equal(new Set(cookies).size, 2, 'each server its own cookie');
  t.same(render([marathonApp('/web', { HAPROXY_0_STICKY: 'true' }, '1.4')]).view.Apps[0].Backends[0].Servers.map((s) => s.Cookie), cookies, 'stable: the same servers, the same cookies');
  t.notOk(view.Apps[0].Tasks.some((task) => 'Cookie' in task), 'Bamboo\'s Tasks are left as they were');
  t.match(text, /backend ::web-cluster\n {4}balance leastconn\n {4}# HAPROXY_0_STICKY[^\n]*\n {4}cookie mesosphere_server_id insert indirect nocache\n {4}option forwardfor\n/);
});

t.test('marathon-lb\'s BACKEND_HEAD template form: {balance} is the backend\'s algorithm, not written twice', async (t) => {
  const trusted = { ...paths, ServeGroups: { groups: [], strict: false, trustLabelConfig: true } };
  const head = 'backend {backend}\n  balance {balance}\n  mode {mode}\n  http-response set-header X-Algo {balance}';
  const lines = backendOf(render([marathonApp('/web', { HAPROXY_0_BALANCE: 'roundrobin', HAPROXY_0_BACKEND_HEAD: head }, '1.5')], [], trusted).text, '::web-cluster');
  t.same(lines.filter((l) => l.startsWith('balance')), ['balance roundrobin'], 'one balance line, the label\'s');
  t.ok(lines.includes('http-response set-header X-Algo roundrobin'), 'the placeholder filled with it');
});

t.test('a settings change is a diff reason', async (t) => {
  const apps = [marathonApp('/web', { HAPROXY_0_BALANCE: 'roundrobin' }, '1.5')];
  const before = render(apps, [makeRule('/web', 'path_beg -i /web', { weight: '5' })]).view;
  const after = render(apps, [makeRule('/web', 'path_beg -i /web', { weight: '0', maxconn: '10', balance: 'leastconn' })]).view;
  t.same(diffViews(before, after), ['backend ::web-cluster: balance roundrobin → leastconn, weight 5 → 0, maxconn default → 10']);
});

t.test('per service port: port n\'s labels for port n\'s backend; the rule for port 0 only; no cookie in TCP', async (t) => {
  const bound = { ...paths, ServeGroups: { groups: [], strict: false, servicePortBind: '127.0.0.1' } };
  const labels = { HAPROXY_0_BALANCE: 'roundrobin', HAPROXY_1_BALANCE: 'source', HAPROXY_1_MODE: 'tcp', HAPROXY_1_STICKY: 'true', HAPROXY_2_STICKY: 'true' };
  const { view, text } = render([marathonApp('/multi', labels, '1.5', [10100, 10101, 10102])], [makeRule('/multi', 'path_beg -i /multi', { weight: '9' })], bound);
  const b = Object.fromEntries(view.Apps[0].Backends.map((x) => [x.Name, x]));
  t.same([b['::multi-cluster'].Balance, b['::multi-cluster'].Weight], ['roundrobin', 9], 'port 0: its label and the rule');
  t.same([b['::multi-1-cluster'].Balance, b['::multi-1-cluster'].Sticky, b['::multi-1-cluster'].Weight], ['source', false, -1], 'port 1 (tcp): its label, no cookie, not the rule');
  t.same([b['::multi-2-cluster'].Balance, b['::multi-2-cluster'].Sticky], ['leastconn', true], 'port 2: sticky');
  t.notMatch(backendOf(text, '::multi-1-cluster').join('\n'), /cookie/);
  t.match(backendOf(text, '::multi-2-cluster').join('\n'), /cookie mesosphere_server_id/);
});

t.test('a bad label value leaves that port out with the reason; never another port or app', async (t) => {
  const bad: Array<{ labels: Record<string, string>; label: string }> = [
    { labels: { HAPROXY_0_BALANCE: 'roundrobin\n  bind :1' }, label: 'HAPROXY_0_BALANCE' },
    { labels: { HAPROXY_0_BALANCE: 'fastest' }, label: 'HAPROXY_0_BALANCE' },
    { labels: { HAPROXY_0_BALANCE: 'hdr(x y)' }, label: 'HAPROXY_0_BALANCE' },
    { labels: { HAPROXY_0_STICKY: 'sometimes' }, label: 'HAPROXY_0_STICKY' },
  ];
  for (const shape of ['1.4', '1.5'] as const) {
    for (const c of bad) {
      const { view, text, rejected } = render([marathonApp('/web', c.labels, shape), marathonApp('/ok', { HAPROXY_0_BALANCE: 'roundrobin' }, shape)]);
      t.same(view.Apps.map((a) => a.Id), ['/ok'], `${shape} ${JSON.stringify(c.labels)}: the app is not rendered, the other is`);
      t.notMatch(text, /::web-/);
      t.match(view.NotServed['/web'], c.label, 'the reason names the label');
      t.ok(rejected.some((r) => r.appId === '/web' && r.field === 'lb_label'), 'counted as a refused value');
    }
  }
  const { view } = render([marathonApp('/two', { HAPROXY_1_BALANCE: 'nope' }, '1.5', [10000, 10001])]);
  t.equal(view.Apps[0].Ports[0].NotServed, '', 'port 0 served');
  t.match(view.Apps[0].Ports[1].NotServed, /HAPROXY_1_BALANCE "nope" is not an HAProxy algorithm/, 'port 1 left out, with the reason');
});

t.test('a rule with a bad Config value is refused (E_RULE_INVALID, 400), from the REST API and from a store', async (t) => {
  const bad: Array<[Record<string, string>, RegExp]> = [
    [{ balance: 'fastest' }, /Config\.balance "fastest" is not an HAProxy algorithm/],
    [{ sticky: 'maybe' }, /Config\.sticky "maybe" is not a boolean/],
    [{ weight: '300' }, /Config\.weight "300" is not a weight from 0 to 256/],
    [{ maxconn: '0' }, /Config\.maxconn "0" is not a positive integer/],
    [{ timeoutServer: '30 seconds' }, /Config\.timeoutServer "30 seconds" is not an HAProxy time/],
    [{ weight: '1', Weight: '2' }, /Config\.weight .* is given 2 times \(weight, Weight\)/],
  ];
  for (const [config, why] of bad) {
    const rule = makeRule('/web', 'path_beg -i /web', config);
    let error: unknown;
    try {
      checkRule(rule);
    } catch (err) {
      error = err;
    }
    t.ok(error instanceof CulmError && error.code === 'E_RULE_INVALID' && error.status === 400, `${JSON.stringify(config)}: E_RULE_INVALID, 400`);
    t.match((error as Error | undefined)?.message, why, 'the message names the key, the value and the grammar');
    t.same(admitRules([rule], { aclFilesDir: '' }).refused.map((r) => r.error.code), ['E_RULE_INVALID'], `${JSON.stringify(config)}: a stored one is left out too`);
  }
  t.doesNotThrow(() => checkRule(makeRule('/web', 'path_beg -i /web', { balance: 'roundrobin', sticky: 'true', weight: '5', maxconn: '100', timeoutServer: '30s', note: 'anything' })), 'good values, and other keys, pass');
  t.same(configSettings({ Balance: 'URI', other: 'x' }), { settings: { balance: 'uri' }, problems: [] });
});

t.test('default template with backend settings: golden file (UPDATE_GOLDEN=1 to refresh), and HAProxy accepts it', async (t) => {
  requireBinary('haproxy', 'apt-get install -y haproxy');
  const golden = new URL('../fixtures/golden/backend-settings.cfg', import.meta.url).pathname;
  const p = { ...paths, StatsSocket: '/run/culm/haproxy.cfg.sock', PidFile: '/run/culm/haproxy.cfg.pid', OutputPath: '/run/culm/haproxy.cfg' };
  const apps = [
    marathonApp('/plain', {}, '1.4'),
    marathonApp('/rr', { HAPROXY_0_BALANCE: 'roundrobin', HAPROXY_0_VHOST: 'rr.example.com' }, '1.5'),
    marathonApp('/sticky', { HAPROXY_0_STICKY: 'true' }, '1.4'),
    marathonApp('/ruled', { HAPROXY_0_BALANCE: 'roundrobin' }, '1.5'),
    marathonApp('/hashed', { HAPROXY_0_BALANCE: 'hdr(X-User)' }, '1.5'),
  ];
  const rules = [makeRule('/ruled', 'path_beg -i /ruled', { balance: 'static-rr', weight: '5', maxconn: '100', timeoutServer: '30s' })];
  const { view, text } = render(apps, rules, p);
  const shown = text.replace(renderer.templatePath, 'templates/haproxy.cfg.eta');
  if (process.env.UPDATE_GOLDEN) writeFileSync(golden, shown);
  t.equal(shown, readFileSync(golden, 'utf8'), 'matches test/fixtures/golden/backend-settings.cfg');
  // Checked where the test may write: the golden's paths moved into the test's directory.
  const here = (x: string): string => x.replaceAll('/run/culm/haproxy.cfg', paths.OutputPath);
  writeFileSync(paths.OutputPath, here(text));
  writeFileSync(here(view.RouteMap!.Path), view.RouteMap!.Text);
  t.match(execFileSync('haproxy', ['-c', '-f', paths.OutputPath], { encoding: 'utf8', stdio: 'pipe' }), /Configuration file is valid/);
});

t.test('the state saved before a reload names the file\'s weights as initial (a runtime weight never outlives the config)', async (t) => {
  const header = '1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change';
  const state = [header, '3 web 1 a 10.0.0.1 2 0 7 1 5', '3 web 2 b 10.0.0.2 2 0 3 1 5', '3 web 3 c 10.0.0.3 2 0 1 1 5', '4 api 1 x 10.0.0.9 2 0 4 2 5', ''].join('\n');
  const applied = ['global', '# a comment at the start of a line', 'backend web', '    balance leastconn',
    '    server a 10.0.0.1:80 check weight 7', '    server b 10.0.0.2:80 check', '    server c 10.0.0.3:80 weight 1', 'backend api', '    server x 10.0.0.9:80 maxconn 5 weight 4', ''].join('\n');
  const out = withIntendedWeights(state, applied).split('\n');
  t.equal(out[2], '3 web 1 a 10.0.0.1 2 0 7 7 5', 'culm set 7 at runtime: 7 is the initial weight now, so a config back at 1 wins');
  t.equal(out[3], '3 web 2 b 10.0.0.2 2 0 3 1 5', 'an operator\'s weight on a line without one: left to HAProxy');
  t.equal(out[4], '3 web 3 c 10.0.0.3 2 0 1 1 5', 'nothing changed at runtime: as it was');
  t.equal(out[5], '4 api 1 x 10.0.0.9 2 0 4 4 5', 'another backend, weight after another option');
  const untouched = [header, '3 web 1 a 10.0.0.1 2 0 1 1 5', ''].join('\n');
  t.equal(withIntendedWeights(untouched, applied), untouched, 'no runtime weight: the same text');
});
