/**
 * The pure parts of "only trusted events are applied directly": the persistent tombstones, one app's state
 * replaced from a single-app read, and what a hint (an event without the secret) calls for.
 */
import t, { type Test } from 'tap';
import { performance } from 'node:perf_hooks';
import type { DomainEvent } from '../../src/core/events.js';
import { hintAction, isMarathonAppId } from '../../src/core/hints.js';
import { applyAppRead, reduce } from '../../src/core/state.js';
import { Tombstones } from '../../src/core/tombstones.js';
import type { ClusterState } from '../../src/core/model.js';
import { app, healthChecks, stateOf, task, tasks } from '../helpers/builders.js';

const status = (taskId: string, state: string, appId = '/web', host = '127.0.0.1', port = 31001): DomainEvent =>
  ({ kind: 'task', appId, taskId, state, host, ports: [port], ipAddresses: [] });

t.test('tombstones: a persistent map that reads like the Map it replaces', async (t) => {
  // Random keys and values against a plain Map (a reference implementation); every version stays intact.
  let seed = 7;
  const random = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  const versions: Array<{ t: Tombstones; ref: Map<string, number> }> = [{ t: Tombstones.empty, ref: new Map() }];
  for (let i = 0; i < 3000; i++) {
    const base = versions[random(versions.length)];
    const key = `task.${random(2000)}`;
    const value = random(3);
    const next = base.t.with(key, value);
    const ref = new Map(base.ref).set(key, value);
    if (base.ref.get(key) === value) t.equal(next, base.t, 'setting what is held returns the same map');
    versions.push({ t: next, ref });
    if (versions.length > 50) versions.splice(1, 1);
  }
  for (const v of versions) {
    if (v.t.size !== v.ref.size) t.fail(`size ${v.t.size} != ${v.ref.size}`);
    for (const [k, val] of v.ref) if (v.t.get(k) !== val) t.fail(`${k}: ${v.t.get(k)} != ${val}`);
    if (v.t.has('absent')) t.fail('absent key found');
    t.same(new Map(v.t), v.ref);
  }
  t.equal(Tombstones.of(new Map([['a', 1]])).get('a'), 1, 'a plain Map converts');
  const one = Tombstones.from([['x', 1]]);
  t.equal(Tombstones.of(one), one, 'a Tombstones is taken as it is');
  t.same([...one.keys()], ['x']);
  t.same([...one.values()], [1]);
});

t.test('60,000 terminal events for made-up tasks: each costs the same, not a copy of every tombstone', async (t) => {
  let s = stateOf(app('/web', tasks(task(31001, { id: 'w.1' }))));
  const times: number[] = [];
  for (let block = 0; block < 6; block++) {
    const began = performance.now();
    for (let i = 0; i < 10_000; i++) s = reduce(s, status(`made-up.${block}.${i}`, 'TASK_KILLED', `/x${i}`), block).state;
    times.push(performance.now() - began);
  }
  t.equal(s.tombstones.size, 60_000);
  t.ok(s.apps.get('/web')!.tasks['w.1'], 'the real task is untouched');
  t.comment(`ms per 10,000 kills: ${times.map((ms) => ms.toFixed(0)).join(', ')}`);
  // With a copy per event the last block costs ~10× the first; persistent, about the same.
  t.ok(times[5] < Math.max(5 * times[0], 200), `the last 10,000 (${times[5].toFixed(0)} ms) cost about what the first did (${times[0].toFixed(0)} ms)`);
  const before = s;
  t.equal(reduce(s, status('made-up.0.1', 'TASK_KILLED', '/x1'), 9).state, before, 'a repeated kill returns the same object');
});

