/**
 * HA mode: three culm instances, each beside its own HAProxy, one ZooKeeper (real, 3.8), one Marathon
 * emulator. Bamboo's rule tree is honoured as is; a rule posted to one instance routes on all; configs are
 * identical; leadership moves on kill -9; a ZooKeeper outage keeps routing and refuses rule writes.
 */
import t from 'tap';
import { MarathonEmulator } from '../helpers/marathon-emulator.js';
import { startCulm, type CulmInstance } from '../helpers/culm.js';
import { eventually, get, startBackend, type Backend } from '../helpers/net.js';
import { rawZk, startZooKeeper, type ZooKeeperServer } from '../helpers/zookeeper.js';

const PATH = '/marathon-haproxy/state';

let zk: ZooKeeperServer;
let marathon: MarathonEmulator;
const backends: Backend[] = [];
const culms: CulmInstance[] = [];

const env = (): Record<string, string> => ({
  BAMBOO_ZK_HOST: zk.connect, BAMBOO_ZK_PATH: PATH, CULM_EVENT_MODE: 'sse', CULM_ZK_SESSION_TIMEOUT_MS: '2000',
});

/** The config with this instance's own paths and ports masked: what must be the same on every instance. */
function normalised(c: CulmInstance): string {
  return c.config()
    .replaceAll(c.dir, '<dir>')
    .replace(/bind 127\.0\.0\.1:\d+/, 'bind <frontend>');
}

interface Cluster { mode: string; self: string; leader: string | null; instances: Array<{ id: string; leader: boolean; lastApply?: { configHash?: string } }> }

t.before(async () => {
  zk = await startZooKeeper({ tickTimeMs: 500 });
  // Bamboo's tree, as Bamboo wrote it: a v1 node (bare ACL), a v2 node, an id with slashes, and garbage.
  const raw = await rawZk(zk.connect);
  await raw.mkdirp(PATH);
  await raw.create(`${PATH}/%2Fv1app`, 'path_beg -i /legacy');
  await raw.create(`${PATH}/%2Fgrp%2Fapp1`, JSON.stringify({ version: '2', config: { Acl: 'path_beg -i /nested' } }));
  await raw.create(`${PATH}/%ZZnot-escaped`, JSON.stringify({ version: '7' }));
  await raw.close();
  marathon = await MarathonEmulator.start({ version: '1.10', keepaliveMs: 1000 });
  for (let i = 0; i < 3; i++) backends.push(await startBackend());
  marathon.addApp({ id: '/v1app' });
  marathon.addTask('/v1app', { port: backends[0].port });
  marathon.addApp({ id: '/grp/app1' });
  marathon.addTask('/grp/app1', { port: backends[1].port });
  marathon.addApp({ id: '/web' });
  marathon.addTask('/web', { port: backends[2].port });
  for (let i = 0; i < 3; i++) culms.push(await startCulm({ marathon: marathon.url, env: env() }));
  await Promise.all(culms.map((c) => c.waitReady(30_000)));
});

t.teardown(async () => {
  await Promise.all(culms.map((c) => c.destroy()));
  await marathon?.stop();
  await Promise.all(backends.map((b) => b.close()));
  await zk?.stop();
});

t.test('a Bamboo-format tree in ZooKeeper is served as is', async (t) => {
  for (const c of culms) {
    t.equal((await get(`${c.frontend}/legacy`)).body, String(backends[0].port), 'v1 rule (bare ACL)');
    t.equal((await get(`${c.frontend}/nested`)).body, String(backends[1].port), 'v2 rule, id with slashes');
  }
  const rules = await culms[0].json<Record<string, { Acl: string }>>('/api/services');
  t.same(Object.keys(rules.body).sort(), ['/grp/app1', '/v1app'], 'the garbage node is skipped');
  t.ok(await culms[0].metric('culm_rules_skipped_total{reason="unreadable"}') >= 0);
});

