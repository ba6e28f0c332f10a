/**
 * Readiness end to end (Marathon 1.10 emulator, SSE): real culm binary, real HAProxy. During a deployment of
 * an app with a readiness check, a new task Marathon reports not ready gets no request, and serves within
 * ~1 s of Marathon saying it is ready (culm re-reads the deploying app); a task without a result turns ready
 * with time alone (Bamboo's rule); without a deployment, tasks serve as before.
 */
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { MarathonEmulator } from '../helpers/marathon-emulator.js';
import { startCulm, type CulmInstance } from '../helpers/culm.js';
import { eventually, get, startBackend, whoAnswers, type Backend } from '../helpers/net.js';
import type { BambooState } from '../../src/http/routes/state.js';

let marathon: MarathonEmulator;
let culm: CulmInstance;
const backends: Backend[] = [];
const port = (i: number): string => String(backends[i].port);
// Bamboo's rule: a running task without a result is taken for an old one timeoutSeconds + 5 s after its start.
const readinessCheck = { path: '/ready', portName: 'http', timeoutSeconds: 1 };

/** What the run started, closed in reverse order (culm first: it stops its HAProxy). */
const started: Array<() => Promise<unknown>> = [];

t.before(async () => {
  marathon = await MarathonEmulator.start({ version: '1.10', keepaliveMs: 500 });
  started.push(() => marathon.stop());
  for (let i = 0; i < 6; i++) {
    const backend = await startBackend();
    backends.push(backend);
    started.push(() => backend.close());
  }
  marathon.addApp({ id: '/web', readinessCheck });
  marathon.addTask('/web', { port: backends[0].port });
  marathon.addApp({ id: '/plain' });
  marathon.addTask('/plain', { port: backends[3].port });
  culm = await startCulm({ marathon: marathon.url, env: { CULM_EVENT_MODE: 'sse' } });
  started.push(() => culm.destroy());
  await culm.waitReady();
});

t.teardown(async () => {
  for (const close of started.reverse()) await close();
});

async function tasksInState(appId: string): Promise<Map<string, boolean>> {
  const { body } = await culm.json<BambooState>('/api/state');
  const app = body.Apps.find((a) => a.Id === appId);
  return new Map((app?.Tasks ?? []).map((x) => [x.Id, x.Ready]));
}

/** Requests per answering backend port (or status) over `n` new connections. */
async function count(url: string, n: number): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const r = await get(url);
    const key = r.status === 200 ? r.body : `status ${r.status}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  return seen;
}

/** Starts a deployment and waits until culm has read Marathon since (deployment_info → resync). */
async function deploy(appId: string): Promise<void> {
  const before = marathon.requests.length;
  marathon.startDeployment(appId);
  await eventually('culm read the apps after deployment_info', () => marathon.requests.slice(before).some((r) => r.path.startsWith('/v2/apps')));
  await sleep(100);
}

t.test('without a deployment, tasks serve as before; ReadinessCheckPath in /api/state', async (t) => {
  t.same(await whoAnswers(`${culm.frontend}/web`), new Set([port(0)]));
  t.same(await whoAnswers(`${culm.frontend}/plain`), new Set([port(3)]));
  const { body } = await culm.json<BambooState>('/api/state');
  t.equal(body.Apps.find((a) => a.Id === '/web')?.ReadinessCheckPath, '/ready');
  t.equal(body.Apps.find((a) => a.Id === '/plain')?.ReadinessCheckPath, '');
  t.same([...(await tasksInState('/web')).values()], [true]);
});

t.test('a task without a result turns ready with time alone (timeoutSeconds + 5 s after its start)', async (t) => {
  marathon.addApp({ id: '/young', readinessCheck });
  const id = marathon.addTask('/young', { port: backends[4].port });
  const startedAt = Date.parse(marathon.tasksOf('/young')[0].startedAt!);
  await eventually('served while no deployment runs', async () => (await get(`${culm.frontend}/young`)).body === port(4));
  await deploy('/young');
  await eventually('taken out once the deployment is known', async () => (await tasksInState('/young')).get(id) === false
    && !culm.config().includes(`:${port(4)}`));
  t.ok(Date.now() < startedAt + 5000, 'well inside the window');
  t.equal((await get(`${culm.frontend}/young`)).status, 503, 'not ready: it may be a new task Marathon has not checked yet');
  await eventually('served once taken for an old task', async () => (await get(`${culm.frontend}/young`)).body === port(4), 10_000, 10);
  const late = Date.now() - (startedAt + 6000);
  t.ok(late >= 0 && late < 1500, `served ${late} ms after the 6 s window ended`);
  t.equal((await tasksInState('/young')).get(id), true);
  marathon.finishDeployment('/young');
});

t.test('during a deployment a new task that is not ready gets no request, and serves within ~1 s of being ready', async (t) => {
  // The old task must be older than the window, or it would be taken for a new one too.
  const oldStart = Date.parse(marathon.tasksOf('/web')[0].startedAt!);
  await sleep(Math.max(0, oldStart + 6500 - Date.now()));
  await deploy('/web');
  const a = marathon.addTask('/web', { port: backends[1].port });
  const b = marathon.addTask('/web', { port: backends[2].port });
  await eventually('culm knows both new tasks', async () => {
    const s = await tasksInState('/web');
    return s.has(a) && s.has(b);
  });
  const state = await tasksInState('/web');
  t.same([state.get(a), state.get(b)], [false, false], '/api/state: the new tasks are not ready');
  const hits = await count(`${culm.frontend}/web`, 200);
  t.same([...hits.keys()], [port(0)], `200 requests, all to the old task: ${JSON.stringify([...hits])}`);
  t.equal(backends[1].hits + backends[2].hits, 0, 'the new tasks got none');

  marathon.setTaskReady(a);
  const ms = await eventually('the ready task serves', async () => (await whoAnswers(`${culm.frontend}/web`, 4)).has(port(1)), 5000, 10);
  t.ok(ms < 2000, `ready → serving in ${ms} ms`);
  t.comment(`ready -> serving: ${ms} ms`);
  t.equal((await tasksInState('/web')).get(a), true, '/api/state: ready');
  t.equal((await tasksInState('/web')).get(b), false, 'the other one still not');
  const second = await count(`${culm.frontend}/web`, 100);
  t.notOk(second.has(port(2)), `the other new task still gets nothing: ${JSON.stringify([...second])}`);

  marathon.setTaskReady(b);
  const end = await eventually('all serve once the deployment ends', async () => (await whoAnswers(`${culm.frontend}/web`, 12)).size === 3, 5000, 10);
  t.comment(`deployment_success -> all serving: ${end} ms`);
  t.same([...(await tasksInState('/web')).values()], [true, true, true]);
});

t.test('a task launched right after deployment_info gets nothing before Marathon says it is ready', async (t) => {
  marathon.addApp({ id: '/fast', readinessCheck });
  marathon.startDeployment('/fast');
  const id = marathon.addTask('/fast', { port: backends[5].port });
  await eventually('culm knows the task', async () => (await tasksInState('/fast')).has(id));
  const hits = await count(`${culm.frontend}/fast`, 100);
  t.equal(backends[5].hits, 0, `no request reached it: ${JSON.stringify([...hits])}`);
  t.equal((await tasksInState('/fast')).get(id), false);
  marathon.setTaskReady(id);
  const ms = await eventually('served once ready (the deployment ends)', async () => (await get(`${culm.frontend}/fast`)).body === port(5), 5000, 10);
  t.comment(`ready (deployment_success) -> serving: ${ms} ms`);
});
