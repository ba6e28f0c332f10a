/**
 * The daemon with in-memory stores, a controllable Marathon source and a driver whose commands are `true`
 * (no HAProxy needed): event/resync races, the saved state as baseline, skipped apps, shutdown.
 */
import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daemon, type AppsSource } from '../../src/pipeline/daemon.js';
import { mapApps, type MappedApps } from '../../src/core/marathon-map.js';
import { Applier } from '../../src/pipeline/apply.js';
import { HaproxyDriver } from '../../src/haproxy/driver.js';
import { HaproxyDelivery } from '../../src/haproxy/delivery.js';
import { Renderer } from '../../src/haproxy/render.js';
import { MemoryRuleStore, MemoryStateStore } from '../../src/store/memory.js';
import { PrometheusMetrics } from '../../src/metrics/metrics.js';
import { silentLogger } from '../../src/log/logger.js';
import { servingTasks } from '../../src/core/eligibility.js';
import { makeRule } from '../../src/core/rules.js';
import { CulmError } from '../../src/core/errors.js';
import { app, healthChecks, task, tasks } from '../helpers/builders.js';
import type { App } from '../../src/core/model.js';

const template = new URL('../../templates/haproxy.cfg.eta', import.meta.url).pathname;

class ControlledMarathon implements AppsSource {
  calls = 0;
  answers: Array<() => Promise<unknown>> = [];
  fallback: () => Promise<unknown> = async () => ({ apps: [] });
  async fetchApps(): Promise<MappedApps> {
    this.calls++;
    return mapApps(await (this.answers.shift() ?? this.fallback)());
  }
  /** Single-app reads answer from the same source: the app of that id in the next answer, null if absent. */
  appReads: string[] = [];
  async fetchApp(id: string): Promise<App | null> {
    this.appReads.push(id);
    return mapApps(await this.fallback()).apps.find((a) => a.id === id) ?? null;
  }
}

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => { resolve = r; });
  return { promise, resolve };
}

const mtask = (id: string, port: number, extra: Record<string, unknown> = {}) => ({ id, host: '127.0.0.1', ports: [port], state: 'TASK_RUNNING', ...extra });

function setup(marathon: ControlledMarathon, snapshots = new MemoryStateStore(), extra: { rules?: MemoryRuleStore; aclFilesDir?: string; validationCommand?: string } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'culm-daemon-'));
  const log = silentLogger();
  const driver = new HaproxyDriver({ outputPath: join(dir, 'haproxy.cfg'), validationCommand: extra.validationCommand ?? 'true', reloadCommand: 'true', cleanupCommand: 'true', commandTimeoutMs: 5000, log });
  const delivery = new HaproxyDelivery({ driver, log });
  const applier = new Applier(new Renderer(template), delivery, { HttpBind: '*:80', StatsSocket: join(dir, 's'), PidFile: join(dir, 'p'), OutputPath: join(dir, 'haproxy.cfg') }, log);
  const metrics = new PrometheusMetrics({ defaultMetrics: false });
  const daemon = new Daemon({
    applier, delivery, apps: marathon, rules: extra.rules ?? new MemoryRuleStore(), snapshots, metrics, log,
    settleMs: 20, resyncIntervalMs: 60_000, snapshotDelayMs: 10, rulePolicy: { aclFilesDir: extra.aclFilesDir ?? '' },
  });
  return { daemon, dir, metrics };
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
  t.equal(servingTasks(web, 0).length, 1, 'the task serves');
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
  t.equal(servingTasks(daemon.state().apps.get('/web')!, 0).length, 2);
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

