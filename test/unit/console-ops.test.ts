/** The console's history and cluster pieces: kept diffs, the event rate, the mode shown, the hash highlight, escaping. */
import t from 'tap';
import { ConfigDiffs, DIFFS_KEPT } from '../../src/pipeline/config-diffs.js';
import { EventRate } from '../../src/metrics/summary.js';
import { clusterSection, historySection, modeOf } from '../../src/http/ui-ops.js';
import type { ApplyRecord } from '../../src/pipeline/types.js';

t.test('diffs: none for the first config, config and map diffed against the last applied, bounded', async (t) => {
  const d = new ConfigDiffs();
  const map = (hash: string, text: string) => [{ path: `/x/haproxy.cfg.routes-${hash}.map`, text, map: true }];
  t.equal(d.record('a\nb\n', map('0123456789abcdef', '/web 1\n'), true), undefined, 'the first config has no diff');
  const id = d.record('a\nB\n', map('fedcba9876543210', '/web 2\n'), true)!;
  const diff = d.get(id)!;
  t.match(diff, /--- a\/haproxy\.cfg\n\+\+\+ b\/haproxy\.cfg\n@@ -1,2 \+1,2 @@\n a\n-b\n\+B\n/);
  t.match(diff, /--- a\/haproxy\.cfg\.routes\.map\n\+\+\+ b\/haproxy\.cfg\.routes\.map\n@@ -1,1 \+1,1 @@\n-\/web 1\n\+\/web 2\n/, 'the map by its name without the hash');
  const rejected = d.record('a\nB\nbroken\n', map('fedcba9876543210', '/web 2\n'), false)!;
  t.match(d.get(rejected), /\+broken/);
  const next = d.record('a\nB\nc\n', map('fedcba9876543210', '/web 2\n'), true)!;
  t.notMatch(d.get(next), /broken/, 'a rejected candidate is not the base of the next diff');
  for (let i = 0; i < DIFFS_KEPT; i++) d.record(`v${i}\n`, [], true);
  t.equal(d.get(id), undefined, 'old diffs are dropped');
  t.type(d.get(next + DIFFS_KEPT), 'string', 'the newest kept');
});

t.test('event rate: the last minute, from per-second buckets', async (t) => {
  let now = 1_000_000;
  const rate = new EventRate(() => now);
  t.equal(rate.perSecond(), 0);
  now += 10_000;
  for (let i = 0; i < 50; i++) rate.add();
  t.equal(rate.perSecond(), 5, '50 events in the first 10 s');
  now += 120_000;
  t.equal(rate.perSecond(), 0, 'two minutes later, nothing left in the window');
  rate.add(60);
  t.equal(rate.perSecond(), 1);
});

t.test('mode: reload, runtime with what it changed', async (t) => {
  const rec = (extra: Partial<ApplyRecord>): ApplyRecord => ({ at: 1, result: 'applied', reasons: [], durationMs: 1, ...extra });
  t.equal(modeOf(rec({ mode: 'reload' })), 'reload');
  t.equal(modeOf(rec({ mode: 'runtime', maps: 1, serverOps: 0 })), 'runtime (map)');
  t.equal(modeOf(rec({ mode: 'runtime', maps: 0, serverOps: 3 })), 'runtime (3 server commands)');
  t.equal(modeOf(rec({})), '');
});

t.test('cluster: a hash other than the leader\'s is marked; text is escaped', async (t) => {
  const same = clusterSection({ mode: 'zookeeper', self: 'a', leader: 'a', instances: [
    { id: 'a', leader: true, lastApply: { configHash: 'h1' } }, { id: 'b', leader: false, lastApply: { configHash: 'h1' } }] });
  t.notMatch(same, /differs/);
  t.match(same, /one config hash/);
  const differ = clusterSection({ mode: 'zookeeper', self: 'a', leader: 'a', instances: [
    { id: 'a', leader: true, lastApply: { configHash: 'h1' } }, { id: '<b>', leader: false, lastApply: { configHash: 'h2' } }] });
  t.match(differ, /<tr class="instance differs" data-id="&#60;b&#62;">/);
  t.match(differ, /2 different config hashes/);
  t.notMatch(differ, /<b>/);
  const standalone = clusterSection({ mode: 'standalone', self: 'a', leader: 'a', instances: [{ id: 'a', leader: true }] }, { at: 1, result: 'applied', configHash: 'f'.repeat(64) });
  t.match(standalone, /title="f{64}"/, 'standalone: its own last apply from its history');
  const history = historySection([{ kind: 'rule', at: 1, result: 'changed', action: 'set', id: '/x', who: '<i>eve</i>', from: '::1', before: null, after: null, status: 200, reasons: ['r'], durationMs: 1 }], true);
  t.match(history, /&#60;i&#62;eve/);
  t.notMatch(history, /<i>/);
  const leftOut = historySection([{ kind: 'apply', at: 1, result: 'applied', reasons: ['rule /x left out: HAProxy refuses it'], durationMs: 1, mode: 'reload',
    leftOut: [{ kind: 'rule', id: '/x', error: `parsing [haproxy.cfg:9] : regex '<[a-' is invalid ${'x'.repeat(300)}` }] }], true);
  t.match(leftOut, /<div class="small left-out" title="parsing \[haproxy\.cfg:9\] : regex &#39;&#60;\[a-&#39; is invalid x+">rule \/x: HAProxy: parsing [^<]*…<\/div>/, 'HAProxy\'s reason for a rule left out, short, whole on hover');
});
