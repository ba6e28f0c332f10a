/**
 * Wildcard vhosts (`HAPROXY_0_VHOST=*.example.com`) through real culm, HAProxy and the Marathon emulator: a
 * wildcard takes every name under its domain at any depth, never the domain itself nor a name merely ending
 * with it; an exact host beside it wins, a longer wildcard wins over a shorter one; the port and case in
 * `Host:` are ignored; over HTTPS the same (SNI picks a wildcard certificate, `Host:` the app); an exact host
 * added at run time takes its name from the wildcard; a path rule still reaches HAProxy through the runtime
 * map; a bad wildcard (`a.*.com`, or one label under the star: `*.com`) leaves its app out with the reason.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { culmWithLabelledApps, type CulmInstance } from '../helpers/culm.js';
import { eventually, freePort, rawRequest, startBackend } from '../helpers/net.js';
import { reloads } from '../helpers/reload-load.js';
import { httpsRequest, makeCert } from '../helpers/tls.js';

/** Which backend answered a request with this Host and path ('status <n>' when none did). */
async function who(culm: CulmInstance, host: string, path = '/'): Promise<string> {
  const res = await rawRequest(`${culm.frontend}${path}`, 'GET', { Host: host, Connection: 'close' });
  return res.status === 200 ? res.body.trim() : `status ${res.status}`;
}

