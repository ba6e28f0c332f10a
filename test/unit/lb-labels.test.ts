/**
 * marathon-lb's labels, from app JSON as Marathon serves it (1.4 `ports` and 1.5+ `portDefinitions` /
 * `portMappings`) through the real mapping, view and default template to the config lines they must give.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mapApps } from '../../src/core/marathon-map.js';
import { buildView, type HaproxyPaths } from '../../src/core/view.js';
import { groupRefusal, portsOf } from '../../src/core/lb-labels.js';
import { sameRoute } from '../../src/core/routing.js';
import { diffViews } from '../../src/core/diff.js';
import { Renderer } from '../../src/haproxy/render.js';
import { makeRule } from '../../src/core/rules.js';
import { applySnapshot } from '../../src/core/state.js';
import { emptyState, type Rule } from '../../src/core/model.js';
import { requireBinary } from '../helpers/processes.js';

const dir = mkdtempSync(join(tmpdir(), 'culm-lb-labels-'));
const paths: HaproxyPaths = { HttpBind: '127.0.0.1:18080', StatsSocket: join(dir, 's'), PidFile: join(dir, 'p'), OutputPath: join(dir, 'haproxy.cfg') };
const renderer = new Renderer(new URL('../../templates/haproxy.cfg.eta', import.meta.url).pathname);

type Shape = '1.4' | '1.5';

/** An app as Marathon's GET /v2/apps?embed=apps.tasks gives it, in either shape, with one running task per port. */
function marathonApp(id: string, labels: Record<string, string>, shape: Shape, servicePorts = [10000]): Record<string, unknown> {
  const task = { id: `${id.slice(1).replace(/\//g, '_')}.t1`, host: '127.0.0.1', ports: servicePorts.map((_, i) => 31000 + i), state: 'TASK_RUNNING', startedAt: '2026-12-01T00:00:00Z' };
  const app: Record<string, unknown> = { id, instances: 1, labels, env: {}, healthChecks: [], tasks: [task] };
  if (shape === '1.4') app.ports = servicePorts;
  else app.portDefinitions = servicePorts.map((port) => ({ port, protocol: 'tcp' }));
  return app;
}

function render(apps: Array<Record<string, unknown>>, opts: { rules?: Rule[]; paths?: HaproxyPaths } = {}) {
  const mapped = mapApps({ apps }, opts.paths?.ServeGroups?.servicePortBind !== undefined);
  const state = applySnapshot(emptyState(), mapped.apps, 1);
  const view = buildView(state, new Map((opts.rules ?? []).map((r) => [r.id, r])), opts.paths ?? paths);
  return { view, text: renderer.render(view), rejected: mapped.rejected };
}

/** The frontend's lines, trimmed, without comments. */
const frontend = (text: string): string[] => {
  const body = text.slice(text.indexOf('frontend http-in'), text.indexOf('\nbackend '));
  return body.split('\n').slice(2).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
};

/** One backend section's text. */
const backendOf = (text: string, name: string): string => {
  const start = text.indexOf(`backend ${name}\n`);
  const end = text.indexOf('\nbackend ', start + 1);
  return start < 0 ? '' : text.slice(start, end < 0 ? undefined : end);
};

