/**
 * The human side of the benchmark: each scenario's JSON result as a table of figures, each with its target
 * (issue 4) and whether it is met. The JSON stays the record (bench-results/*.json); this is what a reader
 * looks at.
 */
import type { Summary } from './stats.js';
import { table } from './stats.js';

export interface Row {
  figure: string;
  value: string;
  target: string;
  /** true, false, or undefined when the figure has no target (context). */
  met?: boolean;
}

type Json = Record<string, unknown>;

const ms = (v: unknown): string => (typeof v === 'number' && Number.isFinite(v) ? `${v < 10 ? v.toFixed(1) : Math.round(v)} ms` : 'n/a');
const num = (v: unknown): number => (typeof v === 'number' ? v : Number.NaN);
const atMost = (value: number, limit: number): boolean | undefined => (Number.isFinite(value) ? value <= limit : false);
const sum = (s: unknown): Summary => (s ?? { n: 0, p50: Number.NaN, p99: Number.NaN, max: Number.NaN }) as Summary;

function latency(r: Json): Row[] {
  const limit = r.haproxyLimit as { check: Summary; reload: Summary; handover?: Summary; total?: Summary } | undefined;
  // The limit: from `haproxy -c` to the first request the new process answers (check + reload command + the
  // handover from the old process); runs before the handover was measured have check + reload only.
  const own = limit ? (limit.total?.p50 ?? limit.check.p50 + limit.reload.p50) : Number.NaN;
  const commands = limit ? limit.check.p50 + limit.reload.p50 : Number.NaN;
  const rows: Row[] = [];
  for (const [key, label] of [['taskAdded', 'task added → serving'], ['taskKilled', 'task killed → no traffic'],
    ['taskUnhealthy', 'task unhealthy → no traffic'], ['taskHealthyAgain', 'task healthy → serving']] as const) {
    const s = sum(r[key]);
    rows.push(
      { figure: `${label}, p50 (n=${s.n})`, value: ms(s.p50), target: '≤ 20 ms', met: atMost(s.p50, 20) },
      { figure: `${label}, p99`, value: ms(s.p99), target: '≤ 100 ms', met: atMost(s.p99, 100) },
    );
  }
  const phase = r.taskPhase as { reloads: number; runtimeFailures: number } | undefined;
  if (phase) rows.push({ figure: '  reloads / runtime failures during those task changes', value: `${phase.reloads} / ${phase.runtimeFailures}`, target: 'context' });
  if (r.warmUpWorstMs !== undefined) rows.push({ figure: '  (first 5 cycles after start, not counted: worst)', value: ms(r.warmUpWorstMs), target: 'context' });
  rows.push({ figure: 'HAProxy limit: -c + reload + handover, p50', value: `${ms(limit?.check.p50)} + ${ms(limit?.reload.p50)} + ${ms(limit?.handover?.p50)} (${ms(own)})`, target: 'context' });
  const fresh = sum(r.newApp);
  rows.push({ figure: `new app → serving (reload), p50 (n=${fresh.n})`, value: `${ms(fresh.p50)} (${(fresh.p50 / own).toFixed(2)}× limit; ${(fresh.p50 / commands).toFixed(2)}× -c + reload)`, target: '≤ 1.25× limit', met: atMost(fresh.p50, 1.25 * own) });
  const rule = sum(r.ruleSet);
  if (r.ruleReloads === undefined) {
    // Runs from before rules went through the runtime map: a rule set was a reload.
    rows.push({ figure: `rule set → routed (reload), p50 (n=${rule.n})`, value: `${ms(rule.p50)} (${(rule.p50 / own).toFixed(2)}× limit)`, target: '≤ 1.25× limit', met: atMost(rule.p50, 1.25 * own) });
  } else {
    rows.push(
      { figure: `rule set → routed (route map, runtime API), p50 (n=${rule.n})`, value: ms(rule.p50), target: '≤ 20 ms', met: atMost(rule.p50, 20) },
      { figure: 'rule set → routed, p99', value: ms(rule.p99), target: '≤ 100 ms', met: atMost(rule.p99, 100) },
      { figure: '  reloads during those rule sets', value: String(r.ruleReloads), target: '0', met: r.ruleReloads === 0 },
    );
  }
  const applyOwn = r.applyOwn === undefined ? undefined : sum(r.applyOwn);
  if (applyOwn) rows.push({ figure: `  culm's own time in those reloads' applies, p50 (n=${applyOwn.n})`, value: ms(applyOwn.p50), target: 'context' });
  rows.push({ figure: 'start → first route', value: ms(r.startupMs), target: 'context' });
  return rows;
}

