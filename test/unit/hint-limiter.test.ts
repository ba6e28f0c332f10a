/**
 * The hint limiter on a fake clock: one read per app per window whatever the flood, a bounded pending set
 * (one resync past it), reads a few at a time, the next window only after the reads of this one.
 */
import t from 'tap';
import { HintLimiter, type HintLimiterOptions } from '../../src/pipeline/hint-limiter.js';
import { FakeClock } from '../helpers/fake-clock.js';

function setup(over: Partial<HintLimiterOptions> = {}) {
  const clock = new FakeClock();
  const reads: Array<{ id: string; at: number }> = [];
  let resyncs = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  let hold: Promise<void> | undefined;
  const limiter = new HintLimiter({
    windowMs: 250,
    maxPending: 5,
    concurrency: 2,
    timers: clock,
    readApp: async (id) => {
      reads.push({ id, at: clock.time });
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await hold;
      inFlight--;
    },
    resync: () => { resyncs++; },
    ...over,
  });
  return {
    clock, limiter, reads,
    resyncs: () => resyncs,
    maxInFlight: () => maxInFlight,
    holdReads: (p: Promise<void> | undefined) => { hold = p; },
  };
}

t.test('a flood of hints for one app: one read per window', async (t) => {
  const s = setup();
  const outcomes = new Set<string>();
  for (let i = 0; i < 1000; i++) outcomes.add(s.limiter.offerRead('/web'));
  t.same([...outcomes], ['queued', 'coalesced']);
  t.equal(s.reads.length, 0, 'nothing read before the window ends');
  await s.clock.advance(250);
  t.same(s.reads, [{ id: '/web', at: 250 }]);
  // Hints keep coming: the next read is one window later, not earlier.
  for (let ms = 0; ms < 1000; ms += 10) {
    s.limiter.offerRead('/web');
    await s.clock.advance(10);
  }
  t.same(s.reads.map((r) => r.at), [250, 500, 750, 1000, 1250].filter((at) => at <= s.clock.time), 'one read per 250 ms window');
  await s.clock.advance(1000);
  t.equal(s.clock.armed, 0, 'idle: no timer left');
});

t.test('distinct apps: each read once; past maxPending one resync covers them all', async (t) => {
  const s = setup();
  for (const id of ['/a', '/b', '/c']) s.limiter.offerRead(id);
  await s.clock.advance(250);
  t.same(s.reads.map((r) => r.id), ['/a', '/b', '/c']);
  t.equal(s.maxInFlight(), 2, 'two reads at a time');
  const outcomes: string[] = [];
  for (let i = 0; i < 10_000; i++) outcomes.push(s.limiter.offerRead(`/made-up-${i}`));
  t.equal(outcomes.filter((o) => o === 'queued').length, 5);
  t.equal(outcomes.filter((o) => o === 'overflow').length, 1);
  t.equal(s.limiter.pendingCount, 0, 'the pending set is bounded (emptied: the resync covers it)');
  await s.clock.advance(250);
  t.equal(s.resyncs(), 1, 'one full resync instead of 10,000 reads');
  t.equal(s.reads.length, 3, 'and no read');
});

t.test('resync hints: the reads of that window folded in; at most one resync per 30 s (or 8 windows)', async (t) => {
  const s = setup();
  s.limiter.offerRead('/a');
  t.equal(s.limiter.offerResync(), 'resync');
  t.equal(s.limiter.offerResync(), 'coalesced');
  t.equal(s.limiter.offerRead('/b'), 'coalesced');
  await s.clock.advance(250);
  t.equal(s.resyncs(), 1);
  t.equal(s.reads.length, 0);
  const at: number[] = [];
  const count = setup({ resync: () => { at.push(count.clock.time); } });
  for (let i = 0; i < 2_500; i++) {
    count.limiter.offerResync();
    await count.clock.advance(25);
  }
  t.same(at, [250, 30_250, 60_250], 'a flood of resync hints over 62 s: one resync per 30 s, however many ask');
  t.equal(count.limiter.offerRead('/x'), 'coalesced', 'a read asked for meanwhile is covered by the resync to come');
});

t.test('slow reads: the next window waits for them (reads in flight stay bounded)', async (t) => {
  const s = setup();
  let release!: () => void;
  s.holdReads(new Promise<void>((r) => { release = r; }));
  s.limiter.offerRead('/a');
  await s.clock.advance(250);
  s.limiter.offerRead('/a');
  s.limiter.offerRead('/b');
  await s.clock.advance(5000);
  t.equal(s.reads.length, 1, 'no window while a read is in flight');
  s.holdReads(undefined);
  release();
  await s.clock.advance(0);
  await s.clock.advance(250);
  t.same(s.reads.map((r) => r.id), ['/a', '/a', '/b']);
});

t.test('a read that throws changes nothing and stops nothing; stop() ends the windows', async (t) => {
  const s = setup({ readApp: async () => { throw new Error('Marathon down'); } });
  s.limiter.offerRead('/a');
  await s.clock.advance(250);
  s.limiter.offerRead('/b');
  t.equal(s.clock.armed, 1, 'the next window opens after a failed read');
  await s.limiter.stop();
  t.equal(s.clock.armed, 0);
  t.equal(s.limiter.offerRead('/c'), 'queued');
  t.equal(s.clock.armed, 0, 'stopped: no window');
});
