/**
 * Every service port as a frontend of its own (HAProxy.BindServicePorts), TCP services (HAPROXY_{n}_MODE=tcp,
 * Bamboo's BAMBOO_TCP_PORT) and port clashes: from app JSON as Marathon serves it (1.4 `ports`, 1.5+
 * `portDefinitions` / `portMappings`) through the real mapping, view and default template to config lines;
 * HAProxy checks each config; a task change on the new backends stays a runtime-API change.
 */
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HaproxyPaths } from '../../src/core/view.js';
import { boundPorts } from '../../src/core/service-ports.js';
import { Renderer } from '../../src/haproxy/render.js';
import { runtimeOps } from '../../src/haproxy/server-diff.js';
import { makeRule } from '../../src/core/rules.js';
import type { Rule } from '../../src/core/model.js';
import { requireBinary } from '../helpers/processes.js';
import { renderShape, section, type AppSpec, type Shape } from '../helpers/marathon-shapes.js';

const dir = mkdtempSync(join(tmpdir(), 'culm-service-ports-'));
const base = { HttpBind: '127.0.0.1:18080', StatsSocket: join(dir, 's'), PidFile: join(dir, 'p'), OutputPath: join(dir, 'haproxy.cfg') };
const bound: HaproxyPaths = { ...base, ServeGroups: { groups: [], strict: false, servicePortBind: '127.0.0.1' } };
const renderer = new Renderer(new URL('../../templates/haproxy.cfg.eta', import.meta.url).pathname);

function render(specs: AppSpec[], shape: Shape, opts: { rules?: Rule[]; paths?: HaproxyPaths } = {}) {
  return renderShape(renderer, specs, shape, opts.paths ?? bound, opts);
}

function haproxyAccepts(t: Test, text: string, what: string): void {
  requireBinary('haproxy', 'apt-get install -y haproxy');
  const file = join(dir, 'check.cfg');
  writeFileSync(file, text);
  const r = spawnSync('haproxy', ['-c', '-f', file], { encoding: 'utf8' });
  t.match(r.stdout, /Configuration file is valid/, `${what}: haproxy -c accepts it`);
  t.notMatch(r.stderr, /WARNING|ALERT/, `${what}: without a warning (a TCP frontend turns off the defaults' HTTP-only option)`);
}