function storm(r: Json): Row[] {
  const seconds = num(r.stormMs) / 1000;
  return [
    { figure: `status events sent over ${apps(r)} apps`, value: `${r.statusEvents} in ${seconds.toFixed(1)} s`, target: 'context' },
    { figure: 'final state correct in the file', value: String(r.finalStateCorrectInFile), target: 'true', met: r.finalStateCorrectInFile === true },
    { figure: 'backends wrong in HAProxy (runtime state)', value: String(r.backendsWrongInHaproxy), target: '0', met: r.backendsWrongInHaproxy === 0 },
    { figure: 'reloads', value: String(r.reloads), target: `≤ ${Math.ceil(seconds) + 1} (1/s + 1)`, met: atMost(num(r.reloads), Math.ceil(seconds) + 1) },
    { figure: 'runtime API applies / failures (then a reload)', value: `${r.runtimeApplies} / ${r.runtimeFailures ?? '?'}`, target: 'context' },
    { figure: 'settled after the storm', value: ms(r.settleAfterStormMs), target: 'context' },
    { figure: 'culm peak RSS / CPU', value: `${Math.round(num(r.culmPeakRssMb))} MB / ${num(r.culmCpuSeconds).toFixed(1)} s`, target: 'context' },
  ];
}

const apps = (r: Json): string => Number(r.apps).toLocaleString('en');

function scale(r: Json): Row[] {
  const changes = (r.oneChange ?? []) as Array<{ ms: number; renderDiffMs: number; runtimeMs: number }>;
  const worst = (key: 'ms' | 'renderDiffMs' | 'runtimeMs'): number => Math.max(...changes.map((c) => c[key]));
  const median = (key: 'ms' | 'renderDiffMs' | 'runtimeMs'): number => {
    const v = changes.map((c) => c[key]).sort((a, b) => a - b);
    return v[Math.floor((v.length - 1) / 2)];
  };
  const resync = (r.fullResync ?? {}) as Json;
  return [
    { figure: `cluster: ${apps(r)} apps, ${Number(r.tasks).toLocaleString('en')} tasks`, value: `config ${num(r.configMb).toFixed(1)} MB`, target: 'context' },
    { figure: `one change: render + diff, median (n=${changes.length})`, value: ms(median('renderDiffMs')), target: '≤ 200 ms', met: atMost(median('renderDiffMs'), 200) },
    { figure: 'one change: render + diff, worst', value: ms(worst('renderDiffMs')), target: '≤ 200 ms', met: atMost(worst('renderDiffMs'), 200) },
    { figure: 'one change: runtime API + file write, median', value: ms(median('runtimeMs')), target: 'context' },
    { figure: 'one change: event → applied, median', value: ms(median('ms')), target: 'context' },
    { figure: 'full sync at start: answer → applied', value: ms(r.startSyncToAppliedMs), target: '≤ 3 s', met: atMost(num(r.startSyncToAppliedMs), 3000) },
    { figure: '  of which the first apply (render, -c, reload)', value: ms(r.firstApplyMs), target: 'context' },
    { figure: '  HAProxy: haproxy -c + reload, inside that apply', value: `${ms(r.firstValidateMs)} + ${ms(r.firstReloadMs)}`, target: 'context' },
    { figure: '  culm\'s own share (the rest)', value: ms(num(r.startSyncToAppliedMs) - num(r.firstValidateMs) - num(r.firstReloadMs)), target: 'context' },
    { figure: '  haproxy -c of the same config, alone, later', value: ms(r.haproxyCheckMs), target: 'context' },
    { figure: 'resync, nothing changed: culm CPU (fetch, parse, compare, apply)', value: ms((r.unchangedResync as Json | undefined)?.culmCpuMs), target: 'context' },
    { figure: 'resync, every app changed: answer → applied', value: `${ms(resync.answerToAppliedMs)} (${String(resync.mode)})`, target: '≤ 3 s', met: atMost(num(resync.answerToAppliedMs), 3000) },
    { figure: '  HAProxy: haproxy -c + reload, inside that apply', value: `${ms(resync.validateMs)} + ${ms(resync.reloadMs)}`, target: 'context' },
    { figure: '  culm\'s own share (the rest)', value: ms(num(resync.answerToAppliedMs) - num(resync.validateMs) - num(resync.reloadMs)), target: 'context' },
    { figure: 'culm peak RSS', value: `${Math.round(num(r.culmPeakRssMb))} MB`, target: '≤ 400 MB', met: atMost(num(r.culmPeakRssMb), 400) },
  ];
}