t.test('labels to config lines, both Marathon shapes', async (t) => {
  const cases: Array<{ desc: string; labels: Record<string, string>; rule?: string; lines: string[]; absent?: RegExp; backend?: RegExp; mapLines?: string[] }> = [
    {
      desc: 'HAPROXY_0_VHOST: Host without its port, any case',
      labels: { HAPROXY_0_VHOST: 'web.example.com' },
      lines: ['acl ::web-0-host hdr(host),field(1,:),lower -m str web.example.com', 'use_backend ::web-cluster if ::web-0-host'],
      absent: /path_beg -i \/web/,
    },
    {
      desc: 'several vhosts, spaces and capitals as users write them',
      labels: { HAPROXY_0_VHOST: 'Web.Example.com, api.example.com' },
      lines: ['acl ::web-0-host hdr(host),field(1,:),lower -m str web.example.com api.example.com', 'use_backend ::web-cluster if ::web-0-host'],
    },
    {
      desc: 'HAPROXY_0_PATH alone: a path prefix like any other (case-insensitive, in the route map, by length)',
      labels: { HAPROXY_0_PATH: '/api' },
      lines: [],
      mapLines: ['/api ::web-cluster'],
      absent: /::web-0-path|path_beg -i \/web/,
    },
    {
      desc: 'vhost and path: both must match',
      labels: { HAPROXY_0_VHOST: 'web.example.com', HAPROXY_0_PATH: '/api' },
      lines: ['acl ::web-0-host hdr(host),field(1,:),lower -m str web.example.com', 'acl ::web-0-path path_beg /api', 'use_backend ::web-cluster if ::web-0-host ::web-0-path'],
    },
    {
      desc: 'HAPROXY_0_REDIRECT_TO_HTTPS: in the app\'s backend, the route unchanged',
      labels: { HAPROXY_0_VHOST: 'web.example.com', HAPROXY_0_REDIRECT_TO_HTTPS: 'true' },
      lines: ['use_backend ::web-cluster if ::web-0-host'],
      backend: /backend ::web-cluster\n\s+balance leastconn\n\s+option forwardfor\n\s+#[^\n]*\n\s+http-request redirect scheme https code 301 if !\{ ssl_fc \}\n/,
    },
    {
      desc: 'redirect on the default route: the route stays in the map',
      labels: { HAPROXY_0_REDIRECT_TO_HTTPS: 'yes' },
      lines: [],
      absent: /acl ::web/,
      backend: /backend ::web-cluster\n[^]*http-request redirect scheme https code 301 if !\{ ssl_fc \}\n/,
    },
    {
      desc: 'a REST rule wins over the labels',
      labels: { HAPROXY_0_VHOST: 'web.example.com', HAPROXY_0_PATH: '/api' },
      rule: 'hdr(host) -i rule.example.com',
      lines: ['acl ::web-aclrule hdr(host) -i rule.example.com', 'use_backend ::web-cluster if ::web-aclrule'],
      absent: /-0-host|-0-path/,
    },
    {
      desc: 'no label, no rule: Bamboo\'s default, in the map',
      labels: { HAPROXY_GROUP: 'external', HAPROXY_0_REDIRECT_TO_HTTPS: 'false' },
      lines: [],
      absent: /acl ::web|http-request redirect/,
    },
    {
      desc: 'a wildcard vhost: Host: ending with .<domain> (any depth, never the domain itself), without its port',
      labels: { HAPROXY_0_VHOST: '*.Example.com' },
      lines: ['acl ::web-0-wildcard_example.com hdr(host),field(1,:),lower -m end .example.com', 'use_backend ::web-cluster if ::web-0-wildcard_example.com'],
      absent: /-m str|path_beg -i \/web/,
    },
    {
      desc: 'a domain and its wildcard: the exact host and each wildcard a route of their own',
      labels: { HAPROXY_0_VHOST: '*.example.com, example.com, *.eu.example.com, www.example.org' },
      lines: [
        'acl ::web-0-host hdr(host),field(1,:),lower -m str example.com www.example.org',
        'acl ::web-0-wildcard_example.com hdr(host),field(1,:),lower -m end .example.com',
        'acl ::web-0-wildcard_eu.example.com hdr(host),field(1,:),lower -m end .eu.example.com',
        'use_backend ::web-cluster if ::web-0-host',
        'use_backend ::web-cluster if ::web-0-wildcard_eu.example.com',
        'use_backend ::web-cluster if ::web-0-wildcard_example.com',
      ],
    },
    {
      desc: 'a wildcard and a path: both must match, each wildcard with its own path ACL',
      labels: { HAPROXY_0_VHOST: '*.example.com,*.example.org', HAPROXY_0_PATH: '/api' },
      lines: [
        'acl ::web-0-wildcard_example.com hdr(host),field(1,:),lower -m end .example.com', 'acl ::web-0-wildcard_example.com_path path_beg /api',
        'acl ::web-0-wildcard_example.org hdr(host),field(1,:),lower -m end .example.org', 'acl ::web-0-wildcard_example.org_path path_beg /api',
        'use_backend ::web-cluster if ::web-0-wildcard_example.com ::web-0-wildcard_example.com_path',
        'use_backend ::web-cluster if ::web-0-wildcard_example.org ::web-0-wildcard_example.org_path',
      ],
      absent: /::web-0-path|::web-0-host/,
    },
    {
      desc: 'a REST rule wins over a wildcard label too',
      labels: { HAPROXY_0_VHOST: '*.example.com' },
      rule: 'hdr(host) -i rule.example.com',
      lines: ['acl ::web-aclrule hdr(host) -i rule.example.com', 'use_backend ::web-cluster if ::web-aclrule'],
      absent: /wildcard|-m end/,
    },
    {
      desc: 'HAPROXY_1_VHOST with a wildcard: to port 1\'s backend',
      labels: { HAPROXY_1_VHOST: 'other.example.com,*.other.example.com' },
      lines: ['acl ::web-1-wildcard_other.example.com hdr(host),field(1,:),lower -m end .other.example.com', 'use_backend ::web-1-cluster if ::web-1-host', 'use_backend ::web-1-cluster if ::web-1-wildcard_other.example.com'],
      absent: /use_backend ::web-cluster if/,
    },
    {
      desc: 'HAPROXY_1_VHOST routes port 1 in the main frontend, to its own backend (marathon-lb); port 0 unchanged',
      labels: { HAPROXY_1_VHOST: 'other.example.com' },
      lines: ['acl ::web-1-host hdr(host),field(1,:),lower -m str other.example.com', 'use_backend ::web-1-cluster if ::web-1-host'],
      absent: /use_backend ::web-cluster if/,
      backend: /backend ::web-1-cluster\n(?:\s+[^\n]+\n)*?\s+server ::web-127\.0\.0\.1-31001 127\.0\.0\.1:31001\n/,
    },
  ];
  for (const shape of ['1.4', '1.5'] as const) {
    for (const c of cases) {
      const { view, text, rejected } = render([marathonApp('/web', c.labels, shape, [10000, 10001]), marathonApp('/other', {}, shape)], {
        rules: c.rule ? [makeRule('/web', c.rule)] : [],
      });
      const lines = frontend(text);
      t.same(rejected, [], `${shape} ${c.desc}: nothing refused`);
      for (const line of c.lines) t.ok(lines.includes(line), `${shape} ${c.desc}: ${line}`);
      if (c.absent) t.notMatch(lines.join('\n'), c.absent, `${shape} ${c.desc}: nothing else`);
      for (const line of c.mapLines ?? []) t.match(view.RouteMap?.Text ?? '', new RegExp(`^${line}$`, 'm'), `${shape} ${c.desc}: map ${line}`);
      if (c.backend) t.match(text, c.backend, `${shape} ${c.desc}: backend lines`);
      else t.notMatch(text, /http-request redirect/, `${shape} ${c.desc}: no redirect`);
      t.match(text, /backend ::web-cluster\n[^]*server ::web-127\.0\.0\.1-31000 127\.0\.0\.1:31000/, `${shape} ${c.desc}: the backend is there`);
      t.match(view.RouteMap?.Text ?? '', /^\/other ::other-cluster$/m, `${shape} ${c.desc}: the other app keeps its map entry`);
      const web = view.Apps.find((a) => a.Id === '/web')!;
      t.same(web.Ports.map((p) => p.ServicePort), [10000, 10001], `${shape} ${c.desc}: both service ports in the view`);
    }
  }
});

