/**
 * Scenario 4: 10,000 apps / 100,000 tasks. Full sync → config applied, render + diff + apply of one change,
 * culm's peak RSS, and HAProxy's own check time for that config.
 */
import { runCommand } from '../../../src/haproxy/command.js';
import { procStats } from '../proc.js';
import { setUp, sleep, timeUntil } from './common.js';

export async function scale(apps: number, tasksPerApp: number): Promise<Record<string, unknown>> {
  const built = performance.now();
  const b = await setUp(apps, tasksPerApp, { CULM_RESYNC_INTERVAL_MS: '0' });
  const setupMs = performance.now() - built;
  try {
    const history = async (): Promise<Array<{ result: string; durationMs: number; mode?: string; reasons: string[] }>> =>
      (await b.culm.json<Array<{ result: string; durationMs: number; mode?: string; reasons: string[] }>>('/api/history')).body;
    const first = (await history()).find((r) => r.result === 'applied');
    // One change: a task added to one app.
    const target = b.pool[5];
    const changes: Array<{ ms: number; applyMs: number; mode?: string }> = [];
    for (let i = 0; i < 5; i++) {
      const n = (await history()).length;
      const t0 = performance.now();
      b.marathon.addTask(`/app${(i * 997) % apps}`, { port: target.port });
      await timeUntil(async () => (await history()).length > n, 30_000, 5);
      const rec = (await history()).at(-1)!;
      changes.push({ ms: performance.now() - t0, applyMs: rec.durationMs, mode: rec.mode });
      await sleep(1200);
    }
    const render = await b.culm.metric('culm_render_duration_seconds_sum');
    const renders = await b.culm.metric('culm_render_duration_seconds_count');
    const check = await runCommand(`haproxy -c -f ${b.culm.outputPath}`, 120_000);
    // A resync of the whole cluster (what every (re)connect costs).
    const resyncsBefore = await b.culm.metric('culm_marathon_resyncs_total{outcome="ok"}');
    const t0 = performance.now();
    b.marathon.emit('deployment_success', { id: 'bench', eventType: 'deployment_success', timestamp: new Date().toISOString() });
    await timeUntil(async () => (await b.culm.metric('culm_marathon_resyncs_total{outcome="ok"}')) > resyncsBefore, 60_000, 20);
    const resyncMs = performance.now() - t0;
    const stats = procStats(b.culm.child.proc.pid!);
    return {
      apps, tasks: apps * tasksPerApp, configMb: b.culm.config().length / 1e6, emulatorSetupMs: setupMs,
      startToFirstRouteMs: b.startupMs, firstApplyMs: first?.durationMs,
      oneChange: changes, meanRenderMs: renders ? (render / renders) * 1000 : undefined,
      fullResyncMs: resyncMs, haproxyCheckMs: check.ms, culmPeakRssMb: stats.peakRssMb, culmRssMb: stats.rssMb,
    };
  } finally {
    await b.close();
  }
}
