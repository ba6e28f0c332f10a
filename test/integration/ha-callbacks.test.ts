/**
 * HA with Marathon 1.4 callbacks: when a culm instance dies without unregistering (kill -9), the leader removes
 * its subscription from Marathon, and never another subscriber's.
 */
import t from 'tap';
import { MarathonEmulator } from '../helpers/marathon-emulator.js';
import { startCulm, type CulmInstance } from '../helpers/culm.js';
import { eventually, freePort } from '../helpers/net.js';
import { startZooKeeper } from '../helpers/zookeeper.js';

t.test('the leader removes the callback subscription of a dead instance', async (t) => {
  const zk = await startZooKeeper({ tickTimeMs: 500 });
  const marathon = await MarathonEmulator.start({ version: '1.4', httpEndpoints: ['http://someone-else.example:9/events'] });
  marathon.addApp({ id: '/web' });
  const culms: CulmInstance[] = [];
  t.teardown(async () => {
    await Promise.all(culms.map((c) => c.destroy()));
    await marathon.stop();
    await zk.stop();
  });
  for (let i = 0; i < 2; i++) {
    const api = await freePort();
    culms.push(await startCulm({
      marathon: marathon.url,
      ports: { api, frontend: await freePort() },
      env: {
        BAMBOO_ZK_HOST: zk.connect, BAMBOO_ZK_PATH: '/bamboo', CULM_EVENT_MODE: 'callback', BAMBOO_ENDPOINT: `http://127.0.0.1:${api}`,
        CULM_ZK_SESSION_TIMEOUT_MS: '2000', CULM_SUBSCRIPTION_CHECK_MS: '500',
      },
    }));
  }
  await Promise.all(culms.map((c) => c.waitReady(30_000)));
  // Each instance made its own secret (its own data dir): the URLs differ in their token.
  const urls = culms.map((c) => marathon.subscriptions.find((u) => u.startsWith(`${c.api}/api/marathon/event_callback?token=`)) ?? '');
  t.ok(urls.every((u) => u !== ''), 'both registered, each with a token');
  t.not(new URL(urls[0]).searchParams.get('token'), new URL(urls[1]).searchParams.get('token'), 'two instances, two secrets');
  // Kill the one that is NOT the leader, so the survivor (leader) cleans up after it.
  const view = (await culms[0].json<{ leader: string; self: string }>('/api/cluster')).body;
  const victim = view.leader === view.self ? 1 : 0;
  culms[victim].child.proc.kill('SIGKILL');
  await culms[victim].child.exited;
  await eventually('dead instance\'s subscription removed', () => !marathon.subscriptions.includes(urls[victim]), 15_000, 100);
  t.ok(marathon.subscriptions.includes(urls[1 - victim]), 'the live instance keeps its subscription');
  t.ok(marathon.subscriptions.includes('http://someone-else.example:9/events'), 'another subscriber is never touched');
  await culms[victim].haproxy.stopAll();
  culms.splice(victim, 1);
});