t.test('per-port view: index, service port, mode, vhosts, path, groups, redirect', async (t) => {
  const labels = {
    HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'a.example.com', HAPROXY_1_MODE: 'TCP', HAPROXY_1_GROUP: 'internal,db',
    HAPROXY_1_REDIRECT_TO_HTTPS: '1', HAPROXY_1_PATH: '/x',
  };
  // 1.5+ with Docker bridge networking: the service ports come from portMappings.
  const raw: Record<string, unknown> = { ...marathonApp('/db', labels, '1.5', []), container: { type: 'DOCKER', portMappings: [{ containerPort: 80, servicePort: 10100 }, { containerPort: 5432, servicePort: 10101 }] } };
  delete raw.portDefinitions;
  const { view } = render([raw], { paths: { ...paths, ServeGroups: { groups: [], strict: false, servicePortBind: '127.0.0.1' } } });
  t.same(view.Apps[0].Ports, [
    { Index: 0, ServicePort: 10100, Mode: 'http', Vhosts: ['a.example.com'], Path: '', Groups: ['external'], RedirectToHttps: false, NotServed: '', Backend: '::db-cluster', Settings: {}, SslCert: '', SslCertRefused: false, BindAddr: '', Hsts: false },
    { Index: 1, ServicePort: 10101, Mode: 'tcp', Vhosts: [], Path: '/x', Groups: ['internal', 'db'], RedirectToHttps: true, NotServed: '', Backend: '::db-1-cluster', Settings: {}, SslCert: '', SslCertRefused: false, BindAddr: '', Hsts: false },
  ]);
  const off = render([raw]).view.Apps[0].Ports[1];
  t.equal(off.Mode, 'http', 'HAProxy.BindServicePorts off: HAPROXY_{n}_MODE=tcp is not rendered (no frontend to carry it)');
});

t.test('a wildcard over one label beside other hosts: that host left out alone, the app keeps the others', async (t) => {
  for (const shape of ['1.4', '1.5'] as const) {
    const { view, text, rejected } = render([marathonApp('/web', { HAPROXY_0_VHOST: 'web.example.com,*.mesos,*.api.example.com' }, shape), marathonApp('/ok', { HAPROXY_0_VHOST: 'ok.example.com' }, shape)]);
    t.same(view.Apps.map((a) => a.Id), ['/ok', '/web'], `${shape}: both apps rendered`);
    t.same(view.Apps[1].Ports[0].Vhosts, ['web.example.com', '*.api.example.com'], `${shape}: the other hosts kept`);
    t.equal(view.Apps[1].NotServed, '', `${shape}: the port is served`);
    t.notMatch(text, /\.mesos/, `${shape}: nothing of the one-label wildcard in the config`);
    t.match(text, /web\.example\.com/, `${shape}: the exact host routes`);
    t.same(rejected.map((r) => [r.appId, r.field]), [['/web', 'lb_label']], `${shape}: counted once as a refused value`);
    t.match(rejected[0].reason, /HAPROXY_0_VHOST "\*\.mesos" is a wildcard over one label.*that host left out/, `${shape}: the reason names the host`);
  }
});

