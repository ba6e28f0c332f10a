/**
 * Issue 14: `npm run demo -- --apps 200` as a newcomer runs it (the script through tsx, as the npm script does
 * after its build; ports and data dir from env): its "ready" line comes only once culm has applied, its HAProxy
 * routes the apps, an app POSTed to the emulator's Marathon API gets routed, culm follows its scale-up and a task
 * killed with scale=true, a deleted app stops being routed,
 * and Ctrl-C (SIGINT) leaves none of the processes it started running.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, freePort, get } from '../helpers/net.js';
import { PidFileWatcher, descendants, isAlive, requireBinary, startChild } from '../helpers/processes.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');

const cmdline = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
};

t.test('the demo: ready after the first apply, routes, follows the Marathon API, Ctrl-C stops all it started', async (t) => {
  requireBinary('haproxy', 'apt-get install -y haproxy (see README, Set-up)');
  const dir = mkdtempSync(join(tmpdir(), 'culm-demo-'));
  const [httpPort, apiPort, marathonPort] = [await freePort(), await freePort(), await freePort()];
  const demo = startChild(TSX, ['test/demo.ts', '--apps', '200'], {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DEMO_HTTP_PORT: String(httpPort),
    DEMO_API_PORT: String(apiPort),
    DEMO_MARATHON_PORT: String(marathonPort),
    CULM_DATA_DIR: dir,
    // Service ports from 10000 are the other tests' to use; the HTTP frontend is what this test checks.
    CULM_BIND_SERVICE_PORTS: 'false',
  }, ROOT);
  const haproxy = new PidFileWatcher(join(dir, 'haproxy.cfg.pid'));
  // pid → its command line when seen: a pid that is alive later with another command line was reused, not ours.
  const started = new Map<number, string>();
  const remember = (): void => {
    for (const p of [demo.proc.pid!, ...descendants(demo.proc.pid!), ...haproxy.poll(), ...haproxy.seen]) {
      if (!started.has(p)) started.set(p, cmdline(p));
    }
  };
  const stillOurs = (): number[] => [...started].filter(([p, cmd]) => isAlive(p) && cmdline(p) === cmd).map(([p]) => p);
  t.teardown(async () => {
    // Only if the test failed half-way: stop what is left of it, by pid.
    for (const p of stillOurs()) process.kill(p, 'SIGKILL');
    await haproxy.stopAll();
    rmSync(dir, { recursive: true, force: true });
  });

  await eventually('the demo\'s ready line', () => {
    if (demo.proc.exitCode !== null) throw new Error(`demo exited ${demo.proc.exitCode}:\n${demo.output().slice(-3000)}`);
    remember();
    return /^ready: /m.test(demo.output());
  }, 120_000, 100);
  const out = demo.output();
  t.match(out, /^ready: culm applied its first config \(200 apps\) in [\d.]+ s\. Ctrl-C to stop\.$/m);
  t.equal(out.match(/^ready/gm)?.length, 1, 'one ready line');
  t.notMatch(out.slice(0, out.search(/^ready: /m)), 'Ctrl-C', 'nothing says Ctrl-C before the ready line');
  t.equal((await fetch(`http://127.0.0.1:${apiPort}/readyz`)).status, 200, 'culm is ready when the line is out');

  const marathon = `http://127.0.0.1:${marathonPort}`;
  t.match(out, `Marathon emulator  ${marathon}`, 'the emulator\'s URL is printed');
  const apps = (await (await fetch(`${marathon}/v2/apps`)).json()) as { apps: Array<{ id: string }> };
  t.equal(apps.apps.length, 200, '--apps 200');
  const frontend = `http://127.0.0.1:${httpPort}`;
  for (const path of ['/web', '/shop/api', '/fleet/app-001', '/fleet/app-198']) {
    const r = await get(`${frontend}${path}`);
    t.same([r.status, /^\d+$/.test(r.body)], [200, true], `${path} answered by a backend through HAProxy`);
  }

  const added = await fetch(`${marathon}/v2/apps`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ id: '/added', cmd: 'serve', instances: 2 }),
  });
  t.equal(added.status, 201, 'POST /v2/apps accepted');
  await eventually('/added routed', async () => (await get(`${frontend}/added`)).status === 200, 30_000);
  t.pass('an app POSTed to the emulator is routed');
  const tasksInCulm = async (): Promise<number> => {
    const state = (await (await fetch(`http://127.0.0.1:${apiPort}/api/state`)).json()) as { Apps: Array<{ Id: string; Tasks: unknown[] }> };
    return state.Apps.find((a) => a.Id === '/added')?.Tasks.length ?? -1;
  };
  const scaled = await fetch(`${marathon}/v2/apps/added`, { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: '{"instances":4}' });
  t.equal(scaled.status, 200, 'PUT instances accepted');
  await eventually('culm holds 4 tasks of /added', async () => (await tasksInCulm()) === 4, 30_000);
  const tasks = (await (await fetch(`${marathon}/v2/apps/added/tasks`)).json()) as { tasks: Array<{ id: string }> };
  t.equal((await fetch(`${marathon}/v2/apps/added/tasks/${tasks.tasks[0].id}?scale=true`, { method: 'DELETE' })).status, 200);
  await eventually('culm holds 3 tasks of /added', async () => (await tasksInCulm()) === 3, 30_000);
  t.pass('culm follows a scale-up and a task killed with scale=true');
  t.equal((await fetch(`${marathon}/v2/apps/added`, { method: 'DELETE' })).status, 200);
  await eventually('/added no longer routed', async () => (await get(`${frontend}/added`)).status !== 200, 30_000);
  t.pass('a deleted app is no longer routed');

  remember();
  t.ok([...started.values()].some((cmd) => cmd.includes('dist/main.js')), 'culm was among the processes it started');
  t.ok(haproxy.seen.size > 0, 'and HAProxy');
  demo.proc.kill('SIGINT');
  t.equal(await demo.exited, 0, 'the demo exits 0 on Ctrl-C');
  haproxy.poll();
  await eventually('every process the demo started gone', () => stillOurs().length === 0, 15_000);
  t.pass(`none of its ${started.size} processes is left`);
  t.equal(await fetch(`${marathon}/v2/apps`).then(() => 'answered', () => 'refused'), 'refused', 'the emulator stopped with it');
});
