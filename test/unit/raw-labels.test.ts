/**
 * marathon-lb's raw HAProxy labels (`HAPROXY_{n}_BACKEND_HEAD`, …) and the per-app template override, from app
 * JSON through the real mapping, view and default template: written only with HAProxy.TrustLabelConfig, only in
 * the app's own sections, never able to open a section; a refused value leaves its port out.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mapApps } from '../../src/core/marathon-map.js';
import { buildView, type HaproxyPaths } from '../../src/core/view.js';
import { rawLabelProblem, rawLines } from '../../src/core/raw-labels.js';
import { backendTemplateOf, partialNameProblem } from '../../src/core/backend-template.js';
import { Renderer } from '../../src/haproxy/render.js';
import { appAtFailure } from '../../src/pipeline/apply.js';
import { checkRule, makeRule } from '../../src/core/rules.js';
import { applySnapshot } from '../../src/core/state.js';
import { emptyState, type Rule } from '../../src/core/model.js';

const dir = mkdtempSync(join(tmpdir(), 'culm-raw-labels-'));
const base: HaproxyPaths = { HttpBind: '127.0.0.1:18080', StatsSocket: join(dir, 's'), PidFile: join(dir, 'p'), OutputPath: join(dir, 'haproxy.cfg') };
const bind = { groups: [], strict: false, servicePortBind: '127.0.0.1' };
const trusted: HaproxyPaths = { ...base, ServeGroups: { ...bind, trustLabelConfig: true } };
const untrusted: HaproxyPaths = { ...base, ServeGroups: bind };
const renderer = new Renderer(new URL('../../templates/haproxy.cfg.eta', import.meta.url).pathname);

function marathonApp(id: string, labels: Record<string, string>, servicePorts = [10000]): Record<string, unknown> {
  const task = { id: `${id.slice(1)}.t1`, host: '127.0.0.1', ports: servicePorts.map((_, i) => 31000 + i), state: 'TASK_RUNNING', startedAt: '2026-12-01T00:00:00Z' };
  return { id, instances: 1, labels, env: {}, healthChecks: [], tasks: [task], portDefinitions: servicePorts.map((port) => ({ port, protocol: 'tcp' })) };
}

function render(apps: Array<Record<string, unknown>>, paths: HaproxyPaths, rules: Rule[] = [], r = renderer) {
  const mapped = mapApps({ apps });
  const state = applySnapshot(emptyState(), mapped.apps, 1);
  const view = buildView(state, new Map(rules.map((rule) => [rule.id, rule])), paths);
  return { view, text: r.render(view), rejected: mapped.rejected };
}

/** One section's text, from its header to the next blank line. */
const section = (text: string, header: string): string => {
  const at = text.indexOf(`\n${header}\n`);
  if (at < 0) return '';
  const start = at + 1;
  const end = text.indexOf('\n\n', start);
  return text.slice(start, end < 0 ? undefined : end);
};

const check = (r: { text: string; view: ReturnType<typeof buildView> }): string => {
  writeFileSync(base.OutputPath, r.text);
  if (r.view.RouteMap) writeFileSync(r.view.RouteMap.Path, r.view.RouteMap.Text);
  return execFileSync('haproxy', ['-c', '-f', base.OutputPath], { encoding: 'utf8', stdio: 'pipe' });
};

