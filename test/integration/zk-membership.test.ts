/**
 * Cluster membership on a real ZooKeeper: one leader, a lost election-node reply does not duplicate the node,
 * the shared snapshot is fenced by leadership, and a recorded callback URL carries no token.
 */
import t from 'tap';
import { Membership, withoutToken } from '../../src/cluster/membership.js';
import { aclFor, ZkSession, ZooKeeperStateStore } from '../../src/store/zookeeper/index.js';
import { silentLogger } from '../../src/log/logger.js';
import { eventually } from '../helpers/net.js';
import { rawZk, startZooKeeper } from '../helpers/zookeeper.js';
import { app } from '../helpers/builders.js';

t.test('membership', async (t) => {
  const zk = await startZooKeeper({ tickTimeMs: 500 });
  const log = silentLogger();
  const sessions: ZkSession[] = [];
  const members: Membership[] = [];
  t.teardown(async () => {
    for (const m of members) await m.stop();
    for (const s of sessions) await s.close();
    await zk.stop();
  });
  const base = '/culm-test-culm';
  const member = (id: string): Membership => {
    const session = new ZkSession({ hosts: zk.connect, sessionTimeoutMs: 2000, log });
    sessions.push(session);
    const m = new Membership({ session, basePath: base, self: { id, endpoint: `http://${id}:8000`, version: 't', startedAt: Date.now() }, acl: aclFor('open'), log });
    members.push(m);
    m.start();
    return m;
  };

  // An election node this instance already owns (a create whose reply was lost) is adopted, not doubled.
  const raw = await rawZk(zk.connect);
  await raw.mkdirp(`${base}/election`);
  const a = member('a');
  const b = member('b');
  await eventually('one leader', () => [a, b].filter((m) => m.isLeader()).length === 1, 10_000);
  const election = await raw.children(`${base}/election`);
  t.equal(election.length, 2, 'one election node per instance');

  const leader = a.isLeader() ? a : b;
  const follower = leader === a ? b : a;
  t.ok(leader.fence(), 'the leader has a fence');
  t.equal(follower.fence(), undefined, 'a follower has none');

  // The shared snapshot: the follower's store refuses to write; the leader's writes.
  const storeFor = (m: Membership, s: ZkSession) => new ZooKeeperStateStore({ session: s, path: '/culm-test-culm/state/apps', log, fence: () => m.fence() });
  const leaderStore = storeFor(leader, sessions[members.indexOf(leader)]);
  const followerStore = storeFor(follower, sessions[members.indexOf(follower)]);
  await t.rejects(followerStore.save({ savedAt: 1, apps: [app('/x')] }), { code: 'E_STORE_UNAVAILABLE' });
  await leaderStore.save({ savedAt: 2, apps: [app('/y')] });
  t.same(await raw.children('/culm-test-culm/state/apps'), ['%2Fy']);

  // Callback URLs are recorded without their token.
  await leader.setCallbackUrl('http://a:8000/api/marathon/event_callback?token=s3cret');
  t.same(await raw.children(`${base}/callbacks`), ['http%3A%2F%2Fa%3A8000%2Fapi%2Fmarathon%2Fevent_callback']);
  const view = await follower.view();
  t.notMatch(JSON.stringify(view), 's3cret', '/api/cluster never shows the token');
  t.equal(withoutToken('http://x/cb?a=1&token=t&b=2'), 'http://x/cb?a=1&b=2');

  // The leader leaves: the follower takes over.
  await leader.stop();
  await eventually('follower becomes leader', () => follower.isLeader(), 10_000);
  t.pass('leadership moved');
  await raw.close();
});
