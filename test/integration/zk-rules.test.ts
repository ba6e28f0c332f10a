/**
 * The ZooKeeper rule store against a real ZooKeeper: Bamboo's tree read as is and written as Bamboo writes
 * it, watches between instances, concurrent writers, an outage (cache, 503s, recovery) and a start while
 * ZooKeeper is down.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Rule } from '../../src/core/model.js';
import { makeRule } from '../../src/core/rules.js';
import { CulmError } from '../../src/core/errors.js';
import { ZooKeeperRuleStore, type ZooKeeperRuleStoreOptions } from '../../src/store/zookeeper/index.js';
import { rawZk, startZooKeeper, type RawZk, type ZooKeeperServer } from '../helpers/zookeeper.js';
import { eventually } from '../helpers/net.js';

let zk: ZooKeeperServer;
let raw: RawZk;
const base = mkdtempSync(join(process.env.TMPDIR ?? tmpdir(), 'culm-zkrules-'));
const stores: ZooKeeperRuleStore[] = [];

t.before(async () => {
  zk = await startZooKeeper();
  raw = await rawZk(zk.connect);
});
t.teardown(async () => {
  for (const s of stores) await s.close();
  await raw?.close();
  await zk?.stop();
  rmSync(base, { recursive: true, force: true });
});

let dirs = 0;
const tempDir = (): string => mkdtempSync(join(base, `cache${dirs++}-`));

function store(path: string, over: Partial<ZooKeeperRuleStoreOptions> = {}): ZooKeeperRuleStore {
  const s = new ZooKeeperRuleStore({ hosts: zk.connect, path, cacheDir: tempDir(), ...over });
  stores.push(s);
  return s;
}

const byId = (rules: Rule[]): Record<string, string> => Object.fromEntries(rules.map((r) => [r.id, r.acl]));

/** Resolves with the next list a listener hears that satisfies `check`, and how long it took. */
function nextList(s: ZooKeeperRuleStore, check: (rules: Rule[]) => boolean, timeoutMs = 5000): Promise<{ rules: Rule[]; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { stop(); reject(new Error(`no matching rule list within ${timeoutMs} ms`)); }, timeoutMs);
    const stop = s.watch((rules) => {
      if (!check(rules)) return;
      clearTimeout(timer);
      stop();
      resolve({ rules, ms: Date.now() - started });
    });
  });
}

t.test('a tree written by Bamboo is read as is, and culm writes what Bamboo writes', async (t) => {
  const path = '/bamboo/services';
  await raw.mkdirp(path);
  await raw.create(`${path}/%2Fv1app`, 'hdr_dom(host) -i v1.example.com');
  await raw.create(`${path}/%2Fv2app`, '{"version":"2","config":{"Acl":"path_beg /v2","BackendWeight":"5"}}');
  await raw.create(`${path}/%2Fgrp%2Fapp1`, '{"version":"2","config":{"Acl":"path_beg /app1"}}');
  await raw.create(`${path}/garbage`, '{"version":"9","config":{"Acl":"future"}}');
  const skipped: string[] = [];
  const s = store(path, { onSkipped: (id, reason) => skipped.push(`${id}: ${reason}`) });

  const rules = await s.list();
  t.same(byId(rules), { '/grp/app1': 'path_beg /app1', '/v1app': 'hdr_dom(host) -i v1.example.com', '/v2app': 'path_beg /v2' }, 'v1, v2 and escaped ids read');
  t.same(rules.find((r) => r.id === '/v2app')?.config, { Acl: 'path_beg /v2', BackendWeight: '5' }, 'v2 config kept');
  t.same(rules.find((r) => r.id === '/v1app')?.config, { Acl: 'hdr_dom(host) -i v1.example.com' }, 'v1 gets Config.Acl as Bamboo gives it');
  t.match(skipped, [/garbage: unknown rule representation/], 'the garbage node is reported, not fatal');
  t.ok(s.health().ok, 'healthy');

  const baseBefore = (await raw.get(path)).stat.version;
  await s.put(makeRule('/new/app', 'path_beg /new', { BackendWeight: '3' }));
  t.ok((await raw.children(path)).includes('%2Fnew%2Fapp'), 'node named url.QueryEscape(id)');
  t.equal((await raw.get(`${path}/%2Fnew%2Fapp`)).data, '{"version":"2","config":{"Acl":"path_beg /new","BackendWeight":"3"}}', "node data is V2ServiceRepr JSON, byte for byte as Go's json.Marshal writes it");

  await s.put(makeRule('/v1app', 'hdr_dom(host) -i v1.example.org'));
  t.equal((await raw.get(`${path}/%2Fv1app`)).data, '{"version":"2","config":{"Acl":"hdr_dom(host) -i v1.example.org"}}', 'a v1 node is rewritten as v2, as Bamboo does');
  t.ok((await raw.get(path)).stat.version > baseBefore, "an update touches the base node's data, which Bamboo watches");
  t.equal((await raw.get(`${path}/garbage`)).data, '{"version":"9","config":{"Acl":"future"}}', 'a node culm cannot read is left alone');

  // Bamboo's Upsert of an existing rule: set the child, then touch the base node.
  const heard = nextList(s, (r) => byId(r)['/v2app'] === 'path_beg /v2-by-bamboo');
  await raw.set(`${path}/%2Fv2app`, '{"version":"2","config":{"Acl":"path_beg /v2-by-bamboo"}}');
  await raw.set(path, '');
  t.equal(byId((await heard).rules)['/v2app'], 'path_beg /v2-by-bamboo', "Bamboo's update reaches the listener");
  const gone = nextList(s, (r) => !('/grp/app1' in byId(r)));
  await raw.remove(`${path}/%2Fgrp%2Fapp1`);
  await gone;
  t.pass("Bamboo's delete reaches the listener");

  t.equal(await s.delete('/new/app'), true, 'delete of a stored rule');
  t.notOk(await raw.exists(`${path}/%2Fnew%2Fapp`), 'its node is gone');
  t.equal(await s.delete('/new/app'), false, 'delete of a missing rule is false');
  t.notOk('/new/app' in byId(await s.list()), 'list follows');
});