t.test('a rule posted to one instance routes on all three within 1 s; configs are identical', async (t) => {
  const started = Date.now();
  const res = await culms[0].json('/api/services', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: '/web', acl: 'path_beg -i /shared' }) });
  t.equal(res.status, 200);
  await Promise.all(culms.map((c) => eventually('rule routes', async () => (await get(`${c.frontend}/shared`)).body === String(backends[2].port), 5000, 10)));
  const ms = Date.now() - started;
  t.ok(ms < 1000, `routing on all three instances ${ms} ms after the POST`);
  await eventually('configs settle', () => new Set(culms.map(normalised)).size === 1, 5000);
  t.pass('the three rendered configs are byte-identical (own paths and ports masked)');
  const raw = await rawZk(zk.connect);
  t.same(JSON.parse((await raw.get(`${PATH}/%2Fweb`)).data), { version: '2', config: { Acl: 'path_beg -i /shared' } }, 'stored as Bamboo would store it');
  await raw.close();
});

t.test('cluster: three instances, one leader; kill -9 of the leader elects another, which writes the snapshot', async (t) => {
  const view = await culms[0].json<Cluster>('/api/cluster');
  t.equal(view.body.mode, 'zookeeper');
  t.equal(view.body.instances.length, 3);
  t.equal(view.body.instances.filter((i) => i.leader).length, 1, 'exactly one leader');
  t.ok(view.body.instances.every((i) => i.lastApply?.configHash), 'each instance reports its last applied config hash');
  const leaderIndex = await (async () => {
    for (let i = 0; i < culms.length; i++) if ((await culms[i].json<Cluster>('/api/cluster')).body.self === view.body.leader) return i;
    return -1;
  })();
  t.ok(leaderIndex >= 0);
  const leader = culms[leaderIndex];
  leader.child.proc.kill('SIGKILL');
  await leader.child.exited;
  const survivor = culms.find((_, i) => i !== leaderIndex)!;
  await eventually('a new leader', async () => {
    const v = (await survivor.json<Cluster>('/api/cluster')).body;
    return v.leader !== null && v.leader !== view.body.leader && v.instances.length === 2;
  }, 15_000, 100);
  t.pass('a new leader was elected and the dead instance left the registry');
  // The new leader keeps writing the shared snapshot.
  const extra = await startBackend();
  backends.push(extra);
  marathon.addTask('/web', { port: extra.port });
  const raw = await rawZk(zk.connect);
  await eventually('snapshot written by the new leader', async () => {
    const { data } = await raw.get(`${PATH}-culm/state/apps/%2Fweb`);
    return data.includes(String(extra.port));
  }, 10_000, 100);
  await raw.close();
  t.pass();
  culms.splice(leaderIndex, 1);
  await leader.haproxy.stopAll();
});

t.test('ZooKeeper down: routing and Marathon updates go on, rule writes get 503; back: writes work again', async (t) => {
  await zk.pause();
  const c = culms[0];
  await eventually('readyz names zookeeper', async () => {
    const r = await c.json<{ checks: { zookeeper?: { ok: boolean } } }>('/readyz');
    return r.body.checks.zookeeper?.ok === false;
  }, 10_000, 100);
  const refused = await c.json<{ error: { code: string } }>('/api/services/web', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ acl: 'path_beg -i /never' }) });
  t.equal(refused.status, 503);
  t.equal(refused.body.error.code, 'E_STORE_UNAVAILABLE');
  const during = await startBackend();
  backends.push(during);
  marathon.addApp({ id: '/during' });
  marathon.addTask('/during', { port: during.port });
  for (const x of culms) {
    await eventually('Marathon changes still applied', async () => (await get(`${x.frontend}/during`)).body === String(during.port), 10_000);
    const web = new Set(marathon.tasksOf('/web').map((task) => String(task.ports[0])));
    t.ok(web.has((await get(`${x.frontend}/shared`)).body), 'rules kept while ZooKeeper is down');
  }
  const resumedAt = Date.now();
  await zk.resume();
  await eventually('writes work again', async () => {
    const r = await c.json('/api/services/web', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ acl: 'path_beg -i /again' }) });
    return r.status === 200;
  }, 20_000, 200);
  const recoverMs = Date.now() - resumedAt;
  await Promise.all(culms.map((x) => eventually('new rule everywhere', async () => (await get(`${x.frontend}/again`)).status === 200, 10_000)));
  t.pass(`recovered ${recoverMs} ms after ZooKeeper came back`);
});
