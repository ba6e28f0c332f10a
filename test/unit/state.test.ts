import t from 'tap';
import { readFileSync } from 'node:fs';
import { instanceIdOf, parseEventJson, toDomainEvent, type DomainEvent } from '../../src/core/events.js';
import { applySnapshot, reduce, TOMBSTONE_TTL_MS } from '../../src/core/state.js';
import { countTasks, isServing, servingTasks } from '../../src/core/eligibility.js';
import { app, healthChecks, stateOf, task, tasks } from '../helpers/builders.js';
import type { App } from '../../src/core/model.js';

const fixture = (name: string): unknown =>
  JSON.parse(readFileSync(new URL(`../fixtures/marathon/events/${name}`, import.meta.url), 'utf8'));

const status = (taskId: string, state: string, port = 31001, appId = '/web'): DomainEvent =>
  ({ kind: 'task', appId, taskId, state, host: '127.0.0.1', ports: [port], ipAddresses: [] });

t.test('event mapping from the documented payloads', async (t) => {
  const table: Array<{ desc: string; file: string; kind: string }> = [
    { desc: 'status update', file: 'status_update_event.json', kind: 'task' },
    { desc: 'status update, wire fields', file: 'status_update_event.wire-fields.json', kind: 'task' },
    { desc: 'health 1.4+', file: 'health_status_changed_event.json', kind: 'health' },
    { desc: 'health pre-1.4', file: 'health_status_changed_event.pre-1.4.json', kind: 'health' },
    { desc: 'instance health', file: 'instance_health_changed_event.json', kind: 'health' },
    { desc: 'api post', file: 'api_post_event.json', kind: 'app-upsert' },
    { desc: 'deployment info', file: 'deployment_info.json', kind: 'deployment' },
    { desc: 'deployment success', file: 'deployment_success.json', kind: 'resync' },
    { desc: 'group change', file: 'group_change_success.json', kind: 'resync' },
    { desc: 'app terminated', file: 'app_terminated_event.json', kind: 'app-removed' },
    { desc: 'stream attached', file: 'event_stream_attached.json', kind: 'ignored' },
    { desc: 'subscribe', file: 'subscribe_event.json', kind: 'ignored' },
  ];
  for (const c of table) t.equal(toDomainEvent(fixture(c.file)).kind, c.kind, c.desc);
  const wire = toDomainEvent(fixture('status_update_event.wire-fields.json'));
  t.match(wire, { kind: 'task', appId: '/test-app', state: 'TASK_RUNNING', ports: [31182], ipAddresses: ['10.0.2.15'] });
});

t.test('bad event bodies are invalid, never thrown', async (t) => {
  t.equal(parseEventJson('not json').kind, 'invalid');
  t.equal(parseEventJson('[1,2]').kind, 'invalid');
  t.equal(parseEventJson('{"eventType":"status_update_event","appId":"/a"}').kind, 'invalid');
  t.equal(parseEventJson('{"eventType":"health_status_changed_event","appId":"/a","instanceId":"x","alive":"yes"}').kind, 'invalid');
  t.equal(parseEventJson('{"eventType":"something_new"}').kind, 'ignored');
  t.equal(parseEventJson('{"foo":1}', 'status_update_event').kind, 'invalid', 'SSE type used when the body has none');
});

t.test('instance ids from task ids', async (t) => {
  t.equal(instanceIdOf('my-app.instance-c7c311a4-b669-11e6-a48f-0ea4f4b1778c._app.1'), 'my-app.instance-c7c311a4-b669-11e6-a48f-0ea4f4b1778c');
  t.equal(instanceIdOf('my-app.c7c311a4-b669-11e6-a48f-0ea4f4b1778c'), 'my-app.marathon-c7c311a4-b669-11e6-a48f-0ea4f4b1778c', 'legacy ids: Marathon\'s calculateLegacyExecutorId');
  t.equal(instanceIdOf('grp_app.instance-abc'), 'grp_app.instance-abc');
  t.equal(instanceIdOf('my.dotted.app.instance-abc._app.2'), 'my.dotted.app.instance-abc', 'dots in app ids');
  t.equal(instanceIdOf('app.marathon-abc._app.1'), 'app.marathon-abc');
});

