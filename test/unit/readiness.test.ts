import t from 'tap';
import { isReady, readinessChangesAt } from '../../src/core/readiness.js';
import { isServing, countTasks } from '../../src/core/eligibility.js';
import { mapApps } from '../../src/core/marathon-map.js';
import { toDomainEvent } from '../../src/core/events.js';
import { reduce } from '../../src/core/state.js';
import { appView } from '../../src/core/view.js';
import { bambooApp } from '../../src/http/routes/state.js';
import { app, deploying, healthChecks, readinessCheck, readinessResults, stateOf, task, tasks } from '../helpers/builders.js';

const START = '2026-12-01T21:00:00.000Z';
const T0 = Date.parse(START);
const s = (seconds: number): number => T0 + seconds * 1000;

t.test("Bamboo's readiness rule", async (t) => {
  const running = task(31001, { id: 'n.1', startedAt: START });
  const cases: Array<{ desc: string; parts: Parameters<typeof app>[1][]; task?: Parameters<typeof task>[1]; now: number; ready: boolean }> = [
    { desc: 'no deployment, no check: ready', parts: [], now: s(0), ready: true },
    { desc: 'no deployment, with a check: ready (results are only read during deployments)', parts: [readinessCheck(), readinessResults({ 'n.1': false })], now: s(0), ready: true },
    { desc: 'deployment without a check: ready', parts: [deploying()], now: s(0), ready: true },
    { desc: 'deployment, result not ready', parts: [deploying(), readinessCheck(), readinessResults({ 'n.1': false })], now: s(100), ready: false },
    { desc: 'deployment, result ready', parts: [deploying(), readinessCheck(), readinessResults({ 'n.1': true })], now: s(0), ready: true },
    { desc: 'deployment, no result, within timeout + 5 s: not ready', parts: [deploying(), readinessCheck({ timeoutSeconds: 10 })], now: s(14.999), ready: false },
    { desc: 'deployment, no result, past timeout + 5 s: an old task, ready', parts: [deploying(), readinessCheck({ timeoutSeconds: 10 })], now: s(15), ready: true },
    { desc: 'timeout unset: 10 s in all', parts: [deploying(), readinessCheck({ timeoutSeconds: undefined })], now: s(9.9), ready: false },
    { desc: 'timeout unset: ready at 10 s', parts: [deploying(), readinessCheck({ timeoutSeconds: undefined })], now: s(10), ready: true },
    { desc: 'timeout 0 counts as unset (as in Bamboo)', parts: [deploying(), readinessCheck({ timeoutSeconds: 0 })], now: s(10), ready: true },
    { desc: 'results for other tasks only: the time rule', parts: [deploying(), readinessCheck({ timeoutSeconds: 2 }), readinessResults({ 'other.1': true })], now: s(7), ready: true },
    { desc: 'unparseable startedAt: not ready, ever', parts: [deploying(), readinessCheck()], task: { startedAt: 'yesterday' }, now: s(1e6), ready: false },
    { desc: 'no startedAt: not ready', parts: [deploying(), readinessCheck()], task: { startedAt: undefined }, now: s(1e6), ready: false },
    { desc: 'staging is never ready', parts: [], task: { state: 'TASK_STAGING' }, now: s(0), ready: false },
    { desc: 'killing is never ready, whatever the result', parts: [deploying(), readinessCheck(), readinessResults({ 'n.1': true })], task: { state: 'TASK_KILLING' }, now: s(0), ready: false },
  ];
  for (const c of cases) {
    const a = app('/web', tasks({ ...running, ...c.task }), ...c.parts);
    t.equal(isReady(a, a.tasks['n.1'], c.now), c.ready, c.desc);
    t.equal(isServing(a, a.tasks['n.1'], c.now), c.ready, `${c.desc} (serving)`);
  }
});

t.test('a task serves only when running, healthy and ready', async (t) => {
  const a = app('/web', healthChecks(), deploying(), readinessCheck(), readinessResults({ 'h.1': true, 'h.2': true, 'h.3': false }),
    tasks(task(1, { id: 'h.1', healthy: true }), task(2, { id: 'h.2', healthy: false }), task(3, { id: 'h.3', healthy: true })));
  t.same(Object.values(a.tasks).map((x) => isServing(a, x, s(0))), [true, false, false]);
});

