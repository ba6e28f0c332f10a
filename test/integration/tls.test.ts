/**
 * TLS with SNI through real culm, HAProxy and the Marathon emulator: certificates made here with openssl, one per
 * host; a TLS client naming a host gets that host's certificate and reaches that app; HTTP to an app with
 * `HAPROXY_0_REDIRECT_TO_HTTPS` is a 301 to https, and the HTTPS request is served; an app whose certificate file
 * is missing, or one HAProxy refuses, keeps its routes (the default certificate) and the others' TLS works.
 */
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MarathonEmulator } from '../helpers/marathon-emulator.js';
import { eventually, rawRequest, startBackend, type Backend } from '../helpers/net.js';
import { requireBinary } from '../helpers/processes.js';
import { httpsRequest, makeCert, startTlsCulm } from '../helpers/tls.js';

requireBinary('openssl', 'apt-get install -y openssl');

t.test('SNI chooses the certificate, Host the app; redirect to https; a bad app certificate leaves the rest working', async (t) => {
  const certs = mkdtempSync(join(tmpdir(), 'culm-it-certs-'));
  for (const [name, cn] of [['edge', 'edge.example.com'], ['a', 'a.example.com'], ['b', 'b.example.com']]) makeCert(join(certs, `${name}.pem`), cn);
  writeFileSync(join(certs, 'garbage.pem'), 'not a certificate\n');
  const marathon = await MarathonEmulator.start({ version: '1.10', keepaliveMs: 1000 });
  const apps: Record<string, Record<string, string>> = {
    '/a': { HAPROXY_0_VHOST: 'a.example.com', HAPROXY_0_SSL_CERT: join(certs, 'a.pem'), HAPROXY_0_REDIRECT_TO_HTTPS: 'true' },
    '/b': { HAPROXY_0_VHOST: 'b.example.com', HAPROXY_0_SSL_CERT: join(certs, 'b.pem') },
    '/missing': { HAPROXY_0_VHOST: 'missing.example.com', HAPROXY_0_SSL_CERT: join(certs, 'missing.pem') },
    '/garbage': { HAPROXY_0_VHOST: 'garbage.example.com', HAPROXY_0_SSL_CERT: join(certs, 'garbage.pem') },
    '/plain': {},
  };
  const b: Record<string, Backend> = {};
  for (const [id, labels] of Object.entries(apps)) {
    b[id] = await startBackend();
    marathon.addApp({ id, labels });
    marathon.addTask(id, { port: b[id].port });
  }
  // Resyncs often: with TLS on, each one renders, so certificate files that change are picked up.
  const { culm, httpsPort } = await startTlsCulm(t, marathon, certs, b, { CULM_RESYNC_INTERVAL_MS: '500' });
  await culm.waitReady();
  const port = (id: string): string => String(b[id].port);

  const a = await httpsRequest(httpsPort, 'a.example.com', 'a.example.com');
  t.equal(a.cn, 'a.example.com', 'SNI a: a\'s certificate');
  t.equal(a.status, 200, 'the HTTPS request to the redirecting app is served, not redirected');
  t.equal(a.body, port('/a'), 'and routed by Host to a');
  const bb = await httpsRequest(httpsPort, 'b.example.com', 'b.example.com');
  t.equal(bb.cn, 'b.example.com', 'SNI b: b\'s certificate');
  t.equal(bb.body, port('/b'), 'routed by Host to b');
  t.equal((await httpsRequest(httpsPort, 'other.example.com', 'other.example.com')).cn, 'edge.example.com', 'an unknown name: the default certificate (HAProxy.SslCerts)');

  const redirect = await rawRequest(`${culm.frontend}/login?x=1`, 'GET', { Host: 'a.example.com', Connection: 'close' });
  t.equal(redirect.status, 301, 'plain HTTP to the app with HAPROXY_0_REDIRECT_TO_HTTPS: 301');
  t.equal(redirect.headers.location, 'https://a.example.com/login?x=1', 'to https');
  const plainB = await rawRequest(`${culm.frontend}/`, 'GET', { Host: 'b.example.com', Connection: 'close' });
  t.equal(plainB.body.trim(), port('/b'), 'another app is served over plain HTTP too');

  for (const id of ['/missing', '/garbage']) {
    const host = `${id.slice(1)}.example.com`;
    const r = await httpsRequest(httpsPort, host, host);
    t.equal(r.cn, 'edge.example.com', `${id}: its certificate left out, the default one is offered`);
    t.equal(r.body, port(id), `${id}: still routed over HTTPS`);
  }
  const list = readFileSync(/crt-list (\/\S+)/.exec(culm.config())![1], 'utf8');
  t.equal(list, `${join(certs, 'a.pem')}\n${join(certs, 'b.pem')}\n`, 'the crt-list holds the good certificates only');
  t.ok(await culm.metric('culm_apps_skipped_total{reason="tls cert"}') >= 2, 'both counted as left out');
  const history = await culm.json<Array<{ leftOut?: Array<{ kind: string; id: string }> }>>('/api/history');
  t.ok(history.body.some((h) => h.leftOut?.some((l) => l.kind === 'cert' && l.id === '/garbage')), 'the apply history says HAProxy refused /garbage\'s certificate');

  // A rule that only changes the route map goes through the runtime API: both frontends look it up in the one map.
  t.equal((await httpsRequest(httpsPort, 'x.example.com', 'x.example.com', '/plain/1')).body, port('/plain'), 'Bamboo\'s default path route over HTTPS');
  const put = await culm.json('/api/services/plain', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ acl: 'path_beg -i /shop' }) });
  t.equal(put.status, 200, 'a path rule stored');
  await eventually('the rule routes over HTTPS', async () => (await httpsRequest(httpsPort, 'x.example.com', 'x.example.com', '/shop/cart')).body === port('/plain'));
  const applies = await culm.json<Array<{ mode?: string; reasons: string[] }>>('/api/history');
  t.ok(applies.body.some((r) => r.mode === 'runtime' && r.reasons.some((x) => /rule/.test(x))), 'through the runtime map, no reload');
  const plainShop = await rawRequest(`${culm.frontend}/shop/cart`, 'GET', { Host: 'x.example.com', Connection: 'close' });
  t.equal(plainShop.body.trim(), port('/plain'), 'and over HTTP');

  // Files change without Marathon knowing: the missing one appears, b's is renewed; the next resync picks both up.
  makeCert(join(certs, 'missing.pem'), 'missing.example.com');
  makeCert(join(certs, 'b.pem'), 'b.example.com');
  const renewed = new X509Certificate(readFileSync(join(certs, 'b.pem'))).fingerprint256;
  t.not(renewed, bb.fingerprint, 'b\'s file holds a new certificate');
  await eventually('the new certificates are offered', async () => (await httpsRequest(httpsPort, 'missing.example.com', 'missing.example.com')).cn === 'missing.example.com'
    && (await httpsRequest(httpsPort, 'b.example.com', 'b.example.com')).fingerprint === renewed);
  t.pass('a certificate file that appeared, and a renewed one, are used after the next resync (no Marathon change)');
  t.equal((await httpsRequest(httpsPort, 'a.example.com', 'a.example.com')).cn, 'a.example.com', 'the others unchanged');
});
