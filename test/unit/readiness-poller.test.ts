/**
 * The readiness poller on a fake clock: it reads only deploying apps with a readiness check, every interval,
 * a few at a time, one round at a time; it stops when the deployment ends, starts again on wake(), and asks
 * for a re-apply when a task turns ready with time alone.
 */
import t from 'tap';
import type { App } from '../../src/core/model.js';
import { ReadinessPoller } from '../../src/pipeline/readiness-poller.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { app, deploying, readinessCheck, readinessResults, task, tasks } from '../helpers/builders.js';

const T0 = Date.parse('2026-12-01T21:00:00.000Z');

function setup(initial: App[]) {
  const clock = new FakeClock();
  clock.time = T0;
  const apps = new Map(initial.map((a) => [a.id, a]));
  const reads: Array<{ id: string; at: number }> = [];
  let reevaluations = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  let readMs = 0;
  const poller = new ReadinessPoller({
    apps: () => apps.values(),
    readApp: async (id) => {
      reads.push({ id, at: clock.time });
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      if (readMs) await new Promise<void>((resolve) => clock.setTimeout(resolve, readMs));
      inFlight--;
    },
    reevaluate: () => { reevaluations++; },
    intervalMs: 500,
    concurrency: 2,
    timers: clock,
  });
  return {
    clock, apps, reads, poller,
    get reevaluations() { return reevaluations; },
    get maxInFlight() { return maxInFlight; },
    set readMs(ms: number) { readMs = ms; },
  };
}

t.test('reads only deploying apps with a readiness check, every 500 ms, and stops when the deployment ends', async (t) => {
  const s = setup([
    app('/web', deploying(), readinessCheck()),
    app('/idle', readinessCheck()),
    app('/nocheck', deploying()),
  ]);
  s.poller.wake();
  await s.clock.advance(499);
  t.same(s.reads, [], 'nothing before the first interval');
  await s.clock.advance(1);
  t.same(s.reads.map((r) => r.id), ['/web'], 'one read, of the one app that qualifies');
  await s.clock.advance(1000);
  t.same(s.reads.map((r) => r.at - T0), [500, 1000, 1500], 'every 500 ms');
  s.apps.set('/web', app('/web', readinessCheck()));
  await s.clock.advance(5000);
  t.equal(s.reads.length, 3, 'no read once the deployment is over');
  t.equal(s.clock.armed, 0, 'and no timer');
  s.apps.set('/other', app('/other', deploying(), readinessCheck()));
  s.poller.wake();
  s.poller.wake();
  await s.clock.advance(500);
  t.same(s.reads.slice(3).map((r) => r.id), ['/other'], 'wake() starts it again, once');
  await s.poller.stop();
  await s.clock.advance(5000);
  t.equal(s.reads.length, 4, 'nothing after stop()');
});

t.test('a few reads at a time, one round at a time', async (t) => {
  const s = setup(Array.from({ length: 5 }, (_, i) => app(`/a${i}`, deploying(), readinessCheck())));
  s.readMs = 300;
  s.poller.wake();
  await s.clock.advance(500);
  t.equal(s.maxInFlight, 2, 'concurrency 2');
  await s.clock.advance(900);
  t.equal(s.reads.length, 5, 'the round takes 3 x 300 ms');
  await s.clock.advance(499);
  t.equal(s.reads.length, 5, 'the next round starts 500 ms after the last one ended');
  await s.clock.advance(1);
  t.equal(s.reads.length, 7);
  const stopped = s.poller.stop();
  await s.clock.advance(1000);
  await stopped;
  t.equal(s.reads.length, 7, 'stop() lets the round under way end, and starts no read');
});

t.test('a task that turns ready with time alone makes a re-apply', async (t) => {
  // Started at T0, timeout 1 s: taken for an old task at T0 + 6 s.
  const s = setup([app('/web', deploying(), readinessCheck({ timeoutSeconds: 1 }), readinessResults({ 'new.1': false }),
    tasks(task(1, { id: 'old.1', startedAt: '2026-12-01T21:00:00.000Z' }), task(2, { id: 'new.1', startedAt: '2026-12-01T21:00:00.000Z' })))]);
  s.poller.wake();
  await s.clock.advance(5500);
  t.equal(s.reevaluations, 0, 'nothing changed by time yet');
  await s.clock.advance(500);
  t.equal(s.reevaluations, 1, 'the round at T0 + 6 s asks for an apply');
  await s.clock.advance(3000);
  t.equal(s.reevaluations, 1, 'once');
  await s.poller.stop();
});