t.test('readinessChangesAt: when time alone changes a task', async (t) => {
  const a = app('/web', deploying(), readinessCheck({ timeoutSeconds: 3 }), readinessResults({ 'r.1': false }),
    tasks(task(1, { id: 'r.1', startedAt: START }), task(2, { id: 'r.2', startedAt: START }), task(3, { id: 'r.3', startedAt: '2026-12-01T21:00:02Z' })));
  t.equal(readinessChangesAt(a, s(0)), s(8), 'the earliest pending task without a result');
  t.equal(readinessChangesAt(a, s(8)), s(10), 'then the next one');
  t.equal(readinessChangesAt(a, s(10)), Infinity, 'none left');
  t.equal(readinessChangesAt(app('/x', readinessCheck(), tasks(task(4, { startedAt: START }))), s(0)), Infinity, 'no deployment: never');
});

t.test('a cached view and count do not keep a stale Ready', async (t) => {
  const a = app('/web', deploying(), readinessCheck({ timeoutSeconds: 1 }), tasks(task(31001, { id: 'v.1', startedAt: START })));
  const before = appView(a, undefined, s(1));
  t.equal(before.AllTasks[0].Ready, false);
  t.equal(before.Tasks.length, 0);
  t.equal(appView(a, undefined, s(2)), before, 'reused while nothing changes');
  const after = appView(a, undefined, s(6));
  t.equal(after.AllTasks[0].Ready, true, 'rebuilt once the task is taken for an old one');
  t.equal(after.Tasks.length, 1);
  const state = stateOf(a);
  t.equal(countTasks(state, s(1)).serving, 0);
  t.equal(countTasks(state, s(6)).serving, 1);
});

t.test('ReadinessCheckPath and Ready in the view and /api/state', async (t) => {
  const a = app('/web', deploying(), readinessCheck({ path: '/ready' }), readinessResults({ 'p.1': false, 'p.2': true }),
    tasks(task(31001, { id: 'p.1', startedAt: START }), task(31002, { id: 'p.2', startedAt: START })));
  const view = appView(a, undefined, s(0));
  t.equal(view.ReadinessCheckPath, '/ready');
  const api = bambooApp(a, undefined, s(0));
  t.equal(api.ReadinessCheckPath, '/ready');
  t.same(api.Tasks.map((x) => [x.Id, x.Ready]), [['p.1', false], ['p.2', true]]);
  t.equal(bambooApp(app('/plain'), undefined, 0).ReadinessCheckPath, '', 'no check: empty, as in Bamboo');
});

const readinessJson = { name: 'readiness', protocol: 'HTTP', path: '/ready', portName: 'http', intervalSeconds: 5, timeoutSeconds: 3, httpStatusCodesForReady: [200, 204], preserveLastResponse: false };
const results = [
  { name: 'readiness', taskId: 'web.a', ready: false, lastResponse: { status: 503, contentType: 'text/plain', body: 'no' } },
  { name: 'readiness', taskId: 'web.b', ready: true },
];

t.test('mapping: readinessChecks and readinessCheckResults, 1.5+ and 1.4 shapes', async (t) => {
  const modern = {
    id: '/web', instances: 2, portDefinitions: [{ port: 10000, name: 'http', protocol: 'tcp' }], networks: [{ mode: 'host' }],
    readinessChecks: [readinessJson], readinessCheckResults: results, deployments: [{ id: 'd1' }],
    tasks: [{ id: 'web.a', host: 'h', ports: [31001], state: 'TASK_RUNNING', startedAt: START }],
  };
  const legacy = {
    id: '/web', instances: 2, ports: [10000], container: { type: 'DOCKER', docker: { network: 'BRIDGE', portMappings: [{ containerPort: 80, hostPort: 0, servicePort: 10000, name: 'http' }] } },
    readinessChecks: [readinessJson], readinessCheckResults: results, deployments: [{ id: 'd1' }],
    tasks: [{ id: 'web.a', host: 'h', ports: [31001], state: 'TASK_RUNNING', startedAt: START }],
  };
  for (const [desc, raw] of [['1.5+', modern], ['1.4', legacy]] as const) {
    const { apps, skipped } = mapApps({ apps: [raw] });
    t.same(skipped, [], desc);
    t.same(apps[0].readinessCheck, { name: 'readiness', protocol: 'HTTP', path: '/ready', portName: 'http', intervalSeconds: 5, timeoutSeconds: 3, httpStatusCodesForReady: [200, 204] }, `${desc}: the check`);
    t.same(apps[0].readinessResults, { 'web.a': false, 'web.b': true }, `${desc}: the results by task id`);
  }
  const defaults = mapApps({ apps: [{ id: '/d', readinessChecks: [{}] }] }).apps[0];
  t.same(defaults.readinessCheck, { name: 'readinessCheck', protocol: 'HTTP', path: '/', portName: 'http-api', intervalSeconds: 30, httpStatusCodesForReady: [200] }, "Marathon's defaults; an absent timeout stays absent");
  const none = mapApps({ apps: [{ id: '/n', readinessChecks: [], readinessCheckResults: [] }] }).apps[0];
  t.notOk('readinessCheck' in none || 'readinessResults' in none, 'no check, no results: no fields');
  const conflicting = mapApps({ apps: [{ id: '/c', readinessChecks: [{}], readinessCheckResults: [{ taskId: 'c.1', ready: true }, { taskId: 'c.1', ready: false }, { taskId: 'c.2' }] }] }).apps[0];
  t.same(conflicting.readinessResults, { 'c.1': false }, 'a task with a not-ready entry is not ready; an entry without ready is ignored');
});