t.test('a bad label leaves that port out, with the reason; never another app', async (t) => {
  const bound: HaproxyPaths = { ...paths, ServeGroups: { groups: [], strict: false, servicePortBind: '127.0.0.1' } };
  const bad: Array<{ desc: string; labels: Record<string, string>; label: string; paths?: HaproxyPaths }> = [
    { desc: 'vhost with a port', labels: { HAPROXY_0_VHOST: 'web.example.com:80' }, label: 'HAPROXY_0_VHOST' },
    { desc: 'vhost with a space inside', labels: { HAPROXY_0_VHOST: 'web example.com' }, label: 'HAPROXY_0_VHOST' },
    { desc: 'vhost with a path', labels: { HAPROXY_0_VHOST: 'web.example.com/x' }, label: 'HAPROXY_0_VHOST' },
    { desc: 'a lone * (no domain)', labels: { HAPROXY_0_VHOST: '*' }, label: 'HAPROXY_0_VHOST' },
    { desc: 'a wildcard inside the name', labels: { HAPROXY_0_VHOST: 'a.*.com' }, label: 'HAPROXY_0_VHOST' },
    { desc: 'a wildcard without its dot', labels: { HAPROXY_0_VHOST: '*example.com' }, label: 'HAPROXY_0_VHOST' },
    { desc: 'two wildcards', labels: { HAPROXY_0_VHOST: '*.*.example.com' }, label: 'HAPROXY_0_VHOST' },
    { desc: 'a wildcard at the end', labels: { HAPROXY_0_VHOST: 'example.*' }, label: 'HAPROXY_0_VHOST' },
    { desc: 'a wildcard over nothing', labels: { HAPROXY_0_VHOST: '*.' }, label: 'HAPROXY_0_VHOST' },
    { desc: 'a wildcard over a top-level domain (every .com request no exact host names)', labels: { HAPROXY_0_VHOST: '*.com' }, label: 'HAPROXY_0_VHOST' },
    { desc: 'wildcards over one label only', labels: { HAPROXY_0_VHOST: '*.local,*.mesos' }, label: 'HAPROXY_0_VHOST' },
    { desc: 'a wildcard over an address', labels: { HAPROXY_0_VHOST: '*.0.0.1' }, label: 'HAPROXY_0_VHOST' },
    { desc: 'a wildcard with a port', labels: { HAPROXY_0_VHOST: '*.example.com:80' }, label: 'HAPROXY_0_VHOST' },
    { desc: 'a bad wildcard beside good hosts', labels: { HAPROXY_0_VHOST: 'web.example.com,*.example.com,*x.example.com' }, label: 'HAPROXY_0_VHOST' },
    { desc: 'vhost with a quote', labels: { HAPROXY_0_VHOST: "web'.example.com" }, label: 'HAPROXY_0_VHOST' },
    { desc: 'empty vhost list', labels: { HAPROXY_0_VHOST: ' , ' }, label: 'HAPROXY_0_VHOST' },
    { desc: 'path not starting with /', labels: { HAPROXY_0_PATH: 'api' }, label: 'HAPROXY_0_PATH' },
    { desc: 'path with a space', labels: { HAPROXY_0_PATH: '/a b' }, label: 'HAPROXY_0_PATH' },
    { desc: 'path with #', labels: { HAPROXY_0_PATH: '/a#b' }, label: 'HAPROXY_0_PATH' },
    { desc: 'path with a quote', labels: { HAPROXY_0_PATH: '/a"b' }, label: 'HAPROXY_0_PATH' },
    { desc: 'redirect not a boolean', labels: { HAPROXY_0_REDIRECT_TO_HTTPS: 'maybe' }, label: 'HAPROXY_0_REDIRECT_TO_HTTPS' },
    // Only service ports' own frontends read it: HAProxy.BindServicePorts off, it is ignored (bind-labels.test.ts).
    { desc: 'mode neither http nor tcp', labels: { HAPROXY_0_MODE: 'udp' }, label: 'HAPROXY_0_MODE', paths: bound },
  ];
  for (const shape of ['1.4', '1.5'] as const) {
    for (const c of bad) {
      const { view, text, rejected } = render([marathonApp('/web', c.labels, shape), marathonApp('/ok', { HAPROXY_0_VHOST: 'ok.example.com' }, shape)], c.paths ? { paths: c.paths } : {});
      t.same(view.Apps.map((a) => a.Id), ['/ok'], `${shape} ${c.desc}: the app is not rendered, the other is`);
      t.notMatch(text, /::web-/, `${shape} ${c.desc}: no backend, no route`);
      t.match(text, 'use_backend ::ok-cluster if ::ok-0-host', `${shape} ${c.desc}: the other app routes`);
      t.match(view.NotServed['/web'], c.label, `${shape} ${c.desc}: the reason names the label`);
      t.same(rejected.map((r) => [r.appId, r.field]), [['/web', 'lb_label']], `${shape} ${c.desc}: counted once as a refused value`);
    }
  }
  // A control character: the label is not dropped (its port would route another way), its port is left out.
  for (const [desc, value] of [['a newline and a directive', 'web.example.com\n    bind :1'], ['a line separator', 'web.example.com\u2028']]) {
    const { view, text, rejected } = render([marathonApp('/web', { HAPROXY_0_VHOST: value }, '1.5'), marathonApp('/ok', {}, '1.5')]);
    t.same(view.Apps.map((a) => a.Id), ['/ok'], `${desc}: the app is not rendered`);
    t.notMatch(text, /bind :1|::web-/, `${desc}: nothing of it in the config`);
    t.same(rejected.map((r) => r.field), ['label', 'lb_label'], `${desc}: refused, and its port left out`);
  }
  const other = render([marathonApp('/web', { note: 'a\nb' }, '1.4')]);
  t.same(other.view.Apps[0].Labels, {}, 'any other label with a control character is left out, as before');
  t.match(other.text, /::web-cluster/);

  // A bad label on port 1 leaves port 1 out; port 0 is served.
  const { view } = render([marathonApp('/two', { HAPROXY_1_VHOST: 'x:1', HAPROXY_0_VHOST: 'two.example.com' }, '1.5', [10000, 10001])]);
  const two = view.Apps.find((a) => a.Id === '/two')!;
  t.equal(two.Ports[0].NotServed, '', 'port 0 served');
  t.match(two.Ports[1].NotServed, /HAPROXY_1_VHOST/, 'port 1 left out, with the reason');
  t.same(portsOf(mapApps({ apps: [marathonApp('/p', { HAPROXY_0_VHOST: 'x:1' }, '1.4')] }).apps[0]).problems.map((p) => p.label), ['HAPROXY_0_VHOST']);
});

