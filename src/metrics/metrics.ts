/**
 * culm's Prometheus metrics: one named method per thing worth counting, over a registry of its own (so two
 * instances, e.g. in tests, never collide in the global one). Callers never see prom-client.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { FastHistogram } from './fast-histogram.js';
import { EventRate, type MetricsSummary } from './summary.js';

export type { MetricsSummary };

export interface Metrics {
  /** A Marathon event was taken in (callback or SSE); `type` is Marathon's eventType. */
  eventReceived(type: string): void;
  /** A Marathon event was dropped: unparseable, too large, unknown shape… */
  eventRejected(reason: string): void;
  /** A value from Marathon (answer or event) failed the input grammar; `field` names which (input-grammar.ts). */
  marathonDataRejected(field: string): void;
  /**
   * A hint (a callback without the subscription's secret) and what became of it: `no-change`, `invalid`,
   * `queued`, `coalesced`, `overflow`, `resync`; and of the reads hints caused: `read-applied`, `read-gone`,
   * `read-failed`.
   */
  hint(outcome: string): void;
  /** One request to Marathon's API: `endpoint` is the API path (`/v2/apps`), not a host. */
  marathonRequest(endpoint: string, outcome: string, seconds: number): void;
  /** A full resync from Marathon finished (`ok`, `error`, `stale`…). */
  resync(outcome: string): void;
  setCluster(apps: number, tasks: number, servingTasks: number): void;
  /**
   * The cluster gauges read `counts()` when scraped, instead of being set on every state change (which at
   * 100,000 tasks costs more than the change itself). Overrides setCluster's values.
   */
  clusterFrom(counts: () => { apps: number; tasks: number; serving: number }): void;
  /** Rendering the config text in memory. */
  render(seconds: number): void;
  /** One apply cycle (diff, render, validate, write, reload) and how it ended. */
  apply(result: string, seconds: number): void;
  /** One HAProxy reload command. */
  reload(seconds: number): void;
  /** A candidate config failed the validation command (`haproxy -c`). */
  validationFailed(): void;
  /** Server changes applied through the runtime API (no reload): how long the socket commands took. */
  runtimeApplied(seconds: number): void;
  /** A runtime API change failed and a reload was done instead. */
  runtimeFailed(): void;
  lastApplySuccess(tsSeconds: number): void;
  /** A rule was left out of the render (its app was kept with the default ACL). */
  ruleSkipped(reason: string): void;
  /** HAProxy was found dead and started again from the last good config. */
  haproxyRestarted(): void;
  /** HAProxy log lines dropped because culm could not write them as fast as they came (HAProxy.Log). */
  haproxyLogDropped(n: number): void;
  /** An app was left out of the render. */
  appSkipped(reason: string): void;
  /** A rules/state store operation failed (`get`, `put`, `delete`, `watch`…). */
  storeError(op: string): void;
  /** One request to culm's own HTTP API; `route` is the route's pattern, never the raw path. */
  httpRequest(route: string, method: string, status: number, seconds: number): void;
  /** The REST server closed a connection that held a slot without a complete request (flood protection). */
  httpConnectionEvicted(reason: string): void;
  /** The exposition text for `/metrics`. */
  text(): Promise<string>;
  /** The console's figures (events/s, applies, reload times), read from the counters themselves. */
  summary(): Promise<MetricsSummary>;
  readonly contentType: string;
}

// Fast in-memory work: renders and diffs take micro- to milliseconds.
const FAST_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
// Commands and network round trips: 10 ms to 10 s.
const SLOW_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** prom-client's default gauges named like counters, left out of culm's registry. */
export const DEFAULT_TOTAL_GAUGES = [
  'culm_nodejs_active_handles_total', 'culm_nodejs_active_requests_total', 'culm_nodejs_active_resources_total',
];

export class PrometheusMetrics implements Metrics {
  readonly registry: Registry;
  private readonly events: Counter<'type'>;
  private readonly eventsRejected: Counter<'reason'>;
  private readonly dataRejected: Counter<'field'>;
  private readonly hints: Counter<'outcome'>;
  private readonly marathonRequests: Histogram<'endpoint' | 'outcome'>;
  private readonly resyncs: Counter<'outcome'>;
  private readonly apps: Gauge;
  private readonly tasks: Gauge;
  private readonly servingTasks: Gauge;
  private readonly renders: Histogram;
  private readonly applies: Counter<'result'>;
  private readonly applyDuration: Histogram;
  private readonly reloads: Histogram;
  private readonly validationFailures: Counter;
  private readonly runtimeChanges: Histogram;
  private readonly runtimeFailures: Counter;
  private readonly lastSuccess: Gauge;
  private readonly haproxyRestarts: Counter;
  private readonly haproxyLogDrops: Counter;
  private readonly rulesSkipped: Counter<'reason'>;
  private readonly appsSkipped: Counter<'reason'>;
  private readonly storeErrors: Counter<'op'>;
  /** Observed on every request (Marathon callbacks included): the cheap kind. */
  private readonly httpRequests: FastHistogram;
  private readonly httpEvictions: Counter<'reason'>;
  private counts?: () => { apps: number; tasks: number; serving: number };
  private readonly eventRate = new EventRate();
  private lastReloadMs: number | null = null;
  /** Sets `gauge` from the cluster counts when scraped, if a source was given. */
  private readonly clusterReader = (key: 'apps' | 'tasks' | 'serving', gauge: Gauge): void => {
    if (this.counts) gauge.set(this.counts()[key]);
  };

