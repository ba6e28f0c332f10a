/**
 * The apply step with the real `haproxy -c` as validation (reload is `true`): isolating a bad rule or app,
 * undoing isolations when the fault is the template, picking up a fixed partial.
 */
import t from 'tap';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Applier, newMeasures } from '../../src/pipeline/apply.js';
import { HaproxyDriver } from '../../src/haproxy/driver.js';
import { HaproxyDelivery } from '../../src/haproxy/delivery.js';
import { Renderer } from '../../src/haproxy/render.js';
import { silentLogger } from '../../src/log/logger.js';
import { makeRule } from '../../src/core/rules.js';
import type { Rule } from '../../src/core/model.js';
import { app, stateOf, task, tasks } from '../helpers/builders.js';
import { requireBinary } from '../helpers/processes.js';

requireBinary('haproxy', 'apt-get install -y haproxy (see README, Set-up)');
const templates = new URL('../../templates/', import.meta.url).pathname;

function setup(runtime: { reloadIntervalMs?: number; clock?: () => number } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'culm-apply-'));
  for (const f of readdirSync(templates)) copyFileSync(join(templates, f), join(dir, f));
  const log = silentLogger();
  const out = join(dir, 'haproxy.cfg');
  const driver = new HaproxyDriver({ outputPath: out, validationCommand: 'haproxy -c -f {{.}}', reloadCommand: 'true', cleanupCommand: 'true', commandTimeoutMs: 10_000, log });
  const delivery = new HaproxyDelivery({ driver, log, ...runtime });
  const applier = new Applier(new Renderer(join(dir, 'haproxy.cfg.eta')), delivery, { HttpBind: '127.0.0.1:1', StatsSocket: join(dir, 's.sock'), PidFile: join(dir, 'p'), OutputPath: out }, log);
  return { dir, out, applier, driver };
}

/** The config on disk and the route map it names (what HAProxy routes with). */
function routing(out: string): string {
  const cfg = readFileSync(out, 'utf8');
  const map = /map_beg\(([^)]+)\)/.exec(cfg)?.[1];
  return map ? `${cfg}\n${readFileSync(map, 'utf8')}` : cfg;
}

const state = stateOf(...['/a', '/b', '/c'].map((id, i) => app(id, tasks(task(31000 + i)))));

t.test('a rule that breaks the config is ignored; the others apply', async (t) => {
  const { applier, out, driver } = setup();
  // Stored behind culm's back (e.g. written to ZooKeeper by an old Bamboo): HAProxy rejects it.
  const rules = new Map<string, Rule>([['/b', makeRule('/b', 'path_beg_bogus /b')], ['/c', makeRule('/c', 'path_beg -i /see')]]);
  const r = await applier.apply(state, rules);
  t.equal(r.result, 'applied');
  const cfg = routing(out);
  t.match(cfg, '\n/b ::b-cluster\n', 'the bad rule is replaced by the default ACL');
  t.match(cfg, '\n/see ::c-cluster\n', 'the good rule applies');
  t.ok(applier.ignoredRules.has('/b'));
  const fixed = new Map(rules).set('/b', makeRule('/b', 'path_beg -i /bee'));
  t.equal((await applier.apply(state, fixed)).result, 'applied');
  t.notOk(applier.ignoredRules.has('/b'), 'a changed rule is tried again');
  t.match(routing(out), '\n/bee ::b-cluster\n');
  await driver.idle(); // the prune runs after the reload, off the apply's path
  const maps = readdirSync(dirname(out)).filter((n) => n.endsWith('.map'));
  t.same(maps, [/map_beg\(([^)]+)\)/.exec(readFileSync(out, 'utf8'))![1].split('/').pop()], 'only the map the applied config names is left');
});

t.test('a broken partial: nothing is isolated for good, and the fixed partial is picked up', async (t) => {
  const { applier, dir, out } = setup();
  t.equal((await applier.apply(state, new Map())).result, 'applied');
  const good = readFileSync(out, 'utf8');
  const partial = join(dir, 'backend.eta');
  const original = readFileSync(partial, 'utf8');
  writeFileSync(partial, original.replace('balance <%= b.Balance %>', 'balance leastconnX'));
  const more = stateOf(...['/a', '/b', '/c', '/d'].map((id, i) => app(id, tasks(task(31000 + i)))));
  const r = await applier.apply(more, new Map());
  t.equal(r.result, 'invalid');
  t.equal(applier.excludedApps.size, 0, 'isolations undone: the template is at fault, not the apps');
  t.equal(readFileSync(out, 'utf8'), good, 'the old config stays');
  writeFileSync(partial, original);
  const later = new Date(Date.now() + 2000);
  utimesSync(partial, later, later);
  const fixed = await applier.apply(more, new Map());
  t.equal(fixed.result, 'applied', 'the fixed partial is picked up without a restart');
  t.match(readFileSync(out, 'utf8'), 'backend ::d-cluster');
});

