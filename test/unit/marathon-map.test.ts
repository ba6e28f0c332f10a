import t from 'tap';
import { readFileSync } from 'node:fs';
import type { App } from '../../src/core/model.js';
import { AppsMapper, mapApps, healthFromResults } from '../../src/core/marathon-map.js';
import { endpointOf } from '../../src/core/eligibility.js';

const ref = (name: string): unknown =>
  JSON.parse(readFileSync(new URL(`../fixtures/marathon/${name}`, import.meta.url), 'utf8'));

t.test('Marathon 1.5 capture (marathon-lb fixture): bridge app with container.portMappings', async (t) => {
  const { apps, skipped } = mapApps(ref('marathon-lb__marathon15_apps.json'));
  t.equal(skipped.length, 0);
  t.equal(apps.length, 1);
  const a = apps[0];
  t.equal(a.id, '/pywebserver');
  t.equal(a.network, 'bridge');
  t.same(a.servicePorts, [10101]);
  t.same(a.containerPorts, [80]);
  t.equal(a.labels.HAPROXY_GROUP, 'external');
  const task = Object.values(a.tasks)[0];
  t.equal(task.state, 'TASK_RUNNING');
  t.same(endpointOf(a, task), { host: '10.0.2.148', port: 1565 }, 'bridge: agent host and host port');
});

t.test('Marathon 1.4 app list: legacy ports become service ports', async (t) => {
  const { apps } = mapApps(ref('v1.4.13__app_list.json'));
  t.same(apps[0].servicePorts, [10013, 10015]);
  t.equal(apps[0].network, 'host');
  t.same(apps[0].deployments, ['9538079c-3898-4e32-aa31-799bf9097f74']);
});

const cases: Array<{ desc: string; app: Record<string, unknown>; network: string; service: number[]; container: number[] }> = [
  { desc: '1.4 docker BRIDGE', network: 'bridge', service: [10019], container: [80],
    app: { id: 'a', container: { docker: { network: 'BRIDGE', portMappings: [{ containerPort: 80, hostPort: 0, servicePort: 10019 }] } } } },
  { desc: '1.4 IP-per-task (ipAddress)', network: 'container', service: [], container: [8080],
    app: { id: 'a', ipAddress: { discovery: { ports: [{ number: 8080, name: 'http', protocol: 'tcp' }] } } } },
  { desc: '1.5 host networking (portDefinitions)', network: 'host', service: [10001], container: [],
    app: { id: 'a', networks: [{ mode: 'host' }], portDefinitions: [{ port: 10001, protocol: 'tcp' }] } },
  { desc: '1.5 container network', network: 'container', service: [0], container: [9000],
    app: { id: 'a', networks: [{ mode: 'container', name: 'dcos' }], container: { portMappings: [{ containerPort: 9000 }] } } },
];
for (const c of cases) {
  t.test(c.desc, async (t) => {
    const { apps } = mapApps({ apps: [c.app] });
    t.equal(apps[0].id, '/a', 'leading slash added');
    t.equal(apps[0].network, c.network);
    t.same(apps[0].servicePorts, c.service);
    t.same(apps[0].containerPorts, c.container);
  });
}

t.test('IP-per-task endpoint uses the task IP and container port', async (t) => {
  const { apps } = mapApps({ apps: [{ id: '/ipt', ipAddress: { discovery: { ports: [{ number: 8080 }] } },
    tasks: [{ id: 'ipt.1', host: 'agent1', ports: [], ipAddresses: [{ ipAddress: '10.1.1.5', protocol: 'IPv4' }], state: 'TASK_RUNNING' }] }] });
  const a = apps[0];
  t.same(endpointOf(a, Object.values(a.tasks)[0]), { host: '10.1.1.5', port: 8080 });
});

t.test('one bad app is skipped with its id, the others are kept', async (t) => {
  const { apps, skipped } = mapApps({ apps: [{ id: '/good' }, { noId: true }, 'junk', { id: '/bad', tasks: [{ host: 'x' }] }, { id: '/good' }] });
  t.same(apps.map((a) => a.id), ['/good']);
  t.equal(skipped.length, 4);
  t.match(skipped.find((s) => s.id === '/bad')?.reason, /task has no id/);
  t.match(skipped.at(-1)?.reason, /duplicate/);
});

t.test('envelope without apps throws', async (t) => {
  t.throws(() => mapApps({ message: 'oops' }), /no "apps" array/);
  t.throws(() => mapApps('<html>'), /no "apps" array/);
});