t.test('service ports to frontends and backends, all three Marathon shapes', async (t) => {
  const cases: Array<{
    desc: string; apps: AppSpec[]; rule?: string;
    /** Whole lines expected in the named section. */
    sections: Record<string, string[]>;
    absent?: string[];
    clashes?: Record<string, RegExp>;
    /** `use_backend` / map entries for /web in the HTTP frontend. */
    httpRouted: boolean;
  }> = [
    {
      desc: 'one HTTP port: its frontend on the service port, to port 0\'s backend',
      apps: [{ id: '/web', ports: [10100] }],
      sections: { 'frontend ::web-port-10100': ['bind 127.0.0.1:10100', 'mode http', 'default_backend ::web-cluster'], 'backend ::web-cluster': ['server ::web-127.0.0.1-31000 127.0.0.1:31000'] },
      httpRouted: true,
    },
    {
      desc: 'two HTTP ports: port 1 gets its own frontend and a backend of the tasks\' second port',
      apps: [{ id: '/web', ports: [10100, 10101], tasks: 2 }],
      sections: {
        'frontend ::web-port-10101': ['bind 127.0.0.1:10101', 'mode http', 'default_backend ::web-1-cluster'],
        'backend ::web-1-cluster': ['option forwardfor', 'server ::web-127.0.0.1-31001 127.0.0.1:31001', 'server ::web-127.0.0.1-31101 127.0.0.1:31101'],
        'backend ::web-cluster': ['server ::web-127.0.0.1-31000 127.0.0.1:31000', 'server ::web-127.0.0.1-31100 127.0.0.1:31100'],
      },
      httpRouted: true,
    },
    {
      desc: 'HAPROXY_1_VHOST and _PATH: port 1 routed in the main frontend too, after port 0\'s host route',
      apps: [{ id: '/web', ports: [10100, 10101], labels: { HAPROXY_0_VHOST: 'web.example.com', HAPROXY_1_VHOST: 'api.example.com', HAPROXY_1_PATH: '/v1' } }],
      sections: {
        'frontend http-in': [
          'acl ::web-0-host hdr(host),field(1,:),lower -m str web.example.com',
          'acl ::web-1-host hdr(host),field(1,:),lower -m str api.example.com\n    acl ::web-1-path path_beg /v1',
          'use_backend ::web-1-cluster if ::web-1-host ::web-1-path\n    use_backend ::web-cluster if ::web-0-host',
        ],
        'frontend ::web-port-10101': ['default_backend ::web-1-cluster'],
      },
      httpRouted: true,
    },
    {
      desc: 'HAPROXY_0_MODE=tcp: a TCP frontend and backend, no HTTP route',
      apps: [{ id: '/db', ports: [10200], labels: { HAPROXY_0_MODE: 'tcp' } }, { id: '/web', ports: [10100] }],
      sections: { 'frontend ::db-port-10200': ['bind 127.0.0.1:10200', 'mode tcp', 'default_backend ::db-cluster'], 'backend ::db-cluster': ['mode tcp', 'server ::db-127.0.0.1-31000 127.0.0.1:31000'] },
      absent: ['path_beg -i /db', '/db ::db-cluster'],
      httpRouted: true,
    },
    {
      desc: 'HAPROXY_1_MODE=tcp beside an HTTP port 0 with a redirect (the redirect stays out of the TCP backend)',
      apps: [{ id: '/web', ports: [10100, 10101], labels: { HAPROXY_1_MODE: 'TCP', HAPROXY_1_REDIRECT_TO_HTTPS: 'true' } }],
      sections: { 'frontend ::web-port-10101': ['mode tcp', 'default_backend ::web-1-cluster'], 'backend ::web-1-cluster': ['mode tcp', 'server ::web-127.0.0.1-31001 127.0.0.1:31001'] },
      absent: ['http-request redirect'],
      httpRouted: true,
    },
    {
      desc: 'a REST rule wins over HAPROXY_0_MODE=tcp: port 0 stays HTTP, routed by the rule',
      apps: [{ id: '/web', ports: [10100], labels: { HAPROXY_0_MODE: 'tcp' } }],
      rule: 'hdr(host) -i rule.example.com',
      sections: { 'frontend ::web-port-10100': ['mode http'], 'frontend http-in': ['acl ::web-aclrule hdr(host) -i rule.example.com', 'use_backend ::web-cluster if ::web-aclrule'] },
      absent: ['mode tcp'],
      httpRouted: false,
    },
    {
      desc: 'BAMBOO_TCP_PORT: a TCP frontend on that port to port 0\'s tasks; the HTTP route stays (Bamboo\'s template)',
      apps: [{ id: '/web', ports: [10100], env: { BAMBOO_TCP_PORT: '10900' } }],
      sections: {
        'frontend ::web-port-10900': ['bind 127.0.0.1:10900', 'mode tcp', 'default_backend ::web-tcp-cluster'],
        'backend ::web-tcp-cluster': ['mode tcp', 'server ::web-127.0.0.1-31000 127.0.0.1:31000'],
        'frontend ::web-port-10100': ['mode http'],
      },
      httpRouted: true,
    },
    {
      desc: 'BAMBOO_TCP_PORT equal to the service port: the TCP frontend takes it',
      apps: [{ id: '/web', ports: [10100], env: { BAMBOO_TCP_PORT: '10100' } }],
      sections: { 'frontend ::web-port-10100': ['mode tcp', 'default_backend ::web-tcp-cluster'] },
      httpRouted: true,
    },
    {
      desc: 'service port 0 (none assigned): no frontend of its own',
      apps: [{ id: '/web', ports: [0] }],
      sections: {},
      absent: ['frontend ::web-port'],
      httpRouted: true,
    },
    {
      desc: 'two apps on one service port: the first by id keeps it, the other is reported and keeps its HTTP route',
      apps: [{ id: '/b', ports: [10300] }, { id: '/a', ports: [10300] }],
      sections: { 'frontend ::a-port-10300': ['default_backend ::a-cluster'], 'backend ::b-cluster': ['server ::b-127.0.0.1-31000 127.0.0.1:31000'] },
      absent: ['frontend ::b-port-10300'],
      clashes: { '/b': /port clash: port 0 \(service port 10300\) is already bound by app \/a port 0/ },
      httpRouted: true,
    },
    {
      desc: 'a service port equal to HAProxy\'s HTTP bind port',
      apps: [{ id: '/web', ports: [18080, 10101] }],
      sections: { 'frontend ::web-port-10101': ['default_backend ::web-1-cluster'] },
      absent: ['frontend ::web-port-18080'],
      clashes: { '/web': /service port 18080\) is already bound by HAProxy's HTTP bind/ },
      httpRouted: true,
    },
    {
      desc: 'BAMBOO_TCP_PORT on another app\'s service port',
      apps: [{ id: '/a', ports: [10400] }, { id: '/b', ports: [10401], env: { BAMBOO_TCP_PORT: '10400' } }],
      sections: { 'frontend ::a-port-10400': ['mode http'], 'frontend ::b-port-10401': ['mode http'] },
      clashes: { '/b': /BAMBOO_TCP_PORT 10400 is already bound by app \/a port 0/ },
      httpRouted: true,
    },
  ];
  for (const shape of ['1.4', '1.5', '1.5-mappings'] as const) {
    for (const c of cases) {
      const what = `${shape} ${c.desc}`;
      const { view, text, rejected } = render(c.apps, shape, { rules: c.rule ? [makeRule(c.apps[0].id, c.rule)] : [] });
      t.same(rejected, [], `${what}: nothing refused`);
      for (const [header, lines] of Object.entries(c.sections)) {
        const body = section(text, header);
        t.ok(body, `${what}: ${header}`);
        for (const line of lines) t.match(body, `\n    ${line}\n`, `${what}: ${header}: ${line}`);
      }
      for (const a of c.absent ?? []) t.notMatch(text, a, `${what}: no ${a}`);
      t.same(Object.keys(view.PortClashes).sort(), Object.keys(c.clashes ?? {}).sort(), `${what}: the clashes reported`);
      for (const [id, why] of Object.entries(c.clashes ?? {})) t.match(view.PortClashes[id], why, `${what}: ${id}'s clash says why`);
      const web = view.Apps.find((a) => a.Id === '/web');
      if (web) t.equal(text.includes('/web ::web-cluster\n') || /use_backend ::web-cluster if/.test(text) || (view.RouteMap?.Text ?? '').includes('/web ::web-cluster'), true, `${what}: /web routed by HTTP`);
      if (web && !c.httpRouted) t.notOk((view.RouteMap?.Text ?? '').includes('/web '), `${what}: not by the default prefix`);
      if (view.RouteMap) writeFileSync(view.RouteMap.Path, view.RouteMap.Text);
      haproxyAccepts(t, text, what);
    }
  }
});

