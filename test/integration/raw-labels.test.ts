/**
 * Raw HAProxy lines from marathon-lb's labels and a per-app backend partial, through real culm, HAProxy and the
 * Marathon emulator: with HAProxy.TrustLabelConfig on, an app's `HAPROXY_0_BACKEND_HEAD` is in effect on its
 * responses; a line HAProxy refuses, or a partial that throws, leaves that app out while the others route; off, the label is ignored with
 * one log line. A partial named by `HAPROXY_TEMPLATE` or a rule's `Config.template` changes that app's backend
 * only; a rule naming a partial that is not there is refused before anything is stored. FRONTEND_HEAD and
 * FRONTEND_BACKEND_GLUE reach the app's own service-port frontend, never the shared one.
 */
import t from 'tap';
import type { Test } from 'tap';
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MarathonEmulator } from '../helpers/marathon-emulator.js';
import { culmWithLabelledApps, startCulm, type CulmInstance } from '../helpers/culm.js';
import { eventually, freePort, rawRequest, startBackend } from '../helpers/net.js';

const get = (culm: CulmInstance, path: string) => rawRequest(`${culm.frontend}${path}`, 'GET', { Host: 'any.example.com', Connection: 'close' });

/** A template directory: the shipped templates, plus an override partial that adds a header to the app's backend. */
function templateDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'culm-it-templates-'));
  const shipped = new URL('../../templates/', import.meta.url).pathname;
  for (const f of readdirSync(shipped)) copyFileSync(join(shipped, f), join(dir, f));
  writeFileSync(join(dir, 'override.eta'), "<%~ include('./backend.eta', it) -%>\n    http-response set-header X-Override <%= it.app.EscapedId %>\n");
  writeFileSync(join(dir, 'throws.eta'), '<% throw new Error("this partial is broken") %>');
  return dir;
}

async function setUp(t: Test, apps: Record<string, Record<string, string>>, env: Record<string, string>) {
  const { marathon, backends, culm, close } = await culmWithLabelledApps(apps, env);
  t.teardown(close);
  return { marathon, backends, culm };
}

t.test('trusted: a BACKEND_HEAD line in effect, a bad one drops its app only, partials per app', async (t) => {
  const templates = templateDir();
  t.teardown(() => rmSync(templates, { recursive: true, force: true }));
  const { marathon, backends, culm } = await setUp(t, {
    '/hdr': { HAPROXY_0_BACKEND_HEAD: 'http-response set-header X-Culm-Test yes' },
    '/bad': { HAPROXY_0_BACKEND_HEAD: 'http-response set-header X-Bad yes\nno-such-directive here' },
    '/tpl': { HAPROXY_TEMPLATE: 'override.eta' },
    '/throws': { HAPROXY_TEMPLATE: 'throws.eta' },
    '/other': {},
    // At most a quarter of the apps may be left out (a fault hitting many is the template's): two bad apps need eight.
    '/more1': {}, '/more2': {}, '/more3': {},
  }, { CULM_TRUST_LABEL_CONFIG: 'true', HAPROXY_TEMPLATE_PATH: join(templates, 'haproxy.cfg.eta') });

  await eventually('the bad app is left out', () => !culm.config().includes('backend ::bad-cluster'));
  t.notMatch(culm.config(), /::throws/, 'the app whose partial throws is left out');
  t.equal((await get(culm, '/throws')).status, 503, 'and not routed');
  const hdr = await get(culm, '/hdr');
  t.equal(hdr.body.trim(), String(backends['/hdr'].port), '/hdr routes');
  t.equal(hdr.headers['x-culm-test'], 'yes', 'its BACKEND_HEAD line sets the header on responses');
  const other = await get(culm, '/other');
  t.equal(other.body.trim(), String(backends['/other'].port), 'another app keeps routing');
  t.equal(other.headers['x-culm-test'], undefined, 'without the header');
  t.equal(other.headers['x-override'], undefined, 'nor the partial\'s');
  t.equal((await get(culm, '/bad')).status, 503, 'the app whose line HAProxy refuses is left out');
  t.ok(await culm.metric('culm_apps_skipped_total{reason="invalid"}') >= 1, 'and counted');
  const history = await culm.json<Array<{ leftOut?: Array<{ kind: string; id: string }> }>>('/api/history');
  t.ok(history.body.some((r) => r.leftOut?.some((l) => l.kind === 'app' && l.id === '/bad')), '/api/history names it');
  t.ok(history.body.some((r) => r.leftOut?.some((l) => l.kind === 'app' && l.id === '/throws')), 'and the app whose partial throws');
  const tpl = await get(culm, '/tpl');
  t.equal(tpl.body.trim(), String(backends['/tpl'].port), 'the app with a partial routes');
  t.equal(tpl.headers['x-override'], '::tpl', 'through its partial');

  // A rule naming a partial that is not there: 400, nothing stored.
  const missing = await culm.json<{ error: { code: string; message: string } }>('/api/services/other', {
    method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ acl: 'path_beg -i /other', config: { template: 'missing.eta' } }),
  });
  t.equal(missing.status, 400, 'a rule naming a missing partial is refused');
  t.equal(missing.body.error.code, 'E_RULE_INVALID');
  t.match(missing.body.error.message, /missing\.eta is not a partial in the template directory/);
  t.equal((await culm.json('/api/services/other')).status, 404, 'nothing was stored');
  const traversal = await culm.json<{ error: { code: string } }>('/api/services/other', {
    method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ acl: 'path_beg -i /other', config: { template: '../haproxy.cfg.eta' } }),
  });
  t.equal(traversal.status, 400, 'a path is refused');
  t.equal(traversal.body.error.code, 'E_RULE_INVALID');

  // A rule naming the partial: that app's backend changes, no other's.
  const put = await culm.json('/api/services/other', {
    method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ acl: 'path_beg -i /other', config: { template: 'override.eta' } }),
  });
  t.equal(put.status, 200, 'a rule naming a partial is stored');
  await eventually('the rule\'s partial is used', async () => (await get(culm, '/other')).headers['x-override'] === '::other');
  t.equal((await get(culm, '/hdr')).headers['x-override'], undefined, 'other apps unchanged');

  // The bad app fixed: it comes back.
  marathon.addApp({ id: '/bad', labels: { HAPROXY_0_BACKEND_HEAD: 'http-response set-header X-Bad yes' } });
  await eventually('the fixed app routes', async () => (await get(culm, '/bad')).headers['x-bad'] === 'yes');
});

