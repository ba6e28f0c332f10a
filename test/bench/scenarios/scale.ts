/**
 * Scenario 4: 10,000 apps / 100,000 tasks, every task a server of its own. Full sync → config applied (at
 * start, and a resync in which every app changed), one task change (render + diff, then the runtime API),
 * culm's peak RSS, and HAProxy's own check time for that config.
 */
import { runCommand } from '../../../src/haproxy/command.js';
import { procStats } from '../proc.js';
import { getJson, profilePhase, setUp, sleep, timeUntil, type Bench } from './common.js';
import type { AppSpec } from '../../helpers/marathon-emulator/model.js';

interface ApplyRecord { at: number; result: string; durationMs: number; mode?: string; reasons: string[]; validateMs?: number; reloadMs?: number }

const progress = (what: string): void => { process.stderr.write(`  scale: ${what}\n`); };

/** The next apply record after `n` records, waiting up to `timeoutMs`. */
async function nextRecord(b: Bench, n: number, timeoutMs: number): Promise<ApplyRecord> {
  let records: ApplyRecord[] = [];
  await timeUntil(async () => (records = await getJson<ApplyRecord[]>(`${b.culm.api}/api/history`)).length > n, timeoutMs, 10);
  return records[records.length - 1];
}

/**
 * marathon-lb's labels on a realistic share of the apps (issue 12): a third with a vhost (every tenth of
 * those with a path too), one in 20 a TCP service, one in 20 with a second service port, one in 25 sticky with
 * roundrobin. Service ports: Marathon's from 10000 up, second ports from 20000.
 */
export function labelMix(a: number): { spec: Partial<AppSpec>; extraPorts?: number[] } {
  const labels: Record<string, string> = {};
  if (a % 3 === 1) labels.HAPROXY_0_VHOST = `app${a}.example.com`;
  if (a % 30 === 1) labels.HAPROXY_0_PATH = `/v${a}`;
  if (a % 20 === 2) labels.HAPROXY_0_MODE = 'tcp';
  if (a % 25 === 3) Object.assign(labels, { HAPROXY_0_STICKY: 'true', HAPROXY_0_BALANCE: 'roundrobin' });
  if (a % 20 === 5) return { spec: { labels: { ...labels, HAPROXY_1_VHOST: `admin${a}.example.com` }, servicePorts: [10_000 + a, 20_000 + a] }, extraPorts: [45_000] };
  return { spec: { labels, servicePorts: [10_000 + a] } };
}

export interface ScaleOptions {
  /** labelMix's labels, and every service port bound (`CULM_BIND_SERVICE_PORTS`) or not. */
  labels?: { bindServicePorts: boolean };
}