  constructor(options: { defaultMetrics?: boolean } = {}) {
    this.registry = new Registry();
    const registers = [this.registry];
    if (options.defaultMetrics !== false) {
      collectDefaultMetrics({ register: this.registry, prefix: 'culm_' });
      // Gauges whose names end in _total read as counters (`promtool check metrics` refuses them). Each is the
      // sum of the gauge of the same name without the suffix over its `type` label, so nothing is lost:
      // `sum(culm_nodejs_active_handles)` gives the total.
      for (const name of DEFAULT_TOTAL_GAUGES) this.registry.removeSingleMetric(name);
    }

    this.events = new Counter({ name: 'culm_marathon_events_total', help: 'Marathon events received, by event type', labelNames: ['type'], registers });
    this.eventsRejected = new Counter({ name: 'culm_marathon_events_rejected_total', help: 'Marathon events dropped, by reason', labelNames: ['reason'], registers });
    this.dataRejected = new Counter({
      name: 'culm_marathon_data_rejected_total', help: 'Values from Marathon refused by the input grammar (the task, app or entry left out), by field',
      labelNames: ['field'], registers,
    });
    this.hints = new Counter({ name: 'culm_marathon_hints_total', help: 'Event callbacks without the secret (hints), and the app reads they caused, by outcome', labelNames: ['outcome'], registers });
    this.marathonRequests = new Histogram({
      name: 'culm_marathon_request_duration_seconds', help: 'Requests to the Marathon API, by endpoint and outcome',
      labelNames: ['endpoint', 'outcome'], buckets: SLOW_BUCKETS, registers,
    });
    this.resyncs = new Counter({ name: 'culm_marathon_resyncs_total', help: 'Full resyncs from Marathon, by outcome', labelNames: ['outcome'], registers });
    const cluster = this.clusterReader;
    this.apps = new Gauge({ name: 'culm_apps', help: 'Marathon apps known', registers, collect: () => cluster('apps', this.apps) });
    this.tasks = new Gauge({ name: 'culm_tasks', help: 'Marathon tasks known', registers, collect: () => cluster('tasks', this.tasks) });
    this.servingTasks = new Gauge({ name: 'culm_serving_tasks', help: 'Tasks that take traffic (running, healthy, reachable)', registers, collect: () => cluster('serving', this.servingTasks) });
    this.renders = new Histogram({ name: 'culm_render_duration_seconds', help: 'Time to render the HAProxy config in memory', buckets: FAST_BUCKETS, registers });
    this.applies = new Counter({ name: 'culm_applies_total', help: 'Apply cycles, by result', labelNames: ['result'], registers });
    this.applyDuration = new Histogram({ name: 'culm_apply_duration_seconds', help: 'Duration of apply cycles', buckets: SLOW_BUCKETS, registers });
    this.reloads = new Histogram({ name: 'culm_haproxy_reload_duration_seconds', help: 'Duration of HAProxy reload commands', buckets: SLOW_BUCKETS, registers });
    this.validationFailures = new Counter({ name: 'culm_haproxy_validation_failures_total', help: 'Candidate configs rejected by the validation command', registers });
    this.lastSuccess = new Gauge({ name: 'culm_last_apply_success_timestamp_seconds', help: 'Unix time of the last successful apply', registers });
    this.runtimeChanges = new Histogram({ name: 'culm_haproxy_runtime_apply_duration_seconds', help: 'Server changes applied through the runtime API without a reload', buckets: FAST_BUCKETS, registers });
    this.runtimeFailures = new Counter({ name: 'culm_haproxy_runtime_failures_total', help: 'Runtime API changes that failed and fell back to a reload', registers });
    this.haproxyRestarts = new Counter({ name: 'culm_haproxy_restarts_total', help: 'Times HAProxy was found dead and started again from the last good config', registers });
    this.haproxyLogDrops = new Counter({ name: 'culm_haproxy_log_dropped_total', help: 'HAProxy log lines dropped: they came faster than culm could write them', registers });
    this.rulesSkipped = new Counter({ name: 'culm_rules_skipped_total', help: 'Rules left out of the render, by reason', labelNames: ['reason'], registers });
    this.appsSkipped = new Counter({ name: 'culm_apps_skipped_total', help: 'Apps left out of the render, by reason', labelNames: ['reason'], registers });
    this.storeErrors = new Counter({ name: 'culm_store_errors_total', help: 'Failed store operations, by operation', labelNames: ['op'], registers });
    this.httpEvictions = new Counter({ name: 'culm_http_connections_evicted_total', help: 'REST connections closed to make room: silent (waiting), idle keep-alive, slow body', labelNames: ['reason'], registers });
    this.httpRequests = new FastHistogram({
      name: 'culm_http_request_duration_seconds', help: 'Requests to the culm HTTP API, by route, method and status',
      labelNames: ['route', 'method', 'status'], buckets: FAST_BUCKETS, registers,
    });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  eventReceived(type: string): void {
    this.events.inc({ type });
    this.eventRate.add();
  }
  eventRejected(reason: string): void { this.eventsRejected.inc({ reason }); }
  marathonDataRejected(field: string): void { this.dataRejected.inc({ field }); }
  hint(outcome: string): void { this.hints.inc({ outcome }); }
  marathonRequest(endpoint: string, outcome: string, seconds: number): void {
    this.marathonRequests.observe({ endpoint, outcome }, seconds);
  }
  resync(outcome: string): void { this.resyncs.inc({ outcome }); }
  setCluster(apps: number, tasks: number, servingTasks: number): void {
    this.apps.set(apps);
    this.tasks.set(tasks);
    this.servingTasks.set(servingTasks);
  }
  clusterFrom(counts: () => { apps: number; tasks: number; serving: number }): void {
    this.counts = counts;
  }
  render(seconds: number): void { this.renders.observe(seconds); }
  apply(result: string, seconds: number): void {
    this.applies.inc({ result });
    this.applyDuration.observe(seconds);
  }
  reload(seconds: number): void {
    this.reloads.observe(seconds);
    this.lastReloadMs = seconds * 1000;
  }
  validationFailed(): void { this.validationFailures.inc(); }
  runtimeApplied(seconds: number): void { this.runtimeChanges.observe(seconds); }
  runtimeFailed(): void { this.runtimeFailures.inc(); }
  lastApplySuccess(tsSeconds: number): void { this.lastSuccess.set(tsSeconds); }
  ruleSkipped(reason: string): void { this.rulesSkipped.inc({ reason }); }
  haproxyRestarted(): void { this.haproxyRestarts.inc(); }
  haproxyLogDropped(n: number): void { this.haproxyLogDrops.inc(n); }
  appSkipped(reason: string): void { this.appsSkipped.inc({ reason }); }
  storeError(op: string): void { this.storeErrors.inc({ op }); }
  httpConnectionEvicted(reason: string): void { this.httpEvictions.inc({ reason }); }
  httpRequest(route: string, method: string, status: number, seconds: number): void {
    this.httpRequests.observe([route, method, String(status)], seconds);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  async summary(): Promise<MetricsSummary> {
    const applies: Record<string, number> = {};
    for (const v of (await this.applies.get()).values) applies[String(v.labels.result)] = v.value;
    const reloads = await countAndMean(this.reloads);
    const runtime = await countAndMean(this.runtimeChanges);
    return {
      events: { total: await total(this.events), perSecond: this.eventRate.perSecond() },
      applies,
      reloads: { ...reloads, lastMs: this.lastReloadMs === null ? null : Math.round(this.lastReloadMs * 10) / 10 },
      runtime: { ...runtime, failures: await total(this.runtimeFailures) },
      validationFailures: await total(this.validationFailures),
      haproxyRestarts: await total(this.haproxyRestarts),
    };
  }
}

async function total(counter: Counter<string>): Promise<number> {
  return (await counter.get()).values.reduce((sum, v) => sum + v.value, 0);
}

/** A histogram's count and mean, in ms. */
async function countAndMean(h: Histogram<string>): Promise<{ count: number; meanMs: number }> {
  const values = (await h.get()).values;
  const count = values.filter((v) => v.metricName?.endsWith('_count')).reduce((s, v) => s + v.value, 0);
  const sum = values.filter((v) => v.metricName?.endsWith('_sum')).reduce((s, v) => s + v.value, 0);
  return { count, meanMs: count === 0 ? 0 : Math.round((sum / count) * 10_000) / 10 };
}
