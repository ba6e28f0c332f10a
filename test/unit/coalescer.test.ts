import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApplyCoalescer } from '../../src/pipeline/coalescer.js';
import type { ApplyRecord } from '../../src/pipeline/types.js';

function harness(results: Array<ApplyRecord['result']> = [], runMs = 20) {
  const runs: number[] = [];
  let value = 0;
  const seen: number[] = [];
  const c = new ApplyCoalescer(async () => {
    runs.push(Date.now());
    const snapshot = value;
    await sleep(runMs);
    seen.push(snapshot);
    const result = results.shift() ?? 'applied';
    return { at: Date.now(), result, reasons: [String(snapshot)], durationMs: runMs };
  }, { retryBaseMs: 30, retryMaxMs: 120 });
  return { c, runs, seen, set: (v: number) => { value = v; } };
}

t.test('a burst of 200 requests gives a bounded number of applies and ends with the final state', async (t) => {
  const h = harness();
  const waits: Array<Promise<ApplyRecord>> = [];
  for (let i = 1; i <= 200; i++) {
    h.set(i);
    waits.push(h.c.request());
  }
  const records = await Promise.all(waits);
  t.ok(h.runs.length <= 2, `at most 2 applies for one burst (got ${h.runs.length})`);
  t.equal(h.seen.at(-1), 200, 'the last apply saw the final state');
  t.equal(records.at(-1)!.reasons[0], '200', 'the last caller gets the apply that includes its change');
  await h.c.stop();
});

t.test('requests during an apply are served by the next one', async (t) => {
  const h = harness([], 50);
  h.set(1);
  const first = h.c.request();
  await sleep(10);
  h.set(2);
  const second = h.c.request();
  t.equal((await first).reasons[0], '1');
  t.equal((await second).reasons[0], '2', 'a request made while applying waits for the next apply');
  t.equal(h.runs.length, 2);
  await h.c.stop();
});

t.test('a deferred apply resolves nobody and runs again at retryAt, with the latest state', async (t) => {
  const runs: number[] = [];
  let value = 0;
  let deferOnce = true;
  const c = new ApplyCoalescer(async () => {
    runs.push(Date.now());
    if (deferOnce) {
      deferOnce = false;
      return { at: Date.now(), result: 'deferred', reasons: [], durationMs: 0, retryAt: Date.now() + 150 };
    }
    return { at: Date.now(), result: 'applied', reasons: [String(value)], durationMs: 0 };
  }, { retryBaseMs: 10, retryMaxMs: 10 });
  value = 1;
  const p = c.request();
  await sleep(50);
  value = 2;
  const q = c.request();
  const r = await p;
  t.equal(r.result, 'applied');
  t.equal(r.reasons[0], '2', 'the run at retryAt saw the latest state');
  t.equal((await q).reasons[0], '2');
  t.equal(runs.length, 2);
  t.ok(runs[1] - runs[0] >= 140, `ran again after ${runs[1] - runs[0]} ms`);
  await c.stop();
});

t.test('a failed reload is retried with backoff until it succeeds', async (t) => {
  const h = harness(['reload-failed', 'reload-failed']);
  const r = await h.c.request();
  t.equal(r.result, 'reload-failed');
  await sleep(600);
  t.equal(h.runs.length, 3, 'two retries after the failure, then success stops retrying');
  await sleep(300);
  t.equal(h.runs.length, 3, 'no more applies once it succeeded');
  await h.c.stop();
});

t.test('invalid configs are not retried by themselves', async (t) => {
  const h = harness(['invalid']);
  t.equal((await h.c.request()).result, 'invalid');
  await sleep(200);
  t.equal(h.runs.length, 1);
  await h.c.stop();
});

t.test('an apply that throws becomes an error record; stop resolves pending callers', async (t) => {
  let calls = 0;
  const c = new ApplyCoalescer(async () => {
    calls++;
    if (calls === 1) throw new Error('boom');
    await sleep(50);
    return { at: 0, result: 'applied', reasons: [], durationMs: 0 };
  }, { retryBaseMs: 10_000, retryMaxMs: 10_000 });
  const r = await c.request();
  t.equal(r.result, 'error');
  t.equal(r.error?.message, 'boom');
  const pending = c.request(); // waits on the interval
  await c.stop();
  t.equal((await pending).error?.code, 'E_STOPPING');
});

t.test('stop() while an apply runs and another is requested resolves (no hang)', async (t) => {
  let release!: () => void;
  const c = new ApplyCoalescer(async () => {
    await new Promise<void>((r) => { release = r; });
    return { at: 0, result: 'applied', reasons: [], durationMs: 0 };
  }, { retryBaseMs: 10, retryMaxMs: 10 });
  const first = c.request();
  await sleep(5);
  const stopping = c.stop();
  const second = c.request(); // arrives during shutdown
  release();
  const done = await Promise.race([stopping.then(() => 'stopped'), sleep(1000).then(() => 'hung')]);
  t.equal(done, 'stopped');
  t.equal((await first).result, 'applied');
  t.equal((await second).error?.code, 'E_STOPPING');
});

