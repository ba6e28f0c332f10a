/**
 * The graceful HAProxy stop (HAProxy.StopOnExit) on a fake host: which processes are signalled (pid file,
 * pids seen, processes naming the config; the dead and the duplicates left out), SIGUSR1 first, SIGTERM only
 * past the grace period, SIGKILL only for what survives SIGTERM.
 */
import t from 'tap';
import { stopHaproxy } from '../../src/haproxy/stop.js';
import { silentLogger } from '../../src/log/logger.js';

/** Processes that exit on the signals listed for them. */
function host(processes: Record<number, NodeJS.Signals[]>, pidFile?: number) {
  const alive = new Set(Object.keys(processes).map(Number));
  const sent: Array<[number, NodeJS.Signals]> = [];
  return {
    alive,
    sent,
    probe: { readPid: () => pidFile, isHaproxy: (pid: number) => alive.has(pid) },
    kill(pid: number, signal: NodeJS.Signals) {
      if (!alive.has(pid)) throw Object.assign(new Error('ESRCH'), { code: 'ESRCH' });
      sent.push([pid, signal]);
      if (processes[pid].includes(signal)) alive.delete(pid);
    },
  };
}

const run = (h: ReturnType<typeof host>, o: { known?: number[]; byConfig?: number[]; graceMs?: number; foreign?: number[] } = {}) => stopHaproxy({
  pidPath: '/run/x.pid', outputPath: '/etc/haproxy/haproxy.cfg', graceMs: o.graceMs ?? 1000, log: silentLogger(),
  known: o.known ?? [], findByConfig: () => o.byConfig ?? [], namesConfig: (pid) => !(o.foreign ?? []).includes(pid), probe: h.probe, kill: (p, s) => h.kill(p, s), pollMs: 1, termWaitMs: 0,
});

t.test('every live process of the config gets SIGUSR1 once, and nothing more when they finish', async (t) => {
  const h = host({ 10: ['SIGUSR1'], 11: ['SIGUSR1'], 12: ['SIGUSR1'] }, 12);
  await run(h, { known: [10, 11, 12, 99], byConfig: [11, 12] });
  t.same(h.sent.sort(), [[10, 'SIGUSR1'], [11, 'SIGUSR1'], [12, 'SIGUSR1']], 'pid file, pids seen and /proc finds; 99 (gone) left out');
  t.equal(h.alive.size, 0);
});

t.test('a process still busy after the grace period: SIGTERM; one that survives it: SIGKILL', async (t) => {
  const h = host({ 20: ['SIGUSR1'], 21: ['SIGTERM'], 22: ['SIGKILL'] }, 20);
  await run(h, { known: [21, 22], graceMs: 0 });
  t.same(h.sent.filter(([, s]) => s === 'SIGUSR1').map(([p]) => p).sort(), [20, 21, 22], 'all soft-stopped first');
  t.same(h.sent.filter(([, s]) => s === 'SIGTERM').map(([p]) => p).sort(), [21, 22], 'SIGTERM only to the busy ones');
  t.same(h.sent.filter(([, s]) => s === 'SIGKILL').map(([p]) => p), [22], 'SIGKILL only to the one that survived SIGTERM');
  t.equal(h.alive.size, 0);
});

t.test('a remembered pid that is now another config\'s HAProxy (pid reused) is left alone', async (t) => {
  const h = host({ 40: ['SIGUSR1'], 41: ['SIGUSR1'] }, 40);
  await run(h, { known: [40, 41], foreign: [41] });
  t.same(h.sent, [[40, 'SIGUSR1']], 'only the one naming this config');
  t.ok(h.alive.has(41), 'the other culm\'s HAProxy keeps serving');
});

t.test('no HAProxy running: nothing signalled', async (t) => {
  const h = host({}, 30);
  await run(h, { known: [31] });
  t.same(h.sent, []);
});
