import t from 'tap';
import { readFileSync } from 'node:fs';
import { instanceIdOf, parseEventJson, toDomainEvent, type DomainEvent } from '../../src/core/events.js';
import { applySnapshot, reduce, TOMBSTONE_TTL_MS } from '../../src/core/state.js';
import { isServing, servingTasks } from '../../src/core/eligibility.js';
import { app, healthChecks, stateOf, task, tasks } from '../helpers/builders.js';

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
    { desc: 'deployment info', file: 'deployment_info.json', kind: 'resync' },
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
  t.notOk(isServing(s.apps.get('/web')!, s.apps.get('/web')!.tasks['web.1']), 'staging does not serve');
  s = reduce(s, status('web.1', 'TASK_RUNNING'), 2).state;
  t.equal(servingTasks(s.apps.get('/web')!).length, 1, 'running serves');
  const killing = reduce(s, status('web.1', 'TASK_KILLING'), 3).state;
  t.equal(servingTasks(killing.apps.get('/web')!).length, 0, 'killing leaves at once');
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
  t.equal(servingTasks(s.apps.get('/web')!).length, 0);
  s = reduce(s, status('w.1', 'TASK_RUNNING'), 4).state;
  t.equal(servingTasks(s.apps.get('/web')!).length, 1);
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
  t.equal(servingTasks(s.apps.get('/web')!).length, 0, 'no result yet: not serving');
  s = reduce(s, { kind: 'health', appId: '/web', instanceId: 'web.instance-0a1b', alive: true }, 1).state;
  t.equal(servingTasks(s.apps.get('/web')!).length, 1);
  s = reduce(s, { kind: 'health', appId: '/web', taskId: id, alive: false }, 2).state;
  t.equal(servingTasks(s.apps.get('/web')!).length, 0);
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
  t.equal(servingTasks(web).length, 1);
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