function ingest(r: Json): Row[] {
  const rows: Row[] = [];
  const floor = r.nodeHttpFloor as Json | undefined;
  for (const [key, label] of [['pipelined', 'pipelined'], ['oneAtATime', 'one request at a time']] as const) {
    const x = r[key] as Json | undefined;
    if (!x) continue;
    const shape = `${x.connections} conn × ${x.depth}`;
    rows.push(
      { figure: `events/s accepted, ${label} (${shape})`, value: Math.round(num(x.eventsPerSecond)).toLocaleString('en'), target: '≥ 20,000', met: num(x.eventsPerSecond) >= 20_000 },
      { figure: `  per CPU second of culm (one core's capacity)`, value: Math.round(num(x.eventsPerCulmCpuSecond)).toLocaleString('en'), target: '≥ 20,000', met: num(x.eventsPerCulmCpuSecond) >= 20_000 },
      { figure: '  lost / failed', value: `${x.lost} / ${x.failed}`, target: '0 / 0', met: x.lost === 0 && x.failed === 0 },
    );
    const f = floor?.[key] as Json | undefined;
    if (f) rows.push({ figure: '  bare node:http server, same load (the floor)', value: `${Math.round(num(f.eventsPerSecond)).toLocaleString('en')} (culm at ${Math.round((num(x.eventsPerSecond) / num(f.eventsPerSecond)) * 100)}%)`, target: 'context' });
  }
  return rows;
}

function flood(r: Json): Row[] {
  const h = r.healthz as Json;
  const c = r.callbacks as Json;
  const tasks = r.tasks as Json;
  const a = r.attackers as Json;
  const e = r.evicted as Json;
  return [
    { figure: `2 attackers × ${Number(r.idlePerAttacker).toLocaleString('en')} silent + slowloris + slow bodies`, value: `${Number(a.opened).toLocaleString('en')} opened, ${Number(a.closed).toLocaleString('en')} closed by culm`, target: 'context' },
    { figure: '  forged event posts meanwhile', value: Number(a.posts).toLocaleString('en'), target: 'context' },
    { figure: '  connections culm closed: silent / slow body / idle', value: `${e.waiting} / ${e['slow-body']} / ${e.idle}`, target: 'context' },
    { figure: `/healthz, fresh connection, p50 (n=${h.probes})`, value: ms(h.p50), target: 'context' },
    { figure: '/healthz p99', value: ms(h.p99), target: '≤ 100 ms', met: atMost(num(h.p99), 100) },
    { figure: '/healthz max; probes over 100 ms', value: `${ms(h.max)}; ${h.over100ms}`, target: 'context' },
    { figure: 'probes unanswered', value: String(h.failed), target: '0', met: h.failed === 0 },
    { figure: 'Marathon callbacks delivered / sent', value: `${c.ok} / ${c.toCulm}`, target: 'all', met: c.ok === c.toCulm && c.toCulm !== 0 },
    { figure: 'tasks in culm / launched (callbacks only)', value: `${tasks.inCulm} / ${tasks.launched}`, target: 'all', met: tasks.inCulm === tasks.launched },
  ];
}

const ZERODROP_COLUMNS = [
  ['culm', 'culm default'],
  ['noRuntimeApi', 'CULM_RUNTIME_API=false'],
  ['bambooSf', "Bamboo's plain -sf"],
] as const;

