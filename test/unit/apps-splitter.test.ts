import { readFileSync } from 'node:fs';
import t from 'tap';
import { AppsBodyError, AppsSplitter } from '../../src/marathon/apps-splitter.js';

const fixture = (name: string): Buffer => readFileSync(new URL(`../fixtures/marathon/${name}`, import.meta.url));

/** Feeds `body` cut at the given offsets; returns the elements, or the AppsBodyError thrown. */
function split(body: Buffer, cuts: number[] = []): unknown[] | AppsBodyError {
  const out: unknown[] = [];
  const sp = new AppsSplitter((v, i) => {
    if (i !== out.length) throw new Error(`index ${i} after ${out.length} elements`);
    out.push(v);
  });
  try {
    let from = 0;
    for (const cut of [...cuts, body.length]) {
      sp.push(body.subarray(from, cut));
      from = cut;
    }
    const envelope = sp.end();
    if (!Array.isArray(envelope.apps) || envelope.apps.length !== 0) throw new Error('envelope without an empty apps');
    const n = sp.count();
    if (n !== out.length) throw new Error(`end() said ${n}, ${out.length} delivered`);
    if (sp.size() !== body.length) throw new Error(`size() ${sp.size()} of ${body.length}`);
    return out;
  } catch (err) {
    if (err instanceof AppsBodyError) return err;
    throw err;
  }
}

/** What JSON.parse makes of it: the apps, or undefined when it is not an object with an apps array. */
function reference(body: Buffer): unknown[] | undefined {
  try {
    const v = JSON.parse(body.toString('utf8')) as unknown;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
    const apps = (v as { apps?: unknown }).apps;
    return Array.isArray(apps) ? apps : undefined;
  } catch {
    return undefined;
  }
}

const FIXTURES = ['marathon-lb__marathon15_apps.json', 'master-1.10__app_list.json', 'v1.4.13__app_list.json'];

// Strings with every character that means something to the splitter, keys named "apps" inside apps,
// multi-byte UTF-8, other envelope keys before and after the array.
const TRICKY = Buffer.from(
  JSON.stringify({
    before: { apps: ['not', 'these'], s: 'x"],[{}' },
    apps: [
      { id: '/a', labels: { apps: '[1,2]', 'k"ey': 'v\\', q: '\\"', u: 'é—🚀' }, tasks: [{ id: 't,}' }] },
      'junk',
      42,
      null,
      [[], {}],
      { id: '/b', env: { X: '{"apps":[]}' } },
    ],
    after: 'apps',
    n: [1, 2, { apps: [3] }],
  }, null, 2).replace(/\n/g, '\r\n'),
);

t.test('same elements as JSON.parse, cut at every byte', async (t) => {
  for (const body of [...FIXTURES.map(fixture), TRICKY]) {
    const want = reference(body);
    t.ok(want && want.length > 0, 'the reference parses');
    let bad = 0;
    for (let cut = 0; cut <= body.length; cut++) {
      const got = split(body, [cut]);
      if (!Array.isArray(got) || JSON.stringify(got) !== JSON.stringify(want)) bad++;
    }
    t.equal(bad, 0, `${body.length} two-piece splits give JSON.parse's apps`);
    const bytes = Array.from({ length: body.length - 1 }, (_, i) => i + 1);
    t.same(split(body, bytes), want, 'one byte at a time');
  }
});

t.test('escapes and multi-byte characters cut across chunks', async (t) => {
  const body = Buffer.from('{"apps":[{"id":"/\\\\","x":"\\"\\\\\\"","u":"\u00e9\ud83d\ude80"}]}');
  for (let a = 1; a < body.length; a++) {
    for (let b = a + 1; b < body.length; b++) {
      const got = split(body, [a, b]);
      if (!Array.isArray(got)) t.fail(`cut at ${a},${b}: ${got.message}`);
      else if (JSON.stringify(got) !== JSON.stringify(reference(body))) t.fail(`cut at ${a},${b}: ${JSON.stringify(got)}`);
    }
  }
  t.same(split(body), [{ id: '/\\', x: '"\\"', u: 'é🚀' }]);
});

