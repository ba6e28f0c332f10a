/**
 * The ZooKeeper state store against a real ZooKeeper: one node per app beside (not under) the rules,
 * round trip, only changed apps written, removed apps deleted, 10,000 apps, an app too large for a node.
 */
import t from 'tap';
import type { App } from '../../src/core/model.js';
import { goQueryEscape, ZooKeeperRuleStore, ZooKeeperStateStore, stateAppsPath } from '../../src/store/zookeeper/index.js';
import { app, task, tasks } from '../helpers/builders.js';
import { rawZk, startZooKeeper, type RawZk, type ZooKeeperServer } from '../helpers/zookeeper.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let zk: ZooKeeperServer;
let raw: RawZk;
t.before(async () => {
  zk = await startZooKeeper();
  raw = await rawZk(zk.connect);
});
t.teardown(async () => {
  await raw?.close();
  await zk?.stop();
});

const apps = (n: number, prefix = '/svc'): App[] => Array.from({ length: n }, (_, i) => app(`${prefix}/app${i}`, tasks(task(31000 + i), task(32000 + i))));
const sortById = (list: App[]): App[] => [...list].sort((a, b) => (a.id < b.id ? -1 : 1));

t.test('the state lives beside the rules, where Bamboo never lists it', async (t) => {
  t.equal(stateAppsPath('/marathon-haproxy/state'), '/marathon-haproxy/state-culm/state/apps');
  t.equal(stateAppsPath('/bamboo/'), '/bamboo-culm/state/apps');
  const rulesPath = '/mh/state';
  const state = new ZooKeeperStateStore({ hosts: zk.connect, path: stateAppsPath(rulesPath) });
  const cacheDir = mkdtempSync(join(process.env.TMPDIR ?? tmpdir(), 'culm-zkstate-'));
  const rules = new ZooKeeperRuleStore({ hosts: zk.connect, path: rulesPath, cacheDir });
  t.teardown(async () => {
    await state.close();
    await rules.close();
    rmSync(cacheDir, { recursive: true, force: true });
  });
  await state.save({ savedAt: Date.now(), apps: apps(3) });
  t.same(await rules.list(), [], 'the rule store sees no state nodes');
  t.same((await raw.children('/mh')).sort(), ['state', 'state-culm'], 'two sibling subtrees');
  t.same((await raw.children(stateAppsPath(rulesPath))).sort(), ['%2Fsvc%2Fapp0', '%2Fsvc%2Fapp1', '%2Fsvc%2Fapp2'], 'one node per app, named like rules');
});

t.test('save/load round trip; only changed apps written; removed apps deleted', async (t) => {
  const path = '/culm/state-roundtrip';
  const store = new ZooKeeperStateStore({ hosts: zk.connect, path });
  t.teardown(() => store.close());
  t.equal(await store.load(), null, 'nothing saved yet: null');

  const first = apps(50);
  const savedAt = Date.now();
  await store.save({ savedAt, apps: first });
  t.match(store.lastSave, { written: 50, deleted: 0, unchanged: 0 }, 'first save writes every app');
  const loaded = await store.load();
  t.equal(loaded?.savedAt, savedAt, 'savedAt kept');
  t.same(sortById(loaded?.apps ?? []), sortById(first), 'apps round trip');

  const versionOf = async (id: string): Promise<number> => (await raw.get(`${path}/${goQueryEscape(id)}`)).stat.version;
  const untouched = await versionOf('/svc/app7');
  await store.save({ savedAt: savedAt + 1, apps: first });
  t.match(store.lastSave, { written: 0, deleted: 0, unchanged: 50, transactions: 0 }, 'an unchanged save writes nothing');

  const next = first.slice(3).map((a) => (a.id === '/svc/app10' || a.id === '/svc/app11' ? { ...a, instances: 5 } : a));
  next.push(app('/svc/added'));
  await store.save({ savedAt: savedAt + 2, apps: next });
  t.match(store.lastSave, { written: 3, deleted: 3, unchanged: 45 }, 'two changed + one new written, three removed');
  t.equal(await versionOf('/svc/app7'), untouched, 'an unchanged app node was not rewritten');
  t.equal(await versionOf('/svc/app10'), 1, 'a changed app node was written once');
  const children = await raw.children(path);
  t.equal(children.length, 48, 'nodes of removed apps are gone');
  t.notOk(children.includes('%2Fsvc%2Fapp0'), 'app0 removed');

  // A new instance (another culm, or this one restarted) loads, then saves only what changed.
  const other = new ZooKeeperStateStore({ hosts: zk.connect, path });
  t.teardown(() => other.close());
  const again = await other.load();
  t.same(sortById(again?.apps ?? []), sortById(next), 'a second store loads the same apps');
  await other.save({ savedAt: savedAt + 3, apps: next });
  t.match(other.lastSave, { written: 0, unchanged: 48 }, 'and after its load writes nothing for the same apps');
  await other.save({ savedAt: savedAt + 4, apps: [] });
  t.equal((await raw.children(path)).length, 0, 'an empty snapshot removes every app node');
  t.equal(await other.load(), null, 'load of no apps is null');
});

t.test('10,000 apps fit (one node per app); an app too large for a node is skipped with a warning', async (t) => {
  const path = '/culm/state-big';
  const skipped: string[] = [];
  const store = new ZooKeeperStateStore({ hosts: zk.connect, path, onSkipped: (id) => skipped.push(id) });
  t.teardown(() => store.close());
  const many = apps(10_000, '/big');
  const huge = app('/huge', (a) => { a.labels.blob = 'x'.repeat(1_000_000); });
  let started = Date.now();
  await store.save({ savedAt: Date.now(), apps: [...many, huge] });
  const saveMs = Date.now() - started;
  t.match(store.lastSave, { written: 10_000, skipped: 1 }, 'every app written but the huge one');
  t.same(skipped, ['/huge'], 'the huge app is reported');
  t.comment(`10,000 apps saved in ${saveMs} ms in ${store.lastSave?.transactions} transactions`);

  const changed = many.map((a, i) => (i % 100 === 0 ? { ...a, instances: 2 } : a));
  started = Date.now();
  await store.save({ savedAt: Date.now(), apps: changed });
  t.comment(`then 100 changed apps saved in ${Date.now() - started} ms`);
  t.match(store.lastSave, { written: 100, unchanged: 9_900, deleted: 0 }, 'only the 100 changed apps written');

  const reader = new ZooKeeperStateStore({ hosts: zk.connect, path });
  t.teardown(() => reader.close());
  started = Date.now();
  const loaded = await reader.load();
  t.comment(`10,000 apps loaded in ${Date.now() - started} ms`);
  t.equal(loaded?.apps.length, 10_000, 'all loaded back');
  t.equal(loaded?.apps.find((a) => a.id === '/big/app200')?.instances, 2, 'with the latest change');
});
