/** The check HAProxy runs per Marathon health-check kind, and the port it probes, as the view and the default template give them. */
import t from 'tap';
import { buildView } from '../../src/core/view.js';
import { Renderer } from '../../src/haproxy/render.js';
import type { HealthCheck } from '../../src/core/model.js';
import { app, healthChecks, network, stateOf, task, tasks } from '../helpers/builders.js';

const paths = { HttpBind: '127.0.0.1:18080', StatsSocket: '/run/culm/h.sock', PidFile: '/run/culm/h.pid', OutputPath: '/run/culm/h.cfg' };
const renderer = new Renderer(new URL('../../templates/haproxy.cfg.eta', import.meta.url).pathname);

const http = (path = '/health', more: Partial<HealthCheck> = {}): HealthCheck => ({ protocol: 'HTTP', path, ...more });
const https = (path = '/health', more: Partial<HealthCheck> = {}): HealthCheck => ({ protocol: 'HTTPS', path, ...more });
const tcp = (more: Partial<HealthCheck> = {}): HealthCheck => ({ protocol: 'TCP', ...more });
const other = (protocol: string): HealthCheck => ({ protocol, path: '/health' });

/** The backend the default template renders for one app with these checks and one healthy task on 31001 (+31002). */
function backend(checks: HealthCheck[], net?: Parameters<typeof network>): string {
  const parts = [tasks(task(31001, { id: 'a', healthy: true, ports: [31001, 31002], ipAddresses: ['10.9.0.7'] }))];
  if (checks.length) parts.push(healthChecks(...checks));
  if (net) parts.push(network(...net));
  const text = renderer.render(buildView(stateOf(app('/web', ...parts)), new Map(), paths));
  return text.slice(text.indexOf('backend ::web-cluster')).trim();
}

t.test('view: one check descriptor per app, the checked port per task', async (t) => {
  const cases: Array<{ desc: string; checks: HealthCheck[]; net?: Parameters<typeof network>; kind: string; path: string; tls: boolean; checkPort: number }> = [
    { desc: 'no health check', checks: [], kind: '', path: '', tls: false, checkPort: 0 },
    { desc: 'HTTP', checks: [http()], kind: 'HTTP', path: '/health', tls: false, checkPort: 0 },
    { desc: 'HTTP without a path: Marathon checks /', checks: [{ protocol: 'HTTP' }], kind: 'HTTP', path: '/', tls: false, checkPort: 0 },
    { desc: 'HTTPS: check and traffic over TLS', checks: [https()], kind: 'HTTPS', path: '/health', tls: true, checkPort: 0 },
    { desc: 'TCP: a connect check', checks: [tcp()], kind: 'TCP', path: '', tls: false, checkPort: 0 },
    { desc: 'COMMAND: Marathon only', checks: [other('COMMAND')], kind: '', path: '', tls: false, checkPort: 0 },
    { desc: 'MESOS_HTTP: Marathon only', checks: [other('MESOS_HTTP')], kind: '', path: '', tls: false, checkPort: 0 },
    { desc: 'MESOS_HTTPS: Marathon only', checks: [other('MESOS_HTTPS')], kind: '', path: '', tls: false, checkPort: 0 },
    { desc: 'MESOS_TCP: Marathon only', checks: [{ protocol: 'MESOS_TCP' }], kind: '', path: '', tls: false, checkPort: 0 },
    { desc: 'TCP then HTTP: HTTP wins', checks: [tcp(), http('/h2')], kind: 'HTTP', path: '/h2', tls: false, checkPort: 0 },
    { desc: 'COMMAND then TCP: TCP', checks: [other('COMMAND'), tcp()], kind: 'TCP', path: '', tls: false, checkPort: 0 },
    { desc: 'HTTPS then HTTP: the first of them', checks: [https('/s'), http('/p')], kind: 'HTTPS', path: '/s', tls: true, checkPort: 0 },
    { desc: 'portIndex 0: the serving port, no port', checks: [http('/h', { portIndex: 0 })], kind: 'HTTP', path: '/h', tls: false, checkPort: 0 },
    { desc: 'portIndex 1: the second host port', checks: [http('/h', { portIndex: 1 })], kind: 'HTTP', path: '/h', tls: false, checkPort: 31002 },
    { desc: 'portIndex the task lacks: the serving port', checks: [tcp({ portIndex: 5 })], kind: 'TCP', path: '', tls: false, checkPort: 0 },
    { desc: 'fixed port', checks: [tcp({ port: 9000 })], kind: 'TCP', path: '', tls: false, checkPort: 9000 },
    { desc: 'fixed port wins over portIndex', checks: [http('/h', { port: 9000, portIndex: 1 })], kind: 'HTTP', path: '/h', tls: false, checkPort: 9000 },
    { desc: 'fixed port equal to the serving port: no port', checks: [tcp({ port: 31001 })], kind: 'TCP', path: '', tls: false, checkPort: 0 },
    {
      desc: 'IP-per-task, portIndex 1: the second container port', checks: [http('/h', { portIndex: 1 })],
      net: ['container', [8080, 8081]], kind: 'HTTP', path: '/h', tls: false, checkPort: 8081,
    },
  ];
  for (const c of cases) {
    const parts = [tasks(task(31001, { id: 'a', healthy: true, ports: [31001, 31002] }))];
    if (c.checks.length) parts.push(healthChecks(...c.checks));
    if (c.net) parts.push(network(...c.net), tasks(task(0, { id: 'a', healthy: true, ports: [], ipAddresses: ['10.9.0.7'] })));
    const view = buildView(stateOf(app('/web', ...parts)), new Map(), paths).Apps[0];
    t.same({ ...view.Check }, { Kind: c.kind, Path: c.path, Tls: c.tls }, `${c.desc}: check`);
    t.equal(view.Tasks[0]?.CheckPort, c.checkPort, `${c.desc}: checked port`);
  }
});

