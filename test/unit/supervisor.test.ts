/**
 * The HAProxy supervisor on a fake probe and a fake clock: a death is acted on at the second probe that sees it,
 * a pid file rewritten by a reload is not a death, a reused pid is, the stale pid file goes before the restart,
 * a failed restart is retried, readiness follows, a lock held by another live culm means hands off, and a
 * live HAProxy whose stats socket stops answering (hung) is killed and started again.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HaproxySupervisor, type ProcessProbe } from '../../src/haproxy/supervisor.js';
import { silentLogger } from '../../src/log/logger.js';

class FakeHost implements ProcessProbe {
  pidFile: number | undefined = 100;
  haproxies = new Set<number>([100]);
  removed = 0;
  readPid(): number | undefined { return this.pidFile; }
  isHaproxy(pid: number): boolean { return this.haproxies.has(pid); }
  removePidFile(): void { this.pidFile = undefined; this.removed++; }
  /** What the stats socket does at each probe ('yes' when the list is empty). */
  socket: Array<'yes' | 'no answer' | 'unreachable'> = [];
  killed: number[] = [];
  answers(): Promise<'yes' | 'no answer' | 'unreachable'> { return Promise.resolve(this.socket.shift() ?? 'yes'); }
  kill(pid: number): void { this.killed.push(pid); this.haproxies.delete(pid); }
  /** Pids stopped (`kill -STOP`): a silent socket counts towards a hang only for these. */
  stoppedPids = new Set<number>([100]);
  stopped(pid: number): boolean { return this.stoppedPids.has(pid); }
}

function setup(o: { failRestarts?: number; started?: boolean; statsSocketPath?: string } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'culm-supervisor-'));
  const host = new FakeHost();
  let now = 1000;
  let failures = o.failRestarts ?? 0;
  const restarts: number[] = [];
  let counted = 0;
  const sup = new HaproxySupervisor({
    pidPath: join(dir, 'haproxy.pid'), intervalMs: 200, log: silentLogger(), probe: host, now: () => now,
    started: () => o.started ?? true, statsSocketPath: o.statsSocketPath,
    restart: async () => {
      if (failures-- > 0) throw new Error('reload failed (exit 1)');
      const pid = 200 + restarts.length;
      restarts.push(now);
      host.haproxies.add(pid);
      host.pidFile = pid;
    },
    restarted: () => { counted++; },
  });
  return { sup, host, dir, restarts, counted: () => counted, advance: (ms: number) => { now += ms; } };
}

t.test('kill -9: restarted at the second probe that sees it dead, counted, readiness follows', async (t) => {
  const { sup, host, restarts, counted, advance } = setup();
  await sup.tick();
  t.ok(sup.check().ok, 'running');
  host.haproxies.delete(100); // kill -9: the pid file still names it
  advance(200);
  await sup.tick();
  t.same(restarts, [], 'one sight is not enough');
  t.ok(sup.check().ok, 'still ready at the first sight (a reload rewriting the pid file looks the same)');
  advance(200);
  await sup.tick();
  t.same(restarts, [1400], 'restarted 200 ms after it was first seen dead');
  t.notOk(sup.check().ok, 'not ready once the second probe confirmed it');
  t.match(sup.check().detail, 'not running for 200 ms', 'counted from the first sight');
  t.equal(host.removed, 1, 'the stale pid file went first (so -sf cannot signal a reused pid)');
  t.equal(counted(), 1);
  advance(200);
  await sup.tick();
  t.ok(sup.check().ok, 'ready again once the new pid is seen alive');
  t.match(sup.check().detail, 'restarted 1 times');
});

t.test('a reload rewriting the pid file, and a soft-stopped old process exiting, are not deaths', async (t) => {
  const { sup, host, restarts } = setup();
  await sup.tick();
  host.pidFile = undefined; // mid-rewrite
  await sup.tick();
  host.pidFile = 101; // the new process; the old one (100) exits once idle
  host.haproxies.add(101);
  host.haproxies.delete(100);
  await sup.tick();
  await sup.tick();
  t.same(restarts, [], 'never restarted');
  t.ok(sup.check().ok);
});

t.test('a pid the kernel gave to another program counts as dead', async (t) => {
  const { sup, host, restarts } = setup();
  host.haproxies.delete(100); // pid 100 now belongs to something else: alive, but not haproxy
  await sup.tick();
  await sup.tick();
  t.equal(restarts.length, 1);
});

t.test('a failed restart is retried with a doubling delay; readiness says why', async (t) => {
  const { sup, host, restarts, counted, advance } = setup({ failRestarts: 2 });
  host.haproxies.delete(100); // killed before any probe saw it alive: the pid file still names it
  await sup.tick();
  await sup.tick(); // first attempt: fails
  t.same(restarts, []);
  t.match(sup.check().detail, 'reload failed');
  t.notOk(sup.check().ok);
  advance(399);
  await sup.tick();
  t.same(restarts, [], 'not before 400 ms');
  advance(1);
  await sup.tick(); // second attempt: fails, next one 800 ms later
  advance(799);
  await sup.tick();
  t.same(restarts, [], 'not before 800 ms');
  advance(1);
  await sup.tick();
  t.equal(restarts.length, 1, 'the third attempt works');
  t.equal(counted(), 1, 'only restarts that worked are counted');
});

