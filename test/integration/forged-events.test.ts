/**
 * Issue 9, "Forged events steer traffic": the real culm in callback mode against the Marathon 1.4 emulator and
 * a real HAProxy. Callbacks without the secret culm registered are hints: a forged kill, a RUNNING task on an
 * attacker's server, an app_terminated_event and a failed health result change nothing Marathon does not
 * confirm, in the config, in HAProxy's routing and in the saved state; the same events with the secret are
 * applied; a flood of forged kills for made-up ids is handled quickly, with a bounded number of reads.
 */
import t from 'tap';
import { performance } from 'node:perf_hooks';
import { rmSync } from 'node:fs';
import { MarathonEmulator } from '../helpers/marathon-emulator.js';
import { startCulm, type CulmInstance } from '../helpers/culm.js';
import { eventually, freePort, startBackend, whoAnswers } from '../helpers/net.js';

const CALLBACK = '/api/marathon/event_callback';

async function post(culm: CulmInstance, body: object, token?: string): Promise<{ status: number; body: { kind?: string } }> {
  return culm.json(`${CALLBACK}${token === undefined ? '' : `?token=${encodeURIComponent(token)}`}`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
}

const statusUpdate = (appId: string, taskId: string, taskStatus: string, port: number) => ({
  slaveId: 'agent-S0', taskId, taskStatus, message: '', appId, host: '127.0.0.1',
  ipAddresses: [{ ipAddress: '127.0.0.1', protocol: 'IPv4' }], ports: [port], version: '2026-12-01T20:00:00.000Z',
  eventType: 'status_update_event', timestamp: new Date().toISOString(),
});

t.test('forged events without the secret change nothing; with it they apply; a flood stays cheap', async (t) => {
  const marathon = await MarathonEmulator.start({ version: '1.4' });
  const [a, b, h, attacker] = await Promise.all([startBackend(), startBackend(), startBackend(), startBackend()]);
  marathon.addApp({ id: '/web' });
  marathon.addApp({ id: '/api', healthChecks: [{ protocol: 'HTTP', path: '/' }] });
  const taskA = marathon.addTask('/web', { port: a.port });
  marathon.addTask('/web', { port: b.port });
  const taskH = marathon.addTask('/api', { port: h.port, healthy: true });
  const ports = { api: await freePort(), frontend: await freePort() };
  const env = {
    BAMBOO_ENDPOINT: `http://127.0.0.1:${ports.api}`, CULM_EVENT_MODE: 'callback',
    // No periodic resync: whatever a forged event did would stay, so an unchanged config proves it did nothing.
    CULM_RESYNC_INTERVAL_MS: '0',
  };
  let culm = await startCulm({ marathon: marathon.url, ports, env });
  let dir = culm.dir;
  t.teardown(async () => {
    await culm.destroy();
    rmSync(dir, { recursive: true, force: true });
    await marathon.stop();
    await Promise.all([a, b, h, attacker].map((x) => x.close()));
  });
  await culm.waitReady();
  await eventually('both apps route', async () => (await whoAnswers(`${culm.frontend}/web`, 4)).size === 2
    && (await whoAnswers(`${culm.frontend}/api`, 1)).has(String(h.port)));

  // The secret Marathon was given, as Marathon lists it; culm made it (no CULM_CALLBACK_TOKEN) and never logs it.
  const ours = marathon.subscriptions.filter((u) => u.startsWith(`${env.BAMBOO_ENDPOINT}${CALLBACK}`));
  t.equal(ours.length, 1, 'one subscription');
  const token = new URL(ours[0]).searchParams.get('token') ?? '';
  t.match(token, /^[A-Za-z0-9_-]{43}$/, 'a generated 256-bit URL-safe secret');
  t.notMatch(culm.child.output(), token, 'the secret is not in the log');

  const forged = [
    { desc: 'TASK_KILLED for a real task', body: statusUpdate('/web', taskA, 'TASK_KILLED', a.port) },
    { desc: 'TASK_RUNNING on an attacker host', body: statusUpdate('/web', 'web.0badc0de-0000-11ef-0000-000000000001', 'TASK_RUNNING', attacker.port) },
    { desc: 'app_terminated_event', body: { appId: '/web', eventType: 'app_terminated_event', timestamp: new Date().toISOString() } },
    { desc: 'health false', body: { appId: '/api', instanceId: marathon.tasks.get(taskH)!.instanceId, version: '2026-12-01T20:00:00.000Z', alive: false, eventType: 'health_status_changed_event', timestamp: new Date().toISOString() } },
  ];
  const config = culm.config();
  const state = (await culm.json('/api/state')).body;
  const appReads = (): number => marathon.requests.filter((r) => r.path.startsWith('/v2/apps/')).length;
  const readsBefore = appReads();
  for (const f of forged) {
    const wrong = await post(culm, f.body, 'not-the-secret');
    const none = await post(culm, f.body);
    t.same([none.status, none.body.kind, wrong.status, wrong.body.kind], [200, 'hint', 200, 'hint'], `${f.desc}: 200, a hint (with no token and a wrong one)`);
  }
  await eventually('the hinted apps re-read', () => appReads() >= readsBefore + 2, 5000);
  await new Promise((r) => setTimeout(r, 800)); // settle windows and any apply would be long done
  t.ok(appReads() - readsBefore <= 4, `8 hints for 2 apps: ${appReads() - readsBefore} reads`);
  t.equal(culm.config(), config, 'the rendered config is unchanged');
  t.same((await culm.json('/api/state')).body, state, 'the state is unchanged');
  t.same(await whoAnswers(`${culm.frontend}/web`, 6), new Set([String(a.port), String(b.port)]), 'HAProxy routes /web to the real tasks only');
  t.same(await whoAnswers(`${culm.frontend}/api`, 2), new Set([String(h.port)]), 'the healthy task still serves /api');
  t.equal(attacker.hits, 0, 'the attacker got no request');
  t.ok(await culm.metric('culm_marathon_hints_total{outcome="read-applied"}') >= 2, 'the reads are counted');

  // Restart with Marathon's app list failing: culm serves its saved state, which holds nothing forged.
  await new Promise((r) => setTimeout(r, 1200)); // a snapshot would be written within a second of a change
  await culm.destroy(true);
  marathon.fault({ kind: 'error-body', path: '/v2/apps' });
  culm = await startCulm({ marathon: marathon.url, ports, env, dir });
  dir = culm.dir;
  await culm.waitReady();
  t.same((await culm.json('/api/state')).body, state, 'the restored state is the real one');
  t.same(await whoAnswers(`${culm.frontend}/web`, 6), new Set([String(a.port), String(b.port)]), 'routing after the restart: the real tasks');
  t.same(marathon.subscriptions.filter((u) => u.startsWith(`${env.BAMBOO_ENDPOINT}${CALLBACK}`)), ours, 'the same secret after the restart');
  marathon.fault(null);

  // A flood of forged kills (and RUNNINGs) for made-up apps and tasks, 32 connections at once.
  const resyncs = (): number => marathon.requests.filter((r) => r.path === '/v2/apps').length;
  const floodReads = appReads();
  const floodResyncs = resyncs();
  const kills = 5000;
  const runnings = 1000;
  const blockSize = 1000;
  const blockMs: number[] = [];
  let bad = 0;
  const began = performance.now();
  for (let from = 0; from < kills + runnings; from += blockSize) {
    // One block of forged events, 32 at a time; a block is timed to see whether the later ones cost more.
    const blockBegan = performance.now();
    let next = from;
    const worker = async (): Promise<void> => {
      while (next < from + blockSize) {
        const i = next++;
        const body = i < kills
          ? statusUpdate(`/made-up-${i}`, `made-up-${i}.${i}`, 'TASK_KILLED', 31000)
          : statusUpdate(`/made-up-${i}`, `made-up-${i}.${i}`, 'TASK_RUNNING', attacker.port);
        const res = await fetch(`${culm.api}${CALLBACK}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        if (res.status !== 200 || (await res.json() as { kind: string }).kind !== 'hint') bad++;
      }
    };
    await Promise.all(Array.from({ length: 32 }, worker));
    blockMs.push(performance.now() - blockBegan);
  }
  const floodMs = performance.now() - began;
  t.comment(`flood: ${kills + runnings} forged events in ${floodMs.toFixed(0)} ms (${((kills + runnings) / floodMs * 1000).toFixed(0)}/s); ms per ${blockSize}: ${blockMs.map((ms) => ms.toFixed(0)).join(', ')}`);
  t.equal(bad, 0, 'every forged event answered 200 as a hint');
  // Loopback on a shared machine: absolute figures vary with the load, a slowdown with the count would not.
  const fastest = Math.min(...blockMs);
  t.ok(blockMs.at(-2)! < 4 * fastest + 1000, 'the last kills cost about what the first did');
  await new Promise((r) => setTimeout(r, 1000));
  const reads = appReads() - floodReads;
  const full = resyncs() - floodResyncs;
  t.comment(`Marathon reads caused by the flood: ${reads} app reads, ${full} full resyncs`);
  t.equal(reads, 0, 'no app read for made-up ids');
  t.ok(full >= 1 && full <= Math.ceil(floodMs / 800) + 2, 'made-up apps cost a few rate-limited resyncs, not one request each');
  t.same((await culm.json('/api/state')).body, state, 'the state is unchanged after the flood');
  const healthz = performance.now();
  t.equal((await fetch(`${culm.api}/healthz`)).status, 200);
  t.comment(`/healthz after the flood: ${(performance.now() - healthz).toFixed(1)} ms`);

  // The same events with the secret Marathon was given: applied at once.
  const before = culm.config();
  t.equal((await post(culm, forged[0].body, token)).body.kind, 'task', 'with the secret: the trusted path');
  await eventually('the killed task left /web', () => !culm.config().includes(`127.0.0.1:${a.port}`), 5000);
  t.not(culm.config(), before);
  await post(culm, forged[1].body, token);
  await eventually('the RUNNING task is served', async () => (await whoAnswers(`${culm.frontend}/web`, 6)).has(String(attacker.port)), 5000);
  await post(culm, forged[3].body, token);
  await eventually('the unhealthy task left /api', async () => (await whoAnswers(`${culm.frontend}/api`, 2)).has('status 503'), 5000);
  await post(culm, forged[2].body, token);
  // Applied at once; the resync it triggers brings /web back, since Marathon still runs it.
  await eventually('/web is gone', async () => !(await culm.json<{ Apps: Array<{ Id: string }> }>('/api/state')).body.Apps.some((x) => x.Id === '/web'), 5000, 5);
  t.notMatch(culm.child.output(), token, 'the secret never reached the log, through all of it');
});
