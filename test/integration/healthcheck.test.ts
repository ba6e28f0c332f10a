/**
 * Issue 11, the image's HEALTHCHECK (`node dist/healthcheck.js`), against the real culm binary and HAProxy 2.6:
 * it reads BIND as culm does, exits 0 against a ready culm on a non-default address, 1 when nothing listens
 * there, and 1 when HAProxy is not running a config (its frontend port held by this test).
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { MarathonEmulator } from '../helpers/marathon-emulator.js';
import { startCulm, type CulmInstance } from '../helpers/culm.js';
import { eventually, freePort, startBackend, type Backend } from '../helpers/net.js';

const HEALTHCHECK = new URL('../../dist/healthcheck.js', import.meta.url).pathname;

let marathon: MarathonEmulator;
let backend: Backend;
const culms: CulmInstance[] = [];

t.before(async () => {
  marathon = await MarathonEmulator.start({ version: '1.10', keepaliveMs: 500 });
  backend = await startBackend();
  marathon.addApp({ id: '/web' });
  marathon.addTask('/web', { port: backend.port });
});

t.teardown(async () => {
  for (const c of culms) await c.destroy();
  await marathon?.stop();
  await backend?.close();
});

function healthcheck(env: Record<string, string>): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [HEALTHCHECK], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8', timeout: 10_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}`.trim() };
}

const apiPort = (c: CulmInstance): number => Number(new URL(c.api).port);

t.test('ready culm on a non-default BIND: 0; the same port as `:port`: 0; nothing listening: 1', async (t) => {
  const culm = await startCulm({ marathon: marathon.url, env: { CULM_EVENT_MODE: 'sse' } });
  culms.push(culm);
  await culm.waitReady();
  const port = apiPort(culm);
  t.not(port, 8000, 'not the default port');
  const specific = healthcheck({ BIND: `127.0.0.1:${port}` });
  t.equal(specific.code, 0, specific.out);
  t.match(specific.out, new RegExp(`^healthy: http://127\\.0\\.0\\.1:${port}/readyz 200$`), 'one line saying so');
  const all = healthcheck({ BIND: `:${port}` });
  t.equal(all.code, 0, `:port probes 127.0.0.1 (${all.out})`);
  const none = await freePort();
  const nothing = healthcheck({ BIND: `127.0.0.1:${none}` });
  t.equal(nothing.code, 1, nothing.out);
  t.match(nothing.out, /^unhealthy: .*did not answer \(ECONNREFUSED\)$/, 'says why');
});

t.test('HAProxy cannot run its config (frontend port taken): 1, naming haproxy', async (t) => {
  const holder: Server = createServer();
  const frontend = await freePort();
  await new Promise<void>((resolve) => holder.listen(frontend, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => holder.close(() => resolve())));
  const culm = await startCulm({ marathon: marathon.url, env: { CULM_EVENT_MODE: 'sse' }, ports: { api: await freePort(), frontend } });
  culms.push(culm);
  await eventually('culm tried to start HAProxy', async () => {
    const r = await culm.json<{ checks?: { haproxy?: { detail: string } } }>('/readyz').catch(() => null);
    return r !== null && r.status === 503 && /reload/.test(r.body.checks?.haproxy?.detail ?? '');
  }, 15_000);
  const r = healthcheck({ BIND: `127.0.0.1:${apiPort(culm)}` });
  t.equal(r.code, 1, r.out);
  t.match(r.out, /^unhealthy: .*\/readyz 503: .*haproxy: /, 'names the haproxy check');
});

t.test('a configuration that does not load: 1, saying so', async (t) => {
  const r = healthcheck({ BIND: 'not-an-address' });
  t.equal(r.code, 1);
  t.match(r.out, /^unhealthy: culm's configuration does not load: .*BIND/);
});