t.test('input grammar: a bad readiness check refuses the app, a bad result task id too', async (t) => {
  const base = { id: '/web', readinessChecks: [readinessJson] };
  const cases = [
    { desc: 'path with a newline', raw: { ...base, readinessChecks: [{ ...readinessJson, path: '/r\n  listen x' }] }, field: 'readiness_check_path' },
    { desc: 'path with a space', raw: { ...base, readinessChecks: [{ ...readinessJson, path: '/r x' }] }, field: 'readiness_check_path' },
    { desc: 'protocol TCP', raw: { ...base, readinessChecks: [{ ...readinessJson, protocol: 'TCP' }] }, field: 'readiness_check_protocol' },
    { desc: 'port name with a quote', raw: { ...base, readinessChecks: [{ ...readinessJson, portName: "h'" }] }, field: 'readiness_check_port_name' },
    { desc: 'negative timeout', raw: { ...base, readinessChecks: [{ ...readinessJson, timeoutSeconds: -1 }] }, field: 'readiness_check_number' },
    { desc: 'status code 42', raw: { ...base, readinessChecks: [{ ...readinessJson, httpStatusCodesForReady: [42] }] }, field: 'readiness_check_number' },
    { desc: 'result task id with a space', raw: { ...base, readinessCheckResults: [{ taskId: 'a b', ready: true }] }, field: 'readiness_task_id' },
  ];
  for (const c of cases) {
    const out = mapApps({ apps: [c.raw] });
    t.equal(out.apps.length, 0, c.desc);
    t.same(out.rejected.map((r) => r.field), [c.field], c.desc);
  }
});

t.test('deployment_info marks the apps it names as deploying at once (a resync confirms)', async (t) => {
  const body = {
    eventType: 'deployment_info', timestamp: START,
    plan: { id: 'dep-1', version: START, steps: [{ actions: [{ action: 'RestartApplication', app: '/web' }] }] },
    currentStep: { actions: [{ action: 'RestartApplication', app: '/web' }, { action: 'ScaleApplication', app: '/unknown' }] },
  };
  const event = toDomainEvent(body);
  t.same(event, { kind: 'deployment', deploymentId: 'dep-1', appIds: ['/web', '/unknown'] });
  const before = stateOf(app('/web', readinessCheck()), app('/other'));
  const { state, needsResync } = reduce(before, event, 0);
  t.same(state.apps.get('/web')!.deployments, ['dep-1']);
  t.equal(state.apps.get('/other'), before.apps.get('/other'), 'other apps untouched');
  t.ok(needsResync, 'a resync confirms');
  t.equal(reduce(state, event, 0).state.apps.get('/web'), state.apps.get('/web'), 'a repeat changes nothing');
  // A task that arrives by event now (no startedAt, no result) is not ready.
  const running = reduce(state, { kind: 'task', taskId: 'web.new', appId: '/web', state: 'TASK_RUNNING', host: 'h', ports: [31001], ipAddresses: [] }, 0).state;
  t.equal(isServing(running.apps.get('/web')!, running.apps.get('/web')!.tasks['web.new'], s(100)), false);
  t.same(toDomainEvent({ ...body, plan: { ...body.plan, id: 'a b' } }), { kind: 'resync', reason: 'deployment_info' }, 'a bad id: a resync only');
  t.same(toDomainEvent({ ...body, currentStep: { actions: [{ app: '/bad app' }] } }).kind, 'resync', 'a bad app id: a resync only');
});