t.test('a value that would leave its section is refused; lines that stay are not', async (t) => {
  const cases: Array<{ desc: string; kind?: Parameters<typeof rawLabelProblem>[0]; value: string; refused: RegExp | false }> = [
    { desc: 'one directive', value: 'http-response set-header X-A yes', refused: false },
    { desc: 'several lines, tabs, CRLF, a comment', value: '\thttp-response set-header X-A yes\r\n  # why\n  timeout server 5s\n', refused: false },
    { desc: 'marathon-lb\'s own template form: its header line is allowed', value: '\nbackend {backend}\n  balance {balance}\n  mode {mode}\n  http-response set-header X-A yes\n', refused: false },
    { desc: 'a second backend', value: 'http-response set-header X-A yes\nbackend other\n  server s 10.0.0.1:80', refused: /line 2 starts a new section \("backend"\)/ },
    { desc: 'the header after another line', value: 'option forwardfor\nbackend {backend}', refused: /line 2 starts a new section/ },
    { desc: 'a frontend header in BACKEND_HEAD', value: 'frontend {backend}', refused: /starts a new section \("frontend"\)/ },
    ...['global', 'defaults', 'listen', 'peers', 'resolvers', 'userlist', 'program', 'cache', 'ring', 'mailers', 'http-errors', 'log-forward', 'fcgi-app']
      .map((word) => ({ desc: `section ${word}`, value: `  ${word} x`, refused: /starts a new section/ })),
    { desc: 'a section keyword in capitals', value: 'GLOBAL', refused: /starts a new section/ },
    { desc: 'a conditional block', value: '.if defined(X)\n.endif', refused: /not a plain keyword/ },
    // HAProxy unquotes and unescapes a word before reading it as a section or a directive (found by review).
    ...['"global"', 'g"lobal"', '\\x67lobal', "'.if' 0", '".endif"', '$SECTION x']
      .map((word) => ({ desc: `a section or directive HAProxy reads after unquoting: ${word}`, value: `option forwardfor\n${word}\n  stats socket ipv4@0.0.0.0:9999 level admin`, refused: /line 2 starts with .* not a plain keyword/ })),
    { desc: 'a placeholder filled after the check (empty in a frontend)', kind: 'FRONTEND_HEAD', value: '{sslCert}backend evil', refused: /not a plain keyword/ },
    { desc: 'a placeholder that opens a directive', kind: 'FRONTEND_HEAD', value: '{bindOptions}.if 1', refused: /not a plain keyword/ },
    { desc: 'NUL', value: 'http-response set-header X-A a\u0000b', refused: /NUL/ },
    { desc: 'a control character made U+FFFD where the app came in', value: 'x\ufffdy', refused: /NUL or another control/ },
    { desc: 'another control character', value: 'x\u001by', refused: /control character/ },
    { desc: 'an unknown placeholder', value: 'http-response set-header X-A {host}', refused: /names \{host\}/ },
    { desc: 'braces of an anonymous ACL, as marathon-lb escapes them', value: 'http-request deny if {{ path_beg /admin }}', refused: false },
    { desc: 'BACKEND_HTTP_OPTIONS is not formatted (marathon-lb writes it as is)', kind: 'BACKEND_HTTP_OPTIONS', value: 'http-request add-header X-Forwarded-Proto https if { ssl_fc }', refused: false },
    { desc: 'FRONTEND_HEAD: marathon-lb\'s default', kind: 'FRONTEND_HEAD', value: '\nfrontend {backend}\n  bind {bindAddr}:{servicePort}{sslCert}{bindOptions}\n  mode {mode}\n', refused: false },
    { desc: 'FRONTEND_HEAD: a backend header is not its own', kind: 'FRONTEND_HEAD', value: 'backend {backend}', refused: /new section/ },
  ];
  for (const c of cases) {
    const why = rawLabelProblem(c.kind ?? 'BACKEND_HEAD', c.value);
    if (c.refused) t.match(why, c.refused, c.desc);
    else t.equal(why, '', c.desc);
  }
});

t.test('lines as written: placeholders filled, marathon-lb\'s header and culm\'s own lines dropped, indented', async (t) => {
  t.same(rawLines('BACKEND_HEAD', '\nbackend {backend}\n  balance {balance}\n  mode {mode}\n\thttp-response set-header X-B {{x}}\n', { backend: '::web-cluster', balance: 'leastconn', mode: 'http' }, ['balance leastconn', 'mode http']),
    ['    http-response set-header X-B {x}'], 'the template form adds only the new line');
  t.same(rawLines('BACKEND_HEAD', 'balance roundrobin', { balance: 'leastconn' }, ['balance leastconn']), ['    balance roundrobin'], 'a different balance is kept (it comes after culm\'s)');
  t.same(rawLines('BACKEND_HTTP_OPTIONS', 'http-request add-header X-P https if { ssl_fc }', {}), ['    http-request add-header X-P https if { ssl_fc }'], 'unformatted: braces as given');
  t.same(rawLines('FRONTEND_HEAD', 'frontend {backend}\n bind {bindAddr}:{servicePort}{sslCert}{bindOptions}\n mode {mode}\n option tcplog', { backend: 'b', bindAddr: '*', servicePort: 10001, mode: 'tcp', sslCert: '', bindOptions: '' }, ['bind *:10001', 'mode tcp']),
    ['    option tcplog']);
});

