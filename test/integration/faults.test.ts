/**
 * Marathon failures change nothing; failover to a second endpoint; a bad template and a failing reload leave
 * the old config serving; a restart with Marathon down serves the saved state.
 */
import t from 'tap';
import { chmodSync, readFileSync, readdirSync, writeFileSync, copyFileSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { MarathonEmulator } from '../helpers/marathon-emulator.js';
import { startCulm } from '../helpers/culm.js';
import { eventually, freePort, startBackend, whoAnswers } from '../helpers/net.js';

const template = new URL('../../templates/haproxy.cfg.eta', import.meta.url).pathname;
const templatesDir = new URL('../../templates/', import.meta.url).pathname;
/** The default template and its partials, copied to `dir` so a test can change them. */
const copyTemplates = (dir: string): void => {
  for (const f of readdirSync(templatesDir)) copyFileSync(join(templatesDir, f), join(dir, f));
};

t.test('Marathon error bodies, HTML, timeouts and resets change nothing; failover to the next endpoint', async (t) => {
  const marathon = await MarathonEmulator.start({ version: '1.10', keepaliveMs: 500 });
  const dead = await freePort(); // nothing listens here
  const a = await startBackend();
  marathon.addApp({ id: '/web' });
  marathon.addTask('/web', { port: a.port });
  const culm = await startCulm({
    marathon: `http://127.0.0.1:${dead},${marathon.url}`,
    env: { CULM_EVENT_MODE: 'sse', CULM_RESYNC_INTERVAL_MS: '300' },
  });
  t.teardown(async () => {
    await culm.destroy();
    await marathon.stop();
    await a.close();
  });
  await culm.waitReady();
  t.same(await whoAnswers(`${culm.frontend}/web`), new Set([String(a.port)]), 'served despite a dead first endpoint');
  const before = culm.config();
  for (const fault of [
    { kind: 'error-body' as const, path: '/v2/apps' },
    { kind: 'html' as const, path: '/v2/apps' },
    { kind: 'slow' as const, path: '/v2/apps', ms: 4000 },
    { kind: 'reset' as const, path: '/v2/apps' },
    { kind: 'status' as const, path: '/v2/apps', status: 502, body: '{"message":"Could not determine the current leader"}' },
    { kind: 'status' as const, path: '/v2/apps', status: 200, body: '{"message":"not apps"}' },
  ]) {
    marathon.fault(fault);
    const resyncs = (): Promise<number> => culm.metric('culm_marathon_resyncs_total{outcome="error"}');
    const n = await resyncs();
    await eventually(`a resync failed under ${fault.kind}`, async () => (await resyncs()) > n, 8000);
    t.equal(culm.config(), before, `${fault.kind}${fault.status ? ` ${fault.status}` : ''}: config unchanged`);
    t.same(await whoAnswers(`${culm.frontend}/web`, 3), new Set([String(a.port)]), `${fault.kind}: still routing`);
  }
  marathon.fault(null);
  const state = await culm.json<{ Apps: unknown[] }>('/api/state');
  t.equal(state.body.Apps.length, 1, 'state kept');
});

t.test('a broken template and a failing reload leave the old config serving, and heal', async (t) => {
  const marathon = await MarathonEmulator.start({ version: '1.10', keepaliveMs: 500 });
  const a = await startBackend();
  const b = await startBackend();
  marathon.addApp({ id: '/web' });
  marathon.addTask('/web', { port: a.port });
  const culm0 = { dir: '' };
  const dirs = await import('node:fs').then((fs) => fs.mkdtempSync(join(process.env.TMPDIR ?? '/tmp', 'culm-faults-')));
  culm0.dir = dirs;
  const tpl = join(dirs, 'haproxy.cfg.eta');
  copyTemplates(dirs);
  const flag = join(dirs, 'fail-reload');
  const out = join(dirs, 'haproxy.cfg');
  const reload = join(dirs, 'reload.sh');
  // The default reload, except that it fails while the flag file exists.
  writeFileSync(reload, `#!/bin/sh\n[ -e ${flag} ] && { echo "[ALERT] simulated reload failure" >&2; exit 1; }\nexec haproxy -f ${out} -p ${out}.pid -D -sf $(cat ${out}.pid 2>/dev/null)\n`);
  chmodSync(reload, 0o755);
  const culm = await startCulm({
    marathon: marathon.url,
    dir: dirs,
    env: { CULM_EVENT_MODE: 'sse', HAPROXY_TEMPLATE_PATH: tpl, HAPROXY_RELOAD_CMD: reload, CULM_RUNTIME_API: 'false' },
  });
  t.teardown(async () => {
    await culm.destroy();
    await marathon.stop();
    await a.close();
    await b.close();
  });
  await culm.waitReady();
  const good = culm.config();

  writeFileSync(tpl, `${readFileSync(template, 'utf8')}\n<% it.no.such.thing %>\n`);
  const taskB = marathon.addTask('/web', { port: b.port });
  await eventually('render error recorded', async () => {
    const h = await culm.json<Array<{ result: string; error?: { code: string } }>>('/api/history');
    return h.body.some((r) => r.error?.code === 'E_TEMPLATE');
  });
  t.equal(culm.config(), good, 'bad template: old config file kept');
  t.same(await whoAnswers(`${culm.frontend}/web`, 3), new Set([String(a.port)]), 'bad template: old config serving');
  const ready = await culm.json<{ checks: Record<string, { ok: boolean }> }>('/readyz');
  t.equal(ready.status, 200, 'culm stays up and ready: HAProxy still has a good config');

  writeFileSync(flag, '');
  copyFileSync(template, tpl); // template fixed: culm picks it up on the next apply, which now fails to reload
  await eventually('reload failure recorded', async () => {
    const h = await culm.json<Array<{ result: string }>>('/api/history');
    return h.body.some((r) => r.result === 'reload-failed');
  });
  t.equal(culm.config(), good, 'failed reload: last good config restored on disk');
  t.same(await whoAnswers(`${culm.frontend}/web`, 3), new Set([String(a.port)]), 'failed reload: old HAProxy serving');

  rmSync(flag);
  await eventually('retried with backoff and applied', async () => (await whoAnswers(`${culm.frontend}/web`, 4)).has(String(b.port)), 15_000);
  t.match(culm.config(), String(b.port));
  t.ok(marathon.tasksOf('/web').some((x) => x.id === taskB));
  t.notOk(existsSync(flag));
});

t.test('restart with Marathon down serves the saved state', async (t) => {
  const marathon = await MarathonEmulator.start({ version: '1.10' });
  const a = await startBackend();
  marathon.addApp({ id: '/web' });
  marathon.addTask('/web', { port: a.port });
  const first = await startCulm({ marathon: marathon.url, env: { CULM_EVENT_MODE: 'sse' } });
  await first.waitReady();
  t.same(await whoAnswers(`${first.frontend}/web`, 2), new Set([String(a.port)]));
  await new Promise((r) => setTimeout(r, 1200)); // the snapshot is written within a second of a change
  await first.destroy(true); // culm and its HAProxy are gone (its directory stays, for the second)
  const port = new URL(marathon.url).port;
  await marathon.stop(); // and Marathon is unreachable
  const second = await startCulm({
    marathon: `http://127.0.0.1:${port}`,
    dir: first.dir,
    ports: { api: Number(new URL(first.api).port), frontend: Number(new URL(first.frontend).port) },
  });
  t.teardown(async () => {
    await second.destroy();
    rmSync(first.dir, { recursive: true, force: true });
    await a.close();
  });
  await second.waitReady();
  t.same(await whoAnswers(`${second.frontend}/web`, 2), new Set([String(a.port)]), 'routing from the saved state');
  const ready = await second.json<{ checks: { marathon: { ok: boolean; detail: string } } }>('/readyz');
  t.equal(ready.body.checks.marathon.ok, false);
  t.match(ready.body.checks.marathon.detail, /saved state/);
});

t.test('first start with Marathon failing and no saved state: the existing config is left alone until a sync', async (t) => {
  const marathon = await MarathonEmulator.start({ version: '1.10' });
  const a = await startBackend();
  marathon.addApp({ id: '/web' });
  marathon.addTask('/web', { port: a.port });
  marathon.fault({ kind: 'error-body', path: '/v2/apps' });
  const dir = await import('node:fs').then((fs) => fs.mkdtempSync(join(process.env.TMPDIR ?? '/tmp', 'culm-first-')));
  const existing = '# a config some earlier daemon wrote\n';
  writeFileSync(join(dir, 'haproxy.cfg'), existing);
  const culm = await startCulm({ marathon: marathon.url, dir, env: { CULM_EVENT_MODE: 'sse', CULM_RESYNC_INTERVAL_MS: '400' } });
  t.teardown(async () => {
    await culm.destroy();
    await marathon.stop();
    await a.close();
  });
  await eventually('REST up', async () => (await fetch(`${culm.api}/healthz`).catch(() => null))?.ok === true);
  await new Promise((r) => setTimeout(r, 1500));
  t.equal(readFileSync(join(dir, 'haproxy.cfg'), 'utf8'), existing, 'no empty config written over the existing one');
  const notReady = await culm.json<{ checks: { marathon: { ok: boolean } } }>('/readyz');
  t.equal(notReady.status, 503);
  t.equal(notReady.body.checks.marathon.ok, false);
  marathon.fault(null);
  await culm.waitReady();
  t.same(await whoAnswers(`${culm.frontend}/web`, 2), new Set([String(a.port)]), 'applied after the first sync');
});
