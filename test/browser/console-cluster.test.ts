/**
 * The console's cluster view in a real browser: two culm instances on one real ZooKeeper, each beside its own
 * HAProxy. Each config names its own paths and frontend port, so their hashes differ (the cheap difference
 * the task allows): the page lists both, the leader, and marks the instance whose hash is not the leader's.
 */
import t from 'tap';
import type { Browser } from 'playwright-core';
import { MarathonEmulator } from '../helpers/marathon-emulator.js';
import { startCulm, type CulmInstance } from '../helpers/culm.js';
import { eventually, startBackend, type Backend } from '../helpers/net.js';
import { launchBrowser, pageFor } from '../helpers/browser.js';
import { startZooKeeper, type ZooKeeperServer } from '../helpers/zookeeper.js';

let zk: ZooKeeperServer;
let marathon: MarathonEmulator;
let browser: Browser;
let backend: Backend;
const culms: CulmInstance[] = [];

interface Cluster { leader: string | null; instances: Array<{ id: string; leader: boolean; lastApply?: { configHash?: string } }> }

t.before(async () => {
  browser = await launchBrowser();
  zk = await startZooKeeper({ tickTimeMs: 500 });
  marathon = await MarathonEmulator.start({ version: '1.10', keepaliveMs: 1000 });
  backend = await startBackend();
  marathon.addApp({ id: '/web' });
  marathon.addTask('/web', { port: backend.port });
  const env = { BAMBOO_ZK_HOST: zk.connect, BAMBOO_ZK_PATH: '/culm-console/state', CULM_EVENT_MODE: 'sse', CULM_ZK_SESSION_TIMEOUT_MS: '2000' };
  for (let i = 0; i < 2; i++) culms.push(await startCulm({ marathon: marathon.url, env }));
  await Promise.all(culms.map((c) => c.waitReady(30_000)));
});

t.teardown(async () => {
  await browser?.close();
  await Promise.all(culms.map((c) => c.destroy()));
  await marathon?.stop();
  await backend?.close();
  await zk?.stop();
});

t.test('both instances shown, the leader named, a differing config hash marked', async (t) => {
  let view: Cluster | undefined;
  await eventually('both instances report an apply', async () => {
    view = (await culms[0].json<Cluster>('/api/cluster')).body;
    return view.instances.length === 2 && view.instances.every((i) => i.lastApply?.configHash);
  }, 20_000);
  const hashes = new Set(view!.instances.map((i) => i.lastApply!.configHash));
  t.equal(hashes.size, 2, 'each config names its own paths and port: two hashes');
  const page = await pageFor(t, browser);
  await page.goto(`${culms[0].api}/ui/cluster`);
  const rows = page.locator('#cluster tr.instance');
  t.equal(await rows.count(), 2, 'both instances listed');
  for (const i of view!.instances) {
    const row = page.locator(`#cluster tr.instance[data-id="${i.id}"]`);
    t.match(await row.locator('.hash').getAttribute('title'), i.lastApply!.configHash!, `${i.id}: its hash`);
    t.equal((await row.textContent())?.includes('leader'), i.leader, `${i.id}: leader ${i.leader}`);
  }
  const follower = view!.instances.find((i) => !i.leader)!;
  t.equal(await page.locator('#cluster tr.differs').count(), 1, 'one row marked');
  t.equal(await page.locator('#cluster tr.differs').getAttribute('data-id'), follower.id, 'the one whose hash is not the leader\'s');
  t.match(await page.locator('#cluster-summary').textContent(), /2 different config hashes among 2 instances/);
});
