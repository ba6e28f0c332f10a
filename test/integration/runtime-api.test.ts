/**
 * Task changes on existing backends go through HAProxy's runtime API (no reload), the file on disk still
 * holds the whole truth, and a runtime failure falls back to a reload.
 */
import t from 'tap';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MarathonEmulator } from '../helpers/marathon-emulator.js';
import { startCulm } from '../helpers/culm.js';
import { runtimeCommands } from '../../src/haproxy/runtime-api.js';
import { eventually, get, startBackend, whoAnswers, type Backend } from '../helpers/net.js';

const templatesDir = new URL('../../templates/', import.meta.url).pathname;
/** The default template and its partials, copied to `dir` so a test can change them. */
const copyTemplates = (dir: string): void => {
  for (const f of readdirSync(templatesDir)) copyFileSync(join(templatesDir, f), join(dir, f));
};
const partial = new URL('../../templates/backend.eta', import.meta.url).pathname;

t.test('add, kill and health changes without a reload', async (t) => {
  const marathon = await MarathonEmulator.start({ version: '1.10', keepaliveMs: 1000 });
  const b: Backend[] = [];
  for (let i = 0; i < 3; i++) b.push(await startBackend());
  marathon.addApp({ id: '/web', healthChecks: [{ protocol: 'HTTP', path: '/' }] });
  marathon.addTask('/web', { port: b[0].port, healthy: true });
  const culm = await startCulm({ marathon: marathon.url, env: { CULM_EVENT_MODE: 'sse' } });
  t.teardown(async () => {
    await culm.destroy();
    await marathon.stop();
    await Promise.all(b.map((x) => x.close()));
  });
  await culm.waitReady();
  const pid = culm.haproxy.poll()[0];
  const reloads = (): Promise<number> => culm.metric('culm_haproxy_reload_duration_seconds_count');
  const before = await reloads();

  const id = marathon.addTask('/web', { port: b[1].port, healthy: true });
  await eventually('new task serves', async () => (await whoAnswers(`${culm.frontend}/web`, 4)).has(String(b[1].port)));
  // The file is renamed into place once the commands are through: a moment after the server serves.
  await eventually('the file on disk too', () => culm.config().includes(`127.0.0.1:${b[1].port}`), 5000).catch(() => undefined);
  t.match(culm.config(), `127.0.0.1:${b[1].port}`, 'the file on disk names the new server');
  marathon.setTaskHealth(id, false);
  await eventually('unhealthy task leaves', async () => !(await whoAnswers(`${culm.frontend}/web`, 6)).has(String(b[1].port)));
  marathon.killTask(id, { withKilling: true });
  await eventually('killed task leaves the file', () => !culm.config().includes(`127.0.0.1:${b[1].port}`));
  t.equal(await reloads(), before, 'no reload for any of these changes');
  t.same(readdirSync(culm.dir).filter((n) => n.endsWith('.candidate')), [], 'no candidate file left beside the config');
  t.same(culm.haproxy.poll(), [pid], 'the same HAProxy process serves');
  const history = await culm.json<Array<{ mode?: string; reasons: string[] }>>('/api/history');
  t.ok(history.body.some((r) => r.mode === 'runtime' && r.reasons.some((x) => /\+1 server/.test(x))), 'recorded as runtime applies');

  // A change that needs a reload (a new app) still reloads, and the reloaded config keeps the servers.
  marathon.addTask('/web', { port: b[2].port, healthy: true });
  await eventually('third task serves', async () => (await whoAnswers(`${culm.frontend}/web`, 4)).has(String(b[2].port)));
  marathon.addApp({ id: '/other' });
  await eventually('reloaded for the new app', async () => (await reloads()) > before);
  await eventually('new process', () => culm.haproxy.poll()[0] !== pid);
  t.same(await whoAnswers(`${culm.frontend}/web`, 6), new Set([String(b[0].port), String(b[2].port)]), 'servers kept across the reload');
});

t.test('a runtime failure falls back to a reload', async (t) => {
  const marathon = await MarathonEmulator.start({ version: '1.10', keepaliveMs: 1000 });
  const a = await startBackend();
  const c = await startBackend();
  marathon.addApp({ id: '/web' });
  marathon.addTask('/web', { port: a.port });
  // `balance source` is a static algorithm: HAProxy refuses `add server` there.
  const dir = mkdtempSync(join(tmpdir(), 'culm-rt-'));
  copyTemplates(dir);
  writeFileSync(join(dir, 'backend.eta'), readFileSync(partial, 'utf8').replace('balance <%= b.Balance %>', 'balance source'));
  const culm = await startCulm({ marathon: marathon.url, dir, env: { CULM_EVENT_MODE: 'sse', HAPROXY_TEMPLATE_PATH: join(dir, 'haproxy.cfg.eta') } });
  t.teardown(async () => {
    await culm.destroy();
    await marathon.stop();
    await a.close();
    await c.close();
  });
  await culm.waitReady();
  const reloads = (): Promise<number> => culm.metric('culm_haproxy_reload_duration_seconds_count');
  const before = await reloads();
  marathon.addTask('/web', { port: c.port });
  await eventually('applied by a reload after the runtime failure', async () => (await reloads()) > before);
  t.ok(await culm.metric('culm_haproxy_runtime_failures_total') >= 1, 'the runtime failure was counted');
  t.match(culm.config(), `127.0.0.1:${c.port}`);
  t.same(readdirSync(dir).filter((n) => n.endsWith('.candidate')), [], 'the candidate written for the failed runtime change is removed');
  // `balance source` sends one client to one server: ask HAProxy itself what it serves.
  const state = await runtimeCommands(`${culm.outputPath}.sock`, ['show servers state ::web-cluster']);
  t.match(state[0], ` ${c.port} `, 'the reloaded HAProxy has the new server');
  t.equal((await get(`${culm.frontend}/web`)).status, 200);
});
