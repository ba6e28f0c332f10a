/** The reload interval as a rate bound, on a fake clock: only reloads that ran count, from when they started. */
import t from 'tap';
import { ReloadPacer } from '../../src/pipeline/reload-pacer.js';

t.test('a reload goes at once unless one ran within the interval', async (t) => {
  let now = 10_000;
  const pacer = new ReloadPacer(1000, () => now);
  const cases: Array<{ desc: string; advance: number; reload?: boolean; may: boolean }> = [
    { desc: 'nothing reloaded yet', advance: 0, may: true },
    { desc: 'right after a reload', advance: 0, reload: true, may: false },
    { desc: '999 ms after it', advance: 999, may: false },
    { desc: '1000 ms after it', advance: 1, may: true },
    { desc: 'long after it', advance: 60_000, may: true },
  ];
  for (const c of cases) {
    now += c.advance;
    if (c.reload) pacer.reloaded(now);
    t.equal(pacer.mayReload(), c.may, c.desc);
  }
  t.equal(pacer.allowedAt(), 11_000, 'allowed again one interval after the reload started');
  pacer.reloaded(5_000);
  t.equal(pacer.allowedAt(), 11_000, 'an older start never moves the bound back');
  t.ok(new ReloadPacer(0, () => now).mayReload(), 'interval 0: never held back');
});
