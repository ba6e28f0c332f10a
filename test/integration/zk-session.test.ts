/**
 * A network partition long enough for ZooKeeper to expire culm's session: culm notices a connection that
 * went silent, opens a new session when the old one is declared expired, reads everything again and sets its
 * watches again.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Rule } from '../../src/core/model.js';
import { makeRule } from '../../src/core/rules.js';
import { createLogger } from '../../src/log/logger.js';
import { ZooKeeperRuleStore } from '../../src/store/zookeeper/index.js';
import { eventually } from '../helpers/net.js';
import { rawZk, startPartition, startZooKeeper } from '../helpers/zookeeper.js';

t.test('session expiry behind a silent partition: new session, full re-read, watches set again', async (t) => {
  const zk = await startZooKeeper();
  const raw = await rawZk(zk.connect);
  const net = await startPartition(zk.port);
  const cacheDir = mkdtempSync(join(process.env.TMPDIR ?? tmpdir(), 'culm-zksession-'));
  const lines: string[] = [];
  const sink = new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } });
  const store = new ZooKeeperRuleStore({ hosts: net.connect, path: '/culm/expiry', cacheDir, sessionTimeoutMs: 2000, log: createLogger('info', sink) });
  t.teardown(async () => {
    await store.close();
    await net.close();
    await raw.close();
    await zk.stop();
    rmSync(cacheDir, { recursive: true, force: true });
  });
  let latest: Rule[] = [];
  store.watch((rules) => { latest = rules; });
  await store.list();
  await store.put(makeRule('/before', 'path_beg /before'));

  net.block();
  const blockedAt = Date.now();
  const noticed = await eventually('the silent connection is noticed', () => !store.health().ok, 10_000);
  t.comment(`silent partition noticed after ${noticed} ms`);
  await raw.set('/culm/expiry', ''); // (the base node exists) a write by someone else during the partition:
  await raw.create('/culm/expiry/%2Fduring', '{"version":"2","config":{"Acl":"path_beg /during"}}');
  // Let the server expire the session (2 s) with a margin.
  await new Promise((r) => setTimeout(r, Math.max(0, 3500 - (Date.now() - blockedAt))));
  t.same(latest.map((r) => r.id).sort(), ['/before'], 'nothing heard while partitioned');

  net.unblock();
  const recovered = await eventually('the change made during the partition is heard', () => latest.some((r) => r.id === '/during'), 15_000);
  t.comment(`after the partition healed: full list heard in ${recovered} ms`);
  t.ok(lines.some((l) => l.includes('session expired')), 'the expired session was replaced by a new one');
  t.ok(store.health().ok, 'healthy');

  await raw.create('/culm/expiry/%2Fafter', 'path_beg /after');
  await eventually('a later change is heard: watches were set again on the new session', () => latest.some((r) => r.id === '/after'), 3000);
  await store.put(makeRule('/written', 'path_beg /written'));
  t.equal((await raw.get('/culm/expiry/%2Fwritten')).data, '{"version":"2","config":{"Acl":"path_beg /written"}}', 'writes work on the new session');
});
