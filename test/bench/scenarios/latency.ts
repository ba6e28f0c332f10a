/**
 * Scenarios 1 and 2: event → serving on a 1,000 × 3 cluster. Task changes (runtime API, no reload) and
 * a rule set on an app that has a backend (a route map change: runtime API), changes that need a reload (a new app), against HAProxy's own limit for the same config measured
 * in the same run (`haproxy -c` + the reload itself).
 */
import { request } from 'undici';
import { readFileSync, writeFileSync } from 'node:fs';
import { runCommand } from '../../../src/haproxy/command.js';
import { summarise } from '../stats.js';
import { getJson, setUp, sleep, type Bench } from './common.js';

/**
 * Sends requests back to back until `done(status)` or `ms` passed. Every reload-bound change and HAProxy's own
 * check + reload are measured under this same load, so the ratio compares like with like.
 */
async function probe(url: string, ms: number, done: (status: number) => boolean = () => false): Promise<void> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    try {
      const r = await request(url, { headers: { connection: 'close' } });
      await r.body.text();
      if (done(r.statusCode)) return;
    } catch {
      /* a refused connection during a reload is retried */
    }
  }
}

/**
 * HAProxy's own limit, measured like a change: culm's current config plus one route (`/limit-probe-N`
 * answered 299 by HAProxy itself) is checked with `haproxy -c` and reloaded the way culm's default reload
 * command does it, while that path is probed back to back as during the measured changes; the limit ends
 * with the first request the new process answers (so it includes the handover from the old process, as a
 * change does). The next apply of culm reloads its own file again.
 */
async function haproxyOnce(b: Bench, n: number): Promise<{ check: number; reload: number; handover: number }> {
  const cfg = b.culm.outputPath;
  const variant = `${cfg}.limit.cfg`;
  const path = `/limit-probe-${n}`;
  const text = readFileSync(cfg, 'utf8').replace(/^(frontend [^\n]*\n(?:[^\n]*\n)*?\s+bind [^\n]*\n)/m, `$1    http-request return status 299 if { path_beg ${path} }\n`);
  if (!text.includes(path)) throw new Error('bench: no frontend bind line to add the limit probe after');
  writeFileSync(variant, text);
  let servedAt = 0;
  const load = probe(`${b.culm.frontend}${path}`, 60_000, (status) => {
    if (status === 299) servedAt = performance.now();
    return servedAt > 0;
  });
  // Timed by the shell itself (wall clock, ns): this process is busy probing, and would see the commands
  // end late.
  const script = `date +%s%N; haproxy -c -q -f ${variant} && date +%s%N && haproxy -f ${variant} -p ${cfg}.pid -D -sf $(cat ${cfg}.pid) && date +%s%N`;
  const result = await runCommand(script, 60_000);
  await load;
  b.culm.haproxy.poll();
  const [start, checked, reloaded] = result.stdout.trim().split('\n').map((ns) => Number(BigInt(ns) / 1000n) / 1000);
  if (result.code !== 0 || reloaded === undefined) throw new Error(`bench: HAProxy's own check or reload failed: ${result.stderr}`);
  const servedWall = performance.timeOrigin + (servedAt || performance.now());
  return { check: checked - start, reload: reloaded - checked, handover: Math.max(0, servedWall - reloaded) };
}

/** Add / health / kill cycles run before the measured ones. */
const WARM_UP_CYCLES = 5;