t.test('two instances: a write through one reaches the other; concurrent writes end equal, none lost silently', async (t) => {
  const path = '/culm/two';
  const a = store(path);
  const b = store(path);
  await Promise.all([a.list(), b.list()]);
  const times: number[] = [];
  for (let i = 0; i < 20; i++) {
    const acl = `path_beg /p${i}`;
    const heard = nextList(b, (r) => byId(r)['/prop'] === acl);
    const started = Date.now();
    await a.put(makeRule('/prop', acl));
    await heard;
    times.push(Date.now() - started);
  }
  times.sort((x, y) => x - y);
  t.comment(`A put → B listener, 20 runs: median ${times[10]} ms, max ${times[19]} ms`);
  // Liveness, not speed (the bench's HA scenario times it): a ZooKeeper GC pause on a loaded CI machine is not a fault.
  t.ok(times[19] < 5000, 'every write reached the other instance');

  const node = `${path}/%2Frace`;
  await a.put(makeRule('/race', 'path_beg /start'));
  await eventually('B has read /race', async () => byId(await b.list())['/race'] === 'path_beg /start', 3000);
  const v0 = (await raw.get(node)).stat.version;
  const rounds = 25;
  for (let i = 0; i < rounds; i++) {
    const results = await Promise.allSettled([
      a.put(makeRule('/race', `path_beg /a${i}`)),
      b.put(makeRule('/race', `path_beg /b${i}`)),
    ]);
    t.same(results.map((r) => r.status), ['fulfilled', 'fulfilled'], `round ${i}: both writes succeed`);
  }
  t.ok(a.conflicts + b.conflicts > 0, `version conflicts were met and redone (${a.conflicts + b.conflicts})`);
  t.equal((await raw.get(node)).stat.version, v0 + 2 * rounds, 'the node took every write (two versions a round): none dropped');
  const last = JSON.parse((await raw.get(node)).data).config.Acl as string;
  t.match(last, new RegExp(`^path_beg /[ab]${rounds - 1}$`), 'the last write won');
  await eventually('both instances hold the last write', async () => byId(await a.list())['/race'] === last && byId(await b.list())['/race'] === last, 3000);
  t.pass(`both instances end with ${last}`);
});

t.test('reportingDelayMs: a burst of changes reaches a listener once, after the delay, with the last list', async (t) => {
  const path = '/culm/delayed';
  const writer = store(path);
  const reader = store(path, { reportingDelayMs: 300 });
  await Promise.all([writer.list(), reader.list()]);
  const heard: { at: number; rules: Rule[] }[] = [];
  reader.watch((rules) => heard.push({ at: Date.now(), rules }));
  // Creating the path (first list) may itself be reported, after the delay: let that pass first, so the
  // burst below is all that is heard.
  await new Promise((r) => setTimeout(r, 400));
  heard.length = 0;
  const started = Date.now();
  for (let i = 0; i < 5; i++) await writer.put(makeRule(`/burst${i}`, `path_beg /b${i}`));
  await eventually('the delayed notification', () => heard.length > 0, 3000);
  await new Promise((r) => setTimeout(r, 400));
  t.equal(heard.length, 1, 'one notification for the burst');
  t.ok(heard[0].at - started >= 290, `not before the delay (${heard[0].at - started} ms)`);
  t.equal(heard[0].rules.length, 5, 'with every rule of the burst');
});

