/**
 * Scenario "zerodrop" (issue 10): traffic is never dropped. Real HAProxy, backends on loopback, ~500 req/s
 * (half on new connections, half from keep-alive clients reusing their idle connection after a pause, as a
 * browser does); a failure is a connection error, a reset, a timeout or any status the backends did not send
 * (they only send 200). Four scenarios, on one culm per column:
 *   reloads   `reloads` rule changes, each forcing a reload;
 *   slowKill  tasks killed as Marathon does (TASK_KILLING, the task stops accepting, finishes what it has,
 *             TASK_KILLED) while slow requests are in flight on them;
 *   rolling   a rolling deployment of an app with a readiness check and health checks: 3 tasks replaced one by
 *             one, each new one ready `readyDelayMs` after it runs; no request may reach it before that;
 *   kill9     `kill -9` of HAProxy under load: time until the frontend serves again, failures meanwhile.
 * Columns, measured in the same run: culm's default; culm with CULM_RUNTIME_API=false (every change reloads);
 * Bamboo's plain reload command (`haproxy -f <out> -p <pid> -D -sf $(cat <pid>)`).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MarathonEmulator } from '../../helpers/marathon-emulator.js';
import { startCulm, type CulmInstance } from '../../helpers/culm.js';
import { get, startBackend, type Backend } from '../../helpers/net.js';
import { load, putRule, reloads as reloadCount, type Load } from '../../helpers/reload-load.js';
import { sleep, timeUntil } from './common.js';

const RELOAD_INTERVAL_MS = 300;
/** Bamboo's rule: a task without a readiness result is taken for an old one timeoutSeconds + 5 s after it started. */
const READINESS = { path: '/ready', portName: 'http', timeoutSeconds: 1 };
const OLD_TASK_AGE_MS = 6500;

export interface ZerodropSizes {
  reloads: number;
  readyDelayMs: number;
  slowMs: number;
  /** Requests/s of the load (default 500). */
  rate?: number;
  /** Between TASK_KILLING and the task's process closing its listening socket (SIGTERM reaching the app); default 100. */
  sigtermLagMs?: number;
}

interface Traffic {
  ok: number;
  failed: number;
  errors: Record<string, number>;
  sent: { fresh: number; keepAlive: number };
  reqPerS: number;
}

const summary = (l: Load, ms: number): Traffic => ({
  ok: l.ok, failed: l.failed, errors: Object.fromEntries(l.errors), sent: l.sent, reqPerS: (l.ok + l.failed) / (ms / 1000),
});

/** Runs `body` under load on `url`; the load's figures when it is done. */
async function underLoad(url: string, rate: number, body: () => Promise<Record<string, unknown>>, slowMs?: number): Promise<Record<string, unknown>> {
  const began = performance.now();
  const traffic = load(url, rate);
  const slow = slowMs ? load(url, 20, { slowMs, timeoutMs: slowMs + 5000 }) : undefined;
  try {
    await sleep(500);
    const extra = await body();
    await sleep(500);
    return { ...extra, traffic: summary(traffic, performance.now() - began), ...(slow ? { slowTraffic: summary(slow, performance.now() - began) } : {}) };
  } finally {
    await traffic.stop();
    await slow?.stop();
  }
}

const serves = (culm: CulmInstance, path: string, port: number) => async (): Promise<boolean> => {
  for (let i = 0; i < 6; i++) if ((await get(`${culm.frontend}${path}`)).body === String(port)) return true;
  return false;
};

/** Marathon's kill of a task whose app shuts down cleanly on SIGTERM. */
async function killTask(marathon: MarathonEmulator, id: string, backend: Backend, s: ZerodropSizes): Promise<void> {
  marathon.setTaskState(id, 'TASK_KILLING');
  await sleep(s.sigtermLagMs ?? 100);
  await backend.drain();
  marathon.setTaskState(id, 'TASK_KILLED');
}

async function reloads(culm: CulmInstance, n: number, rate: number): Promise<Record<string, unknown>> {
  return underLoad(`${culm.frontend}/web`, rate, async () => {
    const before = await reloadCount(culm);
    for (let i = 0; i < n; i++) {
      await putRule(culm, 'other', i);
      await timeUntil(async () => (await reloadCount(culm)) >= before + i + 1, 5000, 20).catch((err: unknown) => {
        throw new Error(`reload ${i + 1} not counted: ${String(err)}\n${culm.child.output().slice(-1500)}`);
      });
      await sleep(RELOAD_INTERVAL_MS + 50);
    }
    return { reloads: (await reloadCount(culm)) - before };
  });
}