t.test('scale up, kill, and the late event that must not resurrect', async (t) => {
  let s = stateOf(app('/web'));
  s = reduce(s, status('web.1', 'TASK_STAGING'), 1).state;
  t.notOk(isServing(s.apps.get('/web')!, s.apps.get('/web')!.tasks['web.1'], 0), 'staging does not serve');
  s = reduce(s, status('web.1', 'TASK_RUNNING'), 2).state;
  t.equal(servingTasks(s.apps.get('/web')!, 0).length, 1, 'running serves');
  const killing = reduce(s, status('web.1', 'TASK_KILLING'), 3).state;
  t.equal(servingTasks(killing.apps.get('/web')!, 0).length, 0, 'killing leaves at once');
  const afterLateRunning = reduce(killing, status('web.1', 'TASK_RUNNING'), 4).state;
  t.equal(afterLateRunning, killing, 'RUNNING after KILLING is ignored (same object)');
  const killed = reduce(killing, status('web.1', 'TASK_KILLED'), 5).state;
  t.notOk(killed.apps.get('/web')!.tasks['web.1'], 'terminal removes the task');
  const late = reduce(killed, status('web.1', 'TASK_RUNNING'), 6).state;
  t.equal(late, killed, 'a late RUNNING for a killed task changes nothing');
  const stale = applySnapshot(killed, [app('/web', tasks(task(31001, { id: 'web.1' })))], 7);
  t.notOk(stale.apps.get('/web')!.tasks['web.1'], 'a stale resync does not bring a killed task back');
  const expired = applySnapshot(killed, [app('/web', tasks(task(31001, { id: 'web.1' })))], 5 + TOMBSTONE_TTL_MS + 1);
  t.ok(expired.apps.get('/web')!.tasks['web.1'], 'tombstones expire');
});

t.test('kill that arrives before the task was known is remembered', async (t) => {
  let s = stateOf(app('/web'));
  s = reduce(s, status('web.9', 'TASK_FAILED'), 1).state;
  s = reduce(s, status('web.9', 'TASK_RUNNING'), 2).state;
  t.notOk(s.apps.get('/web')!.tasks['web.9']);
});

t.test('staging after running is ignored; lost/unreachable may recover', async (t) => {
  let s = stateOf(app('/web'));
  s = reduce(s, status('w.1', 'TASK_RUNNING'), 1).state;
  t.equal(reduce(s, status('w.1', 'TASK_STAGING'), 2).state, s);
  s = reduce(s, status('w.1', 'TASK_UNREACHABLE'), 3).state;
  t.equal(servingTasks(s.apps.get('/web')!, 0).length, 0);
  s = reduce(s, status('w.1', 'TASK_RUNNING'), 4).state;
  t.equal(servingTasks(s.apps.get('/web')!, 0).length, 1);
});

t.test('unknown app asks for a resync and changes nothing', async (t) => {
  const s = stateOf(app('/web'));
  const r = reduce(s, status('x.1', 'TASK_RUNNING', 1, '/other'), 1);
  t.equal(r.state, s);
  t.ok(r.needsResync);
});

t.test('health: checks gate serving, by task id or instance id', async (t) => {
  const id = 'web.instance-0a1b._app.1';
  let s = stateOf(app('/web', healthChecks(), tasks(task(31001, { id }))));
  t.equal(servingTasks(s.apps.get('/web')!, 0).length, 0, 'no result yet: not serving');
  s = reduce(s, { kind: 'health', appId: '/web', instanceId: 'web.instance-0a1b', alive: true }, 1).state;
  t.equal(servingTasks(s.apps.get('/web')!, 0).length, 1);
  s = reduce(s, { kind: 'health', appId: '/web', taskId: id, alive: false }, 2).state;
  t.equal(servingTasks(s.apps.get('/web')!, 0).length, 0);
  const same = reduce(s, { kind: 'health', appId: '/web', instanceId: 'web.instance-0a1b', alive: null }, 3).state;
  t.equal(same, s, 'null health changes nothing');
});

