import { connect } from 'node:net';
import { Writable } from 'node:stream';
import t from 'tap';
import { CulmError } from '../../src/core/errors.js';
import type { App, ClusterState, Rule, Task } from '../../src/core/model.js';
import { createHttpServer, type HttpServerOptions } from '../../src/http/server.js';
import { rawRequest } from '../helpers/net.js';
import { ApiAuth } from '../../src/http/auth.js';
import { hashPassword, parseUsersFile } from '../../src/http/passwords.js';
import { createLogger, silentLogger, type Logger } from '../../src/log/logger.js';
import { PrometheusMetrics } from '../../src/metrics/metrics.js';
import type { CulmCore, HistoryRecord, Readiness, RuleChangeRecord } from '../../src/pipeline/types.js';
import type { GroupPolicy } from '../../src/core/lb-labels.js';

/** An in-memory CulmCore: records what the HTTP layer asked of it. */
class MemoryCore implements CulmCore {
  apps = new Map<string, App>();
  ruleMap = new Map<string, Rule>();
  puts: Rule[] = [];
  deletes: string[] = [];
  events: unknown[] = [];
  putError: Error | undefined;
  eventError: Error | undefined;
  ready: Readiness = { ready: true, checks: { marathon: { ok: true, detail: 'synced' } } };
  records: HistoryRecord[] = [];
  ruleChanges: RuleChangeRecord[] = [];
  config: string | undefined;
  policy: GroupPolicy = { groups: [], strict: false };

  servePolicy(): GroupPolicy {
    return this.policy;
  }

  state(): ClusterState {
    return { apps: this.apps, tombstones: new Map(), syncedAt: 1 };
  }
  rules(): ReadonlyMap<string, Rule> {
    return this.ruleMap;
  }
  async putRule(rule: Rule): Promise<Rule> {
    this.puts.push(rule);
    if (this.putError) throw this.putError;
    this.ruleMap.set(rule.id, rule);
    return rule;
  }
  async deleteRule(id: string): Promise<boolean> {
    this.deletes.push(id);
    return this.ruleMap.delete(id);
  }
  acceptMarathonEvent(body: unknown): { accepted: boolean; kind: string } {
    if (this.eventError) throw this.eventError;
    this.events.push(body);
    const type = (body as { eventType?: unknown }).eventType;
    return typeof type === 'string' ? { accepted: true, kind: type } : { accepted: false, kind: 'unknown' };
  }
  hints: unknown[] = [];
  acceptMarathonHint(body: unknown): { accepted: boolean; kind: 'hint'; outcome: string } {
    this.hints.push(body);
    return { accepted: true, kind: 'hint', outcome: 'queued' };
  }
  readiness(): Readiness {
    return this.ready;
  }
  history(): readonly HistoryRecord[] {
    return this.records;
  }
  recordRuleChange(record: RuleChangeRecord): void {
    this.ruleChanges.push(record);
  }
  appliedConfig(): string | undefined {
    return this.config;
  }
  diffs = new Map<number, string>();
  applyDiff(id: number): string | undefined {
    return this.diffs.get(id);
  }
}

const task = (id: string, over: Partial<Task> = {}): Task => ({
  id, appId: '', host: 'agent1', ports: [31000], ipAddresses: [], state: 'TASK_RUNNING', healthy: true, ...over,
});

const app = (id: string, tasks: Task[], over: Partial<App> = {}): App => ({
  id, labels: {}, env: {}, instances: tasks.length, healthChecks: [], servicePorts: [10000], containerPorts: [],
  network: 'host', deployments: [], tasks: Object.fromEntries(tasks.map((x) => [x.id, { ...x, appId: id }])), ...over,
});

