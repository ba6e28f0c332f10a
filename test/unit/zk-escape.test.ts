/** Go's url.QueryEscape/QueryUnescape (Bamboo's znode names) and Bamboo's rule representation, table-driven. */
import t from 'tap';
import { goQueryEscape, goQueryUnescape, QueryEscapeError } from '../../src/store/zookeeper/escape.js';
import { decodeRuleNode, encodeRule, ruleNodeName } from '../../src/store/zookeeper/representation.js';
import { makeRule } from '../../src/core/rules.js';

t.test('goQueryEscape matches Go (net/url queryEscapeTests and Bamboo ids)', async (t) => {
  const cases: { desc: string; in: string; out: string }[] = [
    { desc: 'empty', in: '', out: '' },
    { desc: 'plain', in: 'abc', out: 'abc' },
    { desc: 'space is +', in: 'one two', out: 'one+two' },
    { desc: 'percent', in: '10%', out: '10%25' },
    { desc: "Go's big table row", in: ' ?&=#+%!<>#"{}|\\^[]`☺\t:/@$\'()*,;', out: '+%3F%26%3D%23%2B%25%21%3C%3E%23%22%7B%7D%7C%5C%5E%5B%5D%60%E2%98%BA%09%3A%2F%40%24%27%28%29%2A%2C%3B' },
    { desc: 'unreserved kept', in: 'AZaz09-_.~', out: 'AZaz09-_.~' },
    { desc: 'Marathon id', in: '/grp/app1', out: '%2Fgrp%2Fapp1' },
    { desc: 'top-level id', in: '/web', out: '%2Fweb' },
    { desc: 'non-BMP as UTF-8 bytes', in: '/😀', out: '%2F%F0%9F%98%80' },
  ];
  for (const c of cases) {
    t.equal(goQueryEscape(c.in), c.out, `escape: ${c.desc}`);
    t.equal(goQueryUnescape(c.out), c.in, `round trip: ${c.desc}`);
  }
});

t.test('goQueryUnescape matches Go (net/url unescapeTests, query mode)', async (t) => {
  const ok: { in: string; out: string }[] = [
    { in: '', out: '' },
    { in: 'abc', out: 'abc' },
    { in: '1%41', out: '1A' },
    { in: '1%41%42%43', out: '1ABC' },
    { in: '%4a', out: 'J' },
    { in: '%6F', out: 'o' },
    { in: 'a+b', out: 'a b' },
    { in: 'a%20b', out: 'a b' },
    { in: '%2fgrp%2Fapp1', out: '/grp/app1' },
    { in: 'app1', out: 'app1' },
    { in: '/already/raw', out: '/already/raw' },
  ];
  for (const c of ok) t.equal(goQueryUnescape(c.in), c.out, JSON.stringify(c.in));
  const bad: { in: string; fragment: string }[] = [
    { in: '%', fragment: '%' },
    { in: '%a', fragment: '%a' },
    { in: '%1', fragment: '%1' },
    { in: '123%45%6', fragment: '%6' },
    { in: '%zzzzz', fragment: '%zz' },
  ];
  for (const c of bad) {
    t.throws(() => goQueryUnescape(c.in), new QueryEscapeError(c.fragment), `${JSON.stringify(c.in)} is an error like Go's EscapeError(${JSON.stringify(c.fragment)})`);
  }
  t.throws(() => goQueryUnescape('%FF'), QueryEscapeError, 'bytes that are not UTF-8 are refused');
});