t.test('health from results', async (t) => {
  const table: Array<[string, unknown, number, boolean | null]> = [
    ['no results: unknown', [], 1, null],
    ['missing field: unknown', undefined, 1, null],
    ['all alive', [{ alive: true }], 1, true],
    ['one dead', [{ alive: true }, { alive: false }], 2, false],
    ['fewer results than checks, all alive: unknown', [{ alive: true }], 2, null],
  ];
  for (const [desc, results, checks, want] of table) t.equal(healthFromResults(results, checks), want, desc);
});

t.test('env secrets are not exposed as strings', async (t) => {
  const { apps } = mapApps({ apps: [{ id: '/s', env: { A: 'x', PASSWORD: { secret: '/db' } } }] });
  t.same(apps[0].env, { A: 'x' });
});

t.test('AppsMapper with known apps: identical apps and tasks are the held objects, the result reads the same', async (t) => {
  const rawApp = (id: string, ports: number[], label = 'a') => ({
    id, labels: { L: label }, instances: ports.length,
    tasks: ports.map((p, i) => ({ id: `${id.slice(1)}.t${i}`, host: '10.0.0.1', ports: [p], state: 'TASK_RUNNING', startedAt: '2026-01-01T00:00:00.000Z' })),
  });
  const before = [rawApp('/same', [1, 2]), rawApp('/moved', [3, 4]), rawApp('/relabelled', [5]), rawApp('/fewer', [6, 7])];
  const held = new Map(mapApps({ apps: before }).apps.map((a) => [a.id, a]));
  const after = [rawApp('/same', [1, 2]), rawApp('/moved', [3, 40]), rawApp('/relabelled', [5], 'b'), rawApp('/fewer', [6]), rawApp('/new', [8])];

  const mapper = new AppsMapper((id) => held.get(id));
  for (const raw of after) mapper.add(raw);
  const got = mapper.result();
  t.same(got, mapApps({ apps: after }), 'exactly what mapping without known apps gives');
  const byId = new Map(got.apps.map((a) => [a.id, a]));
  t.equal(byId.get('/same'), held.get('/same'), 'unchanged app: the held object');
  const moved = byId.get('/moved')!;
  t.not(moved, held.get('/moved'), 'changed app: a new object');
  t.equal(moved.tasks['moved.t0'], held.get('/moved')!.tasks['moved.t0'], 'its unchanged task: the held object');
  t.not(moved.tasks['moved.t1'], held.get('/moved')!.tasks['moved.t1'], 'its changed task: new');
  const relabelled = byId.get('/relabelled')!;
  t.not(relabelled, held.get('/relabelled'));
  t.equal(relabelled.labels.L, 'b');
  t.equal(relabelled.tasks['relabelled.t0'], held.get('/relabelled')!.tasks['relabelled.t0']);
  t.not(byId.get('/fewer'), held.get('/fewer'), 'a task gone: a new app object');
  t.same(Object.keys(byId.get('/fewer')!.tasks), ['fewer.t0']);
});

t.test('AppsMapper hands each app it takes to its callback, in order; a skipped app is not handed; what the callback throws changes nothing', async (t) => {
  const raws = [{ id: '/a', instances: 0 }, { id: 'bad id!' }, { id: '/b', instances: 0 }];
  const taken: App[] = [];
  const mapper = new AppsMapper(undefined, true, (app) => {
    taken.push(app);
    throw new Error('a preparation failed');
  });
  for (const raw of raws) mapper.add(raw);
  const got = mapper.result();
  t.same(taken.map((a) => a.id), ['/a', '/b']);
  t.equal(got.skipped.length, 1, 'the bad id is skipped');
  t.same(got, mapApps({ apps: raws }), 'exactly what mapping without a callback gives');
  t.ok(taken.every((a, i) => a === got.apps[i]), 'the apps handed over are the objects kept');
});

t.test('health checks: protocol, path, portIndex and a fixed port (0 is none)', async (t) => {
  const { apps, skipped } = mapApps({ apps: [{
    id: '/web',
    healthChecks: [
      { protocol: 'https', path: '/h', portIndex: 1 },
      { protocol: 'TCP', port: 8080 },
      { protocol: 'COMMAND', command: { value: 'true' }, port: 0 },
    ],
  }] });
  t.same(skipped, []);
  t.same(apps[0].healthChecks, [
    { protocol: 'HTTPS', path: '/h', portIndex: 1 },
    { protocol: 'TCP', port: 8080 },
    { protocol: 'COMMAND' },
  ]);
  const bad = mapApps({ apps: [{ id: '/bad', healthChecks: [{ protocol: 'TCP', port: 99999 }] }] });
  t.match(bad.skipped, [{ id: '/bad', reason: /health_check_port/ }], 'a port out of range refuses the app');
});
