/**
 * Which labels claim what, through real culm, HAProxy and the Marathon emulator: a service-port frontend left
 * out for its certificate (a file that is not there) claims no port, so another app on the same service port
 * gets it; with `HAProxy.BindServicePorts` off, the labels only a service port's own frontend reads
 * (`HAPROXY_{n}_BIND_ADDR`, `_MODE`) are ignored, a bad value too, for apps at start and one added later.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { culmWithApps } from '../helpers/culm.js';
import { eventually, freePort, rawRequest, startBackend } from '../helpers/net.js';

interface State { Apps: Array<{ Id: string; NotServed: string }> }

t.test('a frontend left out for its certificate leaves its service port to another app', async (t) => {
  const certs = mkdtempSync(join(tmpdir(), 'culm-it-claims-'));
  const shared = await freePort();
  const { backends: b, culm, close } = await culmWithApps({
    // The first by id names a file that is not there: its frontend is left out and claims nothing.
    '/shared-a': { servicePorts: [shared], labels: { HAPROXY_0_SSL_CERT: join(certs, 'never.pem') } },
    '/shared-b': { servicePorts: [shared], labels: {} },
  }, { CULM_BIND_SERVICE_PORTS: 'true', CULM_SERVICE_PORT_BIND: '127.0.0.1' }, () => rmSync(certs, { recursive: true, force: true }));
  t.teardown(close);
  const res = await rawRequest(`http://127.0.0.1:${shared}/`, 'GET', { Host: 'x', Connection: 'close' });
  t.equal(res.body.trim(), String(b['/shared-b'].port), 'the service port answers, by the other app');
  t.notMatch(culm.config(), `::shared-a-port-${shared}`, 'no frontend for the app whose certificate is missing');
  const state = await culm.json<State>('/api/state');
  t.same(state.body.Apps.map((a) => [a.Id, a.NotServed]), [['/shared-a', ''], ['/shared-b', '']], '/api/state: no clash for either');
  t.equal(await culm.metric('culm_apps_skipped_total{reason="port clash"}'), 0, 'none counted');
  const routed = await rawRequest(`${culm.frontend}/shared-a`, 'GET', { Host: 'x', Connection: 'close' });
  t.equal(routed.body.trim(), String(b['/shared-a'].port), 'the app itself is still routed by the HTTP frontend');
});

t.test('HAProxy.BindServicePorts off: BIND_ADDR and MODE ignored, a bad value too (at start and for an app added later)', async (t) => {
  const { marathon, backends: b, culm, close } = await culmWithApps({
    '/web': { servicePorts: [await freePort()], labels: { HAPROXY_0_BIND_ADDR: 'localhost', HAPROXY_0_VHOST: 'web.example.com' } },
    '/db': { servicePorts: [await freePort()], labels: { HAPROXY_0_MODE: 'udp', HAPROXY_0_BIND_ADDR: '127.0.0.2' } },
  }, { CULM_BIND_SERVICE_PORTS: 'false' });
  t.teardown(close);
  const web = await rawRequest(`${culm.frontend}/`, 'GET', { Host: 'web.example.com', Connection: 'close' });
  t.equal(web.body.trim(), String(b['/web'].port), 'an app with a host name in BIND_ADDR is served by the HTTP frontend');
  const db = await rawRequest(`${culm.frontend}/db`, 'GET', { Host: 'x', Connection: 'close' });
  t.equal(db.body.trim(), String(b['/db'].port), 'and one with MODE=udp by its path');
  const late = await startBackend();
  t.teardown(() => late.close());
  marathon.addApp({ id: '/late', servicePorts: [await freePort()], labels: { HAPROXY_0_BIND_ADDR: 'not an address', HAPROXY_0_VHOST: 'late.example.com' } });
  marathon.addTask('/late', { port: late.port });
  await eventually('the app added later is routed', async () => (await rawRequest(`${culm.frontend}/`, 'GET', { Host: 'late.example.com', Connection: 'close' })).body.trim() === String(late.port));
  const state = await culm.json<State>('/api/state');
  t.same(state.body.Apps.map((a) => [a.Id, a.NotServed]), [['/db', ''], ['/late', ''], ['/web', '']], '/api/state: every app served');
  t.equal(await culm.metric('culm_marathon_data_rejected_total{field="lb_label"}'), 0, 'no label value refused');
  t.notMatch(culm.config(), /bind (localhost|127\.0\.0\.2|not)/, 'no frontend of their own');
});