t.test('ZooKeeper down: cached list, fast 503 writes, health; back up: full list to listeners, writes work', async (t) => {
  const path = '/culm/outage';
  const s = store(path);
  await s.list();
  await s.put(makeRule('/web', 'path_beg /web'));
  await s.put(makeRule('/api', 'path_beg /api'));
  const before = byId(await s.list());

  await zk.pause();
  await eventually('health reports the outage', () => !s.health().ok, 5000);
  t.match(s.health().detail, /^zookeeper disconnected since \d{4}-\d\d-\d\dT/, 'health detail says since when');
  t.same(byId(await s.list()), before, 'list() answers from the cache');
  let started = Date.now();
  const err = await s.put(makeRule('/new', 'path_beg /new')).catch((e: unknown) => e);
  const putMs = Date.now() - started;
  t.ok(err instanceof CulmError && err.code === 'E_STORE_UNAVAILABLE' && err.status === 503, 'put rejects with E_STORE_UNAVAILABLE / 503');
  t.ok(putMs <= 2000, `put rejected in ${putMs} ms`);
  t.comment(`put while ZooKeeper is down rejected in ${putMs} ms`);
  started = Date.now();
  const delErr = await s.delete('/web').catch((e: unknown) => e);
  t.ok(delErr instanceof CulmError && delErr.code === 'E_STORE_UNAVAILABLE', 'delete rejects too');
  t.ok(Date.now() - started <= 2000, 'quickly');

  const back = nextList(s, () => true, 15_000);
  const resumeStarted = Date.now();
  await zk.resume();
  const serving = Date.now() - resumeStarted;
  const { rules, ms } = await back;
  t.same(byId(rules), before, 'listeners get the full list again');
  t.comment(`ZooKeeper restart took ${serving} ms; listener had the full list ${ms} ms after resume() was called (${ms - serving} ms after it served)`);
  t.ok(s.health().ok, 'healthy again');
  t.notOk(await raw.exists(`${path}/%2Fnew`), 'the refused put changed nothing');
  t.ok(await raw.exists(`${path}/%2Fweb`), 'the refused delete changed nothing');
  await s.put(makeRule('/new', 'path_beg /new'));
  t.ok(await raw.exists(`${path}/%2Fnew`), 'writes work again');
});

t.test('a store started while ZooKeeper is down serves the rules cached by a previous run', async (t) => {
  const path = '/culm/coldstart';
  const cacheDir = tempDir();
  const first = store(path, { cacheDir });
  await first.list();
  await first.put(makeRule('/cached/one', 'path_beg /one'));
  await first.put(makeRule('/cached/two', 'path_beg /two', { BackendWeight: '2' }));
  await first.close();

  await zk.pause();
  const second = store(path, { cacheDir, startWaitMs: 500 });
  const started = Date.now();
  const rules = await second.list();
  t.comment(`cold start with ZooKeeper down: cached rules served after ${Date.now() - started} ms`);
  t.same(byId(rules), { '/cached/one': 'path_beg /one', '/cached/two': 'path_beg /two' }, 'the cached rules');
  t.same(rules.find((r) => r.id === '/cached/two')?.config, { Acl: 'path_beg /two', BackendWeight: '2' }, 'with their config');
  t.notOk(second.health().ok, 'not healthy: never reached ZooKeeper');
  t.match(second.health().detail, /zookeeper disconnected since .*serving 2 cached rules/);
  const empty = store(path, { startWaitMs: 300 });
  const err = await empty.list().catch((e: unknown) => e);
  t.ok(err instanceof CulmError && err.code === 'E_STORE_UNAVAILABLE', 'no cache and no ZooKeeper: 503, not an empty list');

  const hearing = nextList(second, (r) => r.length === 2, 15_000); // listening before ZooKeeper is back
  await zk.resume();
  const heard = await hearing;
  t.same(byId(heard.rules), byId(rules), 'once ZooKeeper is back the listener hears the list read from it');
  t.ok(second.health().ok, 'healthy');
});

t.test('digest auth: nodes culm creates are creator-all + world-read', async (t) => {
  const path = '/culm/secured';
  const s = store(path, { auth: 'culm:s3cret' });
  await s.list();
  await s.put(makeRule('/private', 'path_beg /private'));
  const acl = await raw.getAcl(`${path}/%2Fprivate`);
  // node-zookeeper-client names the field `permission` (its @types say `perms`).
  t.same(acl.map((a) => `${a.id.scheme}:${(a as unknown as { permission: number }).permission}`).sort(), ['digest:31', 'world:1'], 'digest user has all, world may read');
  t.equal((await raw.get(`${path}/%2Fprivate`)).data, '{"version":"2","config":{"Acl":"path_beg /private"}}', 'anyone can read it (Bamboo too)');
  const stranger = store(path);
  t.same(byId(await stranger.list()), { '/private': 'path_beg /private' }, 'an unauthenticated store reads');
  const err = await stranger.put(makeRule('/private', 'path_beg /hijack')).catch((e: unknown) => e);
  t.ok(err instanceof CulmError && err.code === 'E_STORE_FORBIDDEN', `an unauthenticated write is refused (${(err as Error).message})`);
});
