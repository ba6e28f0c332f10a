/**
 * The daemon with in-memory stores, a controllable Marathon source and a driver whose commands are `true`
 * (no HAProxy needed): event/resync races, the saved state as baseline, skipped apps, shutdown.
 */
import t from 'tap';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daemon, type AppsSource } from '../../src/pipeline/daemon.js';
import { mapApps, type MappedApps } from '../../src/core/marathon-map.js';
import { Applier } from '../../src/pipeline/apply.js';
import { HaproxyDriver } from '../../src/haproxy/driver.js';
import { Renderer } from '../../src/haproxy/render.js';
import { MemoryRuleStore, MemoryStateStore } from '../../src/store/memory.js';
import { PrometheusMetrics } from '../../src/metrics/metrics.js';
import { silentLogger } from '../../src/log/logger.js';
import { servingTasks } from '../../src/core/eligibility.js';
import { makeRule } from '../../src/core/rules.js';
import { CulmError } from '../../src/core/errors.js';
import { app, healthChecks, task, tasks } from '../helpers/builders.js';

const template = new URL('../../templates/haproxy.cfg.eta', import.meta.url).pathname;

class ControlledMarathon implements AppsSource {
  calls = 0;
  answers: Array<() => Promise<unknown>> = [];
  fallback: () => Promise<unknown> = async () => ({ apps: [] });
  async fetchApps(): Promise<MappedApps> {
    this.calls++;
    return mapApps(await (this.answers.shift() ?? this.fallback)());
  }
}

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => { resolve = r; });
  return { promise, resolve };
}

const mtask = (id: string, port: number, extra: Record<string, unknown> = {}) => ({ id, host: '127.0.0.1', ports: [port], state: 'TASK_RUNNING', ...extra });

function setup(marathon: ControlledMarathon, snapshots = new MemoryStateStore(), extra: { rules?: MemoryRuleStore; aclFilesDir?: string } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'culm-daemon-'));
  const log = silentLogger();
  const driver = new HaproxyDriver({ outputPath: join(dir, 'haproxy.cfg'), validationCommand: 'true', reloadCommand: 'true', cleanupCommand: 'true', commandTimeoutMs: 5000, log });
  const applier = new Applier(new Renderer(template), driver, { HttpBind: '*:80', StatsSocket: join(dir, 's'), PidFile: join(dir, 'p'), OutputPath: join(dir, 'haproxy.cfg') }, log);
  const daemon = new Daemon({
    applier, driver, apps: marathon, rules: extra.rules ?? new MemoryRuleStore(), snapshots, metrics: new PrometheusMetrics({ defaultMetrics: false }), log,
    settleMs: 20, resyncIntervalMs: 60_000, snapshotDelayMs: 10, rulePolicy: { aclFilesDir: extra.aclFilesDir ?? '' },
  });
  return { daemon, dir };
}

const status = (taskId: string, state: string, port: number) => ({ eventType: 'status_update_event', appId: '/web', taskId, taskStatus: state, host: '127.0.0.1', ports: [port] });

t.test('an event that arrives while a resync is in flight survives the (older) answer', async (t) => {
  const m = new ControlledMarathon();
  m.answers.push(async () => ({ apps: [{ id: '/web', tasks: [mtask('web.a', 31001)] }] }));
  const { daemon } = setup(m);
  await daemon.start();
  const slow = deferred<unknown>();
  m.answers.push(() => slow.promise);
  const resync = daemon.resync();
  daemon.acceptMarathonEvent(status('web.b', 'TASK_RUNNING', 31002));
  daemon.acceptMarathonEvent(status('web.a', 'TASK_KILLED', 31001));
  slow.resolve({ apps: [{ id: '/web', tasks: [mtask('web.a', 31001)] }] }); // fetched before both events
  await resync;
  const web = daemon.state().apps.get('/web')!;
  t.same(Object.keys(web.tasks), ['web.b'], 'new task kept, killed task stays gone');
  await daemon.stop();
});

t.test('health that arrives before its task, then the task: a resync settles it', async (t) => {
  const m = new ControlledMarathon();
  m.answers.push(async () => ({ apps: [{ id: '/web', healthChecks: [{ protocol: 'HTTP', path: '/' }], tasks: [] }] }));
  const { daemon } = setup(m);
  await daemon.start();
  const calls = m.calls;
  m.fallback = async () => ({ apps: [{ id: '/web', healthChecks: [{ protocol: 'HTTP', path: '/' }], tasks: [mtask('web.instance-x._app.1', 31001, { healthCheckResults: [{ alive: true }] })] }] });
  daemon.acceptMarathonEvent({ eventType: 'health_status_changed_event', appId: '/web', instanceId: 'web.instance-x', alive: true });
  daemon.acceptMarathonEvent(status('web.instance-x._app.1', 'TASK_RUNNING', 31001));
  await new Promise((r) => setTimeout(r, 200));
  t.ok(m.calls > calls, 'a resync was made');
  const web = daemon.state().apps.get('/web')!;
  t.equal(servingTasks(web).length, 1, 'the task serves');
  await daemon.stop();
});