t.test('not trusted (the default): the label is ignored, with one log line for the app', async (t) => {
  const { marathon, backends, culm } = await setUp(t, {
    '/hdr': { HAPROXY_0_BACKEND_HEAD: 'http-response set-header X-Culm-Test yes' },
  }, {});
  const hdr = await get(culm, '/hdr');
  t.equal(hdr.body.trim(), String(backends['/hdr'].port), 'the app routes');
  t.equal(hdr.headers['x-culm-test'], undefined, 'the label\'s header is absent');
  t.notMatch(culm.config(), /X-Culm-Test/, 'nothing of it in the config');
  // Another app and another render: the ignored label is not told again.
  const later = await startBackend();
  t.teardown(() => later.close());
  marathon.addApp({ id: '/later' });
  marathon.addTask('/later', { port: later.port });
  await eventually('the later app routes', async () => (await get(culm, '/later')).body.trim() === String(later.port));
  const told = culm.child.output().split('\n').filter((l) => l.includes('raw HAProxy labels ignored'));
  t.equal(told.length, 1, 'one log line');
  t.match(told[0], /"app":"\/hdr"/);
  t.match(told[0], /HAPROXY_0_BACKEND_HEAD/);
});

t.test('trusted: FRONTEND_HEAD and FRONTEND_BACKEND_GLUE in the app\'s own service-port frontend only', async (t) => {
  const marathon = await MarathonEmulator.start({ version: '1.10', keepaliveMs: 1000 });
  const web = await startBackend();
  const servicePort = await freePort();
  marathon.addApp({
    id: '/web', servicePorts: [servicePort],
    labels: {
      HAPROXY_0_FRONTEND_HEAD: '\nfrontend {backend}\n  bind {bindAddr}:{servicePort}{sslCert}{bindOptions}\n  mode {mode}\n  http-response set-header X-Frontend {servicePort}\n',
      HAPROXY_0_FRONTEND_BACKEND_GLUE: '  use_backend {backend} if {{ path_beg /ok }}\n',
    },
  });
  marathon.addTask('/web', { port: web.port });
  const culm = await startCulm({ marathon: marathon.url, env: { CULM_EVENT_MODE: 'sse', CULM_BIND_SERVICE_PORTS: 'true', CULM_SERVICE_PORT_BIND: '127.0.0.1', CULM_TRUST_LABEL_CONFIG: 'true' } });
  t.teardown(async () => {
    await culm.destroy();
    await marathon.stop();
    await web.close();
  });
  await culm.waitReady();
  const own = await rawRequest(`http://127.0.0.1:${servicePort}/ok`, 'GET', { Connection: 'close' });
  t.equal(own.body.trim(), String(web.port), 'the glue routes /ok on the service port');
  t.equal(own.headers['x-frontend'], String(servicePort), 'the head\'s header, its placeholder filled');
  t.equal((await rawRequest(`http://127.0.0.1:${servicePort}/other`, 'GET', { Connection: 'close' })).status, 503, 'the glue replaced default_backend: nothing else routes there');
  const shared = await get(culm, '/web');
  t.equal(shared.body.trim(), String(web.port), 'the shared frontend routes the app as before');
  t.equal(shared.headers['x-frontend'], undefined, 'without the app\'s frontend lines');
});