t.test('applyAppRead: one app replaced from Marathon\'s answer, as a resync would', async (t) => {
  const base = (): ClusterState => {
    let s = stateOf(
      app('/web', healthChecks(), tasks(task(31001, { id: 'w.1', healthy: true }), task(31002, { id: 'w.2', healthy: true }))),
      app('/api', tasks(task(32001, { id: 'a.1' }))),
    );
    s = reduce(s, status('w.dead', 'TASK_KILLED'), 1).state;
    s = reduce(s, status('w.2', 'TASK_KILLING', '/web', '127.0.0.1', 31002), 1).state;
    return s;
  };
  const cases: Array<{ desc: string; id: string; fresh: () => ReturnType<typeof app> | null; check: (t: Test, before: ClusterState, after: ClusterState) => void }> = [
    {
      desc: 'the same app: the same state object', id: '/web',
      fresh: () => app('/web', healthChecks(), tasks(task(31001, { id: 'w.1', healthy: true }), task(31002, { id: 'w.2', healthy: true, state: 'TASK_KILLING' }))),
      check: (t, b, a) => t.equal(a, b),
    },
    {
      desc: 'Marathon does not know the app (404): it goes, no tombstone is made', id: '/web', fresh: () => null,
      check: (t, b, a) => {
        t.notOk(a.apps.has('/web'));
        t.ok(a.apps.has('/api'));
        t.equal(a.tombstones, b.tombstones);
      },
    },
    { desc: '404 for an app culm does not hold: the same state', id: '/made-up', fresh: () => null, check: (t, b, a) => t.equal(a, b) },
    {
      desc: 'a tombstoned task in the answer stays out; KILLING does not move back to RUNNING', id: '/web',
      fresh: () => app('/web', healthChecks(), tasks(task(31001, { id: 'w.1', healthy: true }), task(31002, { id: 'w.2', healthy: true }), task(31009, { id: 'w.dead', healthy: true }))),
      check: (t, b, a) => {
        t.equal(a, b, 'nothing changes');
        t.equal(a.apps.get('/web')!.tasks['w.2'].state, 'TASK_KILLING');
      },
    },
    {
      desc: 'health unknown in the answer (leader failover) keeps the last known', id: '/web',
      fresh: () => app('/web', healthChecks(), tasks(task(31001, { id: 'w.1', healthy: null }))),
      check: (t, b, a) => {
        t.same(Object.keys(a.apps.get('/web')!.tasks), ['w.1'], 'a task Marathon no longer lists goes');
        t.equal(a.apps.get('/web')!.tasks['w.1'].healthy, true);
        t.equal(a.apps.get('/api'), b.apps.get('/api'), 'other apps are the same objects');
        t.equal(a.tombstones, b.tombstones);
        t.equal(a.syncedAt, b.syncedAt, 'a single-app read is not a sync');
      },
    },
    {
      desc: 'a task Marathon confirms dead-unhealthy leaves', id: '/web',
      fresh: () => app('/web', healthChecks(), tasks(task(31001, { id: 'w.1', healthy: false }), task(31002, { id: 'w.2', healthy: true, state: 'TASK_KILLING' }))),
      check: (t, _b, a) => t.equal(a.apps.get('/web')!.tasks['w.1'].healthy, false),
    },
    {
      desc: 'an app culm did not hold is added', id: '/new',
      fresh: () => app('/new', tasks(task(33001, { id: 'n.1' }))),
      check: (t, _b, a) => t.ok(a.apps.get('/new')!.tasks['n.1']),
    },
    {
      desc: 'an answer about another app is ignored', id: '/web',
      fresh: () => app('/other', tasks(task(33001, { id: 'o.1' }))),
      check: (t, b, a) => t.equal(a, b),
    },
  ];
  for (const c of cases) {
    const before = base();
    t.test(c.desc, async (t) => c.check(t, before, applyAppRead(before, c.id, c.fresh())));
  }
});

t.test('hintAction: a forged event becomes at most a read of the app it names', async (t) => {
  const s = stateOf(
    app('/web', healthChecks(), tasks(task(31001, { id: 'w.1', healthy: true, host: 'agent1' }))),
  );
  const cases: Array<{ desc: string; e: DomainEvent; want: ReturnType<typeof hintAction> }> = [
    { desc: 'kill of a real task', e: status('w.1', 'TASK_KILLED', '/web', 'agent1'), want: { kind: 'read', appId: '/web' } },
    { desc: 'RUNNING on an attacker host', e: status('w.evil', 'TASK_RUNNING', '/web', '10.6.6.6', 6666), want: { kind: 'read', appId: '/web' } },
    { desc: 'app terminated', e: { kind: 'app-removed', appId: '/web' }, want: { kind: 'read', appId: '/web' } },
    { desc: 'health false', e: { kind: 'health', appId: '/web', taskId: 'w.1', alive: false }, want: { kind: 'read', appId: '/web' } },
    { desc: 'a repeat of what is known', e: status('w.1', 'TASK_RUNNING', '/web', 'agent1'), want: { kind: 'none' } },
    { desc: 'health as known', e: { kind: 'health', appId: '/web', taskId: 'w.1', alive: true }, want: { kind: 'none' } },
    { desc: 'kill of a made-up task of a real app', e: status('w.made-up', 'TASK_KILLED'), want: { kind: 'none' } },
    { desc: 'kill of a made-up task of a made-up app', e: status('x.1', 'TASK_KILLED', '/made-up'), want: { kind: 'none' } },
    { desc: 'app terminated for an app culm does not hold', e: { kind: 'app-removed', appId: '/made-up' }, want: { kind: 'none' } },
    { desc: 'RUNNING for an app culm does not hold: a resync (made-up ids cost one together)', e: status('n.1', 'TASK_RUNNING', '/new'), want: { kind: 'resync' } },
    { desc: 'health for a task culm does not hold', e: { kind: 'health', appId: '/web', taskId: 'w.new', alive: true }, want: { kind: 'read', appId: '/web' } },
    { desc: 'an id that is not Marathon\'s', e: status('x', 'TASK_RUNNING', '/../v2/eventSubscriptions?x='), want: { kind: 'invalid', reason: 'not a Marathon app id' } },
    { desc: 'deployment events', e: { kind: 'resync', reason: 'deployment_info' }, want: { kind: 'resync' } },
    { desc: 'ignored types', e: { kind: 'ignored', eventType: 'subscribe_event' }, want: { kind: 'none' } },
  ];
  for (const c of cases) t.same(hintAction(s, c.e, 1), c.want, c.desc);
  const ids: Array<[string, boolean]> = [
    ['/web', true], ['/grp/sub.app-1', true], ['/a', true], ['web', false], ['/Web', false], ['/a//b', false],
    ['/a/../b', false], ['/a%2F', false], ['/-a', false], ['/a b', false], ['/', false], [`/${'a'.repeat(600)}`, false],
  ];
  for (const [id, ok] of ids) t.equal(isMarathonAppId(id), ok, `app id ${JSON.stringify(id.slice(0, 40))}`);
});