t.test('putRule: at most 8 rule checks at once; more are a 429 and store nothing', async (t) => {
  const m = new ControlledMarathon();
  m.fallback = async () => ({ apps: [{ id: '/web', tasks: [mtask('web.a', 31001)] }] });
  const { daemon } = setup(m);
  await daemon.start();
  await daemon.resync();
  const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => daemon.putRule(makeRule(`/r${i}`, `path_beg -i /r${i}`))));
  const refused = results.filter((r) => r.status === 'rejected');
  t.equal(results.length - refused.length, 8, 'eight checked and stored');
  t.ok(refused.every((r) => r.status === 'rejected' && r.reason instanceof CulmError && r.reason.code === 'E_TOO_MANY_RULE_CHECKS' && r.reason.status === 429), 'the rest: 429');
  t.equal(daemon.rules().size, 8, 'nothing stored for a refused one');
  t.ok(await daemon.putRule(makeRule('/later', 'path_beg -i /later')), 'once they are through, writes are taken again');
  await daemon.stop();
});

const until = async (what: string, ok: () => boolean | Promise<boolean>, ms = 3000): Promise<void> => {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

t.test('hints: forged events change nothing Marathon does not confirm; a confirmed one is applied', async (t) => {
  const m = new ControlledMarathon();
  const web = { id: '/web', healthChecks: [{ protocol: 'HTTP', path: '/' }], tasks: [mtask('web.a', 31001, { healthCheckResults: [{ alive: true }] }), mtask('web.b', 31002, { healthCheckResults: [{ alive: true }] })] };
  m.fallback = async () => ({ apps: [web] });
  const snapshots = new MemoryStateStore();
  const { daemon, metrics } = setup(m, snapshots);
  await daemon.start();
  await daemon.applyNowAndWait();
  const before = daemon.state();
  const forged = [
    status('web.a', 'TASK_KILLED', 31001),
    { ...status('web.evil', 'TASK_RUNNING', 6666), host: '10.6.6.6' },
    { eventType: 'app_terminated_event', appId: '/web' },
    { eventType: 'health_status_changed_event', appId: '/web', taskId: 'web.b', alive: false },
  ];
  for (const body of forged) t.match(daemon.acceptMarathonHint(body), { accepted: true, kind: 'hint', outcome: /queued|coalesced/ });
  t.equal(daemon.state(), before, 'nothing applied on the spot');
  await until('the app re-read', () => m.appReads.length === 1);
  await new Promise((r) => setTimeout(r, 60));
  t.same(m.appReads, ['/web'], 'four hints for one app: one read');
  t.equal(daemon.state().apps, before.apps, 'Marathon still lists both tasks, healthy: nothing changed');
  t.equal(daemon.state().tombstones.has('web.a'), false, 'no tombstone from a hint');
  t.match(await metrics.text(), /culm_marathon_hints_total\{outcome="read-applied"\} 1/);

  // Marathon confirms: web.a is gone.
  m.fallback = async () => ({ apps: [{ ...web, tasks: [web.tasks[1]] }] });
  daemon.acceptMarathonHint(status('web.a', 'TASK_KILLED', 31001));
  await until('confirmed kill applied', () => !daemon.state().apps.get('/web')!.tasks['web.a']);
  // ...and the app: Marathon's 404 removes it.
  m.fallback = async () => ({ apps: [] });
  daemon.acceptMarathonHint({ eventType: 'app_terminated_event', appId: '/web' });
  await until('confirmed removal applied', () => !daemon.state().apps.has('/web'));
  await daemon.stop();
  t.same(snapshots.snapshot?.apps.map((a) => a.id), [], 'the snapshot holds what Marathon confirmed');
});

t.test('a hint flood for made-up ids: quick, bounded reads, state unchanged', async (t) => {
  const m = new ControlledMarathon();
  m.fallback = async () => ({ apps: [{ id: '/web', tasks: [mtask('web.a', 31001)] }] });
  const { daemon, metrics } = setup(m);
  await daemon.start();
  const before = daemon.state();
  const resyncs = m.calls;
  let began = performance.now();
  for (let i = 0; i < 60_000; i++) daemon.acceptMarathonHint(status(`made-up.${i}`, 'TASK_KILLED', 31001));
  const killsMs = performance.now() - began;
  began = performance.now();
  for (let i = 0; i < 60_000; i++) daemon.acceptMarathonHint({ ...status(`x.${i}`, 'TASK_RUNNING', 31001), appId: `/made-up-${i}` });
  const runningMs = performance.now() - began;
  t.comment(`60,000 forged kills: ${killsMs.toFixed(0)} ms; 60,000 forged RUNNING for made-up apps: ${runningMs.toFixed(0)} ms`);
  t.ok(killsMs < 5000 && runningMs < 5000, 'each flood handled in seconds at most');
  await new Promise((r) => setTimeout(r, 200));
  t.equal(m.appReads.length, 0, 'kills of tasks culm does not hold cost no read, nor do made-up apps');
  t.ok(m.calls - resyncs >= 1 && m.calls - resyncs <= 2, `one resync instead of 60,000 reads (${m.calls - resyncs})`);
  t.equal(daemon.state().apps, before.apps, 'state unchanged');
  t.equal(daemon.state().tombstones.size, 0, 'no tombstones');
  t.match(await metrics.text(), /culm_marathon_hints_total\{outcome="no-change"\} 60000/);
  await daemon.stop();
});

t.test('a trusted event that arrives while an app read is in flight survives its (older) answer', async (t) => {
  const m = new ControlledMarathon();
  m.fallback = async () => ({ apps: [{ id: '/web', tasks: [mtask('web.a', 31001)] }] });
  const { daemon } = setup(m);
  await daemon.start();
  const slow = deferred<unknown>();
  m.fallback = () => slow.promise;
  daemon.acceptMarathonHint(status('web.a', 'TASK_KILLED', 31001));
  await until('read started', () => m.appReads.length === 1);
  daemon.acceptMarathonEvent(status('web.b', 'TASK_RUNNING', 31002));
  slow.resolve({ apps: [{ id: '/web', tasks: [mtask('web.a', 31001)] }] });
  await until('read applied', () => !!daemon.state().apps.get('/web'));
  await new Promise((r) => setTimeout(r, 30));
  t.same(Object.keys(daemon.state().apps.get('/web')!.tasks).sort(), ['web.a', 'web.b']);
  await daemon.stop();
});

t.test('a map-only rule skips the validation command only when it is HAProxy\'s own check', async (t) => {
  for (const [skip, want] of [[true, 0], [false, 1]] as const) {
    const dir = mkdtempSync(join(tmpdir(), 'culm-daemon-'));
    const log = silentLogger();
    const marker = join(dir, 'checks');
    const checks = (): number => { try { return readFileSync(marker, 'utf8').split('\n').filter(Boolean).length; } catch { return 0; } };
    // What the rule check did is read when the rule is stored: after its check, before any apply of it.
    class CountingStore extends MemoryRuleStore {
      atPut = -1;
      override async put(rule: Parameters<MemoryRuleStore['put']>[0]) { this.atPut = checks(); return super.put(rule); }
    }
    const rules = new CountingStore();
    const driver = new HaproxyDriver({ outputPath: join(dir, 'haproxy.cfg'), validationCommand: `echo x >> ${marker}`, reloadCommand: 'true', cleanupCommand: 'true', commandTimeoutMs: 5000, log });
    const delivery = new HaproxyDelivery({ driver, log });
    const applier = new Applier(new Renderer(template), delivery, { HttpBind: '*:80', StatsSocket: join(dir, 's'), PidFile: join(dir, 'p'), OutputPath: join(dir, 'haproxy.cfg') }, log);
    const m = new ControlledMarathon();
    m.fallback = async () => ({ apps: [{ id: '/web', tasks: [mtask('web.a', 31001)] }, { id: '/shop', tasks: [mtask('shop.a', 31002)] }] });
    const daemon = new Daemon({
      applier, delivery, apps: m, rules, snapshots: new MemoryStateStore(), metrics: new PrometheusMetrics({ defaultMetrics: false }), log,
      settleMs: 20, resyncIntervalMs: 60_000, snapshotDelayMs: 10, skipCheckOfMapOnlyRules: skip,
    });
    await daemon.start();
    await daemon.applyNowAndWait();
    const before = checks();
    await daemon.putRule(makeRule('/shop', 'path_beg -i /store'));
    t.equal(rules.atPut - before, want, skip ? 'HAProxy\'s own check: skipped for a map-only rule' : 'an operator\'s own command: run');
    await daemon.stop();
  }
});

t.test('the daemon records what each apply measured: renders, the reload, a refused config', async (t) => {
  const m = new ControlledMarathon();
  m.fallback = async () => ({ apps: [{ id: '/web', tasks: [mtask('web.a', 31001)] }] });
  const { daemon, metrics, dir } = setup(m);
  await daemon.start();
  await until('written', () => existsSync(join(dir, 'haproxy.cfg')));
  await until('reloaded', async () => /culm_haproxy_reload_duration_seconds_count 1\n/.test(await metrics.text()));
  const text = await metrics.text();
  t.match(text, /culm_render_duration_seconds_count [1-9]/, 'the render is timed');
  t.match(text, /culm_haproxy_validation_failures_total 0\n/, 'nothing refused');
  await daemon.stop();

  const refused = setup(m, new MemoryStateStore(), { validationCommand: 'false' });
  await refused.daemon.start();
  await until('refused', async () => /culm_haproxy_validation_failures_total [1-9]/.test(await refused.metrics.text()));
  t.match(await refused.metrics.text(), /culm_haproxy_reload_duration_seconds_count 0\n/, 'a refused config is not reloaded');
  t.notOk(existsSync(join(refused.dir, 'haproxy.cfg')), 'and not written');
  await refused.daemon.stop();
});

t.test('putRule: the apply runs beside the store\'s write; a write that fails takes the rule back out (503, nothing stored)', async (t) => {
  let failNext = false;
  let writeMs = 30;
  class FlakyStore extends MemoryRuleStore {
    override async put(rule: Parameters<MemoryRuleStore['put']>[0]) {
      await new Promise((r) => setTimeout(r, writeMs));
      if (failNext) throw new CulmError('E_STORE_UNAVAILABLE', 'zk down', { status: 503 });
      return super.put(rule);
    }
  }
  const rules = new FlakyStore();
  const m = new ControlledMarathon();
  m.fallback = async () => ({ apps: [{ id: '/web', tasks: [mtask('web.a', 31001)] }, { id: '/shop', tasks: [mtask('shop.a', 31002)] }] });
  const { daemon, dir } = setup(m, new MemoryStateStore(), { rules });
  await daemon.start();
  await daemon.applyNowAndWait();
  // The applied config and the route map it names.
  const cfg = (): string => {
    const text = readFileSync(join(dir, 'haproxy.cfg'), 'utf8');
    const map = /map_beg\(([^),]+)/.exec(text)?.[1];
    return text + (map ? readFileSync(map, 'utf8') : '');
  };
  await daemon.putRule(makeRule('/shop', 'path_beg -i /store'));
  await daemon.applyNowAndWait();
  t.match(cfg(), '/store', 'stored and applied');
  failNext = true;
  const put = daemon.putRule(makeRule('/shop', 'path_beg -i /other'));
  await t.rejects(put, { code: 'E_STORE_UNAVAILABLE' }, 'the store\'s failure is the answer');
  await daemon.applyNowAndWait();
  t.same((await rules.list()).map((r) => r.acl), ['path_beg -i /store'], 'nothing stored');
  t.notMatch(cfg(), '/other', 'the rule the store refused is taken back out of the config');
  t.match(cfg(), '/store', 'the stored one routes again');
  failNext = false;
  writeMs = 1000;
  let answered = false;
  const fresh = daemon.putRule(makeRule('/web', 'path_beg -i /w')).then(() => { answered = true; });
  const until = Date.now() + 5000;
  while (!cfg().includes('/w ') && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
  t.match(cfg(), '/w ', 'later rules apply');
  t.notOk(answered, 'applied while the store\'s write was still under way (the write no longer comes first)');
  await fresh;
  await daemon.stop();
});