export async function scale(apps: number, tasksPerApp: number, options: ScaleOptions = {}): Promise<Record<string, unknown>> {
  const built = performance.now();
  const env: Record<string, string> = { CULM_RESYNC_INTERVAL_MS: '0' };
  if (options.labels) Object.assign(env, { CULM_BIND_SERVICE_PORTS: String(options.labels.bindServicePorts), CULM_SERVICE_PORT_BIND: '127.0.0.1' });
  const b = await setUp(apps, tasksPerApp, env, {}, undefined, { distinctPorts: true, ...(options.labels ? { mix: labelMix } : {}) });
  const setupMs = performance.now() - built;
  progress(`set up in ${Math.round(setupMs)} ms`);
  const metric = (m: string): Promise<number> => b.culm.metric(m);
  try {
    const history = (): Promise<ApplyRecord[]> => getJson<ApplyRecord[]>(`${b.culm.api}/api/history`);
    // HAProxy may route before culm has recorded the apply that started it (the reload command is still
    // finishing): wait for the record.
    let first: ApplyRecord | undefined;
    await timeUntil(async () => (first = (await history()).find((r) => r.result === 'applied')) !== undefined, 60_000, 20);
    // The first /v2/apps answer fully sent → the first config applied (everything culm does with it).
    const startSync = first && b.appsAnswers.length > 0 ? first.at + first.durationMs - b.appsAnswers[0] : undefined;
    // HAProxy's part of it: the validation and reload commands culm ran in that apply.
    const firstValidateMs = first?.validateMs;
    const firstReloadMs = first?.reloadMs;

    const memory: Record<string, { rssMb: number; peakRssMb: number; heapUsedMb: number }> = {};
    const sampleMemory = async (phase: string): Promise<void> => {
      const { rssMb, peakRssMb } = procStats(b.culm.child.proc.pid!);
      memory[phase] = { rssMb, peakRssMb, heapUsedMb: (await metric('culm_nodejs_heap_size_used_bytes')) / 2 ** 20 };
    };
    await sampleMemory('afterStart');
    profilePhase(b, 'one-change');
    // One change, five times: a task added to one app (runtime API, no reload).
    const changes: Array<{ ms: number; applyMs: number; runtimeMs: number; renderDiffMs: number; renders: number; mode?: string }> = [];
    for (let i = 0; i < 5; i++) {
      const n = (await history()).length;
      const runtime0 = await metric('culm_haproxy_runtime_apply_duration_seconds_sum');
      const renders0 = await metric('culm_render_duration_seconds_count');
      const t0 = performance.now();
      b.marathon.addTask(`/app${1 + ((i * 997) % (apps - 1))}`, { port: 41_000 + i });
      const rec = await nextRecord(b, n, 30_000);
      const ms = performance.now() - t0;
      const runtimeMs = ((await metric('culm_haproxy_runtime_apply_duration_seconds_sum')) - runtime0) * 1000;
      changes.push({
        ms, applyMs: rec.durationMs, runtimeMs, renderDiffMs: rec.durationMs - runtimeMs,
        renders: (await metric('culm_render_duration_seconds_count')) - renders0, mode: rec.mode,
      });
      await sleep(300);
    }
    progress('one change ×5 done');
    await sampleMemory('afterOneChanges');
    profilePhase(b, 'between');
    const check = await runCommand(`haproxy -c -f ${b.culm.outputPath}`, 120_000);

    // A resync that brings nothing new (what the periodic resync usually is): culm's CPU for it.
    profilePhase(b, 'unchanged-resync');
    const resyncs = (): Promise<number> => metric('culm_marathon_resyncs_total{outcome="ok"}');
    const quiet = { resyncs: await resyncs(), cpu: procStats(b.culm.child.proc.pid!).cpuSeconds, renders: await metric('culm_render_duration_seconds_count') };
    const q0 = performance.now();
    b.marathon.emit('deployment_success', { id: 'bench', eventType: 'deployment_success', timestamp: new Date().toISOString() });
    await timeUntil(async () => (await resyncs()) > quiet.resyncs, 60_000, 10);
    const unchangedResyncMs = performance.now() - q0;
    await sleep(1500); // whatever the resync set off runs meanwhile
    const unchangedResync = {
      ms: unchangedResyncMs, culmCpuMs: (procStats(b.culm.child.proc.pid!).cpuSeconds - quiet.cpu) * 1000,
      renders: (await metric('culm_render_duration_seconds_count')) - quiet.renders,
    };
    progress('unchanged resync done');

    // A full resync in which every app changed: each app's first task moved to another port (Marathon's
    // answer differs everywhere, no event told culm), then one deployment event asks for the resync.
    for (let a = 1; a < apps; a++) {
      const task = b.marathon.tasksOf(`/app${a}`)[0];
      if (task) task.ports = [42_000];
    }
    const n = (await history()).length;
    profilePhase(b, 'full-resync');
    const answers = b.appsAnswers.length;
    const t0 = performance.now();
    b.marathon.emit('deployment_success', { id: 'bench', eventType: 'deployment_success', timestamp: new Date().toISOString() });
    const rec = await nextRecord(b, n, 600_000);
    const resync = {
      ms: performance.now() - t0, applyMs: rec.durationMs, mode: rec.mode, result: rec.result, validateMs: rec.validateMs, reloadMs: rec.reloadMs,
      answerToAppliedMs: b.appsAnswers.length > answers ? rec.at + rec.durationMs - b.appsAnswers[answers] : undefined,
    };
    progress('full resync done');
    await sampleMemory('afterFullResync');
    profilePhase(b, 'end');
    const stats = procStats(b.culm.child.proc.pid!);
    const config = b.culm.config();
    const count = (re: RegExp): number => (config.match(re) ?? []).length;
    return {
      apps, tasks: apps * tasksPerApp, configMb: config.length / 1e6, setupMs,
      ...(options.labels ? {
        bindServicePorts: options.labels.bindServicePorts,
        frontends: count(/^frontend /gm), tcpFrontends: count(/^\s+mode tcp$/gm), hostAcls: count(/hdr\(host\)/g), backends: count(/^backend /gm),
      } : {}),
      startToFirstRouteMs: b.startupMs, startSyncToAppliedMs: startSync, firstApplyMs: first?.durationMs, firstValidateMs, firstReloadMs,
      oneChange: changes, meanRenderMs: ((await metric('culm_render_duration_seconds_sum')) / (await metric('culm_render_duration_seconds_count'))) * 1000,
      unchangedResync, fullResync: resync, haproxyCheckMs: check.ms, culmPeakRssMb: stats.peakRssMb, culmRssMb: stats.rssMb, memory,
    };
  } finally {
    await b.close();
  }
}