t.test('default template: what each kind writes', async (t) => {
  const server = (opts: string): string => `server ::web-127.0.0.1-31001 127.0.0.1:31001${opts}`;
  const cases: Array<{ desc: string; checks: HealthCheck[]; httpchk?: string; server: string }> = [
    { desc: 'none', checks: [], server: server('') },
    { desc: 'HTTP', checks: [http()], httpchk: 'option httpchk GET /health', server: server(' check inter 5s') },
    { desc: 'HTTPS', checks: [https()], httpchk: 'option httpchk GET /health', server: server(' check inter 5s ssl verify none check-ssl') },
    { desc: 'HTTPS on another port', checks: [https('/h', { portIndex: 1 })], httpchk: 'option httpchk GET /h', server: server(' check inter 5s ssl verify none check-ssl port 31002') },
    { desc: 'TCP', checks: [tcp()], server: server(' check inter 5s') },
    { desc: 'TCP on a fixed port', checks: [tcp({ port: 9000 })], server: server(' check inter 5s port 9000') },
    { desc: 'COMMAND', checks: [other('COMMAND')], server: server('') },
    { desc: 'MESOS_HTTP', checks: [other('MESOS_HTTP')], server: server('') },
  ];
  for (const c of cases) {
    const text = backend(c.checks);
    const lines = text.split('\n').map((l) => l.trim());
    t.same(lines.filter((l) => l.startsWith('option httpchk')), c.httpchk ? [c.httpchk] : [], `${c.desc}: httpchk`);
    t.same(lines.filter((l) => l.startsWith('server ')), [c.server], `${c.desc}: server line`);
  }
});

t.test('custom templates keep Bamboo\'s HealthCheckPath and HealthCheckProtocol', async (t) => {
  const view = buildView(stateOf(app('/web', healthChecks(tcp(), https('/s')))), new Map(), paths).Apps[0];
  t.equal(view.HealthCheckPath, '/s');
  t.equal(view.HealthCheckProtocol, 'HTTPS');
  t.same(view.HealthChecks, [{ Protocol: 'TCP', Path: '', PortIndex: 0 }, { Protocol: 'HTTPS', Path: '/s', PortIndex: 0 }]);
});
