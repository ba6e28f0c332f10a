/**
 * End to end, SSE mode (Marathon 1.10 emulator): real culm binary, real HAProxy, real HTTP through it.
 */
import t from 'tap';
import { MarathonEmulator } from '../helpers/marathon-emulator.js';
import { startCulm, type CulmInstance } from '../helpers/culm.js';
import { eventually, get, startBackend, whoAnswers, type Backend } from '../helpers/net.js';

let marathon: MarathonEmulator;
let culm: CulmInstance;
const backends: Backend[] = [];

t.before(async () => {
  marathon = await MarathonEmulator.start({ version: '1.10', keepaliveMs: 500 });
  for (let i = 0; i < 4; i++) backends.push(await startBackend());
  marathon.addApp({ id: '/web' });
  marathon.addTask('/web', { port: backends[0].port });
  marathon.addApp({ id: '/grp/api', healthChecks: [{ protocol: 'HTTP', path: '/health' }] });
  marathon.addTask('/grp/api', { port: backends[1].port, healthy: true });
  culm = await startCulm({ marathon: marathon.url, env: { CULM_EVENT_MODE: 'sse' } });
  await culm.waitReady();
});

t.teardown(async () => {
  await culm?.destroy();
  await marathon?.stop();
  await Promise.all(backends.map((b) => b.close()));
});

t.test('a request to /<app> reaches the app\'s task', async (t) => {
  t.same(await whoAnswers(`${culm.frontend}/web`), new Set([String(backends[0].port)]));
  t.same(await whoAnswers(`${culm.frontend}/grp/api/x`), new Set([String(backends[1].port)]));
  const unknown = await get(`${culm.frontend}/nothing-here`);
  t.equal(unknown.status, 503, 'no matching ACL: HAProxy answers 503');
});

t.test('scale up: the new task serves after its status update', async (t) => {
  const taskId = marathon.addTask('/web', { port: backends[2].port });
  const ms = await eventually('new task serves', async () => (await whoAnswers(`${culm.frontend}/web`, 4)).has(String(backends[2].port)));
  t.pass(`event → serving in ${ms} ms`);
  t.same(await whoAnswers(`${culm.frontend}/web`, 6), new Set([String(backends[0].port), String(backends[2].port)]));
  t.test('kill: the task stops serving', async (t) => {
    marathon.killTask(taskId, { withKilling: true });
    await eventually('killed task gone', async () => {
      const seen = await whoAnswers(`${culm.frontend}/web`, 6);
      return seen.size === 1 && seen.has(String(backends[0].port));
    });
    await eventually('the config no longer names it', () => !culm.config().includes(`:${backends[2].port}`));
    t.pass('the config on disk no longer names it');
  });
});

t.test('health flip: an unhealthy task leaves, a healthy one comes back', async (t) => {
  const id = marathon.tasksOf('/grp/api')[0].id;
  marathon.setTaskHealth(id, false);
  await eventually('unhealthy task removed', async () => (await get(`${culm.frontend}/grp/api`)).status === 503);
  marathon.setTaskHealth(id, true);
  await eventually('healthy again', async () => (await get(`${culm.frontend}/grp/api`)).body === String(backends[1].port));
  t.pass();
});