t.test('health for a task not known yet asks for a resync', async (t) => {
  const s = stateOf(app('/web', healthChecks()));
  const r = reduce(s, { kind: 'health', appId: '/web', instanceId: 'web.instance-zz', alive: true }, 1);
  t.equal(r.state, s);
  t.ok(r.needsResync);
});

t.test('leader failover: results vanish, last known health is kept', async (t) => {
  let s = stateOf(app('/web', healthChecks(), tasks(task(31001, { id: 'w.1', healthy: true }), task(31002, { id: 'w.2', healthy: false }))));
  s = applySnapshot(s, [app('/web', healthChecks(), tasks(task(31001, { id: 'w.1', healthy: null }), task(31002, { id: 'w.2', healthy: null }), task(31003, { id: 'w.3', healthy: null })))], 10);
  const web = s.apps.get('/web')!;
  t.equal(web.tasks['w.1'].healthy, true);
  t.equal(web.tasks['w.2'].healthy, false);
  t.equal(web.tasks['w.3'].healthy, null, 'a new task stays unknown');
  t.equal(servingTasks(web, 0).length, 1);
});

t.test('resync keeps KILLING when a stale answer says RUNNING', async (t) => {
  let s = stateOf(app('/web', tasks(task(31001, { id: 'w.1' }))));
  s = reduce(s, status('w.1', 'TASK_KILLING'), 1).state;
  s = applySnapshot(s, [app('/web', tasks(task(31001, { id: 'w.1' })))], 2);
  t.equal(s.apps.get('/web')!.tasks['w.1'].state, 'TASK_KILLING');
});

t.test('resync is the truth for apps: removed apps go, identical tasks keep identity', async (t) => {
  const t1 = task(31001, { id: 'w.1' });
  const s = stateOf(app('/web', tasks(t1)), app('/gone'));
  const s2 = applySnapshot(s, [app('/web', tasks(task(31001, { id: 'w.1' })))], 5);
  t.same([...s2.apps.keys()], ['/web']);
  t.equal(s2.apps.get('/web')!.tasks['w.1'], s.apps.get('/web')!.tasks['w.1'], 'unchanged task object reused');
  t.equal(s2.syncedAt, 5);
});

t.test('api_post_event: the app exists at once, with the tasks culm knows; an unchanged definition is a no-op', async (t) => {
  const body = JSON.parse(readFileSync(new URL('../fixtures/marathon/events/api_post_event.json', import.meta.url), 'utf8'));
  const e = toDomainEvent(body);
  t.equal(e.kind, 'app-upsert');
  let s = stateOf(app('/web'));
  const r = reduce(s, e, 1);
  t.ok(r.state.apps.has('/my-app'), 'new app added from its definition');
  t.ok(r.needsResync, 'a resync confirms it');
  t.same(r.state.apps.get('/my-app')!.servicePorts, [10001]);
  s = reduce(r.state, status('my-app.1', 'TASK_RUNNING', 31001, '/my-app'), 2).state;
  t.same(Object.keys(s.apps.get('/my-app')!.tasks), ['my-app.1'], 'its task lands at once');
  const again = reduce(s, e, 3);
  t.equal(again.state, s, 'same definition: nothing changes');
  t.same(Object.keys(again.state.apps.get('/my-app')!.tasks), ['my-app.1']);
  t.equal(parseEventJson('{"eventType":"api_post_event","appDefinition":"x"}').kind, 'resync', 'no usable definition: resync');
});