export async function latency(apps: number, changes: number): Promise<Record<string, unknown>> {
  const b = await setUp(apps, 3, {}, { healthChecks: [{ protocol: 'HTTP', path: '/' }] });
  try {
    const target = b.pool[5];
    const warmUp: number[] = [];
    const add: number[] = [];
    const kill: number[] = [];
    const unhealthy: number[] = [];
    const healthy: number[] = [];
    // Steady state, as a long-running daemon is: the first cycles after start (JIT, HAProxy's first round
    // of health checks, the start's snapshot and resync) are run but reported apart, as `warmUp`.
    const warm = WARM_UP_CYCLES;
    const reloadsBefore = await b.culm.metric('culm_haproxy_reload_duration_seconds_count');
    for (let i = 0; i < changes + warm; i++) {
      if (i === warm) {
        warmUp.push(...add, ...healthy);
        add.length = 0; kill.length = 0; unhealthy.length = 0; healthy.length = 0;
      }
      const app = `/app${i % apps}`;
      const url = `${b.culm.frontend}${app}`;
      // Added → first request that reaches it.
      let t0 = performance.now();
      const id = b.marathon.addTask(app, { port: target.port, healthy: true });
      await probe(url, 5000, () => target.lastHitAt >= t0);
      add.push(target.lastHitAt - t0);
      // Unhealthy → last request that still reached it.
      t0 = performance.now();
      b.marathon.setTaskHealth(id, false);
      await probe(url, 300);
      unhealthy.push(Math.max(0, target.lastHitAt - t0));
      t0 = performance.now();
      b.marathon.setTaskHealth(id, true);
      await probe(url, 5000, () => target.lastHitAt >= t0);
      healthy.push(target.lastHitAt - t0);
      // Killed → last request that still reached it.
      t0 = performance.now();
      b.marathon.killTask(id, { withKilling: true });
      await probe(url, 300);
      kill.push(Math.max(0, target.lastHitAt - t0));
    }
    const taskPhase = {
      reloads: await b.culm.metric('culm_haproxy_reload_duration_seconds_count') - reloadsBefore,
      runtimeFailures: await b.culm.metric('culm_haproxy_runtime_failures_total'),
    };
    // Changes that need a reload, spaced by more than the reload interval so each is measured alone, with
    // HAProxy's own check and reload of the same config measured in between (same conditions, same size).
    const newApp: number[] = [];
    const rule: number[] = [];
    let ruleReloads = 0;
    const checks: number[] = [];
    const reloads: number[] = [];
    const handovers: number[] = [];
    const limits: number[] = [];
    const n = Math.max(10, Math.floor(changes / 5));
    for (let i = 0; i < n; i++) {
      const other = b.pool[6];
      let t0 = performance.now();
      b.marathon.addApp({ id: `/fresh${i}` });
      b.marathon.addTask(`/fresh${i}`, { port: other.port });
      await probe(`${b.culm.frontend}/fresh${i}`, 10_000, () => other.lastHitAt >= t0);
      newApp.push(other.lastHitAt - t0);
      await sleep(1100);
      const reloadsBeforeRule = await b.culm.metric('culm_haproxy_reload_duration_seconds_count');
      t0 = performance.now();
      const res = await request(`${b.culm.api}/api/services/app${i}`, { method: 'PUT', body: JSON.stringify({ acl: `path_beg -i /rule${i}` }) });
      await res.body.text();
      let routedAt = 0;
      await probe(`${b.culm.frontend}/rule${i}`, 10_000, (status) => {
        if (status === 200) routedAt = performance.now();
        return routedAt > 0;
      });
      rule.push((routedAt || performance.now()) - t0);
      ruleReloads += await b.culm.metric('culm_haproxy_reload_duration_seconds_count') - reloadsBeforeRule;
      await sleep(1100);
      // Probed like the changes above, on a path nothing routes yet (HAProxy answers 503 itself).
      const own = await haproxyOnce(b, i);
      checks.push(own.check);
      reloads.push(own.reload);
      handovers.push(own.handover);
      limits.push(own.check + own.reload + own.handover);
      await sleep(1100);
    }
    const limit = { check: summarise(checks), reload: summarise(reloads), handover: summarise(handovers), total: summarise(limits) };
    // culm's own time inside those applies (render, diff, file writes): the apply minus its two commands.
    const history = await getJson<Array<{ reasons: string[]; mode?: string; durationMs: number; validateMs?: number; reloadMs?: number }>>(`${b.culm.api}/api/history`);
    const applyOwn = history
      .filter((h) => h.mode === 'reload' && h.validateMs !== undefined && h.reasons.some((x) => /\/(fresh|app)\d+/.test(x)))
      .map((h) => h.durationMs - (h.validateMs ?? 0) - (h.reloadMs ?? 0));
    return {
      apps, tasksPerApp: 3, startupMs: b.startupMs,
      warmUpWorstMs: Math.max(...warmUp), taskPhase, taskAdded: summarise(add), taskKilled: summarise(kill), taskUnhealthy: summarise(unhealthy), taskHealthyAgain: summarise(healthy),
      newApp: summarise(newApp), ruleSet: summarise(rule), ruleReloads, haproxyLimit: limit, applyOwn: summarise(applyOwn),
    };
  } finally {
    await b.close();
  }
}