t.test('HAProxy.TrustLabelConfig off: the labels are ignored, the app routes, and the view says so', async (t) => {
  const { text, view, rejected } = render([marathonApp('/web', { HAPROXY_0_BACKEND_HEAD: 'http-response set-header X-Culm-Test yes\nbackend evil' })], untrusted);
  t.notMatch(text, /X-Culm-Test|backend evil/, 'nothing of the label is written');
  t.match(section(text, 'backend ::web-cluster'), /server /, 'the app is served');
  t.same(view.LabelConfigNotes['/web'], { refused: false, note: 'HAPROXY_0_BACKEND_HEAD' }, 'the note names the ignored label');
  t.same(rejected, [], 'a newline in a raw label is not a refused value where the app comes in');
  t.equal(view.Apps[0].Labels.HAPROXY_0_BACKEND_HEAD, 'http-response set-header X-Culm-Test yes\ufffdbackend evil', 'untrusted, the label reaches a template on one line (its newline made U+FFFD, as any label\'s control character)');
});

t.test('service ports not bound: a frontend-only raw label is ignored, and still reaches Labels on one line', async (t) => {
  const unbound: HaproxyPaths = { ...base, ServeGroups: { groups: [], strict: false } };
  const apps = [marathonApp('/web', { HAPROXY_0_FRONTEND_HEAD: 'x\nbackend evil', HAPROXY_0_BIND_OPTIONS: 'a\rb' })];
  const mapped = mapApps({ apps }, false);
  const state = applySnapshot(emptyState(), mapped.apps, 1);
  for (const paths of [unbound, { ...unbound, ServeGroups: { ...unbound.ServeGroups!, trustLabelConfig: true } }]) {
    const view = buildView(state, new Map(), paths);
    const text = renderer.render(view);
    t.notMatch(text, /backend evil/, 'nothing of the label is written');
    t.equal(view.Apps[0].Labels.HAPROXY_0_FRONTEND_HEAD, 'x\ufffdbackend evil', 'its newline made U+FFFD for a template that prints Labels');
    t.equal(view.Apps[0].Labels.HAPROXY_0_BIND_OPTIONS, 'a\ufffdb');
  }
});

t.test('HAProxy.TrustLabelConfig on: each label lands in the app\'s own section, and HAProxy accepts it', async (t) => {
  const apps = [
    marathonApp('/web', {
      HAPROXY_0_BACKEND_HEAD: '\nbackend {backend}\n  balance {balance}\n  mode {mode}\n  http-response set-header X-Culm-Test yes\n',
      HAPROXY_0_BACKEND_HTTP_OPTIONS: '  option forwardfor except 127.0.0.0/8\n  http-request set-header X-Forwarded-Port %[dst_port]\n',
      HAPROXY_1_MODE: 'tcp',
      HAPROXY_1_BACKEND_HEAD: 'timeout server 5s',
      HAPROXY_1_FRONTEND_HEAD: '\nfrontend {backend}\n  bind {bindAddr}:{servicePort}{sslCert}{bindOptions}\n  mode {mode}\n  timeout client 7s\n',
      HAPROXY_1_FRONTEND_BACKEND_GLUE: '  use_backend {backend} if { src 127.0.0.0/8 }\n',
    }, [10001, 10002]),
    marathonApp('/other', {}, [10003]),
  ];
  const rendered = render(apps, trusted);
  const { text, view } = rendered;
  const b0 = section(text, 'backend ::web-cluster');
  t.match(b0, /balance leastconn\n {4}http-response set-header X-Culm-Test yes\n {4}option forwardfor except 127\.0\.0\.0\/8\n {4}http-request set-header X-Forwarded-Port %\[dst_port\]\n/, 'port 0\'s backend: the head, then the HTTP options');
  t.notMatch(b0, /option forwardfor\n/, 'the HTTP options replace culm\'s option forwardfor');
  t.equal((b0.match(/balance/g) ?? []).length, 1, 'marathon-lb\'s own head lines add nothing twice');
  t.match(section(text, 'backend ::web-1-cluster'), /mode tcp\n {4}balance leastconn\n {4}timeout server 5s\n/, 'port 1\'s backend gets port 1\'s head');
  const f1 = section(text, 'frontend ::web-port-10002');
  t.match(f1, /bind 127\.0\.0\.1:10002\n {4}mode tcp\n/, 'port 1\'s frontend');
  t.match(f1, /timeout client 7s\n {4}use_backend ::web-1-cluster if \{ src 127\.0\.0\.0\/8 \}$/, 'its head, then the glue');
  t.notMatch(f1, /default_backend/, 'the glue replaces default_backend');
  t.equal((f1.match(/bind /g) ?? []).length, 1, 'marathon-lb\'s bind line is culm\'s: not written twice');
  t.notMatch(section(text, 'frontend ::web-port-10001'), /timeout client/, 'port 0\'s frontend is untouched');
  t.notMatch(section(text, 'frontend http-in'), /X-Culm-Test|timeout client 7s|src 127/, 'nothing in the shared frontend');
  t.notMatch(section(text, 'backend ::other-cluster'), /X-Culm-Test|timeout server 5s/, 'nothing in another app\'s backend');
  t.same(view.LabelConfigNotes, {}, 'nothing to tell');
  t.match(check(rendered), /Configuration file is valid/);
});