t.test('restart after a Marathon leader change: saved health carries over', async (t) => {
  const snapshots = new MemoryStateStore();
  snapshots.snapshot = { savedAt: Date.now() - 1000, apps: [app('/web', healthChecks(), tasks(task(31001, { id: 'w.1', healthy: true }), task(31002, { id: 'w.2', healthy: true })))] };
  const m = new ControlledMarathon();
  // The new leader lists the tasks without health results yet.
  m.answers.push(async () => ({ apps: [{ id: '/web', healthChecks: [{ protocol: 'HTTP', path: '/health' }], tasks: [mtask('w.1', 31001), mtask('w.2', 31002)] }] }));
  const { daemon } = setup(m, snapshots);
  await daemon.start();
  t.equal(servingTasks(daemon.state().apps.get('/web')!).length, 2);
  await daemon.stop();
});

t.test('a malformed app in Marathon\'s answer keeps its last known state', async (t) => {
  const m = new ControlledMarathon();
  m.answers.push(async () => ({ apps: [{ id: '/web', tasks: [mtask('web.a', 31001)] }, { id: '/api', tasks: [mtask('api.a', 31005)] }] }));
  const { daemon, dir } = setup(m);
  await daemon.start();
  await daemon.applyNowAndWait();
  m.answers.push(async () => ({ apps: [{ id: '/web', tasks: [{ host: 'no-id' }] }, { id: '/api', tasks: [] }] }));
  await daemon.resync();
  await daemon.applyNowAndWait();
  t.same(Object.keys(daemon.state().apps.get('/web')!.tasks), ['web.a'], 'the bad app is kept as it was');
  t.same(Object.keys(daemon.state().apps.get('/api')!.tasks), [], 'the good app is updated');
  t.match(readFileSync(join(dir, 'haproxy.cfg'), 'utf8'), '127.0.0.1:31001');
  await daemon.stop();
});

t.test('events after stop are refused', async (t) => {
  const m = new ControlledMarathon();
  const { daemon } = setup(m);
  await daemon.start();
  await daemon.stop();
  t.same(daemon.acceptMarathonEvent(status('web.z', 'TASK_RUNNING', 1)), { accepted: false, kind: 'stopping' });
});

t.test('stored rules outside the grammar are left out (the app keeps its default ACL); the rest apply', async (t) => {
  const m = new ControlledMarathon();
  m.fallback = async () => ({ apps: [{ id: '/web', tasks: [mtask('web.a', 31001)] }, { id: '/api', tasks: [mtask('api.a', 31002)] }] });
  const rules = new MemoryRuleStore();
  await rules.put(makeRule('/web', 'src -f /etc/shadow')); // written by another writer, never checked
  await rules.put(makeRule('/api', 'hdr(host) -i api.example.com'));
  const { daemon, dir } = setup(m, new MemoryStateStore(), { rules });
  await daemon.start();
  await daemon.resync();
  t.same([...daemon.rules().keys()], ['/api'], 'only the valid rule is in effect');
  await daemon.applyNowAndWait();
  const cfg = readFileSync(join(dir, 'haproxy.cfg'), 'utf8');
  t.notMatch(cfg, '/etc/shadow');
  t.match(cfg, 'hdr(host) -i api.example.com');
  await daemon.stop();
});

t.test('putRule: pattern files only from the configured directory, symlinks resolved, regular files only', async (t) => {
  const m = new ControlledMarathon();
  m.fallback = async () => ({ apps: [{ id: '/web', tasks: [mtask('web.a', 31001)] }] });
  const files = mkdtempSync(join(tmpdir(), 'culm-daemon-acl-'));
  writeFileSync(join(files, 'ok.lst'), '10.0.0.0/8\n');
  symlinkSync('/etc/passwd', join(files, 'out'));
  mkdirSync(join(files, 'sub'));
  const { daemon } = setup(m, new MemoryStateStore(), { aclFilesDir: files });
  await daemon.start();
  await daemon.resync();
  t.ok(await daemon.putRule(makeRule('/web', `src -f ${files}/ok.lst`)), 'inside: accepted');
  for (const [acl, message] of [[`src -f ${files}/out`, 'leads outside'], [`src -f ${files}/sub`, 'not a regular file'], [`src -f ${files}/none`, 'no such file'], ['src -f /etc/passwd', 'inside']]) {
    const err = await daemon.putRule(makeRule('/web', acl)).catch((e: unknown) => e);
    t.ok(err instanceof CulmError && err.code === 'E_RULE_ACL_FILE' && err.status === 400, `${acl}: refused`);
    t.match((err as Error).message, message);
  }
  t.equal(daemon.rules().get('/web')?.acl, `src -f ${files}/ok.lst`, 'the refusals stored nothing');
  await daemon.stop();
});
