/**
 * Scenario "ha" (issue 13): two culm instances, one ZooKeeper (real), `apps` apps. A rule set via REST on
 * instance A, for an app that has a backend (a route map change), is measured until it routes through
 * instance B's HAProxy (ZooKeeper watch → B's apply → B's live map), and through A's own. Reloads on both
 * during those rule sets are counted: a map-only change needs none.
 */
import { request } from 'undici';
import { MarathonEmulator } from '../../helpers/marathon-emulator.js';
import { startCulm, type CulmInstance } from '../../helpers/culm.js';
import { get, startBackend, type Backend } from '../../helpers/net.js';
import { startZooKeeper } from '../../helpers/zookeeper.js';
import { summarise } from '../stats.js';
import { sleep, timeUntil } from './common.js';

const reloadCount = (c: CulmInstance): Promise<number> => c.metric('culm_haproxy_reload_duration_seconds_count');

/** Time from `t0` until `url` answers 200 (requests back to back, as the latency scenario probes). */
async function routedAfter(url: string, t0: number, timeoutMs = 10_000): Promise<number> {
  const end = t0 + timeoutMs;
  while (performance.now() < end) {
    try {
      if ((await get(url)).status === 200) return performance.now() - t0;
    } catch {
      /* retried */
    }
  }
  return Number.NaN;
}

export async function ha(apps: number, changes: number): Promise<Record<string, unknown>> {
  const zk = await startZooKeeper({ tickTimeMs: 500 });
  const marathon = await MarathonEmulator.start({ version: '1.10', keepaliveMs: 5000, recordEvents: false });
  const pool: Backend[] = [await startBackend(), await startBackend()];
  for (let a = 0; a < apps; a++) {
    marathon.addApp({ id: `/app${a}` });
    marathon.addTask(`/app${a}`, { port: pool[a % 2].port });
  }
  const env = { BAMBOO_ZK_HOST: zk.connect, BAMBOO_ZK_PATH: '/bench-ha', CULM_EVENT_MODE: 'sse', CULM_LOG_LEVEL: 'warn', CULM_MARATHON_TIMEOUT_MS: '60000' };
  const culms: CulmInstance[] = [];
  try {
    culms.push(await startCulm({ marathon: marathon.url, env }), await startCulm({ marathon: marathon.url, env }));
    const [a, b] = culms;
    await Promise.all(culms.map((c) => timeUntil(async () => (await get(`${c.frontend}/app0`)).status === 200, 120_000, 20)));
    const reloadsBefore = await Promise.all(culms.map(reloadCount));
    const onB: number[] = [];
    const onA: number[] = [];
    for (let i = 0; i < changes; i++) {
      const app = `app${(i * 7) % apps}`;
      const t0 = performance.now();
      const res = await request(`${a.api}/api/services/${app}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ acl: `path_beg -i /ha${i}` }) });
      await res.body.text();
      if (res.statusCode >= 300) throw new Error(`bench ha: PUT ${app}: ${res.statusCode}`);
      const [viaB, viaA] = await Promise.all([routedAfter(`${b.frontend}/ha${i}`, t0), routedAfter(`${a.frontend}/ha${i}`, t0)]);
      onB.push(viaB);
      onA.push(viaA);
      await sleep(200);
    }
    const reloadsAfter = await Promise.all(culms.map(reloadCount));
    return {
      apps, changes, throughOtherInstance: summarise(onB), throughSameInstance: summarise(onA),
      reloads: reloadsAfter.map((n, k) => n - reloadsBefore[k]),
    };
  } finally {
    await Promise.all(culms.map((c) => c.destroy()));
    await marathon.stop();
    await Promise.all(pool.map((p) => p.close()));
    await zk.stop();
  }
}