t.test('a pid file that never named a pid (a reload command that does not write it): hands off', async (t) => {
  const { sup, host, restarts } = setup();
  host.pidFile = undefined;
  for (let i = 0; i < 5; i++) await sup.tick();
  t.same(restarts, [], 'HAProxy is not started every probe');
  t.ok(sup.check().ok);
  t.match(sup.check().detail, 'not supervised until');
});

t.test('nothing applied yet: nothing to supervise', async (t) => {
  const { sup, host, restarts } = setup({ started: false });
  host.pidFile = undefined;
  host.haproxies.clear();
  await sup.tick();
  await sup.tick();
  t.same(restarts, []);
  t.ok(sup.check().ok);
});

t.test('the lock: another live culm supervises, this one keeps its hands off; a stale lock is taken over', async (t) => {
  const { sup, dir } = setup();
  const lock = join(dir, 'haproxy.pid.culm-lock');
  writeFileSync(lock, `${process.ppid}\n`); // a live process other than this one
  sup.start();
  t.match(sup.check().detail, `supervised by culm pid ${process.ppid}`);
  sup.stop();
  t.equal(readFileSync(lock, 'utf8').trim(), String(process.ppid), 'the other culm\'s lock is left alone');
  writeFileSync(lock, '2147483646\n'); // no such process
  const second = setup();
  const sup2 = new HaproxySupervisor({ pidPath: join(dir, 'haproxy.pid'), intervalMs: 200, log: silentLogger(), probe: second.host, started: () => true, restart: async () => undefined });
  sup2.start();
  t.equal(readFileSync(lock, 'utf8').trim(), String(process.pid), 'taken over');
  t.ok(sup2.check().ok, 'supervising');
  sup2.stop();
  t.notOk(existsSync(lock), 'released on stop');
});

t.test('pids the pid file named are remembered for the graceful stop, the dead ones pruned past 32', async (t) => {
  const { sup, host } = setup();
  await sup.tick();
  for (let pid = 101; pid <= 140; pid++) {
    host.pidFile = pid; // a reload: the new process; the old one drains (alive) or is done (dead)
    host.haproxies.add(pid);
    if (pid % 2 === 0) host.haproxies.delete(pid - 1); // every other old one has finished
    await sup.tick();
  }
  t.ok(sup.pidsSeen.has(140) && sup.pidsSeen.has(100), 'the current and a still-draining old pid are kept');
  t.ok(sup.pidsSeen.size <= 33, `bounded (${sup.pidsSeen.size})`);
  t.notOk(sup.pidsSeen.has(101), 'an old pid that exited was pruned');
});

t.test('hung (alive, its stats socket accepts but never answers): killed and restarted after 3 probes in a row', async (t) => {
  const { sup, host, restarts, counted, advance } = setup({ statsSocketPath: '/run/haproxy.sock' });
  await sup.tick();
  t.ok(sup.check().ok);
  host.socket = ['no answer', 'no answer'];
  for (let i = 0; i < 2; i++) {
    advance(200);
    await sup.tick();
  }
  t.same(host.killed, [], 'two probes are not enough');
  t.ok(sup.check().ok, 'still ready while only suspected');
  host.socket = ['yes', 'no answer', 'no answer']; // it answered: the count starts again
  for (let i = 0; i < 3; i++) {
    advance(200);
    await sup.tick();
  }
  t.same(host.killed, [], 'an answer in between resets the count');
  host.socket = ['no answer'];
  advance(200);
  await sup.tick();
  t.same(host.killed, [100], 'the third probe in a row: kill -9 of the hung pid');
  t.same(restarts, [2200], 'and started again at once');
  t.equal(counted(), 1, 'counted as a restart');
  t.equal(host.removed, 1, 'its pid file removed first');
  t.notOk(sup.check().ok, '/readyz: not ready until the new process is seen');
  t.match(sup.check().detail, /not running for 400 ms/, 'since the first unanswered probe');
  advance(200);
  await sup.tick();
  t.ok(sup.check().ok, 'ready again once the new one answers');
});

t.test('a stats socket that is missing or refuses proves no hang; a reload replacing the pid resets the count', async (t) => {
  const { sup, host, restarts } = setup({ statsSocketPath: '/run/haproxy.sock' });
  host.socket = Array(6).fill('unreachable');
  for (let i = 0; i < 6; i++) await sup.tick();
  t.same(host.killed, [], 'unreachable is not counted');
  host.socket = ['no answer', 'no answer'];
  await sup.tick();
  await sup.tick();
  host.pidFile = 101; // a reload: the new process
  host.haproxies.add(101);
  host.socket = ['no answer', 'no answer'];
  await sup.tick();
  await sup.tick();
  t.same(host.killed, [], 'two on each pid: not hung');
  t.same(restarts, []);
});

t.test('a silent stats socket of a running HAProxy (its CLI slots busy) is never taken for a hang', async (t) => {
  const { sup, host, restarts } = setup({ statsSocketPath: '/run/haproxy.sock' });
  host.stoppedPids.clear();
  host.socket = Array(10).fill('no answer');
  for (let i = 0; i < 10; i++) await sup.tick();
  t.same(host.killed, [], 'not killed: it still serves');
  t.same(restarts, []);
  t.ok(sup.check().ok, 'and still ready');
});

t.test('no stats socket configured: hangs are not probed', async (t) => {
  const { sup, host } = setup();
  host.socket = Array(5).fill('no answer');
  for (let i = 0; i < 5; i++) await sup.tick();
  t.same(host.killed, []);
  t.equal(host.socket.length, 5, 'the socket was never asked');
});