t.test('HAProxy.BindServicePorts off: Bamboo\'s single frontend; BAMBOO_TCP_PORT still honoured', async (t) => {
  const { view, text } = render([{ id: '/web', ports: [10100, 10101], labels: { HAPROXY_0_MODE: 'tcp' } }, { id: '/tcp', ports: [10102], env: { BAMBOO_TCP_PORT: '10902' } }], '1.5', { paths: base });
  t.same(view.Listeners.map((l) => l.Name), ['::tcp-port-10902'], 'only the BAMBOO_TCP_PORT frontend');
  t.notMatch(text, 'backend ::web-1-cluster', 'no backend for port 1');
  t.notMatch(section(text, 'backend ::web-cluster'), 'mode tcp', 'HAPROXY_0_MODE is not rendered: port 0 stays HTTP');
  t.match(view.RouteMap?.Text ?? '', /^\/web ::web-cluster$/m, 'and routed by its path');
});

t.test('bad BAMBOO_TCP_PORT values: refused with the reason, the TCP frontend left out, the app served', async (t) => {
  for (const value of ['0', '65536', '80 ', 'x', '10 20', '10\n#', '-1', '']) {
    const { view, rejected } = render([{ id: '/web', ports: [10100], env: { BAMBOO_TCP_PORT: value } }], '1.4');
    if (value.trim() === '80') {
      t.same(rejected, [], `${JSON.stringify(value)}: a port with spaces around is a port`);
      continue;
    }
    // A control character is refused where the env enters (input-grammar.ts), the rest by lb-labels.ts.
    const expected = value.includes('\n') ? { field: 'env', reason: /BAMBOO_TCP_PORT/ } : { field: 'lb_label', reason: /BAMBOO_TCP_PORT .* is not a port/ };
    t.match(rejected, [{ appId: '/web', ...expected }], `${JSON.stringify(value)}: refused`);
    t.same(view.Listeners.map((l) => l.Name), ['::web-port-10100'], `${JSON.stringify(value)}: only the service port's frontend`);
  }
});