t.test('groups: which apps this edge serves (HAProxy.Group, StrictGroups, HAPROXY_{n}_GROUP)', async (t) => {
  const apps = [
    marathonApp('/ext', { HAPROXY_GROUP: 'external' }, '1.4'),
    marathonApp('/int', { HAPROXY_GROUP: 'internal' }, '1.5'),
    marathonApp('/both', { HAPROXY_GROUP: 'internal, external' }, '1.4'),
    marathonApp('/plain', {}, '1.5'),
    marathonApp('/port', { HAPROXY_GROUP: 'internal', HAPROXY_0_GROUP: 'external' }, '1.4'),
    marathonApp('/portout', { HAPROXY_GROUP: 'external', HAPROXY_0_GROUP: 'internal' }, '1.5'),
  ];
  const cases: Array<{ desc: string; groups: string[]; strict: boolean; served: string[] }> = [
    { desc: 'no group setting: every app (Bamboo)', groups: [], strict: false, served: ['/both', '/ext', '/int', '/plain', '/port', '/portout'] },
    { desc: 'external, not strict: matching and unlabelled apps', groups: ['external'], strict: false, served: ['/both', '/ext', '/plain', '/port'] },
    { desc: 'external, strict: matching apps only (marathon-lb)', groups: ['external'], strict: true, served: ['/both', '/ext', '/port'] },
    { desc: 'two groups', groups: ['internal', 'external'], strict: true, served: ['/both', '/ext', '/int', '/port', '/portout'] },
    { desc: '*: every app, labelled or not', groups: ['*'], strict: true, served: ['/both', '/ext', '/int', '/plain', '/port', '/portout'] },
  ];
  for (const c of cases) {
    const { view, text } = render(apps, { paths: { ...paths, ServeGroups: { groups: c.groups, strict: c.strict } } });
    t.same(view.Apps.map((a) => a.Id), c.served, `${c.desc}: served`);
    t.same(Object.keys(view.NotServed).sort(), apps.map((a) => String(a.id)).filter((id) => !c.served.includes(id)).sort(), `${c.desc}: the others say why`);
    for (const id of Object.keys(view.NotServed)) t.notMatch(text, `backend ::${id.slice(1)}-cluster`, `${c.desc}: no backend for ${id}`);
  }
  // A rule being checked is checked with its app in the config, served or not.
  const state = applySnapshot(emptyState(), mapApps({ apps }).apps, 1);
  const policy = { ...paths, ServeGroups: { groups: ['external'], strict: true } };
  const checked = buildView(state, new Map([['/int', makeRule('/int', 'hdr(host) -i int.example.com')]]), policy, { checkedApp: '/int' });
  t.ok(checked.Apps.some((a) => a.Id === '/int'), 'the checked app is rendered');
  t.notOk('/int' in checked.NotServed);
  t.match(renderer.render(checked), 'acl ::int-aclrule hdr(host) -i int.example.com', 'with its rule');
  t.match(groupRefusal(['internal'], { groups: ['external'], strict: false }), /group internal is not served by this edge \(HAProxy.Group external\)/);
  t.match(groupRefusal([], { groups: ['external'], strict: true }), /no HAPROXY_GROUP label/);
});