t.test('app_terminated removes the app and tombstones its tasks', async (t) => {
  let s = stateOf(app('/web', tasks(task(31001, { id: 'w.1' }))));
  s = reduce(s, { kind: 'app-removed', appId: '/web' }, 1).state;
  t.notOk(s.apps.has('/web'));
  t.ok(s.tombstones.has('w.1'));
});

t.test('an identical status update returns the same state', async (t) => {
  let s = stateOf(app('/web'));
  s = reduce(s, status('w.1', 'TASK_RUNNING'), 1).state;
  t.equal(reduce(s, status('w.1', 'TASK_RUNNING'), 2).state, s);
});

t.test('a status update that repeats what is known keeps the state; any difference makes a new one', async (t) => {
  const known = { id: 'w.1', host: 'agent1', ports: [31001], ipAddresses: ['10.0.0.1'], version: 'v1' };
  const event = (over: Partial<Extract<DomainEvent, { kind: 'task' }>>): DomainEvent => ({
    kind: 'task', appId: '/web', taskId: 'w.1', state: 'TASK_RUNNING', host: 'agent1', ports: [31001], ipAddresses: ['10.0.0.1'], version: 'v1', ...over,
  });
  const cases: Array<{ desc: string; previous?: Partial<typeof known>; e: DomainEvent; same: boolean }> = [
    { desc: 'everything equal', e: event({}), same: true },
    { desc: 'no ports, no IPs, no host: the known ones are kept', e: event({ ports: [], ipAddresses: [], host: '' }), same: true },
    { desc: 'no version: the known one is kept', e: event({ version: undefined }), same: true },
    { desc: 'other state', e: event({ state: 'TASK_KILLING' }), same: false },
    { desc: 'other host', e: event({ host: 'agent2' }), same: false },
    { desc: 'other port', e: event({ ports: [31002] }), same: false },
    { desc: 'one more port', e: event({ ports: [31001, 31002] }), same: false },
    { desc: 'other IP', e: event({ ipAddresses: ['10.0.0.2'] }), same: false },
    { desc: 'other version', e: event({ version: 'v2' }), same: false },
    { desc: 'a version where none was known', previous: { version: undefined }, e: event({ version: 'v1' }), same: false },
    { desc: 'no version either side', previous: { version: undefined }, e: event({ version: undefined }), same: true },
    { desc: 'an empty known version is never kept as such', previous: { version: '' }, e: event({ version: undefined }), same: false },
  ];
  for (const c of cases) {
    const previous = { ...known, ...c.previous };
    const s = stateOf(app('/web', tasks(task(31001, { ...previous, ipAddresses: previous.ipAddresses }))));
    const next = reduce(s, c.e, 1).state;
    t.equal(next === s, c.same, c.desc);
    if (!c.same) t.not(next.apps.get('/web')!.tasks['w.1'], s.apps.get('/web')!.tasks['w.1'], `${c.desc}: the task was rebuilt`);
  }
});

t.test('cluster counts: apps, tasks, serving; unchanged apps are not walked again', async (t) => {
  let s = stateOf(
    app('/web', healthChecks({ protocol: 'HTTP', path: '/h' }), tasks(task(1, { id: 'w.1', healthy: true }), task(2, { id: 'w.2', healthy: false }))),
    app('/api', tasks(task(3, { id: 'a.1' }), task(4, { id: 'a.2', state: 'TASK_STAGING' }))),
    app('/empty'),
  );
  t.same(countTasks(s, 0), { apps: 3, tasks: 4, serving: 2 });
  s = reduce(s, status('a.2', 'TASK_RUNNING', 4, '/api'), 1).state;
  t.same(countTasks(s, 0), { apps: 3, tasks: 4, serving: 3 }, 'the changed app is counted again');
  s = reduce(s, status('w.3', 'TASK_RUNNING', 5), 2).state;
  t.same(countTasks(s, 0), { apps: 3, tasks: 5, serving: 3 }, 'a new task without health results does not serve');
});

