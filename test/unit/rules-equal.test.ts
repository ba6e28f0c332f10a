/** A store's re-read of the rules keeps the objects of rules that did not change (views are cached by rule identity). */
import t from 'tap';
import { keepEqualRules, makeRule, sameRule } from '../../src/core/rules.js';
import type { Rule } from '../../src/core/model.js';

t.test('sameRule compares id, ACL and every Config entry', async (t) => {
  const a = makeRule('/a', 'path_beg -i /a', { balance: 'roundrobin' });
  t.ok(sameRule(a, makeRule('/a', 'path_beg -i /a', { balance: 'roundrobin' })), 'equal content');
  t.notOk(sameRule(a, makeRule('/b', 'path_beg -i /a', { balance: 'roundrobin' })), 'other id');
  t.notOk(sameRule(a, makeRule('/a', 'path_beg -i /x', { balance: 'roundrobin' })), 'other ACL');
  t.notOk(sameRule(a, makeRule('/a', 'path_beg -i /a', { balance: 'source' })), 'other Config value');
  t.notOk(sameRule(a, makeRule('/a', 'path_beg -i /a')), 'a Config entry fewer');
  t.notOk(sameRule(makeRule('/a', 'x', { k: '' }), makeRule('/a', 'x', { j: '' })), 'other Config key, same count');
});

t.test('keepEqualRules keeps unchanged objects, and the map itself when nothing changed', async (t) => {
  const a = makeRule('/a', 'path_beg -i /a');
  const b = makeRule('/b', 'path_beg -i /b');
  const current = new Map<string, Rule>([['/a', a], ['/b', b]]);
  const reread = new Map<string, Rule>([['/a', makeRule('/a', 'path_beg -i /a')], ['/b', makeRule('/b', 'path_beg -i /b')]]);
  t.equal(keepEqualRules(current, reread), current, 'the same rules: the current map');
  const changed = keepEqualRules(current, new Map([['/a', makeRule('/a', 'path_beg -i /a')], ['/b', makeRule('/b', 'path_beg -i /bee')]]));
  t.not(changed, current, 'one changed: a new map');
  t.equal(changed.get('/a'), a, 'the unchanged rule is the old object');
  t.equal(changed.get('/b')?.acl, 'path_beg -i /bee', 'the changed one is the new rule');
  const fewer = keepEqualRules(current, new Map([['/a', makeRule('/a', 'path_beg -i /a')]]));
  t.same([...fewer.keys()], ['/a'], 'a deleted rule is gone');
  t.equal(fewer.get('/a'), a);
  const more = keepEqualRules(current, new Map([...reread, ['/c', makeRule('/c', 'path_beg -i /c')]]));
  t.same([...more.keys()], ['/a', '/b', '/c'], 'an added rule is there');
  t.equal(more.get('/b'), b);
});