t.test('a rule set via REST changes routing; a bad rule is refused and changes nothing', async (t) => {
  const put = await culm.json('/api/services/web', {
    method: 'PUT', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ acl: 'path_beg -i /frontpage' }),
  });
  t.equal(put.status, 200);
  await eventually('rule applied', async () => (await get(`${culm.frontend}/frontpage`)).body === String(backends[0].port));
  const unknown = await culm.json<{ error: { code: string; message: string } }>('/api/services', {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id: '/grp/api', acl: 'path_beg_nonsense -i /x' }),
  });
  t.equal(unknown.status, 400);
  t.equal(unknown.body.error.code, 'E_RULE_ACL_FETCH', 'an unknown fetch is refused by the rule grammar');
  // What the grammar lets through, HAProxy still judges.
  const bad = await culm.json<{ error: { code: string; message: string; detail?: string } }>('/api/services', {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id: '/grp/api', acl: 'path_reg [a-' }),
  });
  t.equal(bad.status, 400);
  t.equal(bad.body.error.code, 'E_RULE_INVALID');
  t.match(bad.body.error.message, /^HAProxy refuses this rule: regex '\[a-' is invalid/, 'HAProxy\'s first reason, short');
  t.match(bad.body.error.detail, /parsing \[haproxy\.cfg:\d+\] : .*regex '\[a-' is invalid/, 'HAProxy\'s whole message in the detail');
  const services = await culm.json<Record<string, { Acl: string }>>('/api/services');
  t.same(Object.keys(services.body), ['/web'], 'the bad rule was not stored');
  t.equal(services.body['/web'].Acl, 'path_beg -i /frontpage');
  const inject = await culm.json('/api/services/web', {
    method: 'PUT', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ acl: 'path_beg /a\nbackend evil' }),
  });
  t.equal(inject.status, 400, 'newline injection refused');
  const del = await culm.json('/api/services/web', { method: 'DELETE' });
  t.equal(del.status, 200);
  await eventually('default ACL back', async () => (await get(`${culm.frontend}/web`)).body === String(backends[0].port));
});

t.test('leader failover: health results vanish, serving tasks stay', async (t) => {
  marathon.clearHealthResults();
  const resyncs = (): Promise<number> => culm.metric('culm_marathon_resyncs_total{outcome="ok"}');
  const n = await resyncs();
  marathon.emit('deployment_success', { id: 'x', eventType: 'deployment_success', timestamp: new Date().toISOString() });
  await eventually('resync after an app-level event', async () => (await resyncs()) > n);
  t.equal((await get(`${culm.frontend}/grp/api`)).body, String(backends[1].port), 'still serving with last known health');
});

t.test('bridge (1.10 container/bridge) and IP-per-task apps route', async (t) => {
  marathon.addApp({ id: '/bridged', network: 'bridge', containerPort: 80 });
  marathon.addTask('/bridged', { port: backends[2].port });
  marathon.addApp({ id: '/ipt', network: 'container', containerPort: backends[3].port });
  marathon.addTask('/ipt', { port: backends[3].port, ip: '127.0.0.1' });
  await eventually('bridge app serves', async () => (await get(`${culm.frontend}/bridged`)).body === String(backends[2].port));
  await eventually('IP-per-task app serves', async () => (await get(`${culm.frontend}/ipt`)).body === String(backends[3].port));
  t.pass();
});

t.test('in SSE mode, event POSTs are refused: nobody can forge a task kill', async (t) => {
  const id = marathon.tasksOf('/web')[0].id;
  const forged = await culm.json<{ error: { code: string } }>('/api/marathon/event_callback', {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ eventType: 'status_update_event', appId: '/web', taskId: id, taskStatus: 'TASK_KILLED', host: '127.0.0.1', ports: [1] }),
  });
  t.equal(forged.status, 404);
  t.equal(forged.body.error.code, 'E_CALLBACKS_DISABLED');
  t.equal((await get(`${culm.frontend}/web`)).status, 200, 'still routing');
});

t.test('state and history APIs reflect Marathon', async (t) => {
  const state = await culm.json<{ Apps: Array<{ Id: string; Tasks: unknown[] }> }>('/api/state');
  t.same(state.body.Apps.map((a) => a.Id).sort(), ['/bridged', '/grp/api', '/ipt', '/web']);
  const history = await culm.json<Array<{ result: string; reasons: string[] }>>('/api/history');
  t.ok(history.body.some((r) => r.result === 'applied'), 'applies recorded');
  const metrics = await fetch(`${culm.api}/metrics`).then((r) => r.text());
  t.match(metrics, /culm_applies_total\{result="applied"\} \d+/);
  t.match(metrics, /culm_apps 4/);
});