t.test('a resync that brings nothing new keeps the apps (so their views and rendered backends are reused)', async (t) => {
  const answer = (): App[] => [
    app('/a', tasks(task(1, { id: 'a.1' }), task(2, { id: 'a.2' }))),
    app('/b', healthChecks({ protocol: 'HTTP', path: '/h' }), tasks(task(3, { id: 'b.1', healthy: true }))),
    app('/c'),
  ];
  const s = applySnapshot(stateOf(), answer(), 1);
  const same = applySnapshot(s, answer(), 2);
  t.equal(same.apps, s.apps, 'identical answer: the same map');
  t.equal(same.syncedAt, 2);

  const cases: Array<{ desc: string; change: (apps: App[]) => App[]; changed: string[] }> = [
    { desc: 'a task moved', change: (l) => { l[0].tasks['a.2'] = { ...l[0].tasks['a.2'], ports: [9] }; return l; }, changed: ['/a'] },
    { desc: 'a task added', change: (l) => { l[2].tasks['c.1'] = { ...task(5, { id: 'c.1' }), appId: '/c' }; return l; }, changed: ['/c'] },
    { desc: 'a label', change: (l) => { l[1].labels = { team: 'x' }; return l; }, changed: ['/b'] },
    { desc: 'a deployment started', change: (l) => { l[2].deployments = ['d1']; return l; }, changed: ['/c'] },
    { desc: 'a health check path', change: (l) => { l[1].healthChecks = [{ protocol: 'HTTP', path: '/other' }]; return l; }, changed: ['/b'] },
    { desc: 'the same apps in another order', change: (l) => l.reverse(), changed: [] },
  ];
  for (const c of cases) {
    const next = applySnapshot(s, c.change(answer()), 3);
    t.not(next.apps, s.apps, `${c.desc}: a new map`);
    const rebuilt = [...next.apps.keys()].filter((id) => next.apps.get(id) !== s.apps.get(id)).sort();
    t.same(rebuilt, c.changed, `${c.desc}: only the changed app is a new object`);
  }
});

t.test('resync: a task among others tombstoned or corrected, the others kept in Marathon\'s order', async (t) => {
  let s = applySnapshot(stateOf(), [app('/w', healthChecks({ protocol: 'HTTP', path: '/' }), tasks(
    task(1, { id: 'w.1', healthy: true }), task(2, { id: 'w.2', healthy: true }), task(3, { id: 'w.3', healthy: true }), task(4, { id: 'w.4', healthy: true })))], 1);
  s = reduce(s, status('w.2', 'TASK_KILLED', 2, '/w'), 2).state;
  // Marathon's stale answer still lists w.2; its leader lost the health results of w.3 (failover).
  const stale = app('/w', healthChecks({ protocol: 'HTTP', path: '/' }), tasks(
    task(1, { id: 'w.1', healthy: true }), task(2, { id: 'w.2', healthy: true }), task(3, { id: 'w.3', healthy: null }), task(4, { id: 'w.4', healthy: true })));
  const next = applySnapshot(s, [stale], 3).apps.get('/w')!;
  t.same(Object.keys(next.tasks), ['w.1', 'w.3', 'w.4'], 'the tombstoned task is left out, the order kept');
  t.equal(next.tasks['w.3'].healthy, true, 'last known health kept');
  t.equal(next.tasks['w.1'], s.apps.get('/w')!.tasks['w.1'], 'an unchanged task is the held object');
  t.same(Object.keys(stale.tasks), ['w.1', 'w.2', 'w.3', 'w.4'], 'Marathon\'s answer itself is not changed');
  const fresh = app('/n', tasks(task(5, { id: 'n.1' })));
  t.equal(applySnapshot(s, [fresh], 4).apps.get('/n'), fresh, 'a new app with nothing to correct is taken as it is');
});
