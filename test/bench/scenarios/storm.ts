/**
 * Scenario 3: a storm of 10,000 task events in 10 s across 500 apps. Reloads performed, final state checked
 * against Marathon's for every backend (the file on disk and HAProxy's live servers), culm's peak RSS and CPU.
 */
import { runtimeCommands } from '../../../src/haproxy/runtime-api.js';
import { procStats } from '../proc.js';
import { setUp, sleep, timeUntil } from './common.js';

function configServers(cfg: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  let backend = '';
  for (const line of cfg.split('\n')) {
    const b = /^backend (\S+)/.exec(line);
    if (b) {
      backend = b[1];
      out.set(backend, new Set());
      continue;
    }
    const s = /^\s+server \S+ (\S+)/.exec(line);
    if (s && backend) out.get(backend)!.add(s[1]);
  }
  return out;
}

export async function storm(apps: number, events: number, seconds: number): Promise<Record<string, unknown>> {
  const b = await setUp(apps, 2);
  try {
    const pid = b.culm.child.proc.pid!;
    const before = procStats(pid);
    const reloads = (): Promise<number> => b.culm.metric('culm_haproxy_reload_duration_seconds_count');
    const reloadsBefore = await reloads();
    const runtimeBefore = await b.culm.metric('culm_haproxy_runtime_apply_duration_seconds_count');
    const live: string[][] = Array.from({ length: apps }, () => []);
    let sent = 0;
    let port = 20000;
    const started = performance.now();
    const perMs = events / (seconds * 1000);
    while (sent < events) {
      // Pace: `events` status updates spread over `seconds`.
      const due = Math.floor((performance.now() - started) * perMs);
      while (sent < Math.min(due, events)) {
        const a = (sent * 7919) % apps;
        const tasks = live[a];
        if (tasks.length > 0 && (tasks.length > 3 || sent % 2 === 0)) {
          b.marathon.killTask(tasks.shift()!);
          sent += 1;
        } else {
          tasks.push(b.marathon.addTask(`/app${a}`, { port: port++ }));
          sent += 3; // STAGING, STARTING, RUNNING
        }
      }
      await sleep(5);
    }
    const stormMs = performance.now() - started;
    // Final state: every backend equals Marathon's running tasks, in the file and in HAProxy.
    const want = new Map<string, Set<string>>();
    for (let a = 0; a < apps; a++) {
      want.set(`::app${a}-cluster`, new Set(b.marathon.tasksOf(`/app${a}`).filter((t) => t.state === 'TASK_RUNNING').map((t) => `127.0.0.1:${t.ports[0]}`)));
    }
    const matches = (): boolean => {
      const got = configServers(b.culm.config());
      for (const [backend, servers] of want) {
        const g = got.get(backend);
        if (!g || g.size !== servers.size || [...servers].some((s) => !g.has(s))) return false;
      }
      return true;
    };
    const settleMs = await timeUntil(matches, 30_000, 20);
    await sleep(1500); // any apply in flight finishes
    const state = (await runtimeCommands(`${b.culm.outputPath}.sock`, ['show servers state'], 10_000))[0];
    const liveServers = new Map<string, Set<string>>();
    for (const row of state.split('\n').slice(2)) {
      const f = row.split(' ');
      if (f.length < 19 || f[6] !== '0') continue; // srv_admin_state 0: not in maintenance
      const set = liveServers.get(f[1]) ?? new Set<string>();
      set.add(`${f[4]}:${f[18]}`);
      liveServers.set(f[1], set);
    }
    let liveMismatches = 0;
    for (const [backend, servers] of want) {
      const g = liveServers.get(backend) ?? new Set<string>();
      if (g.size !== servers.size || [...servers].some((s) => !g.has(s))) liveMismatches++;
    }
    const after = procStats(pid);
    return {
      apps, statusEvents: sent, stormMs, settleAfterStormMs: settleMs,
      reloads: (await reloads()) - reloadsBefore,
      runtimeApplies: (await b.culm.metric('culm_haproxy_runtime_apply_duration_seconds_count')) - runtimeBefore,
      runtimeFailures: await b.culm.metric('culm_haproxy_runtime_failures_total'),
      warnings: b.culm.child.output().split('\n').filter((l) => l.includes('"level":40')).slice(0, 3),
      finalStateCorrectInFile: matches(), backendsWrongInHaproxy: liveMismatches,
      culmPeakRssMb: after.peakRssMb, culmCpuSeconds: after.cpuSeconds - before.cpuSeconds,
    };
  } finally {
    await b.close();
  }
}
