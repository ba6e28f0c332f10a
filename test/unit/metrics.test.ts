import t from 'tap';
import { Histogram, Registry } from 'prom-client';
import { FastHistogram } from '../../src/metrics/fast-histogram.js';
import { DEFAULT_TOTAL_GAUGES, PrometheusMetrics, type Metrics } from '../../src/metrics/metrics.js';

t.test('each named method shows up in the exposition text', async (t) => {
  const m: Metrics = new PrometheusMetrics();
  m.eventReceived('status_update_event');
  m.eventReceived('status_update_event');
  m.eventRejected('invalid-json');
  m.marathonRequest('/v2/apps', 'ok', 0.042);
  m.resync('ok');
  m.setCluster(3, 7, 5);
  m.render(0.002);
  m.apply('applied', 0.3);
  m.apply('invalid', 0.1);
  m.reload(0.02);
  m.reload(4);
  m.validationFailed();
  m.lastApplySuccess(1700000000);
  m.ruleSkipped('invalid-acl');
  m.appSkipped('no-service-port');
  m.storeError('put');
  m.httpRequest('/api/services/{id}', 'PUT', 200, 0.004);

  const text = await m.text();
  const expected = [
    'culm_marathon_events_total{type="status_update_event"} 2',
    'culm_marathon_events_rejected_total{reason="invalid-json"} 1',
    'culm_marathon_request_duration_seconds_bucket{le="0.05",endpoint="/v2/apps",outcome="ok"} 1',
    'culm_marathon_request_duration_seconds_count{endpoint="/v2/apps",outcome="ok"} 1',
    'culm_marathon_resyncs_total{outcome="ok"} 1',
    'culm_apps 3',
    'culm_tasks 7',
    'culm_serving_tasks 5',
    'culm_render_duration_seconds_count 1',
    'culm_applies_total{result="applied"} 1',
    'culm_applies_total{result="invalid"} 1',
    'culm_apply_duration_seconds_count 2',
    'culm_haproxy_reload_duration_seconds_bucket{le="0.01"} 0',
    'culm_haproxy_reload_duration_seconds_bucket{le="0.025"} 1',
    'culm_haproxy_reload_duration_seconds_bucket{le="5"} 2',
    'culm_haproxy_reload_duration_seconds_bucket{le="10"} 2',
    'culm_haproxy_reload_duration_seconds_count 2',
    'culm_haproxy_validation_failures_total 1',
    'culm_last_apply_success_timestamp_seconds 1700000000',
    'culm_rules_skipped_total{reason="invalid-acl"} 1',
    'culm_apps_skipped_total{reason="no-service-port"} 1',
    'culm_store_errors_total{op="put"} 1',
    'culm_http_request_duration_seconds_count{route="/api/services/{id}",method="PUT",status="200"} 1',
  ];
  for (const line of expected) t.ok(text.split('\n').includes(line), line);
  t.match(text, /^culm_process_cpu_user_seconds_total /m, 'default process metrics, prefixed');
  t.match(m.contentType, /^text\/plain; version=0\.0\.4/);
});

t.test('each instance has its own registry', async (t) => {
  const a = new PrometheusMetrics({ defaultMetrics: false });
  const b = new PrometheusMetrics({ defaultMetrics: false });
  a.resync('error');
  t.match(await a.text(), /culm_marathon_resyncs_total\{outcome="error"\} 1/);
  t.notMatch(await b.text(), /outcome="error"/);
  t.notMatch(await b.text(), /culm_process_/, 'default metrics can be left out');
});

t.test('the request histogram reads exactly as a prom-client Histogram would', async (t) => {
  const buckets = [0.0005, 0.001, 0.01, 1];
  const theirs = new Registry();
  const ours = new Registry();
  const reference = new Histogram({ name: 'h', help: 'requests', labelNames: ['route', 'method', 'status'], buckets, registers: [theirs] });
  const fast = new FastHistogram({ name: 'h', help: 'requests', labelNames: ['route', 'method', 'status'], buckets, registers: [ours] });
  const cases = [[0.0001, '200'], [0.001, '200'], [0.5, '404'], [3, '200'], [0.01, '200'], [Number.NaN, '200']] as const;
  for (const [seconds, status] of cases) {
    if (Number.isFinite(seconds)) reference.observe({ route: '/a', method: 'GET', status }, seconds);
    fast.observe(['/a', 'GET', status], seconds);
  }
  t.equal(await ours.metrics(), await theirs.metrics(), 'same exposition text (a non-finite value is ignored)');
  const json = await ours.getMetricsAsJSON();
  t.match(json[0], { name: 'h', type: 'histogram', values: [{ labels: { le: 0.0005, route: '/a', method: 'GET', status: '200' }, value: 1, metricName: 'h_bucket' }] });
  ours.resetMetrics();
  t.notMatch(await ours.metrics(), /h_count/, 'reset empties it');
});

t.test('cluster gauges can be read from the state when scraped', async (t) => {
  const m = new PrometheusMetrics({ defaultMetrics: false });
  m.setCluster(1, 2, 3);
  t.match(await m.text(), /^culm_tasks 2$/m, 'pushed values');
  let counts = { apps: 4, tasks: 40, serving: 39 };
  m.clusterFrom(() => counts);
  t.match(await m.text(), /^culm_apps 4$[\s\S]*^culm_tasks 40$[\s\S]*^culm_serving_tasks 39$/m);
  counts = { apps: 5, tasks: 50, serving: 50 };
  t.match(await m.text(), /^culm_serving_tasks 50$/m, 'read again at every scrape');
});

t.test("prom-client's *_total gauges are left out; their per-type gauges stay", async (t) => {
  const text = await new PrometheusMetrics().text();
  for (const name of DEFAULT_TOTAL_GAUGES) {
    t.notMatch(text, new RegExp(`^# TYPE ${name} `, 'm'), `${name} absent`);
    t.match(text, new RegExp(`^# TYPE ${name.replace(/_total$/, '')} gauge$`, 'm'), `${name.replace(/_total$/, '')} kept`);
  }
  t.notMatch(text, /^# TYPE \S+_total (?!counter)/m, 'every *_total is a counter');
});
