/**
 * Coalescing: a burst of 200 task changes gives a bounded number of reloads and always ends with the final
 * state applied.
 */
import t from 'tap';
import { MarathonEmulator } from '../helpers/marathon-emulator.js';
import { startCulm } from '../helpers/culm.js';
import { eventually } from '../helpers/net.js';

t.test('200 changes in a burst', async (t) => {
  const marathon = await MarathonEmulator.start({ version: '1.10', keepaliveMs: 1000 });
  marathon.addApp({ id: '/burst' });
  const culm = await startCulm({ marathon: marathon.url, env: { CULM_EVENT_MODE: 'sse', CULM_RELOAD_INTERVAL_MS: '500' } });
  t.teardown(async () => {
    await culm.destroy();
    await marathon.stop();
  });
  await culm.waitReady();
  const applied = (): Promise<number> => culm.metric('culm_applies_total{result="applied"}');
  const before = await applied();
  const started = Date.now();
  const ids: string[] = [];
  for (let i = 0; i < 200; i++) {
    // 150 tasks started, 50 of them killed again: 200 changes; ports need not be listening.
    if (i < 150) ids.push(marathon.addTask('/burst', { port: 40000 + i }));
    else marathon.killTask(ids[i - 150]);
  }
  const want = new Set(ids.slice(50).map((_, i) => `127.0.0.1:${40000 + 50 + i}`));
  await eventually('final state applied', () => {
    const servers = new Set([...culm.config().matchAll(/^\s+server \S+ (\S+)/gm)].map((m) => m[1]));
    return servers.size === want.size && [...want].every((s) => servers.has(s));
  }, 20_000);
  const seconds = (Date.now() - started) / 1000;
  // The file is renamed into place before the reload finishes: let the apply in flight complete.
  await eventually('apply recorded', async () => (await applied()) > before);
  await new Promise((r) => setTimeout(r, 1000));
  const reloads = (await applied()) - before;
  t.ok(reloads <= Math.ceil(seconds / 0.5) + 1, `${reloads} reloads for 200 changes in ${seconds.toFixed(1)} s (interval 500 ms)`);
  t.ok(reloads >= 1);
  const history = await culm.json<Array<{ result: string; reasons: string[] }>>('/api/history');
  t.ok(history.body.some((r) => r.reasons.some((x) => /backend \/burst: \+\d+ servers/.test(x))), 'diff reasons recorded');
});