t.test('a refused raw label leaves its port out, only that one, and says why', async (t) => {
  const apps = [
    marathonApp('/a', { HAPROXY_0_BACKEND_HEAD: 'http-response set-header X-A a\nglobal\n  maxconn 1' }),
    marathonApp('/b', { HAPROXY_1_FRONTEND_HEAD: 'timeout client 1s\nlisten x' }, [10011, 10012]),
    marathonApp('/c', { HAPROXY_0_BACKEND_HEAD: 'http-response set-header X-C c' }, [10021]),
  ];
  const rendered = render(apps, trusted);
  const { text, view } = rendered;
  t.match(view.NotServed['/a'], /label HAPROXY_0_BACKEND_HEAD line 2 starts a new section \("global"\).*: port 0 left out/, 'port 0 refused: the app is not rendered');
  t.notMatch(text, /::a-cluster|maxconn 1/);
  t.match(view.Apps.find((a) => a.Id === '/b')!.Ports[1].NotServed, /HAPROXY_1_FRONTEND_HEAD line 2 starts a new section \("listen"\)/, 'port 1 refused');
  t.match(text, /frontend ::b-port-10011\n/, '/b port 0 still has its frontend');
  t.notMatch(text, /::b-port-10012|listen x/, 'port 1 has none');
  t.match(section(text, 'backend ::c-cluster'), /http-response set-header X-C c/, 'another app\'s raw lines are written');
  t.equal(view.LabelConfigNotes['/a'].refused, true);
  t.equal(view.LabelConfigNotes['/c'], undefined, 'an accepted label is nothing to tell');
  t.match(check(rendered), /Configuration file is valid/);
});

t.test('where the app comes in: a raw label keeps newlines and tabs, not other control characters', async (t) => {
  const kept = render([marathonApp('/a', { HAPROXY_0_BACKEND_HEAD: 'a\n\tb\r\n', HAPROXY_0_VHOST: 'a.example.com' })], trusted);
  t.same(kept.rejected, [], 'newlines, tabs and CRLF are a raw label\'s');
  const esc = render([marathonApp('/a', { HAPROXY_0_BACKEND_HEAD: 'http-response set-header X-A \u001b[31m' }), marathonApp('/b', {}, [10001])], trusted);
  t.match(esc.rejected, [{ appId: '/a', field: 'label', reason: /HAPROXY_0_BACKEND_HEAD.*its port is left out/ }], 'an escape is refused where the app comes in');
  t.match(esc.view.NotServed['/a'], /contains a NUL or another control character: port 0 left out/, 'and its port left out when written');
  t.match(esc.text, /backend ::b-cluster/, 'the other app renders');
  const vhost = render([marathonApp('/a', { HAPROXY_0_VHOST: 'a.example.com\nbackend x' })], trusted);
  t.match(vhost.rejected, [{ appId: '/a', field: 'label' }], 'other HAPROXY_ labels still may not hold a newline');
});