t.test('routing order: rule ACLs, then host labels (host+path, host), then path prefixes of rules, defaults and path labels by length; HAProxy accepts it', async (t) => {
  requireBinary('haproxy', 'apt-get install -y haproxy');
  const { view, text } = render([
    marathonApp('/a', { HAPROXY_0_PATH: '/short' }, '1.4'),
    marathonApp('/b', { HAPROXY_0_PATH: '/a/much/longer' }, '1.5'),
    marathonApp('/c', { HAPROXY_0_VHOST: 'c.example.com' }, '1.4'),
    marathonApp('/d', { HAPROXY_0_VHOST: 'd.example.com', HAPROXY_0_PATH: '/d', HAPROXY_0_REDIRECT_TO_HTTPS: 'true' }, '1.5'),
    marathonApp('/e', {}, '1.4'),
    marathonApp('/f', { HAPROXY_0_VHOST: 'ignored.example.com' }, '1.5'),
    marathonApp('/g', {}, '1.5'),
    marathonApp('/evil', { HAPROXY_0_PATH: '/' }, '1.5'),
  ], { rules: [makeRule('/f', 'hdr(host) -i f.example.com'), makeRule('/g', 'path_beg -i /gee')] });
  t.same(view.Routes.map((r) => r.Id), ['/f', '/d', '/c', '/b', '/a', '/g', '/e', '/evil'], 'use_backend order');
  t.same(view.RouteMap?.Routes.map((r) => r.Id), ['/b', '/a', '/g', '/e', '/evil'], 'path prefixes, labels\' too, in the map by length');
  t.equal(view.RouteMap?.Text.split('\n').at(-2), '/ ::evil-cluster', 'a path label of `/` is the last resort, never ahead of another app\'s prefix');
  const lines = frontend(text).filter((l) => l.startsWith('use_backend') || l.startsWith('http-request'));
  t.match(backendOf(text, '::d-cluster'), 'http-request redirect scheme https code 301 if !{ ssl_fc }', 'the redirect in /d\'s backend');
  t.notMatch(backendOf(text, '::c-cluster'), 'http-request', 'not in another backend');
  t.same(lines, [
    'use_backend ::f-cluster if ::f-aclrule',
    'use_backend ::d-cluster if ::d-0-host ::d-0-path',
    'use_backend ::c-cluster if ::c-0-host',
    `use_backend %[path,lower,map_beg(${view.RouteMap!.Path})]`,
  ], 'use_backend lines, the map last');
  writeFileSync(paths.OutputPath, text);
  writeFileSync(view.RouteMap!.Path, view.RouteMap!.Text);
  const out = execFileSync('haproxy', ['-c', '-f', paths.OutputPath], { encoding: 'utf8', stdio: 'pipe' });
  t.match(out, /Configuration file is valid/);
});

t.test('HAProxy.LabelRouting=false: Bamboo\'s routing whatever the labels (an app labelled for another edge keeps its path)', async (t) => {
  const apps = [marathonApp('/shop', { HAPROXY_0_VHOST: 'shop.example.com', HAPROXY_0_REDIRECT_TO_HTTPS: 'true' }, '1.5'), marathonApp('/api', { HAPROXY_0_PATH: '/v2' }, '1.4')];
  const on = render(apps);
  t.match(frontend(on.text).join('\n'), 'acl ::shop-0-host', 'on (the default): the vhost routes');
  t.notMatch(on.view.RouteMap?.Text ?? '', /^\/shop /m, 'and replaces the default path');
  const off = render(apps, { paths: { ...paths, ServeGroups: { groups: [], strict: false, labelRouting: false } } });
  t.notMatch(frontend(off.text).join('\n'), /-0-host|-0-path/, 'off: no label route');
  t.match(off.view.RouteMap?.Text ?? '', /^\/shop ::shop-cluster$/m, 'off: /shop keeps Bamboo\'s default route');
  t.match(off.view.RouteMap?.Text ?? '', /^\/api ::api-cluster$/m, 'off: /api too, not /v2');
  t.notMatch(off.text, /http-request redirect/, 'off: no redirect either');
});

