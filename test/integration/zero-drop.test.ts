/**
 * Issue 10, traffic is never dropped, with culm's defaults, the real culm binary and HAProxy 2.6, under a bounded
 * load (200 req/s, new connections and keep-alive clients reusing idle connections): tasks killed as Marathon
 * does (TASK_KILLING, then the app stops accepting and finishes what it has) while slow requests are in flight on
 * them, and a rolling deployment of an app with a readiness check and a health check. No request fails, and no
 * new task gets a request before Marathon says it is ready. The scenarios are the "zerodrop" benchmark's, run
 * smaller (figures and the other columns: BENCHMARKS.md). The app is given 1 s after TASK_KILLING before it
 * stops accepting, so a slow CI machine does not turn this into a race.
 */
import t from 'tap';
import { rolling, slowKill, startCluster, type Cluster, type ZerodropSizes } from '../bench/scenarios/zerodrop.js';

const SIZES: ZerodropSizes = { reloads: 0, readyDelayMs: 500, slowMs: 1000, rate: 200, sigtermLagMs: 1000 };
let cluster: Cluster;

t.before(async () => {
  cluster = await startCluster('culm');
});
t.teardown(() => cluster?.close());

interface Traffic { ok: number; failed: number; errors: Record<string, number> }

t.test('tasks killed with slow requests in flight on them: no request fails', async (t) => {
  const r = await slowKill(cluster, SIZES) as { traffic: Traffic; slowTraffic: Traffic; slowInFlightAtKill: number[] };
  t.ok(r.slowInFlightAtKill.every((n) => n > 0), `slow requests were in flight on each killed task (${JSON.stringify(r.slowInFlightAtKill)})`);
  t.ok(r.traffic.ok > 0 && r.slowTraffic.ok > 0, 'requests were answered');
  t.equal(r.traffic.failed, 0, `failed: ${JSON.stringify(r.traffic.errors)}`);
  t.equal(r.slowTraffic.failed, 0, `slow requests failed: ${JSON.stringify(r.slowTraffic.errors)}`);
});

t.test('rolling deployment with readiness and health checks: no request fails, none reaches a task before it is ready', async (t) => {
  const r = await rolling(cluster, SIZES) as { traffic: Traffic; newTasks: number; tasksHitBeforeReady: number };
  t.equal(r.newTasks, 3);
  t.ok(r.traffic.ok > 0, 'requests were answered');
  t.equal(r.traffic.failed, 0, `failed: ${JSON.stringify(r.traffic.errors)}`);
  t.equal(r.tasksHitBeforeReady, 0, 'no new task got a request before Marathon said it was ready');
});
