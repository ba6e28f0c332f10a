import t from 'tap';
import { Backoff } from '../../src/core/backoff.js';

t.test('doubles from the first delay up to the cap; a success starts again', async (t) => {
  const b = new Backoff({ initialMs: 250, maxMs: 1500 });
  t.same([b.next(), b.next(), b.next(), b.next(), b.next()], [250, 500, 1000, 1500, 1500]);
  t.equal(b.failures, 5);
  t.equal(b.peek(), 1500, 'peek does not count an attempt');
  b.reset();
  t.equal(b.failures, 0);
  t.equal(b.next(), 250);
});

t.test('equal jitter: half fixed, half random, never above the cap', async (t) => {
  const low = new Backoff({ initialMs: 1000, maxMs: 8000, jitter: 'equal', random: () => 0 });
  const high = new Backoff({ initialMs: 1000, maxMs: 8000, jitter: 'equal', random: () => 1 });
  t.same([low.next(), low.next()], [500, 1000], 'the fixed half');
  t.same([high.next(), high.next()], [1000, 2000], 'the whole delay at most');
  const many = new Backoff({ initialMs: 1, maxMs: 8000, jitter: 'equal', random: () => 0.999 });
  for (let i = 0; i < 60; i++) t.ok(many.next() <= 8000);
});
