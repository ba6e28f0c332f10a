/**
 * A route map's change as entry edits on the live map, or null when only a whole swap keeps HAProxy's answers
 * (map_beg answers by the first match in the live list's order; `add map` appends).
 */
import t from 'tap';
import { mapEditCommands, mapEdits, usedOnlyByPrefixOrExact } from '../../src/haproxy/map-edits.js';

t.test('edits: adds first, then new values, then deletions; the same entries give none', async (t) => {
  t.same(mapEdits('/web web\n/shop shop\n', '/shop shop\n/web web\n'), [], 'the same entries in another order: nothing to do');
  t.same(mapEdits('/app1 a\n/app2 b\n', '/rule1 a\n/app2 c\n'), [
    { op: 'add', key: '/rule1', value: 'a' }, { op: 'set', key: '/app2', value: 'c' }, { op: 'del', key: '/app1' },
  ]);
  t.same(mapEdits('', '/a x\n'), [{ op: 'add', key: '/a', value: 'x' }], 'from an empty map');
  t.same(mapEdits('/a x\n', ''), [{ op: 'del', key: '/a' }], 'to an empty map');
  t.same(mapEdits('/web/shop s\n/web w\n', '/web w\n'), [{ op: 'del', key: '/web/shop' }], 'a deletion keeps the order right');
  t.same(mapEdits('/web w\n', '/web w\n/we x\n'), [{ op: 'add', key: '/we', value: 'x' }], 'a new key that is a prefix of others: appended last, it answers after them, as in the file');
});

t.test('null (a whole swap) where appending could answer otherwise than the file', async (t) => {
  const cases: Array<[string, string, string]> = [
    ['/web w\n', '/web/shop s\n/web w\n', 'a new key with another key as its prefix (appended, /web would answer first)'],
    ['/x y\n', '/web/shop s\n/web w\n', 'two new keys, one a prefix of the other'],
    ['/a x\n', '/a x\n/b y\n/b z\n', 'a key listed twice'],
    ['/a x\n', '/a x\n# note\n', 'a line that is not <key> <value>'],
    ['/a x\n', '/a x y\n', 'a value with a blank'],
    ['/a x\n', '/a;b x\n', 'a key the CLI would split'],
    ['/a x\n', "/a 'x'\n", 'a quote'],
  ];
  for (const [before, after, desc] of cases) t.equal(mapEdits(before, after), null, desc);
  const many = Array.from({ length: 70 }, (_, i) => `/k${i}/ v`).join('\n');
  t.equal(mapEdits('', many), null, 'more edits than the limit: one swap is faster');
  t.equal(mapEdits('', many, 100)?.length, 70);
});

t.test('only maps looked up by prefix or exact match are edited', async (t) => {
  const path = '/run/out.routes-0123456789abcdef.map';
  t.ok(usedOnlyByPrefixOrExact(`    use_backend %[path,lower,map_beg(${path})]\n`, path));
  t.ok(usedOnlyByPrefixOrExact(`    use_backend %[path,lower,map_beg(${path},fallback)]\n    http-request set-var(txn.b) req.hdr(host),map(${path})\n`, path));
  t.notOk(usedOnlyByPrefixOrExact(`    use_backend %[path,map_beg(${path})]\n    use_backend %[path,map_reg(${path})]\n`, path), 'one map_reg among them');
  t.notOk(usedOnlyByPrefixOrExact(`    use_backend %[path,map_sub(${path})]\n`, path), 'map_sub');
  t.notOk(usedOnlyByPrefixOrExact('    use_backend web\n', path), 'not used at all');
  t.notOk(usedOnlyByPrefixOrExact(`    use_backend %[path,map_beg(${path})]\n    # see ${path}\n`, path), 'named outside a lookup');
});

t.test('commands: one word each', async (t) => {
  t.same(mapEditCommands('/m.map', [{ op: 'add', key: '/a', value: 'x' }, { op: 'set', key: '/b', value: 'y' }, { op: 'del', key: '/c' }]),
    ['add map /m.map /a x', 'set map /m.map /b y', 'del map /m.map /c']);
});