async function start(t: { teardown(fn: () => unknown): void }, log: Logger = silentLogger(), extra: Partial<HttpServerOptions> = {}) {
  const core = new MemoryCore();
  const metrics = new PrometheusMetrics({ defaultMetrics: false });
  const http = createHttpServer({ core, metrics, log, version: '1.2.3', ...extra });
  const { port } = await http.listen('127.0.0.1', 0);
  t.teardown(() => http.close());
  const base = `http://127.0.0.1:${port}`;
  const call = (path: string, init: RequestInit = {}) => fetch(base + path, init);
  const send = (method: string, path: string, body: unknown, headers: Record<string, string> = { 'Content-Type': 'application/json' }) =>
    call(path, { method, headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { core, metrics, base, call, send };
}

t.test('Bamboo probes and the new ones', async (t) => {
  const { core, call } = await start(t);

  const status = await call('/status');
  t.equal(status.status, 200);
  t.equal(status.headers.get('content-type'), 'text/plain; charset=utf-8');
  t.equal(await status.text(), 'OK');

  const head = await call('/status', { method: 'HEAD' });
  t.equal(head.status, 200);
  t.equal(await head.text(), '');

  const health = await call('/healthz');
  t.same([health.status, await health.json()], [200, { status: 'ok' }]);

  let ready = await call('/readyz');
  t.same([ready.status, await ready.json()], [200, { status: 'ready', checks: { marathon: { ok: true, detail: 'synced' } } }]);
  core.ready = { ready: false, checks: { marathon: { ok: true, detail: 'synced' }, store: { ok: false, detail: 'zookeeper: connection lost' } } };
  ready = await call('/readyz');
  t.equal(ready.status, 503);
  t.same(await ready.json(), { status: 'not ready', checks: core.ready.checks });
});

t.test('metrics, history and applied config', async (t) => {
  const { core, metrics, call } = await start(t);
  await call('/status');
  const res = await call('/metrics');
  t.equal(res.status, 200);
  t.equal(res.headers.get('content-type'), metrics.contentType);
  t.match(await res.text(), /culm_http_request_duration_seconds_count\{route="\/status",method="GET",status="200"\} 1/);

  t.same(await (await call('/api/history')).json(), []);
  core.records = [{ at: 1000, result: 'applied', reasons: ['app /web added'], durationMs: 12, configHash: 'abc' }];
  t.same(await (await call('/api/history')).json(), core.records);

  const none = await call('/api/config');
  t.equal(none.status, 404);
  t.same(await none.json(), { error: { code: 'E_NO_CONFIG', message: 'no config has been applied yet' } });
  core.config = 'global\n  daemon\n';
  const cfg = await call('/api/config');
  t.equal(cfg.headers.get('content-type'), 'text/plain; charset=utf-8');
  t.equal(await cfg.text(), core.config);
});

t.test('GET /api/state has Bamboo\'s shape', async (t) => {
  const { core, call } = await start(t);
  core.apps.set('/grp/web', app('/grp/web', [
    task('web.b', { host: 'agent2', ports: [31002] }),
    task('web.a', { healthy: false, ports: [31001, 31005] }),
    task('web.c', { ports: [] }), // no address: Bamboo left it out
    task('web.d', { state: 'TASK_STAGING', ports: [31003] }),
  ], {
    env: { BAMBOO_TCP_PORT: '1080' }, labels: { team: 'x' },
    healthChecks: [{ protocol: 'TCP' }, { protocol: 'HTTP', path: '/health', portIndex: 0 }],
  }));
  core.apps.set('/ipt', app('/ipt', [task('ipt.1', { ports: [], ipAddresses: ['10.0.0.5'] })], { network: 'container', containerPorts: [8080], servicePorts: [] }));
  core.ruleMap.set('/grp/web', { id: '/grp/web', acl: 'hdr(host) -i web', config: { Acl: 'hdr(host) -i web' } });

  const res = await call('/api/state');
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /^application\/json/);
  const body = await res.json() as { Apps: Array<Record<string, unknown>>; Services: unknown };
  t.same(Object.keys(body), ['Apps', 'Services']);
  t.same(body.Apps.map((a) => a.Id), ['/grp/web', '/ipt']);
  const [web, ipt] = body.Apps;
  t.same(Object.keys(web), ['Id', 'MesosDnsId', 'EscapedId', 'HealthCheckPath', 'HealthCheckProtocol', 'HealthChecks',
    'ReadinessCheckPath', 'Tasks', 'ServicePort', 'ServicePorts', 'Env', 'Labels', 'SplitId', 'ipAddress', 'NotServed']);
  t.equal(web.NotServed, '', 'served: culm\'s one extra field is empty');
  t.match(web, {
    MesosDnsId: 'web-grp', EscapedId: '::grp::web', HealthCheckPath: '/health', HealthCheckProtocol: 'HTTP',
    HealthChecks: [{ Protocol: 'TCP', Path: '', PortIndex: 0 }, { Protocol: 'HTTP', Path: '/health', PortIndex: 0 }],
    ServicePort: 10000, ServicePorts: [10000], Env: { BAMBOO_TCP_PORT: '1080' }, Labels: { team: 'x' },
    SplitId: ['', 'grp', 'web'], ipAddress: { discovery: { ports: [] } },
  });
  t.same(web.Tasks, [
    { Id: 'web.a', Host: 'agent1', Port: 31001, Ports: [31001, 31005], Alive: false, State: 'TASK_RUNNING', Ready: true },
    { Id: 'web.b', Host: 'agent2', Port: 31002, Ports: [31002], Alive: true, State: 'TASK_RUNNING', Ready: true },
    { Id: 'web.d', Host: 'agent1', Port: 31003, Ports: [31003], Alive: true, State: 'TASK_STAGING', Ready: false },
  ]);
  t.same(ipt.Tasks, [{ Id: 'ipt.1', Host: '10.0.0.5', Port: 8080, Ports: [], Alive: true, State: 'TASK_RUNNING', Ready: true }]);
  t.same(ipt.ipAddress, { discovery: { ports: [{ number: 8080, name: '', protocol: 'tcp' }] } });
  t.same(body.Services, { '/grp/web': { Id: '/grp/web', Acl: 'hdr(host) -i web', Config: { Acl: 'hdr(host) -i web' } } });
});

t.test('GET /api/state says why an app is not served (a bad label, the group setting)', async (t) => {
  const { core, call } = await start(t);
  core.apps.set('/bad', app('/bad', [task('bad.1')], { labels: { HAPROXY_0_VHOST: 'bad.example.com:80' } }));
  core.apps.set('/int', app('/int', [task('int.1')], { labels: { HAPROXY_GROUP: 'internal' } }));
  core.apps.set('/ext', app('/ext', [task('ext.1')], { labels: { HAPROXY_GROUP: 'external' } }));
  const notServed = async () => Object.fromEntries(((await (await call('/api/state')).json()) as { Apps: Array<{ Id: string; NotServed: string }> }).Apps.map((a) => [a.Id, a.NotServed]));
  const all = await notServed();
  t.match(all['/bad'], /label HAPROXY_0_VHOST "bad.example.com:80" is not a host name/);
  t.equal(all['/int'], '', 'no group setting: served');
  core.policy = { groups: ['external'], strict: true };
  const some = await notServed();
  t.match(some['/int'], /group internal is not served by this edge/);
  t.equal(some['/ext'], '');
});

t.test('unknown routes and wrong methods', async (t) => {
  const { call, send } = await start(t);
  const missing = await call('/nope');
  t.equal(missing.status, 404);
  t.same(await missing.json(), { error: { code: 'E_NOT_FOUND', message: 'no route for GET /nope' } });

  const wrong = await send('POST', '/api/state', {});
  t.equal(wrong.status, 405);
  t.equal(wrong.headers.get('allow'), 'GET, HEAD');
  t.match(await wrong.json(), { error: { code: 'E_METHOD_NOT_ALLOWED' } });
  t.equal((await call('/api/services', { method: 'DELETE' })).headers.get('allow'), 'GET, HEAD, POST');
  t.equal((await send('POST', '/api/services/x', {})).headers.get('allow'), 'GET, HEAD, PUT, DELETE');
});

t.test('services: list, create with Go-style keys, get one', async (t) => {
  const { core, call, send } = await start(t);
  t.same(await (await call('/api/services')).json(), {});

  let res = await send('POST', '/api/services', { id: 'app1', acl: 'path_beg -i /app1' });
  t.equal(res.status, 200);
  t.same(await res.json(), { Id: '/app1', Acl: 'path_beg -i /app1', Config: { Acl: 'path_beg -i /app1' } });

  res = await send('POST', '/api/services', { ID: '/grp/app2', ACL: 'hdr(host) -i two', CONFIG: { Weight: '5' } });
  t.same(await res.json(), { Id: '/grp/app2', Acl: 'hdr(host) -i two', Config: { Weight: '5', Acl: 'hdr(host) -i two' } });

  // Bamboo's own UI sent the ACL only inside config
  res = await send('POST', '/api/services', { Id: '/three', config: { Acl: 'path_beg /3' }, extra: 'ignored' });
  t.same(await res.json(), { Id: '/three', Acl: 'path_beg /3', Config: { Acl: 'path_beg /3' } });

  // null leaves a field as it was, as Go's decoder did
  res = await send('POST', '/api/services', { id: '/nul', acl: 'path_beg /nul', Acl: null, config: null });
  t.same(await res.json(), { Id: '/nul', Acl: 'path_beg /nul', Config: { Acl: 'path_beg /nul' } });

  // `curl -d` as in Bamboo's README: form content type, JSON body
  res = await send('POST', '/api/services', '{"id":"/four","acl":"path_beg /4"}', { 'Content-Type': 'application/x-www-form-urlencoded' });
  t.equal(res.status, 200);

  t.same(core.puts.map((r) => r.id), ['/app1', '/grp/app2', '/three', '/nul', '/four']);
  t.same(Object.keys(await (await call('/api/services')).json() as object), ['/app1', '/grp/app2', '/three', '/nul', '/four']);

  t.same(await (await call('/api/services//grp/app2')).json(), { Id: '/grp/app2', Acl: 'hdr(host) -i two', Config: { Weight: '5', Acl: 'hdr(host) -i two' } });
  const missing = await call('/api/services/nope');
  t.equal(missing.status, 404);
  t.same(await missing.json(), { error: { code: 'E_RULE_NOT_FOUND', message: 'no rule for /nope' } });
});

t.test('services: ids with slashes, raw and encoded', async (t) => {
  const { core, send, call } = await start(t);
  for (const path of ['/api/services//grp/app', '/api/services/grp/app', '/api/services/%2Fgrp%2Fapp', '/api/services/grp%2Fapp']) {
    const res = await send('PUT', path, { acl: `path_beg ${path.length}` });
    t.equal(res.status, 200, path);
    t.equal((await res.json() as { Id: string }).Id, '/grp/app', path);
  }
  t.same(core.puts.map((r) => r.id), ['/grp/app', '/grp/app', '/grp/app', '/grp/app']);
  t.equal((await call('/api/services/%2Fgrp%2Fapp')).status, 200);
  t.equal((await call('/api/services/%E0%A4%A')).status, 400);
});

t.test('services: PUT id conflict, matching id, DELETE', async (t) => {
  const { core, send, call } = await start(t);
  let res = await send('PUT', '/api/services//grp/app', { id: '/other', acl: 'x' });
  t.equal(res.status, 400);
  t.match(await res.json(), { error: { code: 'E_ID_CONFLICT' } });
  t.equal(core.puts.length, 0);

  res = await send('PUT', '/api/services//grp/app', { Id: 'grp/app', acl: 'path_beg /g' });
  t.equal(res.status, 200);

  res = await call('/api/services/%2Fgrp%2Fapp', { method: 'DELETE' });
  t.equal(res.status, 200);
  t.same(await res.json(), {});
  res = await call('/api/services//grp/app', { method: 'DELETE' });
  t.equal(res.status, 404);
  t.same(await res.json(), { error: { code: 'E_RULE_NOT_FOUND', message: 'no rule for /grp/app' } });
  t.same(core.deletes, ['/grp/app', '/grp/app']);
});

t.test('services: bad bodies are 4xx JSON errors and never reach the core', async (t) => {
  const { core, send, call } = await start(t);
  const cases: Array<{ desc: string; body: string; status: number; code: string; type?: string; path?: string; method?: string }> = [
    { desc: 'not JSON', body: '{"id": "/a", acl', status: 400, code: 'E_BAD_JSON' },
    { desc: 'empty', body: '', status: 400, code: 'E_BAD_JSON' },
    { desc: 'an array', body: '[{"id":"/a","acl":"x"}]', status: 400, code: 'E_BAD_BODY' },
    { desc: 'a string', body: '"x"', status: 400, code: 'E_BAD_BODY' },
    { desc: 'acl not a string', body: '{"id":"/a","acl":5}', status: 400, code: 'E_BAD_BODY' },
    { desc: 'id not a string', body: '{"id":["/a"],"acl":"x"}', status: 400, code: 'E_BAD_BODY' },
    { desc: 'config values not strings', body: '{"id":"/a","acl":"x","config":{"Weight":5}}', status: 400, code: 'E_BAD_BODY' },
    { desc: 'config an array', body: '{"id":"/a","acl":"x","config":["a"]}', status: 400, code: 'E_BAD_BODY' },
    { desc: 'no id', body: '{"acl":"x"}', status: 400, code: 'E_RULE_ID' },
    { desc: 'no acl at all', body: '{"id":"/a"}', status: 400, code: 'E_RULE_ACL' },
    { desc: 'acl with a newline', body: '{"id":"/a","acl":"x\\n  server evil 1.2.3.4:80"}', status: 400, code: 'E_RULE_ACL' },
    { desc: 'multipart', body: '{"id":"/a","acl":"x"}', type: 'multipart/form-data; boundary=x', status: 415, code: 'E_UNSUPPORTED_MEDIA_TYPE' },
    { desc: 'too large', body: JSON.stringify({ id: '/a', acl: 'x'.repeat(70 * 1024) }), status: 413, code: 'E_BODY_TOO_LARGE' },
    { desc: 'PUT too large', body: JSON.stringify({ acl: 'x'.repeat(70 * 1024) }), status: 413, code: 'E_BODY_TOO_LARGE', method: 'PUT', path: '/api/services/a' },
    { desc: 'PUT array', body: '[]', status: 400, code: 'E_BAD_BODY', method: 'PUT', path: '/api/services/a' },
  ];
  for (const c of cases) {
    const res = await send(c.method ?? 'POST', c.path ?? '/api/services', c.body, { 'Content-Type': c.type ?? 'application/json' });
    t.equal(res.status, c.status, c.desc);
    t.match(res.headers.get('content-type'), /^application\/json/, c.desc);
    t.match(await res.json(), { error: { code: c.code, message: String } }, c.desc);
  }

  // A chunked body (no Content-Length) is counted as it arrives.
  const big = new ReadableStream({
    start(controller) {
      for (let i = 0; i < 80; i++) controller.enqueue(new TextEncoder().encode('x'.repeat(1024)));
      controller.close();
    },
  });
  const chunked = await call('/api/services', { method: 'POST', body: big, headers: { 'Content-Type': 'application/json' }, duplex: 'half' } as RequestInit);
  t.equal(chunked.status, 413);
  t.equal(core.puts.length, 0, 'core.putRule never called');
});

t.test('errors from the core keep their status and code', async (t) => {
  const { core, send } = await start(t);
  core.putError = new CulmError('E_STORE_UNAVAILABLE', 'zookeeper is unavailable', { status: 503 });
  let res = await send('POST', '/api/services', { id: '/a', acl: 'path_beg /x' });
  t.equal(res.status, 503);
  t.same(await res.json(), { error: { code: 'E_STORE_UNAVAILABLE', message: 'zookeeper is unavailable' } });

  core.putError = new CulmError('E_RULE_INVALID', 'haproxy -c rejected the rule', { status: 400 });
  res = await send('PUT', '/api/services/a', { acl: 'path_beg /bogus' });
  t.same([res.status, await res.json()], [400, { error: { code: 'E_RULE_INVALID', message: 'haproxy -c rejected the rule' } }]);

  core.putError = new Error('secret internals at /var/lib/x');
  res = await send('POST', '/api/services', { id: '/a', acl: 'path_beg /x' });
  t.same([res.status, await res.json()], [500, { error: { code: 'E_INTERNAL', message: 'internal error' } }]);
});

t.test('changes from another origin are refused', async (t) => {
  const { core, send, call } = await start(t);
  let res = await send('POST', '/api/services', { id: '/a', acl: 'x' }, { 'Content-Type': 'text/plain', Origin: 'http://evil.example' });
  t.equal(res.status, 403);
  t.match(await res.json(), { error: { code: 'E_CROSS_ORIGIN' } });
  res = await call('/api/services/a', { method: 'DELETE', headers: { 'Sec-Fetch-Site': 'cross-site' } });
  t.equal(res.status, 403);
  t.equal(core.puts.length + core.deletes.length, 0);
  t.equal((await call('/api/state', { headers: { Origin: 'http://evil.example' } })).status, 200, 'reads are fine');
});

t.test('Marathon event callback', async (t) => {
  const { core, metrics, send } = await start(t);
  const event = { eventType: 'status_update_event', taskId: 't1', appId: '/web', taskStatus: 'TASK_RUNNING' };
  let res = await send('POST', '/api/marathon/event_callback', event);
  t.same([res.status, await res.json()], [200, { accepted: true, kind: 'status_update_event' }]);
  t.same(core.events, [event]);

  res = await send('POST', '/api/marathon/event_callback', { something: 'else' });
  t.same([res.status, await res.json()], [200, { accepted: false, kind: 'unknown' }], 'parseable JSON is always a 200');

  res = await send('POST', '/api/marathon/event_callback', 'not json at all');
  t.equal(res.status, 400);
  t.match(await res.json(), { error: { code: 'E_BAD_JSON' } });
  t.match(await metrics.text(), /culm_marathon_events_rejected_total\{reason="invalid-json"\} 1/);

  // Deployment events can be megabytes; past the limit the event is dropped but Marathon still gets a 200.
  res = await send('POST', '/api/marathon/event_callback', JSON.stringify({ eventType: 'deployment_info', plan: 'x'.repeat(17 * 1024 * 1024) }));
  t.same([res.status, await res.json()], [200, { accepted: false, kind: 'too-large' }]);
  t.match(await metrics.text(), /culm_marathon_events_rejected_total\{reason="too-large"\} 1/);
  t.equal(core.events.length, 2);

  core.eventError = new Error('bug');
  res = await send('POST', '/api/marathon/event_callback', event);
  t.same([res.status, await res.json()], [200, { accepted: false, kind: 'error' }]);
});

t.test('Marathon event callback with a token: with it the event is applied, without it (or wrong) it is a hint, 200 all the same', async (t) => {
  const { core, send } = await start(t, silentLogger(), { callbacks: { enabled: () => true, token: 's3cret-token' } });
  const event = { eventType: 'app_terminated_event', appId: '/web' };
  let res = await send('POST', '/api/marathon/event_callback?token=s3cret-token', event);
  t.same([res.status, await res.json()], [200, { accepted: true, kind: 'app_terminated_event' }]);
  for (const query of ['', '?token=', '?token=s3cret-tokeN', '?token=s3cret-token-and-more', '?x=s3cret-token']) {
    res = await send('POST', `/api/marathon/event_callback${query}`, event);
    t.same([res.status, await res.json()], [200, { accepted: true, kind: 'hint', outcome: 'queued' }], `"${query}": a hint`);
  }
  t.equal(core.events.length, 1, 'only the POST with the token reached the trusted path');
  t.equal(core.hints.length, 5);
  const off = await start(t, silentLogger(), { callbacks: { enabled: () => false, token: 's3cret-token' } });
  res = await off.send('POST', '/api/marathon/event_callback?token=s3cret-token', event);
  t.equal(res.status, 404, 'reading the event stream: no callbacks at all');
});

t.test('every answer says nosniff, errors included', async (t) => {
  const { call, send } = await start(t);
  for (const res of [await call('/status'), await call('/nope'), await send('POST', '/api/services', 'not json'), await call('/api/state', { method: 'HEAD' })]) {
    t.equal(res.headers.get('x-content-type-options'), 'nosniff', `${res.status} ${res.url}`);
  }
});

t.test('a client that leaves in the middle of a body is counted, and the server carries on', async (t) => {
  const { core, metrics, base, send } = await start(t);
  const { port } = new URL(base);
  await new Promise<void>((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => {
      socket.write('POST /api/marathon/event_callback HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"eventType":');
      setTimeout(() => { socket.destroy(); resolve(); }, 50);
    });
    socket.on('error', reject);
  });
  let text = '';
  for (let i = 0; i < 100 && !/route="\/api\/marathon\/event_callback",method="POST"/.test(text); i++) {
    await new Promise((r) => setTimeout(r, 10));
    text = await metrics.text();
  }
  t.match(text, /culm_http_request_duration_seconds_count\{route="\/api\/marathon\/event_callback",method="POST",status="\d+"\} 1/);
  t.same(core.events, [], 'nothing reached the core');
  const res = await send('POST', '/api/marathon/event_callback', { eventType: 'x' });
  t.equal(res.status, 200);
});

