import t from 'tap';
import { ApplyCoalescer } from '../../src/pipeline/coalescer.js';
import type { ApplyRecord } from '../../src/pipeline/types.js';
import { FakeClock } from '../helpers/fake-clock.js';

function harness(results: Array<ApplyRecord['result']> = [], runMs = 20) {
  const clock = new FakeClock();
  const runs: number[] = [];
  let value = 0;
  const seen: number[] = [];
  const c = new ApplyCoalescer(async () => {
    runs.push(clock.now());
    const snapshot = value;
    await clock.sleep(runMs);
    seen.push(snapshot);
    const result = results.shift() ?? 'applied';
    return { at: clock.now(), result, reasons: [String(snapshot)], durationMs: runMs };
  }, { retryBaseMs: 30, retryMaxMs: 120, timers: clock });
  return { c, clock, runs, seen, set: (v: number) => { value = v; } };
}

t.test('a burst of 200 requests gives a bounded number of applies and ends with the final state', async (t) => {
  const h = harness();
  const waits: Array<Promise<ApplyRecord>> = [];
  for (let i = 1; i <= 200; i++) {
    h.set(i);
    waits.push(h.c.request());
  }
  const all = Promise.all(waits);
  await h.clock.advance(100);
  const records = await all;
  t.ok(h.runs.length <= 2, `at most 2 applies for one burst (got ${h.runs.length})`);
  t.equal(h.seen.at(-1), 200, 'the last apply saw the final state');
  t.equal(records.at(-1)!.reasons[0], '200', 'the last caller gets the apply that includes its change');
  await h.c.stop();
});

t.test('requests during an apply are served by the next one', async (t) => {
  const h = harness([], 50);
  h.set(1);
  const first = h.c.request();
  await h.clock.advance(10);
  h.set(2);
  const second = h.c.request();
  await h.clock.advance(200);
  t.equal((await first).reasons[0], '1');
  t.equal((await second).reasons[0], '2', 'a request made while applying waits for the next apply');
  t.equal(h.runs.length, 2);
  await h.c.stop();
});

t.test('a deferred apply resolves nobody and runs again at retryAt, with the latest state', async (t) => {
  const clock = new FakeClock();
  const runs: number[] = [];
  let value = 0;
  let deferOnce = true;
  const c = new ApplyCoalescer(async () => {
    runs.push(clock.now());
    if (deferOnce) {
      deferOnce = false;
      return { at: clock.now(), result: 'deferred', reasons: [], durationMs: 0, retryAt: clock.now() + 150 };
    }
    return { at: clock.now(), result: 'applied', reasons: [String(value)], durationMs: 0 };
  }, { retryBaseMs: 10, retryMaxMs: 10, timers: clock });
  value = 1;
  const p = c.request();
  let resolved = false;
  void p.then(() => { resolved = true; });
  await clock.advance(50);
  t.equal(resolved, false, 'the deferred apply resolved nobody');
  value = 2;
  const q = c.request();
  await clock.advance(150);
  const r = await p;
  t.equal(r.result, 'applied');
  t.equal(r.reasons[0], '2', 'the run at retryAt saw the latest state');
  t.equal((await q).reasons[0], '2');
  t.equal(runs.length, 2);
  t.equal(runs[1] - runs[0], 150, 'ran again at retryAt');
  await c.stop();
});

t.test('a failed reload is retried with backoff until it succeeds', async (t) => {
  const h = harness(['reload-failed', 'reload-failed']);
  const first = h.c.request();
  await h.clock.advance(20);
  t.equal((await first).result, 'reload-failed');
  await h.clock.advance(600);
  t.equal(h.runs.length, 3, 'two retries after the failure, then success stops retrying');
  t.same(h.runs, [0, 50, 130], 'each retry waits the doubled delay (30, then 60 ms) after the failed apply');
  await h.clock.advance(10_000);
  t.equal(h.runs.length, 3, 'no more applies once it succeeded');
  t.equal(h.clock.armed, 0, 'no timer left');
  await h.c.stop();
});

t.test('invalid configs are not retried by themselves', async (t) => {
  const h = harness(['invalid']);
  const first = h.c.request();
  await h.clock.advance(20);
  t.equal((await first).result, 'invalid');
  await h.clock.advance(10_000);
  t.equal(h.runs.length, 1);
  await h.c.stop();
});

t.test('an apply that throws becomes an error record; stop resolves pending callers', async (t) => {
  const clock = new FakeClock();
  let calls = 0;
  const c = new ApplyCoalescer(async () => {
    calls++;
    if (calls === 1) throw new Error('boom');
    await clock.sleep(50);
    return { at: 0, result: 'applied', reasons: [], durationMs: 0 };
  }, { retryBaseMs: 10_000, retryMaxMs: 10_000, timers: clock });
  const first = c.request();
  await clock.advance(0);
  const r = await first;
  t.equal(r.result, 'error');
  t.equal(r.error?.message, 'boom');
  const pending = c.request(); // waits on the interval
  await c.stop();
  t.equal((await pending).error?.code, 'E_STOPPING');
  t.equal(calls, 1, 'the pending request never ran');
  t.equal(clock.armed, 0, 'stop leaves no timer');
});

t.test('stop() while an apply runs and another is requested resolves (no hang)', async (t) => {
  const clock = new FakeClock();
  let release!: () => void;
  const c = new ApplyCoalescer(async () => {
    await new Promise<void>((r) => { release = r; });
    return { at: 0, result: 'applied', reasons: [], durationMs: 0 };
  }, { retryBaseMs: 10, retryMaxMs: 10, timers: clock });
  const first = c.request();
  await clock.advance(5);
  const stopping = c.stop();
  const second = c.request(); // arrives during shutdown
  release();
  const raced = Promise.race([stopping.then(() => 'stopped'), clock.sleep(1000).then(() => 'hung')]);
  await clock.advance(1000);
  t.equal(await raced, 'stopped');
  t.equal((await first).result, 'applied');
  t.equal((await second).error?.code, 'E_STOPPING');
});
