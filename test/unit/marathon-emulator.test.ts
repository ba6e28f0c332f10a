// The emulator must behave like Marathon where culm depends on it; these tests pin that behaviour
// (FACTS.md) over real HTTP on 127.0.0.1.
import t from 'tap';
import http from 'node:http';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { MarathonEmulator, TaskTable, instanceIdOf } from '../helpers/marathon-emulator.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A raw HTTP/1.1 connection, so the exact bytes (headers, CRLF, keepalives) can be checked. */
function raw(base: string, path: string, headerLines: string[]) {
  const port = Number(new URL(base).port);
  const sock = net.connect(port, '127.0.0.1');
  sock.setEncoding('utf8');
  let text = '';
  sock.on('data', (d: string) => (text += d));
  sock.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => sock.on('close', () => resolve()));
  sock.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${headerLines.map((h) => `${h}\r\n`).join('')}\r\n`);
  const conn = {
    sock,
    closed,
    get text() {
      return text;
    },
    get head() {
      return text.split('\r\n\r\n')[0];
    },
    get body() {
      const i = text.indexOf('\r\n\r\n');
      return i < 0 ? '' : text.slice(i + 4);
    },
    header(name: string): string | undefined {
      const line = conn.head.split('\r\n').find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
      return line?.slice(line.indexOf(':') + 1).trim();
    },
    async waitFor(pred: (body: string) => boolean, ms = 2000): Promise<void> {
      const end = Date.now() + ms;
      while (!pred(conn.body)) {
        if (Date.now() > end) throw new Error(`timed out; got ${JSON.stringify(conn.text)}`);
        await sleep(5);
      }
    },
  };
  return conn;
}

/** SSE frames of a body, ignoring heartbeats. */
const frames = (body: string): Array<{ event: string; data: Json }> =>
  [...body.matchAll(/event: ([^\r\n]+)\r\ndata: ([^\r\n]*)\r\n\r\n/g)].map((m) => ({ event: m[1], data: JSON.parse(m[2]) }));

async function getJson(url: string, init: RequestInit = {}): Promise<{ status: number; body: Json; res: Response }> {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : {}, res };
}

async function start(opts: Parameters<typeof MarathonEmulator.start>[0] = {}): Promise<MarathonEmulator> {
  const emu = await MarathonEmulator.start(opts);
  t.teardown(() => emu.stop());
  return emu;
}

t.test('SSE: headers, first event, CRLF framing, "\\r" "\\n" keepalives, detach', async (t) => {
  // Record what the server writes to event streams, to see the heartbeat's two separate writes.
  const writes: string[] = [];
  const write = http.ServerResponse.prototype.write;
  http.ServerResponse.prototype.write = function (this: http.ServerResponse, chunk: unknown, ...rest: unknown[]) {
    if (this.req.url?.startsWith('/v2/events')) writes.push(String(chunk));
    return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof write;
  t.teardown(() => {
    http.ServerResponse.prototype.write = write;
  });
  const emu = await start({ version: '1.10', keepaliveMs: 40 });
  const c = raw(emu.url, '/v2/events', ['Accept: text/event-stream']);
  await c.waitFor((b) => b.includes('\r\n\r\n'));
  t.match(c.head, /^HTTP\/1\.1 200 OK\r\n/);
  t.equal(c.header('content-type'), 'text/event-stream;charset=UTF-8');
  t.equal(c.header('connection'), 'close');
  t.equal(c.header('transfer-encoding'), undefined, 'no chunked encoding');
  t.equal(c.header('content-length'), undefined);
  t.equal(c.header('cache-control'), 'no-cache, no-store, must-revalidate');
  t.equal(c.header('pragma'), 'no-cache');
  t.equal(c.header('expires'), '0');
  t.equal(c.header('x-marathon-leader'), emu.url);
  t.match(c.body, /^event: event_stream_attached\r\ndata: \{"remoteAddress":"127\.0\.0\.1","eventType":"event_stream_attached","timestamp":"[^"]+"\}\r\n\r\n/);
  t.equal(emu.sseClients(), 1);

  emu.addApp({ id: '/web' });
  emu.addTask('/web', { port: 31001 });
  await c.waitFor((b) => frames(b).some((f) => f.data.taskStatus === 'TASK_RUNNING'));
  await c.waitFor((b) => b.includes('\r\n\r\n\r\n'), 1000); // a heartbeat after a frame
  t.equal(c.body.replace(/event: [^\r\n]+\r\ndata: [^\r\n]*\r\n\r\n/g, '').replace(/\r\n/g, ''), '', 'only frames and CRLF heartbeats');
  const hb = writes.indexOf('\r');
  t.ok(hb >= 0 && writes[hb + 1] === '\n', 'heartbeat = write("\\r") then write("\\n")');
  http.ServerResponse.prototype.write = write;
  const running = frames(c.body).find((f) => f.data.taskStatus === 'TASK_RUNNING');
  t.same(Object.keys(running?.data ?? {}), [
    'slaveId', 'taskId', 'taskStatus', 'message', 'appId', 'host', 'ipAddresses', 'ports', 'version', 'eventType', 'timestamp',
  ]);
  t.same(running?.data.ipAddresses, [{ ipAddress: '127.0.0.1', protocol: 'IPv4' }]);
  t.same(running?.data.ports, [31001]);
  t.same(
    frames(c.body).map((f) => f.event).filter((e) => e.startsWith('deployment') || e === 'api_post_event'),
    ['api_post_event', 'deployment_info', 'deployment_step_success', 'deployment_info', 'deployment_step_success', 'deployment_success'],
  );
  t.same(
    frames(c.body).filter((f) => f.event === 'status_update_event').map((f) => f.data.taskStatus),
    ['TASK_STAGING', 'TASK_STARTING', 'TASK_RUNNING'],
  );

  c.sock.destroy();
  for (let i = 0; i < 100 && emu.sseClients() > 0; i++) await sleep(5);
  t.equal(emu.sseClients(), 0);
  t.ok(emu.events.some((e) => e.eventType === 'event_stream_detached'));
});

t.test('SSE: the Accept header must EQUAL text/event-stream', async (t) => {
  const emu = await start({ version: '1.5' });
  const combined = await fetch(`${emu.url}/v2/events`, { headers: { Accept: 'text/event-stream, */*' } });
  t.equal(combined.status, 405);
  t.match(combined.headers.get('content-type'), /^text\/html/);
  t.match(await combined.text(), 'HTTP method GET is not supported by this URL');

  const missing = raw(emu.url, '/v2/events', ['Connection: close']);
  await missing.closed;
  t.match(missing.head, /^HTTP\/1\.1 405 /);

  const params = raw(emu.url, '/v2/events', ['Accept: text/event-stream;charset=UTF-8', 'Connection: close']);
  await params.closed;
  t.match(params.head, /^HTTP\/1\.1 405 /);

  // Jetty compares each header value: a separate Accept line with the exact value is enough.
  const twoLines = raw(emu.url, '/v2/events', ['Accept: application/json', 'Accept: text/event-stream']);
  await twoLines.waitFor((b) => b.includes('event_stream_attached'));
  t.match(twoLines.head, /^HTTP\/1\.1 200 /);
  twoLines.sock.destroy();
});

t.test('SSE: event_type filter (repeatable) applies to every event, attach included', async (t) => {
  const emu = await start({ version: '1.10' });
  const c = raw(emu.url, '/v2/events?event_type=status_update_event&event_type=app_terminated_event', [
    'Accept: text/event-stream',
  ]);
  await c.waitFor(() => emu.sseClients() === 1);
  emu.addApp({ id: '/web' });
  emu.addTask('/web', { port: 31001 });
  emu.removeApp('/web');
  await c.waitFor((b) => b.includes('app_terminated_event'));
  t.same([...new Set(frames(c.body).map((f) => f.event))], ['status_update_event', 'app_terminated_event']);
  c.sock.destroy();
});

t.test('non-leader: 1.10 redirects /v2/events, proxies the rest; 1.4 proxies the stream', async (t) => {
  const leader = await start({ version: '1.10' });
  leader.addApp({ id: '/web', servicePorts: [10001] });
  const follower = await start({ version: '1.10', leaderUrl: leader.url });
  const redirect = await fetch(`${follower.url}/v2/events?event_type=a&event_type=b`, {
    headers: { Accept: 'text/event-stream' },
    redirect: 'manual',
  });
  t.equal(redirect.status, 302);
  t.equal(redirect.headers.get('location'), `${leader.url}/v2/events?event_type=a&event_type=b`);

  const apps = await getJson(`${follower.url}/v2/apps`);
  t.equal(apps.status, 200);
  t.equal(apps.body.apps[0].id, '/web');
  t.equal(apps.res.headers.get('x-marathon-via'), `1.1 ${follower.hostPort}`);
  t.equal(apps.res.headers.get('x-marathon-leader'), leader.url);

  const leader14 = await start({ version: '1.4' });
  const follower14 = await start({ version: '1.4', leaderUrl: leader14.url });
  const c = raw(follower14.url, '/v2/events', ['Accept: text/event-stream']);
  await c.waitFor((b) => b.includes('event_stream_attached'));
  t.equal(leader14.sseClients(), 1);
  t.equal(c.header('x-marathon-via'), `1.1 ${follower14.hostPort}`);
  leader14.emit('custom_event', { eventType: 'custom_event', n: 1 });
  await c.waitFor((b) => b.includes('event: custom_event\r\ndata: {"eventType":"custom_event","n":1}\r\n\r\n'));
  c.sock.destroy();

  const dead = await MarathonEmulator.start();
  const deadUrl = dead.url;
  await dead.stop();
  const orphan = await start({ version: '1.10', leaderUrl: deadUrl });
  const refused = await fetch(`${orphan.url}/v2/apps`);
  t.equal(refused.status, 502);
  t.match(await refused.text(), 'Connection to leader refused.');
});

t.test('/v2/apps shapes: 1.4 legacy fields vs 1.5+ networks/portMappings', async (t) => {
  const defs = [
    { id: '/host', servicePorts: [10001], healthChecks: [{ protocol: 'HTTP' as const, path: '/health' }] },
    { id: '/bridge', network: 'bridge' as const, servicePorts: [10002], containerPort: 8080 },
    { id: '/ipt', network: 'container' as const, servicePorts: [10003], containerPort: 9000 },
  ];
  const byId = async (emu: MarathonEmulator, q = '?embed=apps.tasks'): Promise<Record<string, Json>> => {
    const { body } = await getJson(`${emu.url}/v2/apps${q}`);
    return Object.fromEntries(body.apps.map((a: Json) => [a.id, a]));
  };
  const seed = (emu: MarathonEmulator): void => {
    for (const d of defs) emu.addApp(d);
    emu.addTask('/host', { port: 31001, healthy: true });
    emu.addTask('/bridge', { port: 31002, ip: '172.17.0.2' });
    emu.addTask('/ipt', { port: 9000, ip: '10.0.0.5' });
  };

  const e14 = await start({ version: '1.4' });
  seed(e14);
  const a14 = await byId(e14);
  t.same(a14['/host'].ports, [10001]);
  t.same(a14['/host'].portDefinitions, [{ port: 10001, protocol: 'tcp', labels: {} }]);
  t.equal(a14['/host'].container, null);
  t.notOk('networks' in a14['/host']);
  t.equal(a14['/bridge'].container.docker.network, 'BRIDGE');
  t.same(a14['/bridge'].container.docker.portMappings, [
    { containerPort: 8080, hostPort: 0, servicePort: 10002, protocol: 'tcp', labels: {} },
  ]);
  t.same(a14['/bridge'].ports, [10002]);
  t.notOk('portMappings' in a14['/bridge'].container);
  t.same(a14['/ipt'].ipAddress.discovery.ports, [{ number: 9000, name: 'http', protocol: 'tcp' }]);
  t.notOk('ports' in a14['/ipt']);
  t.notOk('portDefinitions' in a14['/ipt']);
  t.same(a14['/ipt'].tasks[0].ports, []);
  t.same(a14['/ipt'].tasks[0].ipAddresses, [{ ipAddress: '10.0.0.5', protocol: 'IPv4' }]);
  t.same(a14['/host'].tasks[0].servicePorts, [10001]);
  t.match(a14['/host'].tasks[0].id, /^host\.[0-9a-f-]{36}$/, '1.4 generates legacy task ids');
  t.equal(a14['/host'].tasks[0].healthCheckResults[0].alive, true);
  t.match(a14['/host'].tasks[0].healthCheckResults[0].instanceId, /^host\.marathon-[0-9a-f-]{36}$/);
  t.notOk('healthCheckResults' in a14['/bridge'].tasks[0], 'no health checks, no results field');

  for (const v of ['1.5', '1.10'] as const) {
    const emu = await start({ version: v });
    seed(emu);
    const a = await byId(emu);
    for (const app of Object.values(a)) {
      for (const legacy of ['ports', 'ipAddress', 'uris']) t.notOk(legacy in app, `${v} ${app.id}: no ${legacy}`);
      t.notOk(app.container && 'network' in (app.container.docker ?? {}), `${v} ${app.id}: no docker.network`);
      t.notOk(app.container && 'portMappings' in (app.container.docker ?? {}), `${v} ${app.id}: no docker.portMappings`);
      for (const task of app.tasks) t.notOk('servicePorts' in task, 'embedded tasks carry no servicePorts in 1.5+');
    }
    t.same(a['/host'].networks, [{ mode: 'host' }]);
    t.same(a['/host'].portDefinitions, [{ port: 10001, protocol: 'tcp', labels: {} }]);
    t.notOk('container' in a['/host']);
    t.same(a['/bridge'].networks, [{ mode: 'container/bridge' }]);
    t.same(a['/bridge'].container.portMappings, [
      { containerPort: 8080, hostPort: 0, labels: {}, protocol: 'tcp', servicePort: 10002 },
    ]);
    t.notOk('portDefinitions' in a['/bridge']);
    t.same(a['/ipt'].networks, [{ mode: 'container', name: 'dcos' }]);
    t.same(a['/ipt'].container.portMappings, [{ containerPort: 9000, labels: {}, protocol: 'tcp', servicePort: 10003 }]);
    t.same(a['/ipt'].tasks[0].ports, []);
    t.same(a['/bridge'].tasks[0].ports, [31002]);
    t.match(a['/host'].tasks[0].id, v === '1.10' ? /^host\.instance-[0-9a-f-]{36}\._app\.1$/ : /^host\.[0-9a-f-]{36}$/);
  }

  // Embedding: tasks only when asked (any prefix), counts and deployments always.
  const plain = await byId(e14, '');
  t.notOk('tasks' in plain['/host']);
  t.same(plain['/host'].deployments, []);
  t.match(plain['/host'], { tasksStaged: 0, tasksRunning: 1, tasksHealthy: 1, tasksUnhealthy: 0 });
  for (const q of ['apps.tasks', 'app.tasks', 'group.apps.tasks', 'tasks']) {
    t.equal((await byId(e14, `?embed=${q}`))['/host'].tasks.length, 1, `embed=${q}`);
  }
  const several = await byId(e14, '?embed=app.deployments&embed=app.readiness&embed=app.tasks');
  t.same(several['/host'].readinessCheckResults, []);
  t.equal(several['/host'].tasks.length, 1);
});

t.test('REST: single app, 404, app tasks, /v2/tasks, leader, info', async (t) => {
  const emu = await start({ version: '1.4' });
  emu.addApp({ id: '/group/api', servicePorts: [10010] });
  emu.addTask('/group/api', { port: 31010, host: '10.0.0.1' });
  const one = await getJson(`${emu.url}/v2/apps/group/api`);
  t.equal(one.body.app.id, '/group/api');
  t.equal(one.body.app.tasks.length, 1, 'single app always embeds tasks');
  t.equal(one.res.headers.get('x-marathon-leader'), emu.url);
  const missing = await getJson(`${emu.url}/v2/apps/nope`);
  t.equal(missing.status, 404);
  t.same(missing.body, { message: "App '/nope' does not exist" });
  const appTasks = await getJson(`${emu.url}/v2/apps/group/api/tasks`);
  t.match(appTasks.body.tasks[0], { appId: '/group/api', host: '10.0.0.1', ports: [31010], servicePorts: [10010] });
  t.match(appTasks.body.tasks[0].id, /^group_api\./);
  const all = await getJson(`${emu.url}/v2/tasks`);
  t.equal(all.body.tasks.length, 1);
  t.same((await getJson(`${emu.url}/v2/tasks?status=staging`)).body.tasks, []);
  t.same((await getJson(`${emu.url}/v2/leader`)).body, { leader: emu.hostPort });
  const info = (await getJson(`${emu.url}/v2/info`)).body;
  t.equal(info.version, '1.4.13');
  t.same(info.event_subscriber, { type: 'http_callback', http_endpoints: null });
  const e110 = await start({ version: '1.10' });
  const info110 = (await getJson(`${e110.url}/v2/info`)).body;
  t.equal(info110.version, '1.10.26');
  t.notOk('event_subscriber' in info110);
});

t.test('eventSubscriptions: 1.4 with and without callbacks, 1.5+ 404', async (t) => {
  const emu = await start({ version: '1.4' });
  const sub = `${emu.url.replace('127.0.0.1', 'localhost')}/nowhere`;
  const post = await getJson(`${emu.url}/v2/eventSubscriptions?callbackUrl=${encodeURIComponent(sub)}`, { method: 'POST' });
  t.equal(post.status, 200);
  t.match(post.body, { callbackUrl: sub, clientIp: '127.0.0.1', eventType: 'subscribe_event', timestamp: String });
  const again = await getJson(`${emu.url}/v2/eventSubscriptions?callbackUrl=${encodeURIComponent(sub)}`, { method: 'POST' });
  t.equal(again.status, 200, 'idempotent');
  t.same((await getJson(`${emu.url}/v2/eventSubscriptions`)).body, { callbackUrls: [sub] });
  t.same(emu.subscriptions, [sub]);
  const bad = await getJson(`${emu.url}/v2/eventSubscriptions?callbackUrl=not-a-url`, { method: 'POST' });
  t.equal(bad.status, 422);
  const del = await getJson(`${emu.url}/v2/eventSubscriptions?callbackUrl=${encodeURIComponent(sub)}`, { method: 'DELETE' });
  t.match(del.body, { callbackUrl: sub, eventType: 'unsubscribe_event' });
  const unknown = await getJson(`${emu.url}/v2/eventSubscriptions?callbackUrl=http://x/y`, { method: 'DELETE' });
  t.equal(unknown.status, 200, 'unknown URL: still 200');
  t.same(emu.subscriptions, []);
  t.same(
    emu.events.filter((e) => e.eventType.endsWith('subscribe_event')).map((e) => e.eventType),
    ['subscribe_event', 'subscribe_event', 'unsubscribe_event', 'unsubscribe_event'],
  );
  await emu.callbacksSettled();

  const off = await start({ version: '1.4', callbacksEnabled: false });
  const refused = await getJson(`${off.url}/v2/eventSubscriptions?callbackUrl=http://x/y`, { method: 'POST' });
  t.equal(refused.status, 400);
  t.equal(
    refused.body.message,
    'http event callback system is not running on this Marathon instance. Please re-start this instance with\n"--event_subscriber http_callback".',
  );
  for (const v of ['1.5', '1.10'] as const) {
    const emu15 = await start({ version: v });
    t.equal((await fetch(`${emu15.url}/v2/eventSubscriptions`)).status, 404, `${v}: GET 404`);
    t.equal((await fetch(`${emu15.url}/v2/eventSubscriptions?callbackUrl=http://x/y`, { method: 'POST' })).status, 404);
  }
});