t.test('rules encode like Bamboo MakeV2ServiceRepr + json.Marshal', async (t) => {
  const cases: { desc: string; rule: ReturnType<typeof makeRule>; json: string }[] = [
    { desc: 'acl only', rule: makeRule('/web', 'path_beg /web'), json: '{"version":"2","config":{"Acl":"path_beg /web"}}' },
    { desc: 'keys sorted as Go sorts map keys', rule: makeRule('/a', 'hdr(host) -i a', { zeta: '1', Alpha: '2', beta: '3' }), json: '{"version":"2","config":{"Acl":"hdr(host) -i a","Alpha":"2","beta":"3","zeta":"1"}}' },
    { desc: 'HTML characters escaped as Go does', rule: makeRule('/h', 'path_beg /a&b <x>'), json: '{"version":"2","config":{"Acl":"path_beg /a\\u0026b \\u003cx\\u003e"}}' },
    { desc: 'empty acl leaves config as is', rule: makeRule('/e', '', { k: 'v' }), json: '{"version":"2","config":{"k":"v"}}' },
  ];
  for (const c of cases) t.equal(encodeRule(c.rule).toString(), c.json, c.desc);
  t.equal(ruleNodeName('/grp/app1'), '%2Fgrp%2Fapp1');
});

t.test('nodes decode like Bamboo ParseServiceRepr; what would break HAProxy is skipped', async (t) => {
  const good: { desc: string; name: string; data: string; id: string; acl: string; config?: Record<string, string> }[] = [
    { desc: 'v2', name: '%2Fweb', data: '{"version":"2","config":{"Acl":"path_beg /web","x":"y"}}', id: '/web', acl: 'path_beg /web', config: { Acl: 'path_beg /web', x: 'y' } },
    { desc: 'v1 bare string', name: '%2Fold', data: 'hdr_dom(host) -i old.example.com', id: '/old', acl: 'hdr_dom(host) -i old.example.com' },
    { desc: 'v1 with a trailing newline', name: '%2Fnl', data: 'path_beg /nl\n', id: '/nl', acl: 'path_beg /nl' },
    { desc: 'slashes in the id', name: '%2Fgrp%2Fapp1', data: '{"version":"2","config":{"Acl":"path_beg /app1"}}', id: '/grp/app1', acl: 'path_beg /app1' },
    { desc: 'name without the slash (old Bamboo)', name: 'legacy', data: 'path_beg /legacy', id: '/legacy', acl: 'path_beg /legacy' },
    { desc: 'a JSON string is v1 text, quotes included (as Bamboo)', name: '%2Fq', data: '"path_beg"', id: '/q', acl: '"path_beg"' },
    { desc: 'empty data is an empty v1 rule', name: '%2Fempty', data: '', id: '/empty', acl: '' },
  ];
  for (const c of good) {
    const d = decodeRuleNode(c.name, Buffer.from(c.data));
    t.ok(d.ok, c.desc);
    if (d.ok) {
      t.equal(d.rule.id, c.id, `${c.desc}: id`);
      t.equal(d.rule.acl, c.acl, `${c.desc}: acl`);
      if (c.config) t.same(d.rule.config, c.config, `${c.desc}: config`);
    }
  }
  const bad: { desc: string; name: string; data: Buffer | string; reason: RegExp }[] = [
    { desc: 'unknown version (a newer writer)', name: '%2Fv3', data: '{"version":"3","config":{}}', reason: /unknown rule representation/ },
    { desc: 'v2 with a non-string value', name: '%2Fn', data: '{"version":"2","config":{"Acl":1}}', reason: /not an object of strings/ },
    { desc: 'bad escape in the name', name: '%ZZ', data: 'x', reason: /not query-escaped/ },
    { desc: 'not UTF-8', name: '%2Fbin', data: Buffer.from([0xff, 0xfe, 0x00]), reason: /not UTF-8/ },
    { desc: 'a newline inside the acl', name: '%2Finject', data: 'path_beg /a\nbackend evil', reason: /newline or control/ },
  ];
  for (const c of bad) {
    const d = decodeRuleNode(c.name, typeof c.data === 'string' ? Buffer.from(c.data) : c.data);
    t.notOk(d.ok, c.desc);
    if (!d.ok) t.match(d.reason, c.reason, `${c.desc}: reason`);
  }
  const round = makeRule('/r/t', 'path_beg /rt', { weight: '5' });
  const back = decodeRuleNode(ruleNodeName(round.id), encodeRule(round));
  t.same(back.ok && back.rule, round, 'encode then decode is the identity');
});