export async function slowKill({ culm, marathon, slowTasks: tasks }: Cluster, s: ZerodropSizes): Promise<Record<string, unknown>> {
  const inflightAtKill: number[] = [];
  const result = await underLoad(`${culm.frontend}/slow`, s.rate ?? 500, async () => {
    // Two of the three tasks are replaced: each new one serves first, then the old one is killed mid-request.
    for (let i = 0; i < 2; i++) {
      const fresh = await startBackend();
      marathon.addTask('/slow', { port: fresh.port });
      await timeUntil(serves(culm, '/slow', fresh.port), 10_000, 20);
      await sleep(s.slowMs / 2); // slow requests are now in flight on every task
      const [id, old] = tasks[i];
      inflightAtKill.push(old.inflight);
      await killTask(marathon, id, old, s);
      tasks.push([marathon.tasksOf('/slow').at(-1)!.id, fresh]);
    }
    return {};
  }, s.slowMs);
  return { ...result, slowInFlightAtKill: inflightAtKill };
}

export async function rolling({ culm, marathon, rollTasks: olds }: Cluster, s: ZerodropSizes): Promise<Record<string, unknown>> {
  const news: Array<{ id: string; backend: Backend; readyAt: number }> = [];
  const oldest = Math.min(...marathon.tasksOf('/roll').map((x) => Date.parse(x.startedAt!)));
  await sleep(Math.max(0, oldest + OLD_TASK_AGE_MS - Date.now()));
  const started = performance.now();
  const result = await underLoad(`${culm.frontend}/roll`, s.rate ?? 500, async () => {
    marathon.startDeployment('/roll');
    // Marathon's rolling restart: a new task, ready after a delay, then an old one killed; the next new task is
    // started before the last is ready, so one deployment spans the three steps.
    const launch = async (): Promise<void> => {
      const backend = await startBackend();
      const id = marathon.addTask('/roll', { port: backend.port, healthy: true });
      news.push({ id, backend, readyAt: Number.POSITIVE_INFINITY });
    };
    await launch();
    for (let i = 0; i < 3; i++) {
      await sleep(s.readyDelayMs);
      if (i < 2) await launch();
      news[i].readyAt = performance.now();
      marathon.setTaskReady(news[i].id);
      await timeUntil(serves(culm, '/roll', news[i].backend.port), 10_000, 20);
      await killTask(marathon, olds[i][0], olds[i][1], s);
    }
    return {};
  });
  const early = news.filter((n) => n.backend.firstRequestAt > 0 && n.backend.firstRequestAt < n.readyAt);
  await Promise.all(news.map((n) => n.backend.close()));
  return { ...result, newTasks: news.length, tasksHitBeforeReady: early.length, ms: performance.now() - started };
}

async function kill9(culm: CulmInstance, rate: number): Promise<Record<string, unknown>> {
  let killedAt = 0;
  let servingAgainMs = Number.NaN;
  let sentBefore = 0;
  let sentWhileDown = 0;
  const began = performance.now();
  const traffic = load(`${culm.frontend}/web`, rate);
  try {
    await sleep(1000);
    const pid = Number(readFileSync(`${culm.outputPath}.pid`, 'utf8').trim().split(/\s+/)[0]);
    killedAt = performance.now();
    sentBefore = traffic.sent.fresh + traffic.sent.keepAlive;
    process.kill(pid, 'SIGKILL');
    await sleep(5); // the kernel closes the listening socket
    await timeUntil(async () => (await get(`${culm.frontend}/web`)).status === 200, 15_000, 5);
    servingAgainMs = performance.now() - killedAt;
    sentWhileDown = traffic.sent.fresh + traffic.sent.keepAlive - sentBefore;
    await sleep(1000);
  } finally {
    await traffic.stop();
  }
  // Failed requests sent from the kill until it served again, and those in flight at the kill.
  const failedWhileDown = traffic.failedAt.filter((at) => at >= killedAt - 5000 && at <= killedAt + servingAgainMs).length;
  return { servingAgainMs, failedWhileDown, sentWhileDown, traffic: summary(traffic, performance.now() - began) };
}

export type Column = 'culm' | 'noRuntimeApi' | 'bambooSf';