t.test('callbacks: POST to every subscriber, no retry, 2^n backoff, reset on success, never removed', async (t) => {
  const received: Array<{ id: number; headers: http.IncomingHttpHeaders; body: Json }> = [];
  let mode: 'ok' | 'fail' | 'slow' = 'ok';
  const receivers = await Promise.all(
    [0, 1].map(async (id) => {
      const server = http.createServer((req, res) => {
        let body = '';
        req.on('data', (d: Buffer) => (body += d.toString()));
        req.on('end', () => {
          received.push({ id, headers: req.headers, body: JSON.parse(body) });
          const status = id === 0 && mode === 'fail' ? 500 : 200;
          const delay = id === 0 && mode === 'slow' ? 200 : 0;
          setTimeout(() => res.writeHead(status).end(), delay);
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      t.teardown(() => new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }));
      return `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/callback`;
    }),
  );
  const [flaky, steady] = receivers;
  const emu = await start({ version: '1.4', httpEndpoints: [flaky], callbackBackoffUnitMs: 100, callbackSlowMs: 150 });
  await fetch(`${emu.url}/v2/eventSubscriptions?callbackUrl=${encodeURIComponent(steady)}`, { method: 'POST' });
  await emu.callbacksSettled();
  const gotSubscribe = received.filter((r) => r.body.eventType === 'subscribe_event');
  t.same(gotSubscribe.map((r) => r.id).sort(), [0, 1], 'the subscribe_event goes to both, the new one included');
  t.equal(gotSubscribe[0].headers['content-type'], 'application/json');
  t.equal(gotSubscribe[0].headers.accept, 'application/json');

  const outcome = (eventType: string): string[] =>
    emu.deliveries.filter((d) => d.eventType === eventType && d.url === flaky).map((d) => d.outcome);
  const send = async (eventType: string): Promise<void> => {
    emu.emit(eventType, { eventType });
    await emu.callbacksSettled();
  };
  mode = 'fail';
  await send('e1');
  t.same(outcome('e1'), ['failed']);
  await send('e2');
  t.same(outcome('e2'), ['skipped'], '1 failure: skipped for 2 units');
  t.notOk(received.some((r) => r.id === 0 && r.body.eventType === 'e2'));
  t.ok(received.some((r) => r.id === 1 && r.body.eventType === 'e2'), 'other subscriber unaffected');
  await sleep(230);
  await send('e3');
  t.same(outcome('e3'), ['failed'], 'backoff over: tried again, not retried');
  await sleep(230);
  await send('e4');
  t.same(outcome('e4'), ['skipped'], '2 failures: 4 units');
  await sleep(200);
  mode = 'ok';
  await send('e5');
  t.same(outcome('e5'), ['ok']);
  mode = 'fail';
  await send('e6');
  t.same(outcome('e6'), ['failed']);
  await sleep(230);
  mode = 'ok';
  await send('e7');
  t.same(outcome('e7'), ['ok'], 'success reset the count: 2 units again');
  mode = 'slow';
  await send('e8');
  t.same(outcome('e8'), ['failed'], 'slower than the slow-consumer timeout counts as a failure');
  t.ok(received.some((r) => r.id === 0 && r.body.eventType === 'e8'), 'though it was delivered');
  t.same(emu.subscriptions, [flaky, steady], 'never removed');
  t.same(received.filter((r) => r.body.eventType === 'e1').length, 2, 'no retry');
});

t.test('faults: per prefix, times, clear; request log', async (t) => {
  const emu = await start({ version: '1.10' });
  emu.fault({ kind: 'error-body', path: '/v2/apps', body: 'boom' });
  const err = await getJson(`${emu.url}/v2/apps?embed=apps.tasks`, { headers: { 'X-Test': '1' } });
  t.equal(err.status, 500);
  t.same(err.body, { message: 'boom' });
  t.equal((await fetch(`${emu.url}/v2/info`)).status, 200, 'other prefixes untouched');
  const logged = emu.requests.find((r) => r.path === '/v2/apps');
  t.equal(logged?.query.get('embed'), 'apps.tasks');
  t.equal(logged?.headers['x-test'], '1');

  emu.fault({ kind: 'html', path: '/v2/apps' });
  const html = await fetch(`${emu.url}/v2/apps`);
  t.equal(html.status, 200);
  t.match(html.headers.get('content-type'), /^text\/html/);
  t.match(await html.text(), '<html>');

  emu.fault({ kind: 'status', path: '/v2/apps', status: 503, body: '{"message":"busy"}', times: 1 });
  t.equal((await fetch(`${emu.url}/v2/apps`)).status, 503);
  t.equal((await fetch(`${emu.url}/v2/apps`)).status, 200, 'times: 1 then gone');

  emu.fault({ kind: 'slow', path: '/v2/leader', ms: 150 });
  const t0 = Date.now();
  t.equal((await fetch(`${emu.url}/v2/leader`)).status, 200);
  t.ok(Date.now() - t0 >= 140, 'delayed');

  emu.fault({ kind: 'reset', path: '/v2/tasks' });
  await t.rejects(fetch(`${emu.url}/v2/tasks`));

  emu.fault({ kind: 'dead', path: '/v2/info' });
  await t.rejects(fetch(`${emu.url}/v2/info`, { signal: AbortSignal.timeout(150) }));

  emu.fault(null);
  t.equal((await fetch(`${emu.url}/v2/tasks`)).status, 200, 'cleared');
  t.equal((await fetch(`${emu.url}/v2/info`)).status, 200);
});

t.test('basic auth on every endpoint', async (t) => {
  const emu = await start({ version: '1.4', auth: { user: 'u', password: 'p' } });
  for (const path of ['/v2/apps', '/v2/events', '/v2/eventSubscriptions', '/v2/info']) {
    const res = await fetch(`${emu.url}${path}`, { headers: { Accept: 'text/event-stream' } });
    t.equal(res.status, 401, path);
    t.equal(res.headers.get('www-authenticate'), 'Basic realm="Mesosphere"');
    await res.arrayBuffer();
  }
  const wrong = await fetch(`${emu.url}/v2/apps`, { headers: { Authorization: `Basic ${btoa('u:x')}` } });
  t.equal(wrong.status, 401);
  const ok = await fetch(`${emu.url}/v2/apps`, { headers: { Authorization: `Basic ${btoa('u:p')}` } });
  t.equal(ok.status, 200);
  const c = raw(emu.url, '/v2/events', ['Accept: text/event-stream', `Authorization: Basic ${btoa('u:p')}`]);
  await c.waitFor((b) => b.includes('event_stream_attached'));
  c.sock.destroy();
});

t.test('health, kill and removal events', async (t) => {
  const emu = await start({ version: '1.4' });
  emu.addApp({ id: '/web', healthChecks: [{ protocol: 'HTTP', path: '/health' }] });
  const before = emu.events.length;
  const id = emu.addTask('/web', { port: 31001, healthy: true });
  const health = emu.events.slice(before).filter((e) => e.eventType.includes('health'));
  t.same(health.map((e) => e.eventType), ['health_status_changed_event', 'instance_health_changed_event']);
  t.same(Object.keys(health[0].body), ['appId', 'instanceId', 'version', 'alive', 'eventType', 'timestamp']);
  t.match(health[0].body, { appId: '/web', instanceId: instanceIdOf(id), alive: true });
  t.match(health[1].body, { instanceId: instanceIdOf(id), runSpecId: '/web', healthy: true });

  const mark = emu.events.length;
  emu.setTaskHealth(id, true);
  t.equal(emu.events.length, mark, 'no change, no event');
  emu.setTaskHealth(id, false);
  t.match(emu.events.slice(mark).map((e) => e.body), [{ alive: false }, { healthy: false }]);
  const apps = async (): Promise<Json> => (await getJson(`${emu.url}/v2/apps?embed=apps.tasks`)).body.apps[0];
  t.match(await apps(), { tasksHealthy: 0, tasksUnhealthy: 1 });
  t.match((await apps()).tasks[0].healthCheckResults[0], { alive: false, consecutiveFailures: 1, instanceId: instanceIdOf(id) });
  emu.clearHealthResults();
  t.same((await apps()).tasks[0].healthCheckResults, []);
  t.match(await apps(), { tasksHealthy: 0, tasksUnhealthy: 0 });

  const k = emu.events.length;
  emu.killTask(id, { withKilling: true });
  t.same(
    emu.events.slice(k).filter((e) => e.eventType === 'status_update_event').map((e) => e.body.taskStatus),
    ['TASK_KILLING', 'TASK_KILLED'],
  );
  t.equal((await apps()).tasks.length, 0);

  emu.addTask('/web', { port: 31002 });
  emu.addTask('/web', { port: 31003 });
  const r = emu.events.length;
  emu.removeApp('/web');
  const seq = emu.events.slice(r).map((e) => (e.eventType === 'status_update_event' ? e.body.taskStatus : e.eventType));
  t.same(seq.filter((s) => s === 'TASK_KILLED' || s === 'app_terminated_event'), ['TASK_KILLED', 'TASK_KILLED', 'app_terminated_event']);
  t.equal((await getJson(`${emu.url}/v2/apps`)).body.apps.length, 0);
});

t.test('instanceIdOf follows Task.Id.instanceId', async (t) => {
  const cases: Array<[string, string]> = [
    ['web.instance-c7c311a4-b669-11e6-a48f-0ea4f4b1778c._app.1', 'web.instance-c7c311a4-b669-11e6-a48f-0ea4f4b1778c'],
    ['web.instance-c7c311a4-b669-11e6-a48f-0ea4f4b1778c', 'web.instance-c7c311a4-b669-11e6-a48f-0ea4f4b1778c'],
    ['test_foo_bla_rest.62d0f03f-79aa-11e6-a1a0-660c139c5e15', 'test_foo_bla_rest.marathon-62d0f03f-79aa-11e6-a1a0-660c139c5e15'],
    ['app_682ebe64-0771-11e4-b05d-e0f84720c54e', 'app.marathon-682ebe64-0771-11e4-b05d-e0f84720c54e'],
    ['app.test.23.b6ff5fa5-7714-11e7-a55c-5ecf1c4671f6.41', 'app.test.23.marathon-b6ff5fa5-7714-11e7-a55c-5ecf1c4671f6'],
    [
      'test_foo.instance-_bla_rest.instance-62d0f03f-79aa-11e6-a1a0-660c139c5e15.$anon',
      'test_foo.instance-_bla_rest.instance-62d0f03f-79aa-11e6-a1a0-660c139c5e15',
    ],
  ];
  for (const [task, instance] of cases) t.equal(instanceIdOf(task), instance, task);
});

t.test('silenceKeepalives, dropStreams, stop', async (t) => {
  const emu = await start({ version: '1.10', keepaliveMs: 20 });
  const a = raw(emu.url, '/v2/events', ['Accept: text/event-stream']);
  await a.waitFor((b) => b.includes('event_stream_attached'));
  emu.silenceKeepalives(true);
  await sleep(30);
  const frozen = a.text.length;
  const b = raw(emu.url, '/v2/events', ['Accept: text/event-stream']);
  await b.waitFor((x) => x.includes('event_stream_attached'));
  emu.emit('custom_event', { eventType: 'custom_event' });
  await b.waitFor((x) => x.includes('custom_event') && x.endsWith('\r\n\r\n\r\n'), 1000);
  t.equal(a.text.length, frozen, 'silenced stream got nothing, not even heartbeats');
  t.equal(emu.sseClients(), 2, 'but stays open');
  emu.silenceKeepalives(false);
  await a.waitFor(() => a.text.length > frozen, 1000);
  t.pass('un-silenced stream gets heartbeats again');

  emu.dropStreams();
  await Promise.all([a.closed, b.closed]);
  for (let i = 0; i < 100 && emu.sseClients() > 0; i++) await sleep(5);
  t.equal(emu.sseClients(), 0);

  const c = raw(emu.url, '/v2/events', ['Accept: text/event-stream']);
  await c.waitFor((x) => x.includes('event_stream_attached'));
  await emu.stop();
  await c.closed;
  t.pass('stop() ends open streams');
});

t.test('TaskTable: tasks by app in the order added, kept in step with set/delete/clear', async (t) => {
  const table = new TaskTable();
  const task = (id: string, appId: string) => ({ id, appId }) as unknown as Parameters<typeof table.set>[1];
  table.set('a1', task('a1', '/a'));
  table.set('b1', task('b1', '/b'));
  table.set('a2', task('a2', '/a'));
  t.same(table.ofApp('/a').map((x) => x.id), ['a1', 'a2']);
  table.set('a1', task('a1', '/b'));
  t.same(table.ofApp('/a').map((x) => x.id), ['a2'], 'moved to another app');
  t.same(table.ofApp('/b').map((x) => x.id), ['b1', 'a1']);
  table.delete('b1');
  t.same(table.ofApp('/b').map((x) => x.id), ['a1']);
  t.same(table.ofApp('/none'), []);
  table.clear();
  t.same(table.ofApp('/a'), []);
  t.equal(table.size, 0);
});

t.test('readiness: checks in the definition, results only while a deployment runs, its end when all are ready', async (t) => {
  for (const version of ['1.4', '1.10'] as const) {
    const emu = await start({ version });
    emu.addApp({ id: '/web', servicePorts: [10020], readinessCheck: { path: '/ready', portName: 'http', timeoutSeconds: 2 } });
    const old = emu.addTask('/web', { port: 31020 });
    const read = async (): Promise<Json> => (await getJson(`${emu.url}/v2/apps/web?embed=app.readiness`)).body.app;
    const listed = async (): Promise<Json> => (await getJson(`${emu.url}/v2/apps?embed=apps.tasks&embed=apps.deployments&embed=apps.readiness`)).body.apps[0];
    let app = await read();
    t.same(app.readinessChecks, [{ name: 'readinessCheck', protocol: 'HTTP', path: '/ready', portName: 'http', intervalSeconds: 30, timeoutSeconds: 2, httpStatusCodesForReady: [200], preserveLastResponse: false }], `${version}: the check with defaults`);
    t.equal((app.portDefinitions ?? [])[0]?.name, 'http', `${version}: the port it names exists`);
    t.same(app.readinessCheckResults, [], `${version}: no deployment, no results`);

    const deployment = emu.startDeployment('/web');
    const a = emu.addTask('/web', { port: 31021 });
    const b = emu.addTask('/web', { port: 31022 });
    app = await listed();
    t.same(app.deployments, [{ id: deployment }], `${version}: the deployment shows while it runs`);
    t.same(app.readinessCheckResults.map((r: Json) => [r.taskId, r.ready]), [[a, false], [b, false]], `${version}: results for the new tasks only, not ready`);
    t.notOk(app.readinessCheckResults.some((r: Json) => r.taskId === old), 'the old task has none');
    t.same((await getJson(`${emu.url}/v2/deployments`)).body.map((d: Json) => d.id), [deployment]);
    emu.setTaskReady(a);
    app = await read();
    t.same(app.readinessCheckResults.map((r: Json) => [r.taskId, r.ready]), [[a, true], [b, false]], `${version}: one ready`);
    t.same(app.deployments, [{ id: deployment }], `${version}: still deploying while one is not ready`);
    const before = emu.events.length;
    emu.setTaskReady(b);
    t.same(emu.events.slice(before).map((e) => e.eventType), ['deployment_step_success', 'deployment_success'], `${version}: the last ready task ends it`);
    t.equal((emu.events.at(-1)!.body as Json).id, deployment);
    app = await read();
    t.same([app.deployments, app.readinessCheckResults], [[], []], `${version}: no deployment, no results afterwards`);
    t.throws(() => emu.setTaskReady(a), /not started by a deployment in progress/);
    emu.startDeployment('/web');
    emu.finishDeployment('/web', 'failed');
    t.equal(emu.events.at(-1)!.eventType, 'deployment_failed');
    await emu.stop();
  }
});

// ---- write routes (writes.ts, scheduler.ts) --------------------------------------------------------------------

const send = (emu: MarathonEmulator, method: string, path: string, body?: unknown) =>
  getJson(`${emu.url}${path}`, {
    method, headers: { 'Content-Type': 'application/json' }, ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
/** An emulator whose launched tasks take host ports 41000, 41001…, as a demo's shared backends would. */
async function writable(version: '1.4' | '1.10' = '1.10'): Promise<MarathonEmulator> {
  let port = 41000;
  return start({ version, launch: () => ({ port: port++ }) });
}
const typesSince = (emu: MarathonEmulator, from: number): string[] =>
  emu.events.slice(from).map((e) => (e.eventType === 'status_update_event' ? `${e.eventType}:${String(e.body.taskStatus)}` : e.eventType));
const steps = (emu: MarathonEmulator, from: number): string[] =>
  emu.events.slice(from).filter((e) => e.eventType === 'deployment_info')
    .map((e) => ((e.body.currentStep as Json).actions as Json[]).map((a) => a.action).join('+'));

t.test('POST /v2/apps: 201 with the app and its deployment, the deployment events, tasks launched where told', async (t) => {
  const emu = await writable();
  const from = emu.events.length;
  const r = await send(emu, 'POST', '/v2/apps', { id: 'shop/cart', cmd: 'serve', instances: 2, labels: { team: 'a' }, healthChecks: [{ protocol: 'HTTP', path: '/health' }] });
  t.equal(r.status, 201);
  t.equal(r.res.headers.get('location'), `${emu.url}/shop/cart`);
  const deploymentId = r.res.headers.get('marathon-deployment-id');
  t.match(r.body, { id: '/shop/cart', instances: 2, labels: { team: 'a' }, tasksRunning: 0, deployments: [{ id: deploymentId }] });
  t.same(typesSince(emu, from), [
    'api_post_event', 'group_change_success', 'deployment_info', 'deployment_step_success', 'deployment_info',
    ...['STAGING', 'STARTING', 'RUNNING'].flatMap((s) => [`status_update_event:TASK_${s}`, 'instance_changed_event']),
    'health_status_changed_event', 'instance_health_changed_event',
    ...['STAGING', 'STARTING', 'RUNNING'].flatMap((s) => [`status_update_event:TASK_${s}`, 'instance_changed_event']),
    'health_status_changed_event', 'instance_health_changed_event',
    'deployment_step_success', 'deployment_success',
  ]);
  t.same(steps(emu, from), ['StartApplication', 'ScaleApplication']);
  t.equal(emu.events.find((e, i) => i >= from && e.eventType === 'api_post_event')?.body.uri, '/v2/apps');
  const { body } = await getJson(`${emu.url}/v2/apps/shop/cart`);
  t.same(body.app.tasks.map((x: Json) => x.ports[0]), [41000, 41001], 'tasks on the ports `launch` gave');
  t.equal(body.app.tasksHealthy, 2, 'launched tasks pass their health checks (the emulator does not probe)');

  const dup = await send(emu, 'POST', '/v2/apps', { id: '/shop/cart', cmd: 'serve' });
  t.same([dup.status, dup.body], [409, { message: 'An app with id [/shop/cart] already exists.' }]);
  const one = await send(emu, 'POST', '/v2/apps', { id: '/one', cmd: 'x' });
  t.equal(one.body.instances, 1, 'instances default to 1');
  t.equal(emu.tasksOf('/one').length, 1);
});

t.test('POST /v2/apps refuses bad definitions as Marathon does, and changes nothing', async (t) => {
  const emu = await writable();
  const cases: Array<{ desc: string; body: unknown; status: number; expect: Json }> = [
    { desc: 'not JSON', body: '{"id":', status: 400, expect: { message: 'Invalid JSON' } },
    { desc: 'not an object', body: [], status: 422, expect: { message: 'Invalid JSON', details: [{ path: '', errors: ['error.expected.jsobject'] }] } },
    { desc: 'no id', body: { cmd: 'x' }, status: 422, expect: { message: 'Invalid JSON', details: [{ path: '/id', errors: ['error.path.missing'] }] } },
    { desc: 'id not a string', body: { id: 7, cmd: 'x' }, status: 422, expect: { details: [{ path: '/id', errors: ['error.expected.jsstring'] }] } },
    { desc: 'instances below 0', body: { id: '/a', cmd: 'x', instances: -1 }, status: 422, expect: { details: [{ path: '/instances', errors: ['error.min'] }] } },
    { desc: 'instances not a number', body: { id: '/a', cmd: 'x', instances: 'two' }, status: 422, expect: { details: [{ path: '/instances', errors: ['error.expected.jsnumber'] }] } },
    { desc: 'label value not a string', body: { id: '/a', cmd: 'x', labels: { k: 1 } }, status: 422, expect: { details: [{ path: '/labels/k', errors: ['error.expected.jsstring'] }] } },
    { desc: 'upper-case id', body: { id: '/Shop', cmd: 'x' }, status: 422, expect: { message: 'Object is not valid', details: [{ path: '/id', errors: [/^must fully match regular expression/] }] } },
    { desc: 'underscore in id', body: { id: '/my_app', cmd: 'x' }, status: 422, expect: { message: 'Object is not valid' } },
    { desc: 'reserved last segment', body: { id: '/web/tasks', cmd: 'x' }, status: 422, expect: { details: [{ path: '/id', errors: [/reserved keywords: restart, tasks, versions/] }] } },
    {
      desc: 'nothing to run', body: { id: '/a' }, status: 422,
      expect: { message: 'Object is not valid', details: [{ path: '/', errors: ["AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'."] }] },
    },
  ];
  const before = emu.events.length;
  for (const c of cases) {
    const r = await send(emu, 'POST', '/v2/apps', c.body);
    t.equal(r.status, c.status, `${c.desc}: status`);
    t.match(r.body, c.expect, `${c.desc}: body`);
  }
  t.equal(emu.apps.size, 0, 'no app stored');
  t.equal(emu.events.length, before, 'no event published');
  const docker = await send(emu, 'POST', '/v2/apps', { id: '/img', container: { type: 'DOCKER', docker: { image: 'nginx' } } });
  t.equal(docker.status, 201, 'a container is enough to run');
});

t.test('PUT /v2/apps/{id}: instances alone scale (youngest killed first), other changes restart, unknown ids create', async (t) => {
  const emu = await writable();
  await send(emu, 'POST', '/v2/apps', { id: '/web', cmd: 'x', instances: 1 });
  const [first] = emu.tasksOf('/web');
  let from = emu.events.length;
  const up = await send(emu, 'PUT', '/v2/apps/web', { instances: 3 });
  t.equal(up.status, 200);
  t.match(up.body, { deploymentId: up.res.headers.get('marathon-deployment-id'), version: /^\d{4}-/ });
  t.same(steps(emu, from), ['ScaleApplication']);
  t.equal(emu.tasksOf('/web').length, 3);
  t.equal(emu.tasksOf('/web')[0], first, 'the first task kept');
  t.equal(emu.events.find((e, i) => i >= from && e.eventType === 'api_post_event')?.body.uri, '/v2/apps/web');

  const [, second, third] = emu.tasksOf('/web');
  from = emu.events.length;
  await send(emu, 'PUT', '/v2/apps/web', { instances: 1 });
  t.same(emu.tasksOf('/web').map((x) => x.id), [first.id], 'scaled down: the youngest went');
  t.same(
    emu.events.slice(from).filter((e) => e.eventType === 'status_update_event').map((e) => [e.body.taskId, e.body.taskStatus]),
    [[third.id, 'TASK_KILLING'], [third.id, 'TASK_KILLED'], [second.id, 'TASK_KILLING'], [second.id, 'TASK_KILLED']],
  );

  from = emu.events.length;
  const relabel = await send(emu, 'PUT', '/v2/apps/web', { labels: { HAPROXY_GROUP: 'external' } });
  t.equal(relabel.status, 200);
  t.same(steps(emu, from), ['RestartApplication']);
  const now = emu.tasksOf('/web');
  t.equal(now.length, 1);
  t.not(now[0].id, first.id, 'the task was replaced');
  t.same(emu.app('/web').spec.labels, { HAPROXY_GROUP: 'external' });
  t.equal(emu.app('/web').spec.cmd, 'x', 'a partial update keeps the other fields');

  const created = await send(emu, 'PUT', '/v2/apps/api', { cmd: 'y', instances: 2 });
  t.equal(created.status, 201, 'PUT of an unknown id creates it');
  t.equal(emu.tasksOf('/api').length, 2);
  const full = await send(emu, 'PUT', '/v2/apps/web?partialUpdate=false', { instances: 2 });
  t.equal(full.status, 422, 'a complete replacement is validated as a new app');
  t.equal(emu.tasksOf('/web').length, 1, 'nothing changed');
  const bad = await send(emu, 'PUT', '/v2/apps/web', { instances: -3 });
  t.same([bad.status, emu.tasksOf('/web').length], [422, 1]);
  await send(emu, 'PUT', '/v2/apps/api', { instances: 3 });
  t.equal(emu.tasksOf('/api').length, 3);
  const replaced = await send(emu, 'PUT', '/v2/apps/api?partialUpdate=false', { cmd: 'z' });
  t.equal(replaced.status, 200);
  t.equal(emu.tasksOf('/api').length, 1, 'a complete replacement without instances has Marathon\'s default, 1');
});

t.test('restart, delete, and the lock a deployment in progress holds', async (t) => {
  const emu = await writable();
  await send(emu, 'POST', '/v2/apps', { id: '/web', cmd: 'x', instances: 2 });
  const old = emu.tasksOf('/web').map((x) => x.id);
  let from = emu.events.length;
  const r = await send(emu, 'POST', '/v2/apps/web/restart');
  t.equal(r.status, 200);
  t.ok(r.body.deploymentId);
  t.same(steps(emu, from), ['RestartApplication']);
  t.notOk(emu.events.slice(from).some((e) => e.eventType === 'api_post_event'), 'a restart posts no definition');
  const now = emu.tasksOf('/web').map((x) => x.id);
  t.equal(now.length, 2);
  t.notOk(now.some((id) => old.includes(id)), 'every task replaced');
  const started = emu.events.slice(from).findIndex((e) => e.body.taskStatus === 'TASK_RUNNING');
  const killed = emu.events.slice(from).findIndex((e) => e.body.taskStatus === 'TASK_KILLING');
  t.ok(started >= 0 && started < killed, 'new tasks run before old ones are killed');

  const deploying = emu.startDeployment('/web');
  const locked = await send(emu, 'POST', '/v2/apps/web/restart');
  t.equal(locked.status, 409);
  t.same(locked.body, {
    message: "App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/<DEPLOYMENT_ID>'.",
    deployments: [{ id: deploying }],
  });
  t.equal((await send(emu, 'PUT', '/v2/apps/web', { instances: 5 })).status, 409);
  t.equal(emu.tasksOf('/web').length, 2, 'nothing changed while locked');
  from = emu.events.length;
  t.equal((await send(emu, 'POST', '/v2/apps/web/restart?force=true')).status, 200, 'force overrides');
  t.equal(emu.events[from].eventType, 'deployment_failed', 'the deployment in progress is cancelled first');

  t.same(await send(emu, 'POST', '/v2/apps/nope/restart').then((x) => [x.status, x.body]), [404, { message: "App '/nope' does not exist" }]);
  from = emu.events.length;
  const del = await send(emu, 'DELETE', '/v2/apps/web');
  t.equal(del.status, 200);
  t.equal(del.res.headers.get('marathon-deployment-id'), del.body.deploymentId);
  t.notOk(emu.apps.has('/web'));
  t.same(steps(emu, from), ['StopApplication']);
  t.ok(emu.events.slice(from).some((e) => e.eventType === 'app_terminated_event'));
  t.equal((await send(emu, 'DELETE', '/v2/apps/web')).status, 404);
});

t.test('killing tasks: replaced unless scale=true; one by id, by app, or a list (POST /v2/tasks/delete)', async (t) => {
  const emu = await writable();
  await send(emu, 'POST', '/v2/apps', { id: '/web', cmd: 'x', instances: 2 });
  const [a, b] = emu.tasksOf('/web');
  let from = emu.events.length;
  const one = await send(emu, 'DELETE', `/v2/apps/web/tasks/${a.id}`);
  t.equal(one.status, 200);
  t.match(one.body, { task: { id: a.id, appId: '/web', state: 'TASK_RUNNING' } });
  const after = emu.tasksOf('/web');
  t.equal(after.length, 2, 'Marathon launches a replacement');
  t.notOk(after.some((x) => x.id === a.id));
  t.same(steps(emu, from), [], 'a replacement is no deployment');
  t.same(typesSince(emu, from).filter((x) => x.startsWith('status')).slice(0, 3),
    ['status_update_event:TASK_KILLING', 'status_update_event:TASK_KILLED', 'status_update_event:TASK_STAGING']);

  from = emu.events.length;
  const scaled = await send(emu, 'DELETE', `/v2/apps/web/tasks/${b.id}?scale=true`);
  t.equal(scaled.status, 200);
  t.ok(scaled.body.deploymentId, 'scale=true answers the deployment');
  t.same(steps(emu, from), ['ScaleApplication']);
  t.equal(emu.tasksOf('/web').length, 1);
  t.equal(emu.app('/web').spec.instances, 1);

  t.same(await send(emu, 'DELETE', '/v2/apps/web/tasks/web.instance-nope._app.1').then((x) => [x.status, x.body]),
    [404, { message: "Task 'web.instance-nope._app.1' does not exist" }]);
  t.equal((await send(emu, 'DELETE', '/v2/apps/nope/tasks/x.y')).status, 404);
  t.same(await send(emu, 'DELETE', `/v2/apps/web/tasks/${emu.tasksOf('/web')[0].id}?scale=true&wipe=true`).then((x) => [x.status, x.body]),
    [400, { message: 'You cannot use scale and wipe at the same time.' }]);

  await send(emu, 'PUT', '/v2/apps/web', { instances: 3 });
  const ids = emu.tasksOf('/web').map((x) => x.id);
  const list = await send(emu, 'POST', '/v2/tasks/delete?scale=false', { ids: [ids[0], ids[1], 'web.instance-unknown._app.1'] });
  t.equal(list.status, 200);
  t.same(list.body.tasks.map((x: Json) => x.id).sort(), [ids[0], ids[1]].sort(), 'unknown ids are left out');
  t.equal(emu.tasksOf('/web').length, 3, 'both replaced');
  const invalid = await send(emu, 'POST', '/v2/tasks/delete', { ids: ['nodot'] });
  t.same([invalid.status, invalid.body], [400, { message: "Invalid task id 'nodot'. [nodot (of class java.lang.String)]" }]);
  t.equal((await send(emu, 'POST', '/v2/tasks/delete', { id: 'x' })).status, 422);
  const down = await send(emu, 'POST', '/v2/tasks/delete?scale=true', { ids: emu.tasksOf('/web').slice(1).map((x) => x.id) });
  t.ok(down.body.deploymentId);
  t.equal(emu.tasksOf('/web').length, 1);

  const none = await send(emu, 'DELETE', '/v2/apps/web/tasks?host=127.0.0&scale=true');
  t.same([none.status, emu.tasksOf('/web').length], [200, 1], 'host is an exact match, not a substring (Marathon: hostname.contains on an Option)');
  const all = await send(emu, 'DELETE', '/v2/apps/web/tasks?host=127.0.0.1&scale=true');
  t.ok(all.body.deploymentId);
  t.same([emu.tasksOf('/web').length, emu.app('/web').spec.instances], [0, 0]);
  t.equal((await getJson(`${emu.url}/v2/tasks/delete`)).status, 405, 'GET of a POST-only route');
  t.equal((await send(emu, 'PATCH', '/v2/apps/web', {})).status, 405);
});

t.test('write routes in 1.4: heavy plans name the app before and after', async (t) => {
  const emu = await writable('1.4');
  const from = emu.events.length;
  t.equal((await send(emu, 'POST', '/v2/apps', { id: '/web', cmd: 'x' })).status, 201);
  const info = emu.events.slice(from).find((e) => e.eventType === 'deployment_info')!.body.plan as Json;
  t.same(info.original.apps, [], 'not there before');
  t.same(info.target.apps.map((a: Json) => a.id), ['/web']);
  t.match(emu.tasksOf('/web')[0].id, /^web\.[0-9a-f-]{36}$/, 'legacy task ids');
});