t.test('a task added or removed on a TCP app or a second port is a runtime-API change (no reload)', async (t) => {
  const specs = (tasks: number): AppSpec[] => [{ id: '/db', ports: [10200], labels: { HAPROXY_0_MODE: 'tcp' }, tasks }, { id: '/web', ports: [10100, 10101], tasks }, { id: '/b', ports: [10500], env: { BAMBOO_TCP_PORT: '10901' }, tasks }];
  const one = render(specs(1), '1.5').text;
  const two = render(specs(2), '1.5').text;
  const ops = runtimeOps(one, two);
  t.ok(ops, 'no reload needed');
  t.same(ops!.map((o) => `${o.op} ${o.backend} ${o.server.name}`).sort(), [
    'add ::b-cluster ::b-127.0.0.1-31100', 'add ::b-tcp-cluster ::b-127.0.0.1-31100', 'add ::db-cluster ::db-127.0.0.1-31100',
    'add ::web-1-cluster ::web-127.0.0.1-31101', 'add ::web-cluster ::web-127.0.0.1-31100',
  ]);
  t.same(runtimeOps(two, one)!.map((o) => o.op), ['remove', 'remove', 'remove', 'remove', 'remove'], 'and back');
});

t.test('the listeners are the same array while only tasks change (the template renders them once)', async (t) => {
  const specs = (tasks: number): AppSpec[] => [{ id: '/web', ports: [10100, 10101], tasks }];
  const a = render(specs(1), '1.4').view;
  const b = render(specs(2), '1.4').view;
  t.equal(a.Listeners, b.Listeners);
});

t.test('boundPorts reads the ports of HAProxy bind lists', async (t) => {
  for (const [bind, ports] of [['*:80', [80]], ['127.0.0.1:8080,[::]:8081', [8080, 8081]], [':80, :443', [80, 443]], ['unix@/run/x.sock', []], ['abns@x:1', []]] as const) {
    t.same(boundPorts(bind), ports, bind);
  }
});

t.test('default template with service ports bound: golden file (UPDATE_GOLDEN=1 to refresh)', async (t) => {
  const golden = new URL('../fixtures/golden/service-ports.cfg', import.meta.url).pathname;
  const paths = { ...bound, StatsSocket: '/run/culm/haproxy.cfg.sock', PidFile: '/run/culm/haproxy.cfg.pid', OutputPath: '/run/culm/haproxy.cfg' };
  const { text } = render([
    { id: '/db', ports: [10200], labels: { HAPROXY_0_MODE: 'tcp' }, tasks: 2 },
    { id: '/web', ports: [10100, 10101], labels: { HAPROXY_0_VHOST: 'web.example.com', HAPROXY_1_REDIRECT_TO_HTTPS: 'true' }, tasks: 2 },
    { id: '/legacy', ports: [10300], env: { BAMBOO_TCP_PORT: '10301' } },
    { id: '/late', ports: [10200] },
  ], '1.5', { paths });
  const shown = text.replace(renderer.templatePath, 'templates/haproxy.cfg.eta');
  if (process.env.UPDATE_GOLDEN) writeFileSync(golden, shown);
  t.equal(shown, readFileSync(golden, 'utf8'), 'matches test/fixtures/golden/service-ports.cfg');
});