t.test('a validation that times out is retryable, not a rejected config', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'culm-apply-'));
  const log = silentLogger();
  const driver = new HaproxyDriver({ outputPath: join(dir, 'h.cfg'), validationCommand: 'sleep 5', reloadCommand: 'true', cleanupCommand: 'true', commandTimeoutMs: 200, log });
  const applier = new Applier(new Renderer(join(templates, 'haproxy.cfg.eta')), new HaproxyDelivery({ driver, log }), { HttpBind: '127.0.0.1:1', StatsSocket: join(dir, 's'), PidFile: join(dir, 'p'), OutputPath: join(dir, 'h.cfg') }, log);
  const r = await applier.apply(state, new Map());
  t.equal(r.result, 'error');
  t.equal(r.error?.code, 'E_VALIDATION_TIMEOUT');
});

t.test('an app whose data breaks a custom template is left out; the others apply', async (t) => {
  const { applier, dir, out } = setup();
  const partial = join(dir, 'backend.eta');
  writeFileSync(partial, `${readFileSync(partial, 'utf8')}<% if (it.app.Labels.EXTRA) { -%>\n    <%= it.app.Labels.EXTRA %>\n<% } -%>\n`);
  const bad = app('/bad', tasks(task(32000)));
  bad.labels = { EXTRA: 'no-such-directive here' };
  const apps = [...['/a', '/b', '/c', '/d', '/e'].map((id, i) => app(id, tasks(task(31000 + i)))), bad];
  const r = await applier.apply(stateOf(...apps), new Map());
  t.equal(r.result, 'applied');
  const cfg = readFileSync(out, 'utf8');
  t.notMatch(cfg, 'backend ::bad-cluster', 'the bad app is left out');
  t.match(cfg, 'backend ::e-cluster');
  t.ok(applier.excludedApps.has('/bad'));
});