t.test('wildcard vhosts over HTTP and HTTPS, beside exact hosts, at run time', async (t) => {
  const certs = mkdtempSync(join(tmpdir(), 'culm-it-wild-'));
  makeCert(join(certs, 'edge.pem'), 'edge.example.net');
  makeCert(join(certs, 'wild.pem'), '*.example.com');
  const apps: Record<string, Record<string, string>> = {
    '/exact': { HAPROXY_0_VHOST: 'a.example.com' },
    '/wide': { HAPROXY_0_VHOST: '*.example.com', HAPROXY_0_SSL_CERT: join(certs, 'wild.pem') },
    // The same wildcard as /wide: as two apps with the same exact host, the first by id routes.
    '/zwide': { HAPROXY_0_VHOST: '*.example.com' },
    '/narrow': { HAPROXY_0_VHOST: '*.b.example.com' },
    '/org': { HAPROXY_0_VHOST: 'example.org,*.example.org', HAPROXY_0_PATH: '/shop' },
    '/plain': {},
    '/bad': { HAPROXY_0_VHOST: 'a.*.com' },
    // One label under the star: host routes come before path prefixes, so it would take every .com request.
    '/tld': { HAPROXY_0_VHOST: '*.com' },
    // Beside another host, such a wildcard is left out alone: the app keeps its exact host.
    '/mix': { HAPROXY_0_VHOST: 'mix.example.net,*.net' },
  };
  const httpsPort = await freePort();
  const { marathon, culm, port, close } = await culmWithLabelledApps(apps, { HAPROXY_SSL_CERTS: join(certs, 'edge.pem'), HAPROXY_HTTPS_BIND: `127.0.0.1:${httpsPort}` });
  const later = await startBackend();
  t.teardown(async () => {
    await close();
    await later.close();
    rmSync(certs, { recursive: true, force: true });
  });

  t.equal(await who(culm, 'q.example.com'), port('/wide'), 'one level under the domain: the wildcard');
  t.equal(await who(culm, 'q.r.example.com', '/x'), port('/wide'), 'two levels under it: the wildcard too (any depth)');
  t.equal(await who(culm, 'Q.Example.COM:8080'), port('/wide'), 'the port and case in Host: ignored');
  t.equal(await who(culm, 'example.com'), 'status 503', 'never the domain itself');
  t.equal(await who(culm, 'badexample.com'), 'status 503', 'nor a name merely ending with it');
  t.equal(await who(culm, 'a.example.com'), port('/exact'), 'an exact host beside the wildcard: the exact one');
  t.equal(await who(culm, 'a.example.com:80', '/shop'), port('/exact'), 'with a port in Host: too');
  t.equal(await who(culm, 'z.b.example.com'), port('/narrow'), 'a longer wildcard wins over a shorter one');
  t.equal(await who(culm, 'b.example.com'), port('/wide'), '*.b.example.com is not b.example.com');
  t.equal(await who(culm, 'example.org', '/shop/cart'), port('/org'), 'a domain and its wildcard on one app: the domain');
  t.equal(await who(culm, 'www.example.org:443', '/shop'), port('/org'), 'and a name under it');
  t.equal(await who(culm, 'www.example.org', '/other'), 'status 503', 'the wildcard with a path: both must match');
  t.equal(await who(culm, 'x.example.net', '/plain/1'), port('/plain'), 'an app without labels keeps its path route');

  // HTTPS: SNI picks the wildcard certificate (HAProxy matches it), Host: picks the app by the same rule.
  const wide = await httpsRequest(httpsPort, 'q.example.com', 'q.example.com');
  t.equal(wide.cn, '*.example.com', 'SNI q.example.com: the app\'s wildcard certificate');
  t.equal(wide.body, port('/wide'), 'routed to the wildcard app over HTTPS');
  const exact = await httpsRequest(httpsPort, 'a.example.com', 'a.example.com:443');
  t.equal(exact.body, port('/exact'), 'the exact host wins over HTTPS too');
  const apex = await httpsRequest(httpsPort, 'example.com', 'example.com');
  t.equal(apex.cn, 'edge.example.net', 'the domain itself: not the wildcard certificate\'s name, the default one');
  t.equal(apex.status, 503, 'and not routed to the wildcard app');

  // A bad wildcard: the app is left out, with the reason; nothing else changes.
  t.equal(await who(culm, 'a.x.com'), 'status 503', 'a.*.com routes nothing');
  t.ok(await culm.metric('culm_marathon_data_rejected_total{field="lb_label"}') >= 1, 'counted as a refused label');
  const state = await culm.json<{ Apps: Array<{ Id: string; NotServed: string }> }>('/api/state');
  t.match(state.body.Apps.find((a) => a.Id === '/bad')?.NotServed, /HAPROXY_0_VHOST "a\.\*\.com" is not a host name or a wildcard/, '/api/state says why');
  t.notMatch(culm.config(), '::bad-cluster', 'no backend for it');
  t.equal(await who(culm, 'x.com', '/plain/1'), port('/plain'), '*.com refused: a .com request keeps its path route');
  t.match(state.body.Apps.find((a) => a.Id === '/tld')?.NotServed, /HAPROXY_0_VHOST "\*\.com" names no host but wildcards over one label/, '/api/state says why (listed alone: the port is left out)');
  t.notMatch(culm.config(), '::tld-cluster', 'no backend for *.com');
  t.equal(await who(culm, 'mix.example.net'), port('/mix'), 'mix.example.net,*.net: the exact host routes');
  t.equal(await who(culm, 'other.net', '/plain/1'), port('/plain'), 'and *.net takes nothing: the path route answers');
  t.equal(state.body.Apps.find((a) => a.Id === '/mix')?.NotServed, '', 'the app is served');

  // A path rule only changes the route map: the runtime API, no reload, with the wildcard routes before it intact.
  const before = await reloads(culm);
  const put = await culm.json('/api/services/plain', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ acl: 'path_beg -i /store' }) });
  t.equal(put.status, 200, 'a path rule stored');
  await eventually('the rule routes', async () => (await who(culm, 'x.example.net', '/store/1')) === port('/plain'));
  t.equal(await reloads(culm), before, 'no reload for it');
  t.equal(await who(culm, 'q.example.com', '/store/1'), port('/wide'), 'a wildcard host still wins over a path prefix');

  // An exact host added at run time takes its one name from the wildcard (a reload), the rest stays with it.
  marathon.addApp({ id: '/q', labels: { HAPROXY_0_VHOST: 'q.example.com' } });
  marathon.addTask('/q', { port: later.port });
  await eventually('the new exact host routes', async () => (await who(culm, 'q.example.com')) === String(later.port));
  // The reload's metric is counted when the apply returns, a moment after HAProxy serves the new config.
  await eventually('the reload is counted', async () => (await reloads(culm)) > before);
  t.pass('through a reload');
  t.equal(await who(culm, 'w.example.com'), port('/wide'), 'the wildcard keeps the other names');
  t.equal(await who(culm, 'a.example.com'), port('/exact'), 'and the other exact host its own');
});