t.test('every request is logged at debug without bodies or auth headers', async (t) => {
  const lines: string[] = [];
  const sink = new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } });
  const { send } = await start(t, createLogger('debug', sink));
  await send('POST', '/api/services?x=1', { id: '/a', acl: 'hdr(x-secret) secret-acl' }, { 'Content-Type': 'application/json', Authorization: 'Basic c2VjcmV0' });
  await new Promise((r) => setImmediate(r));
  const record = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'http request');
  t.match(record, { level: 20, method: 'POST', path: '/api/services', status: 200, ms: Number });
  t.notMatch(JSON.stringify(record), /secret-acl/, 'the request line has no body');
  // The audit line carries the rule (before and after, by design), never the credentials.
  t.notMatch(lines.join(''), /c2VjcmV0|Basic/);
});

t.test('the console\'s routes: config download, diffs by id, metrics summary, the history and cluster pages', async (t) => {
  const { core, call } = await start(t, silentLogger(), { cluster: async () => ({ mode: 'zookeeper', self: 'a', leader: 'a', instances: [{ id: 'a', leader: true, lastApply: { configHash: '<h>' } }] }) });
  core.config = 'global\n';
  const plain = await call('/api/config');
  t.equal(plain.headers.get('content-disposition'), null, 'shown in the browser by default');
  const file = await call('/api/config?download=1');
  t.equal(file.headers.get('content-disposition'), 'attachment; filename="haproxy.cfg"');
  t.equal(await file.text(), 'global\n');

  core.diffs.set(7, '--- a/haproxy.cfg\n');
  const diff = await call('/api/history/7/diff');
  t.same([diff.status, diff.headers.get('content-type'), await diff.text()], [200, 'text/plain; charset=utf-8', '--- a/haproxy.cfg\n']);
  for (const id of ['8', '0', 'x', '1e3', '07']) {
    const gone = await call(`/api/history/${id}/diff`);
    t.equal(gone.status, 404, id);
    t.equal(((await gone.json()) as { error: { code: string } }).error.code, 'E_NO_DIFF', id);
  }

  const summary = (await (await call('/api/metrics/summary')).json()) as { events: { total: number }; reloads: { count: number } };
  t.same([summary.events.total, summary.reloads.count], [0, 0]);

  core.records = [{ at: 0, result: 'applied', reasons: ['<i>x</i>'], durationMs: 1, mode: 'runtime', maps: 1, serverOps: 0, diffId: 7, configHash: 'a'.repeat(64) }];
  for (const [path, marks] of [['/ui/history', [/runtime \(map\)/, /data-diff="7"/]], ['/ui/cluster', [/Readiness/, /&#60;h&#62;/]]] as const) {
    const res = await call(path);
    t.equal(res.status, 200, path);
    t.match(res.headers.get('content-security-policy'), /script-src 'nonce-/);
    const html = await res.text();
    for (const m of marks) t.match(html, m, `${path}: ${m}`);
    t.notMatch(html, /<i>|<h>/, `${path}: escaped`);
    t.equal((html.match(/<script/g) ?? []).length, 1, `${path}: one script, our own`);
  }
});

t.test('operator page', async (t) => {
  const { core, call } = await start(t);
  const evil = '/<script>alert(1)</script>';
  core.apps.set(evil, app(evil, [task('e.1')]));
  core.apps.set('/web', app('/web', [task('w.1'), task('w.2', { state: 'TASK_KILLING' })]));
  core.ruleMap.set('/web', { id: '/web', acl: 'hdr(host) -i "><img src=x onerror=alert(2)>', config: {} });
  core.ruleMap.set('/gone', { id: '/gone', acl: 'path_beg /gone', config: {} });
  core.records = [{ at: 0, result: 'invalid', reasons: [], durationMs: 3.4, error: { code: 'E_CONFIG_INVALID', message: '<b>bad</b>' } }];

  for (const path of ['/', '/ui']) {
    const res = await call(path);
    t.equal(res.status, 200);
    t.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
    const csp = res.headers.get('content-security-policy') ?? '';
    t.match(csp, /script-src 'nonce-[A-Za-z0-9+/=]+'/);
    const html = await res.text();
    t.notOk(html.includes('<script>alert'), 'app id escaped');
    t.notOk(html.includes('<img'), 'acl escaped');
    t.notOk(html.includes('<b>bad'), 'history escaped');
    t.ok(html.includes('/&#60;script&#62;alert(1)&#60;/script&#62;'));
    t.ok(html.includes('data-id="/web"'));
    t.match(html, /1 \/ 2/, 'serving / total for /web');
    t.match(html, /\/gone/, 'rule without an app listed');
    t.match(html, /E_CONFIG_INVALID/);
    t.equal((html.match(/<script/g) ?? []).length, 1, 'one script, our own');
    // The page loads nothing from outside; its one outside address is a link a person may follow (HAProxy's ACL docs).
    t.notMatch(html, /<(?:script|link|img|iframe|style)[^>]*https?:\/\//, 'no external assets');
    t.same(html.match(/https?:\/\/[^"'\s<]+/g), ['https://docs.haproxy.org/2.6/configuration.html#7'], 'the only outside address: HAProxy\'s ACL documentation, a link');
    t.notMatch(html.replace('href="https://docs.haproxy.org/2.6/configuration.html#7"', ''), /https?:\/\//, 'no other address');
  }
});

t.test('a rule outside the ACL grammar is a 400 with its code; the core is never called', async (t) => {
  const { core, send } = await start(t);
  const cases = [
    { acl: 'src "${CULM_CALLBACK_TOKEN}"', code: 'E_RULE_ACL_ENV' },
    { acl: 'nosuchfetch /x', code: 'E_RULE_ACL_FETCH' },
    { acl: 'path_beg /a || path_beg /b', code: 'E_RULE_ACL_OPERATOR' },
    { acl: 'path_beg "/x', code: 'E_RULE_ACL_SYNTAX' },
  ];
  for (const c of cases) {
    const res = await send('PUT', '/api/services/a', { acl: c.acl });
    t.equal(res.status, 400, c.acl);
    t.match(await res.json(), { error: { code: c.code, message: /^acl for \/a: / } }, c.acl);
  }
  t.equal(core.puts.length, 0);
});

const CHEAP = { ln: 4, r: 8, p: 1 };
const basicAuth = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

async function startWithAuth(t: { teardown(fn: () => unknown): void }, readAuth = false) {
  const users = parseUsersFile(`ops:${await hashPassword('right', CHEAP)}`, 'users');
  return start(t, silentLogger(), { auth: new ApiAuth({ token: 'tok-1', users, readAuth }) });
}

t.test('with auth on: writes need the token or a user; 401 says how, and nothing is written', async (t) => {
  const { core, send, call } = await startWithAuth(t);
  const writes: Array<{ desc: string; method: string; path: string; body?: unknown }> = [
    { desc: 'POST', method: 'POST', path: '/api/services', body: { id: '/a', acl: 'path_beg /a' } },
    { desc: 'PUT', method: 'PUT', path: '/api/services/a', body: { acl: 'path_beg /a' } },
    { desc: 'DELETE', method: 'DELETE', path: '/api/services/a' },
  ];
  for (const w of writes) {
    for (const [how, authorization] of [['none', undefined], ['wrong token', 'Bearer tok-2'], ['wrong password', basicAuth('ops', 'wrong')]] as const) {
      const res = await send(w.method, w.path, w.body ?? '', { 'Content-Type': 'application/json', ...(authorization ? { Authorization: authorization } : {}) });
      t.equal(res.status, 401, `${w.desc}, ${how}: 401`);
      t.match(res.headers.get('www-authenticate'), /^Basic realm="culm", charset="UTF-8", Bearer realm="culm"$/, 'both challenges');
      t.match(await res.json(), { error: { code: 'E_UNAUTHORIZED', message: /Bearer/ } });
    }
  }
  t.equal(core.puts.length + core.deletes.length, 0, 'the core was never asked');
  let res = await send('PUT', '/api/services/a', { acl: 'path_beg /a' }, { 'Content-Type': 'application/json', Authorization: 'Bearer tok-1' });
  t.equal(res.status, 200, 'the token writes');
  res = await send('PUT', '/api/services/b', { acl: 'path_beg /b' }, { 'Content-Type': 'application/json', Authorization: basicAuth('ops', 'right') });
  t.equal(res.status, 200, 'a user writes');
  t.same(core.puts.map((r) => r.id), ['/a', '/b']);
  for (const path of ['/api/services', '/api/state', '/api/history', '/metrics', '/', '/healthz', '/readyz', '/status']) {
    t.equal((await call(path)).status, 200, `${path}: reads open by default`);
  }
  res = await send('POST', '/api/marathon/event_callback', { eventType: 'x' });
  t.equal(res.status, 200, "Marathon's callback is not the API's to authenticate");
});

t.test('with CULM_API_READ_AUTH: reads need credentials, probes never', async (t) => {
  const { call } = await startWithAuth(t, true);
  for (const path of ['/api/services', '/api/services/a', '/api/state', '/api/history', '/api/config', '/metrics', '/', '/ui']) {
    const res = await call(path);
    t.equal(res.status, 401, `${path}: 401`);
    t.match(await res.json(), { error: { code: 'E_UNAUTHORIZED' } });
    t.not((await call(path, { headers: { Authorization: 'Bearer tok-1' } })).status, 401, `${path}: the token reads`);
  }
  t.equal((await call('/api/state', { headers: { Authorization: basicAuth('ops', 'right') } })).status, 200, 'a user reads');
  for (const path of ['/healthz', '/readyz', '/status']) t.equal((await call(path)).status, 200, `${path}: open`);
});

t.test('DNS rebinding and scheme: writes name a Host culm serves, Origins match exactly', async (t) => {
  for (const auth of [undefined, 'on'] as const) {
    const { core, base } = auth ? await startWithAuth(t) : await start(t);
    const port = new URL(base).port;
    const authorization: Record<string, string> = auth ? { Authorization: 'Bearer tok-1' } : {};
    const cases: Array<{ desc: string; method: string; path: string; headers: Record<string, string>; body?: string; code: string }> = [
      { desc: 'rule write', method: 'PUT', path: '/api/services/a', headers: { Host: `rebind.evil:${port}`, Origin: `http://rebind.evil:${port}` }, body: '{"acl":"always_true"}', code: 'E_HOST_NOT_ALLOWED' },
      { desc: 'event', method: 'POST', path: '/api/marathon/event_callback', headers: { Host: `rebind.evil:${port}`, Origin: `http://rebind.evil:${port}` }, body: '{"eventType":"status_update_event"}', code: 'E_HOST_NOT_ALLOWED' },
      { desc: 'https origin', method: 'PUT', path: '/api/services/a', headers: { Host: `127.0.0.1:${port}`, Origin: `https://127.0.0.1:${port}` }, body: '{"acl":"x"}', code: 'E_CROSS_ORIGIN' },
    ];
    for (const c of cases) {
      const res = await rawRequest(base + c.path, c.method, { 'Content-Type': 'application/json', ...authorization, ...c.headers }, c.body);
      t.equal(res.status, 403, `auth ${auth ?? 'off'}, ${c.desc}: 403`);
      t.match(JSON.parse(res.body), { error: { code: c.code } });
    }
    t.equal(core.puts.length + core.events.length, 0, `auth ${auth ?? 'off'}: nothing written, no event fed`);
    const ok = await rawRequest(`${base}/api/services/a`, 'PUT', { 'Content-Type': 'application/json', ...authorization, Host: `localhost:${port}`, Origin: `http://localhost:${port}` }, '{"acl":"path_beg /a"}');
    t.equal(ok.status, 200, 'the same write to a served name passes');
  }
});

t.test('DNS rebinding, reads: the API and the UI answer only to a Host culm serves; probes and /metrics to any', async (t) => {
  const { base } = await start(t);
  const port = new URL(base).port;
  for (const path of ['/api/config', '/api/state', '/api/services', '/api/history', '/']) {
    const res = await rawRequest(base + path, 'GET', { Host: `rebind.evil:${port}` });
    t.equal(res.status, 403, `${path} from rebind.evil: 403`);
    t.not((await rawRequest(base + path, 'GET', { Host: `localhost:${port}` })).status, 403, `${path} from localhost: served`);
  }
  for (const path of ['/healthz', '/status', '/metrics']) {
    t.equal((await rawRequest(base + path, 'GET', { Host: `lb.example.com:${port}` })).status, 200, `${path}: any Host`);
  }
});

t.test('a callback policy without a secret trusts nothing: every POST is a hint', async (t) => {
  const { core, send } = await start(t, silentLogger(), { callbacks: { enabled: () => true, token: undefined } });
  const res = await send('POST', '/api/marathon/event_callback', { eventType: 'app_terminated_event', appId: '/web' });
  t.match(await res.json(), { accepted: true, kind: 'hint' });
  t.equal(core.events.length, 0, 'not applied');
  t.equal(core.hints.length, 1);
});

t.test('every rule write is audited: who, from, before, after; refusals with their code', async (t) => {
  const { core, send, base } = await startWithAuth(t);
  const json = { 'Content-Type': 'application/json' };
  await send('PUT', '/api/services/web', { acl: 'path_beg /v1' }, { ...json, Authorization: 'Bearer tok-1' });
  await send('PUT', '/api/services/web', { acl: 'path_beg /v2' }, { ...json, Authorization: basicAuth('ops', 'right') });
  await send('PUT', '/api/services/web', { acl: 'always_true' }, json);
  await send('PUT', '/api/services/web', { acl: 1 }, { ...json, Authorization: 'Bearer tok-1' });
  await send('DELETE', '/api/services/web', '', { Authorization: 'Bearer tok-1' });
  await rawRequest(`${base}/api/services`, 'POST', { ...json, Host: 'rebind.evil' }, '{"id":"/x","acl":"always_true"}');
  const r = core.ruleChanges;
  t.match(r, [
    { kind: 'rule', result: 'changed', action: 'set', id: '/web', who: 'token', from: '127.0.0.1', before: null, after: { Id: '/web', Acl: 'path_beg /v1' }, status: 200 },
    { result: 'changed', who: 'ops', before: { Acl: 'path_beg /v1' }, after: { Acl: 'path_beg /v2' } },
    { result: 'refused', who: 'anonymous', id: '/web', before: { Acl: 'path_beg /v2' }, after: null, status: 401, error: { code: 'E_UNAUTHORIZED' } },
    { result: 'refused', who: 'token', status: 400, error: { code: 'E_BAD_BODY' } },
    { result: 'changed', action: 'delete', who: 'token', before: { Acl: 'path_beg /v2' }, after: null },
    { result: 'refused', who: 'anonymous', status: 403, error: { code: 'E_HOST_NOT_ALLOWED' } },
  ]);
  t.equal(r.length, 6, 'one record per write');
  t.notOk('id' in r[5], 'a POST refused before its body was read names no id');
  t.match(r[1].reasons[0], 'rule /web set by ops from 127.0.0.1: "path_beg /v1" -> "path_beg /v2"');
  t.notMatch(JSON.stringify(r), /tok-1|right/, 'no credential in the audit');
});