t.test('template override: names checked, the rule wins over the label', async (t) => {
  t.equal(partialNameProblem('mine.eta'), '');
  for (const bad of ['../x.eta', 'a/b.eta', 'x.cfg', '.eta', 'a..b.eta', '', 'x y.eta']) t.match(partialNameProblem(bad), /not a partial's file name/, JSON.stringify(bad));
  const app = mapApps({ apps: [marathonApp('/web', { HAPROXY_TEMPLATE: 'label.eta' })] }).apps[0];
  t.same(backendTemplateOf(app, undefined, true), { name: 'label.eta', problem: '' }, 'the label (HAProxy.TrustLabelConfig on)');
  t.same(backendTemplateOf(app, undefined), { name: '', problem: '' }, 'without the trust setting the label chooses nothing: any app owner could pick a partial written for another app');
  t.same(backendTemplateOf(app, makeRule('/web', 'path_beg /w', { template: 'rule.eta' })), { name: 'rule.eta', problem: '' }, 'the rule wins, trusted or not');
  const bad = mapApps({ apps: [marathonApp('/web', { HAPROXY_TEMPLATE: '../../etc/passwd' })] }).apps[0];
  t.match(backendTemplateOf(bad, undefined, true).problem, /label HAPROXY_TEMPLATE "\.\.\/\.\.\/etc\/passwd" is not a partial's file name.*app left out/);
  t.throws(() => checkRule(makeRule('/web', 'path_beg /w', { template: '/etc/x.eta' })), { name: 'CulmError', code: 'E_RULE_INVALID', status: 400 }, 'a rule with a bad name: 400 E_RULE_INVALID');
});

t.test('template override: the partial renders that app\'s backends only; one that throws names its app', async (t) => {
  const tdir = mkdtempSync(join(tmpdir(), 'culm-raw-templates-'));
  const templates = new URL('../../templates/', import.meta.url).pathname;
  for (const f of readdirSync(templates)) copyFileSync(join(templates, f), join(tdir, f));
  writeFileSync(join(tdir, 'mine.eta'), "<%~ include('./backend.eta', it) -%>\n    http-response set-header X-Override <%= it.app.EscapedId %>\n");
  writeFileSync(join(tdir, 'broken.eta'), '<% throw new Error("broken partial") %>');
  const r = new Renderer(join(tdir, 'haproxy.cfg.eta'));
  t.equal(r.hasPartial('mine.eta'), true);
  t.equal(r.hasPartial('missing.eta'), false);
  const apps = [marathonApp('/a', { HAPROXY_TEMPLATE: 'mine.eta' }), marathonApp('/b', {}, [10001])];
  const rendered = render(apps, trusted, [], r);
  const { text } = rendered;
  t.match(section(text, 'backend ::a-cluster'), /server [^\n]+\n {4}http-response set-header X-Override ::a$/, 'the partial\'s lines in /a\'s backend');
  t.notMatch(section(text, 'backend ::b-cluster'), /X-Override/, 'not in /b\'s');
  t.match(check(rendered), /Configuration file is valid/);
  const byRule = render([marathonApp('/b', {}, [10001])], trusted, [makeRule('/b', 'path_beg /b', { template: 'mine.eta' })], r);
  t.match(section(byRule.text, 'backend ::b-cluster'), /X-Override ::b/, 'a rule\'s Config.template');
  for (const name of ['broken.eta', 'missing.eta']) {
    t.throws(() => render([marathonApp('/a', { HAPROXY_TEMPLATE: name }), marathonApp('/b', {}, [10001])], trusted, [], r),
      { appId: '/a', code: 'E_TEMPLATE', message: new RegExp(`app /a: its template ${name} failed`) }, `${name}: the error names the app`);
  }
});

t.test('a check failure in an app\'s own sections names that app (appAtFailure)', async (t) => {
  const { text, view } = render([
    marathonApp('/a', {}, [10031]),
    marathonApp('/web', { HAPROXY_1_BACKEND_HEAD: 'no-such-directive', HAPROXY_1_FRONTEND_BACKEND_GLUE: 'use_backend nowhere' }, [10001, 10002]),
  ], trusted);
  const line = text.split('\n').indexOf('    no-such-directive') + 1;
  t.ok(line > 0);
  t.same(appAtFailure(`parsing [haproxy.cfg:${line}] : unknown keyword 'no-such-directive' in 'backend' section`, text, view), { id: '/web', inRule: false }, 'a line in port 1\'s backend');
  t.same(appAtFailure("config : Proxy '::web-port-10002': unable to find required use_backend: 'nowhere'.", text, view), { id: '/web', inRule: false }, 'no line: the proxy named');
  t.same(appAtFailure("config : Proxy 'http-in': unable to find required use_backend: 'x'.", text, view), null, 'a proxy no app owns');
});

t.test('without the trust setting, a template that prints Labels gets no raw newline', async (t) => {
  const app = mapApps({ apps: [marathonApp('/a', { HAPROXY_0_BACKEND_HEAD: 'http-response set-header X-A yes\nhttp-response set-header X-B yes' })] }).apps[0];
  const untrusted = buildView(applySnapshot(emptyState(), [app], 1), new Map(), base).Apps[0];
  t.notMatch(untrusted.Labels.HAPROXY_0_BACKEND_HEAD, /\n/, 'one line for a template');
  const trustedView = buildView(applySnapshot(emptyState(), [app], 1), new Map(), trusted).Apps[0];
  t.match(trustedView.Labels.HAPROXY_0_BACKEND_HEAD, /\n/, 'trusted: as Marathon has it');
});