/** The apps the scenarios use, in the emulator, and culm (of the column's kind) started on them. */
export interface Cluster {
  culm: CulmInstance;
  marathon: MarathonEmulator;
  /** /slow's tasks (id, backend): slowKill replaces the first two. */
  slowTasks: Array<[string, Backend]>;
  /** /roll's tasks, with a readiness check and a health check: rolling replaces them. */
  rollTasks: Array<[string, Backend]>;
  close(): Promise<void>;
}

export async function startCluster(kind: Column): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), 'culm-zerodrop-'));
  const out = join(dir, 'haproxy.cfg');
  const env: Record<string, string> = {
    CULM_EVENT_MODE: 'sse', CULM_LOG_LEVEL: 'info', CULM_RELOAD_INTERVAL_MS: String(RELOAD_INTERVAL_MS),
    ...(kind === 'noRuntimeApi' ? { CULM_RUNTIME_API: 'false' } : {}),
    // Bamboo's default reload command, on culm's pid file (so the supervisor finds it).
    ...(kind === 'bambooSf' ? { HAPROXY_RELOAD_CMD: `haproxy -f ${out} -p ${out}.pid -D -sf $(cat ${out}.pid 2>/dev/null)` } : {}),
  };
  const marathon = await MarathonEmulator.start({ version: '1.10', keepaliveMs: 500, recordEvents: false });
  const backends: Backend[] = [];
  const task = async (app: string, spec: { healthy?: boolean } = {}): Promise<[string, Backend]> => {
    const b = await startBackend();
    backends.push(b);
    return [marathon.addTask(app, { port: b.port, ...spec }), b];
  };
  marathon.addApp({ id: '/web' });
  await task('/web');
  await task('/web');
  marathon.addApp({ id: '/other' });
  await task('/other');
  marathon.addApp({ id: '/slow' });
  const slowTasks = [await task('/slow'), await task('/slow'), await task('/slow')];
  marathon.addApp({ id: '/roll', readinessCheck: READINESS, healthChecks: [{ protocol: 'HTTP', path: '/health' }] });
  const rollTasks = [await task('/roll', { healthy: true }), await task('/roll', { healthy: true }), await task('/roll', { healthy: true })];
  const culm = await startCulm({ marathon: marathon.url, dir, env });
  const close = async (): Promise<void> => {
    await culm.destroy();
    await marathon.stop();
    // slowKill adds the backends of the tasks it starts to slowTasks.
    await Promise.all([...new Set([...backends, ...slowTasks.map(([, b]) => b)])].map((b) => b.close()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await culm.waitReady();
  } catch (err) {
    await close();
    throw err;
  }
  return { culm, marathon, slowTasks, rollTasks, close };
}

async function column(kind: Column, s: ZerodropSizes): Promise<Record<string, unknown>> {
  const cluster = await startCluster(kind);
  const { culm } = cluster;
  const rate = s.rate ?? 500;
  try {
    const run = async (name: string, f: () => Promise<Record<string, unknown>>): Promise<Record<string, unknown>> => {
      try {
        return await f();
      } catch (err) {
        return { error: `${name}: ${String(err)}\n${culm.child.output().slice(-3000)}` };
      }
    };
    const result: Record<string, unknown> = {};
    result.reloads = await run('reloads', () => reloads(culm, s.reloads, rate));
    result.slowKill = await run('slowKill', () => slowKill(cluster, s));
    result.rolling = await run('rolling', () => rolling(cluster, s));
    result.kill9 = await run('kill9', () => kill9(culm, rate));
    result.haproxyRestarts = await culm.metric('culm_haproxy_restarts_total');
    result.runtimeApplies = await culm.metric('culm_haproxy_runtime_apply_duration_seconds_count');
    result.reloadsTotal = await reloadCount(culm);
    return result;
  } finally {
    await cluster.close();
  }
}

/** CULM_BENCH_ZERODROP_COLUMNS=culm,bambooSf runs only those columns (to look into one). */
const wanted = (c: Column): boolean => !process.env.CULM_BENCH_ZERODROP_COLUMNS || process.env.CULM_BENCH_ZERODROP_COLUMNS.split(',').includes(c);

export async function zerodrop(s: ZerodropSizes): Promise<Record<string, unknown>> {
  const result: Record<string, unknown> = { rate: s.rate ?? 500, sizes: s };
  for (const c of ['culm', 'noRuntimeApi', 'bambooSf'] as const) if (wanted(c)) result[c] = await column(c, s);
  return result;
}