/**
 * Which app a request reaches, read off the routes in `use_backend` order the way HAProxy reads their ACLs (the
 * few forms culm writes: Host exact or by suffix, path prefix, a rule's `hdr(host) -i`), then the route map.
 */
function routedTo(view: ReturnType<typeof render>['view'], hostHeader: string, path: string): string {
  const host = hostHeader.split(':')[0].toLowerCase();
  const matches = (acl: string): boolean => {
    const [fetch, ...rest] = acl.split(' ');
    if (fetch === 'hdr(host),field(1,:),lower') {
      const [m, ...patterns] = rest;
      return m === '-m' && patterns[0] === 'str' ? patterns.slice(1).includes(host) : patterns.slice(1).some((p) => host.endsWith(p));
    }
    if (fetch === 'path_beg') return rest[0] === '-i' ? path.toLowerCase().startsWith(rest[1].toLowerCase()) : path.startsWith(rest[0]);
    if (fetch === 'hdr(host)' && rest[0] === '-i') return hostHeader.toLowerCase() === rest[1];
    throw new Error(`no reading of ${acl}`);
  };
  for (const r of view.Routes) if (r.Acls.every((a) => matches(a.Acl))) return r.Id;
  return 'none';
}

const wildcardApps = (shape: Shape): Array<Record<string, unknown>> => [
  marathonApp('/exact', { HAPROXY_0_VHOST: 'a.example.com' }, shape),
  marathonApp('/exact-path', { HAPROXY_0_VHOST: 'c.example.com', HAPROXY_0_PATH: '/v1' }, shape),
  marathonApp('/wide', { HAPROXY_0_VHOST: '*.example.com' }, shape),
  marathonApp('/dup', { HAPROXY_0_VHOST: '*.example.com' }, shape),
  marathonApp('/wide-path', { HAPROXY_0_VHOST: '*.example.com', HAPROXY_0_PATH: '/api' }, shape),
  marathonApp('/narrow', { HAPROXY_0_VHOST: '*.b.example.com' }, shape),
  marathonApp('/tld', { HAPROXY_0_VHOST: 'x.example.com,*.co.uk' }, shape),
  marathonApp('/mixed', { HAPROXY_0_VHOST: 'example.org,*.example.org' }, shape),
  marathonApp('/p', { HAPROXY_0_PATH: '/p' }, shape),
  marathonApp('/r', {}, shape),
];

t.test('wildcard vhosts: an exact host first, then the longest wildcard; a path narrows each; ties by id; HAProxy accepts it', async (t) => {
  requireBinary('haproxy', 'apt-get install -y haproxy');
  for (const shape of ['1.4', '1.5'] as const) {
    const { view, text, rejected } = render(wildcardApps(shape), { rules: [makeRule('/r', 'hdr(host) -i r.example.com')] });
    t.same(rejected, [], `${shape}: nothing refused`);
    t.same(view.Routes.map((r) => `${r.Id} ${r.Condition}`), [
      '/r ::r-aclrule',
      '/exact-path ::exact-path-0-host ::exact-path-0-path',
      '/exact ::exact-0-host',
      '/mixed ::mixed-0-host',
      '/tld ::tld-0-host',
      '/narrow ::narrow-0-wildcard_b.example.com',
      '/wide-path ::wide-path-0-wildcard_example.com ::wide-path-0-wildcard_example.com_path',
      '/dup ::dup-0-wildcard_example.com',
      '/mixed ::mixed-0-wildcard_example.org',
      '/wide ::wide-0-wildcard_example.com',
      '/tld ::tld-0-wildcard_co.uk',
      '/p ::p-0-path',
    ], `${shape}: use_backend order`);
    t.same(view.RouteMap?.Routes.map((r) => r.Id), ['/p'], `${shape}: path prefixes still in the map, after every host route`);
    const requests: Array<[string, string, string, string]> = [
      ['a.example.com', '/', '/exact', 'an exact host beside wildcards: the exact one'],
      ['A.Example.COM:8080', '/x', '/exact', 'the port and case in Host: ignored, as ever'],
      ['q.example.com', '/', '/dup', 'one level under the domain: its wildcard (two apps with it: the first by id)'],
      ['q.r.example.com:443', '/', '/dup', 'any depth'],
      ['example.com', '/', 'none', 'never the domain itself'],
      ['shop.co.uk', '/p', '/tld', 'a wildcard of two labels, the shortest there is, before path prefixes'],
      ['co.uk', '/p', '/p', 'never its domain itself'],
      ['q.example.com', '/api/users', '/wide-path', 'the wildcard with a path, before the one without'],
      ['a.example.com', '/api/users', '/exact', 'an exact host wins over a wildcard with a path'],
      ['z.b.example.com', '/api', '/narrow', 'a longer wildcard wins over a shorter one, path or not'],
      ['b.example.com', '/', '/dup', '*.b.example.com is not b.example.com'],
      ['c.example.com', '/v1/x', '/exact-path', 'an exact host and path'],
      ['c.example.com', '/v2', '/dup', 'its path not matched: the wildcard takes it'],
      ['x.example.com', '/', '/tld', 'an exact host in the same label as a short wildcard, ahead of the longer wildcard'],
      ['example.org', '/', '/mixed', 'the domain (exact) and its subdomains (wildcard) of one app'],
      ['www.example.org', '/', '/mixed', 'its wildcard'],
      ['badexample.org', '/p/1', '/p', 'a name merely ending with the domain is not under it'],
      ['r.example.com', '/', '/r', 'a REST rule first, as ever'],
      ['example.net', '/p', '/p', 'no host route: the path prefixes'],
    ];
    for (const [host, path, want, desc] of requests) t.equal(routedTo(view, host, path), want, `${shape}: ${host}${path}: ${desc}`);
    if (shape === '1.5') {
      writeFileSync(paths.OutputPath, text);
      writeFileSync(view.RouteMap!.Path, view.RouteMap!.Text);
      t.match(execFileSync('haproxy', ['-c', '-f', paths.OutputPath], { encoding: 'utf8', stdio: 'pipe' }), /Configuration file is valid/);
    }
  }
});

