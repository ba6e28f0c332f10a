/**
 * A service port's own frontend as marathon-lb's labels shape it, through real culm, HAProxy and the Marathon
 * emulator: `HAPROXY_0_BIND_ADDR=127.0.0.2` binds that address only (127.0.0.1 is refused); `HAPROXY_0_SSL_CERT`
 * terminates TLS on the service port with the app's certificate (made here with openssl), with
 * `HAPROXY_0_BIND_OPTIONS` (trusted) on the same bind line; `HAPROXY_0_USE_HSTS` puts the HSTS header on the
 * answers; a certificate HAProxy refuses leaves that frontend out (the app stays routed by the HTTP frontend,
 * the others work), and one missing at first is used once the file is there (no Marathon change).
 */
import t from 'tap';
import { connect } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { culmWithApps } from '../helpers/culm.js';
import { eventually, freePort, rawRequest } from '../helpers/net.js';
import { requireBinary } from '../helpers/processes.js';
import { httpsRequest, makeCert } from '../helpers/tls.js';

requireBinary('openssl', 'apt-get install -y openssl');

const HSTS = 'max-age=15768000';

/** Whether a TCP connection to address:port is accepted ('connected') or why not (the error's code). */
function tryConnect(address: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, address);
    s.setTimeout(3000, () => { s.destroy(); resolve('timeout'); });
    s.on('connect', () => { s.destroy(); resolve('connected'); });
    s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
  });
}

t.test('BIND_ADDR, SSL_CERT with BIND_OPTIONS and USE_HSTS on service ports', async (t) => {
  const certs = mkdtempSync(join(tmpdir(), 'culm-it-bind-'));
  makeCert(join(certs, 'web.pem'), 'web.example.com');
  writeFileSync(join(certs, 'garbage.pem'), 'not a certificate\n');
  const sp = { local: await freePort(), tls: await freePort(), garbage: await freePort(), late: await freePort(), other: await freePort() };
  const { backends: b, culm, close } = await culmWithApps({
    '/local': { servicePorts: [sp.local], labels: { HAPROXY_0_BIND_ADDR: '127.0.0.2', HAPROXY_0_USE_HSTS: 'true' } },
    '/tls': { servicePorts: [sp.tls], labels: { HAPROXY_0_SSL_CERT: join(certs, 'web.pem'), HAPROXY_0_BIND_OPTIONS: 'alpn http/1.1', HAPROXY_0_USE_HSTS: 'true', HAPROXY_0_VHOST: 'web.example.com' } },
    '/garbage': { servicePorts: [sp.garbage], labels: { HAPROXY_0_SSL_CERT: join(certs, 'garbage.pem') } },
    '/late': { servicePorts: [sp.late], labels: { HAPROXY_0_SSL_CERT: join(certs, 'late.pem') } },
    '/other': { servicePorts: [sp.other], labels: {} },
  }, {
    CULM_BIND_SERVICE_PORTS: 'true', CULM_SERVICE_PORT_BIND: '127.0.0.1', CULM_TRUST_LABEL_CONFIG: 'true',
    // Resyncs often: with a service port's certificate named, each one renders, so a file that appears is picked up.
    CULM_RESYNC_INTERVAL_MS: '500',
  }, () => rmSync(certs, { recursive: true, force: true }));
  t.teardown(close);
  const body = (id: string): string => String(b[id].port);

  // BIND_ADDR: that address only.
  const local = await rawRequest(`http://127.0.0.2:${sp.local}/`, 'GET', { Host: 'x', Connection: 'close' });
  t.equal(local.body.trim(), body('/local'), 'HAPROXY_0_BIND_ADDR=127.0.0.2: the service port answers there');
  t.equal(await tryConnect('127.0.0.1', sp.local), 'ECONNREFUSED', 'and not on 127.0.0.1 (the edge\'s own address)');
  t.match(culm.config(), `bind 127.0.0.2:${sp.local}\n`, 'the bind line names the address');
  t.equal(local.headers['strict-transport-security'], HSTS, 'HAPROXY_0_USE_HSTS: the header on its answers');
  const other = await rawRequest(`http://127.0.0.1:${sp.other}/`, 'GET', { Host: 'x', Connection: 'close' });
  t.equal(other.body.trim(), body('/other'), 'another app on the edge\'s address');
  t.equal(other.headers['strict-transport-security'], undefined, 'without HSTS');

  // SSL_CERT on the service port, BIND_OPTIONS on the same line.
  const tls = await httpsRequest(sp.tls, 'web.example.com', 'web.example.com', '/', { alpn: ['h2', 'http/1.1'] });
  t.equal(tls.cn, 'web.example.com', 'TLS on the service port with the app\'s certificate');
  t.equal(tls.body, body('/tls'), 'answered by the app');
  t.equal(tls.alpn, 'http/1.1', 'HAPROXY_0_BIND_OPTIONS=alpn http/1.1 is on the bind line (HAProxy settles ALPN)');
  t.equal(tls.headers['strict-transport-security'], HSTS, 'with HSTS');
  t.equal((await httpsRequest(sp.tls, 'other.example.com', 'x')).cn, 'web.example.com', 'the port\'s one certificate whatever the name');
  const plain = await rawRequest(`${culm.frontend}/`, 'GET', { Host: 'web.example.com', Connection: 'close' });
  t.equal(plain.body.trim(), body('/tls'), 'the app is routed by the HTTP frontend too');
  t.equal(plain.headers['strict-transport-security'], HSTS, 'where its backend sets HSTS as well');

  // A certificate HAProxy refuses: that frontend left out, nothing else.
  await eventually('the refused certificate is recorded', async () => {
    const history = await culm.json<Array<{ leftOut?: Array<{ kind: string; id: string }> }>>('/api/history');
    return history.body.some((h) => h.leftOut?.some((l) => l.kind === 'cert' && l.id === '/garbage'));
  });
  t.equal(await tryConnect('127.0.0.1', sp.garbage), 'ECONNREFUSED', 'the frontend of the refused certificate is left out');
  t.notMatch(culm.config(), `::garbage-port-${sp.garbage}`, 'not in the config');
  t.match(culm.config(), 'backend ::garbage-cluster', 'the app itself is still served');
  t.equal((await rawRequest(`${culm.frontend}/garbage`, 'GET', { Host: 'x', Connection: 'close' })).body.trim(), body('/garbage'), 'and routed by the HTTP frontend');
  t.ok(await culm.metric('culm_apps_skipped_total{reason="tls cert"}') >= 2, 'the refused and the missing certificates counted');

  // A missing file: its frontend comes once the file is there, at the next resync.
  t.equal(await tryConnect('127.0.0.1', sp.late), 'ECONNREFUSED', 'a missing certificate: its frontend left out');
  makeCert(join(certs, 'late.pem'), 'late.example.com');
  await eventually('the late certificate is used', async () => (await httpsRequest(sp.late, 'late.example.com', 'x').catch(() => ({ cn: '' }))).cn === 'late.example.com');
  t.pass('a certificate file that appeared is used after the next resync (no Marathon change)');
  t.equal((await httpsRequest(sp.late, 'late.example.com', 'x')).body, body('/late'), 'and the port answers');
});