t.test('refuses what JSON.parse refuses, with a message', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['', /ends before/],
    ['   ', /ends before/],
    ['[]', /object with an "apps" array/],
    ['"apps"', /object with an "apps" array/],
    ['{}', /object with an "apps" array/],
    ['{"apps":{}}', /object with an "apps" array/],
    ['{"apps":null}', /object with an "apps" array/],
    ['{"apps":[1,]}', /empty element/],
    ['{"apps":[,1]}', /empty element/],
    ['{"apps":[1,,2]}', /empty element/],
    ['{"apps":[1 2]}', /not valid JSON/],
    ['{"apps":[{"id":"/a"}}', /unbalanced/],
    ['{"apps":[{"id":"/a"}]', /ends before/],
    ['{"apps":[{"id":"/a}]}', /ends before/],
    ['{"apps":[]} x', /after the JSON object/],
    ['{"apps":[]}{}', /after the JSON object/],
    ['{"apps":[],"apps":[]}', /more than one/],
    ['{"apps":[] "x":1}', /unparsable JSON around/],
    ['{apps:[]}', /unparsable JSON around|object with an "apps" array/],
    ['<html><title>Login</title></html>', /object with an "apps" array/],
  ];
  for (const [text, message] of cases) {
    const got = split(Buffer.from(text));
    t.ok(got instanceof AppsBodyError, `refused: ${text}`);
    if (got instanceof AppsBodyError) t.match(got.message, message, text);
    t.equal(reference(Buffer.from(text)) === undefined || text.includes('"apps":[],"apps"'), true, `JSON.parse agrees: ${text}`);
  }
  t.same(split(Buffer.from(' {"apps" : [ ] } \n')), [], 'an empty list with spaces');
  const sp = new AppsSplitter(() => undefined);
  sp.push(Buffer.from('{"savedAt":12,"apps":[{"a":1}],"x":{"y":[2]}}'));
  t.same(sp.end(), { savedAt: 12, apps: [], x: { y: [2] } }, 'the envelope, apps emptied');
});

t.test('every strict prefix of a valid answer is refused (a cut-short answer is never complete)', async (t) => {
  for (const body of [fixture('v1.4.13__app_list.json'), TRICKY]) {
    let accepted = 0;
    for (let len = 0; len < body.length; len++) {
      // Trailing white space after the closing brace is still the whole answer.
      if (body.subarray(len).toString().trim() === '') continue;
      if (Array.isArray(split(body.subarray(0, len)))) accepted++;
    }
    t.equal(accepted, 0);
  }
});

t.test('random damage: accepted exactly when JSON.parse accepts, with the same apps', async (t) => {
  const base = fixture('master-1.10__app_list.json');
  const alphabet = Buffer.from('{}[],:"\\ a1');
  let seed = 7;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  let disagree = 0;
  let acceptedDamaged = 0;
  for (let k = 0; k < 3000; k++) {
    const body = Buffer.from(base);
    const at = rand(body.length);
    const damaged =
      k % 3 === 0
        ? Buffer.concat([body.subarray(0, at), body.subarray(at + 1)])
        : k % 3 === 1
          ? Buffer.concat([body.subarray(0, at), alphabet.subarray(rand(alphabet.length)).subarray(0, 1), body.subarray(at)])
          : Buffer.concat([body.subarray(0, at), alphabet.subarray(rand(alphabet.length)).subarray(0, 1), body.subarray(at + 1)]);
    const want = reference(damaged);
    const got = split(damaged, [rand(damaged.length)]);
    if (want === undefined ? Array.isArray(got) : JSON.stringify(got) !== JSON.stringify(want)) disagree++;
    if (want !== undefined) acceptedDamaged++;
  }
  t.equal(disagree, 0, 'no disagreement with JSON.parse over 3,000 damaged answers');
  t.ok(acceptedDamaged > 100 && acceptedDamaged < 2900, `both outcomes exercised (${acceptedDamaged} still valid)`);
});

t.test('an element the caller refuses ends the read with the caller\'s error', async (t) => {
  const sp = new AppsSplitter(() => {
    throw new RangeError('enough');
  });
  t.throws(() => sp.push(Buffer.from('{"apps":[1,2]}')), RangeError);
});