t.test('default template with wildcard vhosts: golden file (UPDATE_GOLDEN=1 to refresh)', async (t) => {
  const golden = new URL('../fixtures/golden/wildcard-vhosts.cfg', import.meta.url).pathname;
  const fixed = { ...paths, StatsSocket: '/run/culm/haproxy.cfg.sock', PidFile: '/run/culm/haproxy.cfg.pid', OutputPath: '/run/culm/haproxy.cfg' };
  const apps = [
    marathonApp('/shop', { HAPROXY_0_VHOST: 'shop.example.com,*.shop.example.com', HAPROXY_0_HTTP_BACKEND_REDIR: '/home' }, '1.5'),
    marathonApp('/api', { HAPROXY_0_VHOST: '*.example.com', HAPROXY_0_PATH: '/api', HAPROXY_0_HTTP_BACKEND_PROXYPASS_PATH: '/api' }, '1.5'),
    marathonApp('/catchall', { HAPROXY_0_VHOST: '*.example.com' }, '1.5'),
    marathonApp('/plain', {}, '1.5'),
  ];
  const { text } = render(apps, { paths: fixed });
  const shown = text.replace(renderer.templatePath, 'templates/haproxy.cfg.eta');
  if (process.env.UPDATE_GOLDEN) writeFileSync(golden, shown);
  t.equal(shown, readFileSync(golden, 'utf8'), 'matches test/fixtures/golden/wildcard-vhosts.cfg');
  // The same config where the test may write, checked by HAProxy (the redirect's `||` condition too): a renderer
  // of its own, as its memo of the routes' text holds the golden's map path.
  requireBinary('haproxy', 'apt-get install -y haproxy');
  const local = render(apps).view;
  writeFileSync(paths.OutputPath, new Renderer(renderer.templatePath).render(local));
  writeFileSync(local.RouteMap!.Path, local.RouteMap!.Text);
  t.match(execFileSync('haproxy', ['-c', '-f', paths.OutputPath], { encoding: 'utf8', stdio: 'pipe' }), /Configuration file is valid/);
});

t.test('a wildcard changed beside an unchanged exact host: a routing change, with its reason', async (t) => {
  const before = render([marathonApp('/web', { HAPROXY_0_VHOST: 'a.example.com,*.example.com' }, '1.5'), marathonApp('/other', {}, '1.5')]);
  const after = render([marathonApp('/web', { HAPROXY_0_VHOST: 'a.example.com,*.example.org' }, '1.5'), marathonApp('/other', {}, '1.5')]);
  const web = (v: typeof before.view) => v.Apps.find((a) => a.Id === '/web')!;
  t.ok(sameRoute(web(before.view).Route, web(after.view).Route), 'port 0\'s first route (its exact host) is the same');
  t.same(diffViews(before.view, after.view), ['labels of /web changed (routing)'], 'the wildcard\'s change is seen');
  t.match(after.text, 'use_backend ::web-cluster if ::web-0-wildcard_example.org');
  t.notMatch(after.text, 'wildcard_example.com');
});
