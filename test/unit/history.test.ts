/** /api/history: applies and rule writes merged by time, each kind (and refusals) with its own bound. */
import t from 'tap';
import { HISTORY_BOUND, mergeHistory, RuleChangeLog } from '../../src/pipeline/history.js';
import type { ApplyRecord, RuleChangeRecord } from '../../src/pipeline/types.js';

const apply = (at: number): ApplyRecord => ({ at, result: 'applied', reasons: [`apply ${at}`], durationMs: 1 });
const rule = (at: number, result: 'changed' | 'refused' = 'changed'): RuleChangeRecord => ({
  kind: 'rule', at, result, action: 'set', id: '/a', who: 'token', from: '127.0.0.1', before: null, after: null, status: result === 'changed' ? 200 : 401, reasons: [`rule ${at}`], durationMs: 1,
});

t.test('merged oldest first; applies marked kind "apply"; unchanged without rule writes', async (t) => {
  const merged = mergeHistory([apply(1), apply(4)], [rule(2), rule(3), rule(5)]);
  t.same(merged.map((r) => [r.kind, r.at]), [['apply', 1], ['rule', 2], ['rule', 3], ['apply', 4], ['rule', 5]]);
  t.same(mergeHistory([apply(1)], []), [{ kind: 'apply', ...apply(1) }]);
});

t.test('a flood of refused writes keeps the accepted changes', async (t) => {
  const log = new RuleChangeLog();
  for (let i = 0; i < 10; i++) log.add(rule(i));
  for (let i = 10; i < 1000; i++) log.add(rule(i, 'refused'));
  const list = log.list();
  t.equal(list.filter((r) => r.result === 'changed').length, 10, 'every accepted change kept');
  t.equal(list.filter((r) => r.result === 'refused').length, HISTORY_BOUND, 'refusals bounded');
  t.same(list.filter((r) => r.result === 'refused').map((r) => r.at)[0], 1000 - HISTORY_BOUND, 'the newest refusals');
  for (let i = 0; i < 200; i++) log.add(rule(2000 + i));
  t.equal(log.list().filter((r) => r.result === 'changed').length, HISTORY_BOUND, 'changes bounded too');
  t.ok(log.list().every((r, i, all) => i === 0 || all[i - 1].at <= r.at), 'in time order');
});