function zerodrop(r: Json): Row[] {
  const run = (x: unknown): Json => (x ?? {}) as Json;
  const count = (n: unknown): string => num(n).toLocaleString('en');
  // "0 of 12,345" and the kinds of failure, or the scenario's error.
  const failed = (x: Json): Pick<Row, 'value' | 'met'> => {
    if (typeof x.error === 'string') return { value: `error: ${x.error.split('\n')[0]}`, met: false };
    const t = run(x.traffic);
    const slow = x.slowTraffic === undefined ? undefined : run(x.slowTraffic);
    const all = num(t.failed) + (slow ? num(slow.failed) : 0);
    const kinds = { ...run(t.errors), ...(slow ? run(slow.errors) : {}) };
    const detail = Object.keys(kinds).length ? ` ${JSON.stringify(kinds)}` : '';
    const of = num(t.ok) + num(t.failed) + (slow ? num(slow.ok) + num(slow.failed) : 0);
    return { value: `${all} of ${count(of)} (${Math.round(num(t.reqPerS))} req/s)${detail}`, met: all === 0 };
  };
  const rows: Row[] = [];
  const sizes = run(r.sizes);
  const scenarios = [
    ['rolling', `1. rolling deployment, 3 tasks replaced, ready after ${num(sizes.readyDelayMs) / 1000} s: failed`],
    ['reloads', `2. ${String(sizes.reloads)} reloads (rule changes): failed`],
    ['slowKill', `3. 2 tasks killed with ${num(sizes.slowMs) / 1000} s requests in flight: failed`],
  ] as const;
  for (const [key, label] of scenarios) {
    for (const [col, name] of ZERODROP_COLUMNS) {
      if (r[col] === undefined) continue;
      const x = run(run(r[col])[key]);
      rows.push({ figure: `${label}, ${name}`, target: '0', ...failed(x) });
      if (key === 'rolling' && typeof x.error !== 'string') {
        rows.push({ figure: '   new tasks that got a request before Marathon said ready', value: `${String(x.tasksHitBeforeReady)} of ${String(x.newTasks)}`, target: '0', met: x.tasksHitBeforeReady === 0 });
      }
      if (key === 'reloads' && typeof x.error !== 'string' && x.reloads !== sizes.reloads) {
        rows.push({ figure: '   reloads counted', value: String(x.reloads), target: String(sizes.reloads), met: false });
      }
      if (key === 'slowKill' && typeof x.error !== 'string') {
        rows.push({ figure: '   slow requests in flight on each killed task', value: JSON.stringify(x.slowInFlightAtKill), target: 'context' });
      }
    }
  }
  for (const [col, name] of ZERODROP_COLUMNS) {
    if (r[col] === undefined) continue;
    const x = run(run(r[col]).kill9);
    if (typeof x.error === 'string') {
      rows.push({ figure: `4. kill -9 of HAProxy, ${name}`, value: `error: ${x.error.split('\n')[0]}`, target: '≤ 1 s', met: false });
      continue;
    }
    rows.push(
      { figure: `4. kill -9 of HAProxy → serving again, ${name}`, value: ms(x.servingAgainMs), target: '≤ 1 s', met: atMost(num(x.servingAgainMs), 1000) },
      { figure: '   failed requests in that time', value: `${String(x.failedWhileDown)} (${count(x.sentWhileDown)} sent meanwhile, + those in flight)`, target: 'report' },
    );
  }
  for (const [col, name] of ZERODROP_COLUMNS) {
    if (r[col] === undefined) continue;
    const c = run(r[col]);
    rows.push({ figure: `reloads / runtime API applies / HAProxy restarts, ${name}`, value: `${String(c.reloadsTotal)} / ${String(c.runtimeApplies)} / ${String(c.haproxyRestarts)}`, target: 'context' });
  }
  return rows;
}

function ha(r: Json): Row[] {
  const other = sum(r.throughOtherInstance);
  const same = sum(r.throughSameInstance);
  const reloads = (r.reloads ?? []) as number[];
  return [
    { figure: `rule set on A → routed through B (ZooKeeper → map op), p50 (n=${other.n}, ${apps(r)} apps)`, value: ms(other.p50), target: '≤ 50 ms', met: atMost(other.p50, 50) },
    { figure: 'rule set on A → routed through B, p99', value: ms(other.p99), target: 'context' },
    { figure: 'rule set on A → routed through A, p50 / p99', value: `${ms(same.p50)} / ${ms(same.p99)}`, target: 'context' },
    { figure: 'reloads on A / B during those rule sets', value: reloads.join(' / '), target: '0 / 0', met: reloads.length === 2 && reloads.every((n) => n === 0) },
  ];
}

/** Issue 12: scale with marathon-lb's labels, each service port bound (marathon-lb's way) and not (Bamboo's). */
function labels(r: Json): Row[] {
  const rows: Row[] = [];
  for (const [key, title] of [['bound', 'every service port bound'], ['unbound', 'HTTP frontend only']] as const) {
    const x = r[key] as Json | undefined;
    if (!x) continue;
    if (typeof x.error === 'string') {
      rows.push({ figure: title, value: `error: ${x.error}`, target: 'context' });
      continue;
    }
    rows.push({ figure: `${title}: ${String(x.frontends)} frontends (${String(x.tcpFrontends)} tcp), ${String(x.hostAcls)} host ACLs, ${String(x.backends)} backends`, value: `config ${num(x.configMb).toFixed(1)} MB`, target: 'context' });
    rows.push(...scale(x).slice(1).map((row) => ({ ...row, figure: `  ${row.figure}` })));
  }
  return rows;
}

const BY_SCENARIO: Record<string, (r: Json) => Row[]> = { latency, storm, scale, ingest, flood, zerodrop, ha, labels };

/** The table for one scenario's result (or its error). */
export function report(name: string, result: Json): string {
  if (typeof result.error === 'string') return `error: ${result.error}`;
  let rows: Row[];
  try {
    rows = BY_SCENARIO[name]?.(result) ?? [];
  } catch (err) {
    return `(no table: ${String(err)})`;
  }
  return table(rows.map((row) => ({
    figure: row.figure, value: row.value, target: row.target, '': row.met === undefined ? '' : row.met ? 'met' : 'MISSED',
  })));
}