t.test('a template that routes with acl lines only (Bamboo style): no map file is written', async (t) => {
  const { applier, dir, out } = setup();
  const main = join(dir, 'haproxy.cfg.eta');
  const routes = '<% for (const app of it.Frontends) { -%>\n    acl <%= app.AclName %> <%= app.Acl %>\n    use_backend <%= app.Backend %> if <%= app.AclName %>\n<% } -%>\n';
  writeFileSync(main, readFileSync(main, 'utf8').replace(/^<%~ it\.memo\(it\.Routes.*$\n/m, routes));
  t.equal((await applier.apply(state, new Map())).result, 'applied');
  const cfg = readFileSync(out, 'utf8');
  t.match(cfg, 'acl ::b-aclrule path_beg -i /b\n    use_backend ::b-cluster if ::b-aclrule', 'routing by acl lines');
  t.notMatch(cfg, 'map_beg');
  t.same(readdirSync(dir).filter((n) => n.endsWith('.map')), [], 'no map file beside the config');
});

t.test('an applied reload records the validation and reload commands\' share; a config checked just before is not validated again', async (t) => {
  const { applier, driver } = setup();
  const r = await applier.apply(state, new Map());
  t.equal(r.mode, 'reload');
  t.ok(r.validateMs! > 0, `haproxy -c took ${r.validateMs} ms`);
  t.ok(r.reloadMs! >= 0);
  t.ok(r.validateMs! + r.reloadMs! <= r.durationMs, 'within the apply');
  const rules = new Map([['/a', makeRule('/a', 'path_beg -i /eh')]]);
  const candidate = applier.candidateWith(state, new Map(), rules.get('/a')!);
  await driver.check(candidate.text, candidate.files);
  const next = await applier.apply(state, rules);
  t.equal(next.result, 'applied');
  t.equal(next.validateMs, 0, 'the checked candidate is renamed into place');
});

t.test('a rule for an app that does not exist yet is checked against a placeholder backend', async (t) => {
  const { applier, driver } = setup();
  const bad = makeRule('/later', 'src 999.1.1.1');
  const candidate = applier.candidateWith(state, new Map(), bad);
  t.match(candidate.text, '999.1.1.1', 'the rule is in the candidate although /later has no app');
  await t.rejects(driver.check(candidate.text, candidate.files), { code: 'E_CONFIG_INVALID' }, 'HAProxy refuses it before it is stored');
  const good = applier.candidateWith(state, new Map(), makeRule('/later', 'path_beg -i /soon'));
  await driver.check(good.text, good.files);
  t.notOk(state.apps.has('/later'), 'the state itself is untouched');
});

t.test('a stored rule that breaks the config once its app appears: left out in the same apply, no wait for the reload interval', async (t) => {
  let now = 1_000_000;
  const { applier, out } = setup({ reloadIntervalMs: 1000, clock: () => now });
  const rules = new Map<string, Rule>([['/late', makeRule('/late', 'src 999.1.1.1')]]);
  t.equal((await applier.apply(state, rules)).result, 'applied', 'without its app the rule is not rendered');
  now += 1000; // the interval since that reload is over
  const withApp = stateOf(...['/a', '/b', '/c', '/late'].map((id, i) => app(id, tasks(task(31000 + i)))));
  const r = await applier.apply(withApp, rules);
  t.equal(r.result, 'applied', 'applied at once: the refused candidate reloaded nothing, so the interval does not hold the rest back');
  t.same(r.leftOut?.map((l) => [l.kind, l.id]), [['rule', '/late']]);
  t.match(r.reasons[0], 'rule /late left out');
  t.match(routing(out), '\n/late ::late-cluster\n', 'its app gets the default route');
  t.notMatch(readFileSync(out, 'utf8'), '999.1.1.1');
  // The next change for another app, right away: a reload ran 0 ms ago, so it waits for the interval…
  const more = stateOf(...['/a', '/b', '/c', '/late', '/d'].map((id, i) => app(id, tasks(task(31000 + i)))));
  const deferred = await applier.apply(more, rules);
  t.equal(deferred.result, 'deferred');
  t.equal(deferred.retryAt, now + 1000, 'until exactly one interval after the last reload');
  t.notOk(deferred.leftOut, 'the bad rule is not judged again');
  now = deferred.retryAt!;
  const later = await applier.apply(more, rules);
  t.equal(later.result, 'applied', '…and no longer');
  t.notOk(later.leftOut, 'told once');
  t.ok(applier.ignoredRules.has('/late'), 'still left out until it changes');
});

t.test('the reload interval bounds the rate: a reload goes at once when none ran within the interval', async (t) => {
  let now = 5_000_000;
  const { applier } = setup({ reloadIntervalMs: 1000, clock: () => now });
  const grow = (n: number) => stateOf(...Array.from({ length: n }, (_, i) => app(`/app${i}`, tasks(task(31000 + i)))));
  t.equal((await applier.apply(grow(1), new Map())).result, 'applied', 'the first reload is not held back');
  now += 999;
  t.equal((await applier.apply(grow(2), new Map())).result, 'deferred', '999 ms later: deferred');
  now += 1;
  t.equal((await applier.apply(grow(2), new Map())).result, 'applied', '1000 ms later: at once');
  now += 5000;
  const rules = new Map([['/app0', makeRule('/app0', 'path_beg -i /zero')]]);
  t.equal((await applier.apply(grow(2), rules)).result, 'applied', 'a rule long after the last reload: at once');
  // A refused candidate (no reload ran) does not count as a reload.
  now += 1000;
  const refused = await applier.apply(grow(2), new Map([['/app0', makeRule('/app0', 'path_beg -i /zero2')], ['/app1', makeRule('/app1', 'src 999.1.1.1')]]));
  t.equal(refused.result, 'applied');
  t.same(refused.leftOut?.map((l) => l.id), ['/app1']);
});

t.test('a rule that only changes route map entries is known as such (no config check needed); others are not', async (t) => {
  const { applier } = setup();
  const rules = new Map<string, Rule>([['/c', makeRule('/c', 'path_beg -i /see')]]);
  t.equal((await applier.apply(state, rules)).result, 'applied');
  t.equal(applier.candidateWith(state, rules, makeRule('/b', 'path_beg -i /bee')).mapOnly, true, 'a plain prefix for an app with a backend: map only');
  t.equal(applier.candidateWith(state, rules, makeRule('/c', 'path_beg -i /see')).mapOnly, true, 'the same rule again: nothing changes');
  t.equal(applier.candidateWith(state, rules, makeRule('/b', 'hdr(host) -i b.example.com')).mapOnly, false, 'an ACL outside the map changes the config');
  t.equal(applier.candidateWith(state, rules, makeRule('/new', 'path_beg -i /new')).mapOnly, false, 'an app without a backend yet needs one: not map only');
});

t.test("the apply after a rule's candidate uses its render while every input is the candidate's, and only then", async (t) => {
  const { applier, out } = setup();
  t.equal((await applier.apply(state, new Map())).result, 'applied');
  const rendersOf = async (s: typeof state, rules: ReadonlyMap<string, Rule>): Promise<number> => {
    const m = newMeasures();
    const r = await applier.apply(s, rules, m);
    t.ok(r.result === 'applied' || r.result === 'unchanged', `applied (${r.result} ${r.error?.message ?? ''})`);
    return m.renders.length;
  };
  const first = applier.candidateWith(state, new Map(), makeRule('/b', 'path_beg -i /bee'));
  t.equal(await rendersOf(state, first.rules), 0, 'same state, the candidate\'s rules: no second render');
  t.match(routing(out), '\n/bee ::b-cluster\n', 'and the rule is applied');
  const fresh = new Renderer(join(dirname(out), 'haproxy.cfg.eta')).render(applier.view(state, first.rules));
  t.equal(readFileSync(out, 'utf8'), fresh, 'what was applied is what a fresh render gives');

  const second = applier.candidateWith(state, first.rules, makeRule('/c', 'path_beg -i /see'));
  t.equal(await rendersOf(state, new Map(second.rules)), 1, 'an equal but other rules map: rendered');
  const third = applier.candidateWith(state, second.rules, makeRule('/a', 'path_beg -i /aye'));
  const moved = stateOf(...['/a', '/b', '/c'].map((id, i) => app(id, tasks(task(32000 + i)))));
  t.equal(await rendersOf(moved, third.rules), 1, 'another state: rendered');
  t.match(readFileSync(out, 'utf8'), ':32000', 'with the new state\'s servers');
  const fourth = applier.candidateWith(moved, third.rules, makeRule('/a', 'path_beg -i /ay'));
  t.equal(await rendersOf(moved, fourth.rules), 0, 'used once');
  t.equal(await rendersOf(moved, new Map(fourth.rules).set('/c', makeRule('/c', 'path_beg -i /sea'))), 1, 'and not again');
  const late = applier.candidateWith(moved, fourth.rules, makeRule('/b', 'path_beg -i /bea'));
  await new Promise((r) => setTimeout(r, 300));
  t.equal(await rendersOf(moved, late.rules), 1, 'too late (time may have changed readiness): rendered');
  const absent = applier.candidateWith(moved, late.rules, makeRule('/nope', 'path_beg -i /nope'));
  t.equal(await rendersOf(moved, absent.rules), 1, 'a rule for an app Marathon does not run (checked with a placeholder): rendered');
});

t.test('views prepared as apps arrive: the apply renders what it renders without them, and a rule changed since is followed', async (t) => {
  const fresh = () => stateOf(...['/a', '/b', '/c'].map((id, i) => app(id, tasks(task(31000 + i)))));
  const plain = setup();
  const prepared = setup();
  const before = new Map<string, Rule>([['/b', makeRule('/b', 'path_beg -i /bee')]]);
  const after = new Map<string, Rule>([['/b', makeRule('/b', 'path_beg -i /other')]]);
  const s = fresh();
  for (const a of s.apps.values()) prepared.applier.prepareView(a, before);
  t.equal((await prepared.applier.apply(s, before)).result, 'applied');
  t.equal((await plain.applier.apply(fresh(), before)).result, 'applied');
  t.equal(routing(prepared.out).replaceAll(prepared.dir, ''), routing(plain.out).replaceAll(plain.dir, ''), 'the same config');
  const s2 = fresh();
  for (const a of s2.apps.values()) prepared.applier.prepareView(a, before);
  t.equal((await prepared.applier.apply(s2, after)).result, 'applied');
  t.match(routing(prepared.out), '\n/other ::b-cluster\n', 'the rule the apply is given, not the one prepared with');
});
