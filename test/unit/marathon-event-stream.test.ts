import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { silentLogger } from '../../src/log/logger.js';
import { EventStream, type EventStreamOptions } from '../../src/marathon/event-stream.js';
import type { MarathonError } from '../../src/marathon/http.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { deadUrl } from '../helpers/marathon-errors.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
interface Srv {
  url: string;
  requests: IncomingMessage[];
  /** Sockets currently open on the server side. */
  open(): number;
}

async function serve(t: { teardown(fn: () => unknown): void }, handler: Handler): Promise<Srv> {
  const requests: IncomingMessage[] = [];
  let open = 0;
  const server = createServer((req, res) => {
    requests.push(req);
    handler(req, res);
  });
  server.on('connection', (socket) => {
    open++;
    socket.on('close', () => open--);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, open: () => open };
}

/** Jetty's EventSourceServlet: only an Accept value exactly "text/event-stream" gets the stream, else 405 HTML. */
function jetty(onStream: (res: ServerResponse, req: IncomingMessage) => void): Handler {
  return (req, res) => {
    const accepts: string[] = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i].toLowerCase() === 'accept') accepts.push(req.rawHeaders[i + 1]);
    if (!accepts.includes('text/event-stream')) {
      res.writeHead(405, { 'content-type': 'text/html;charset=ISO-8859-1' });
      res.end('<html><head><title>Error 405 HTTP method GET is not supported by this URL</title></head><body></body></html>');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream;charset=UTF-8', connection: 'close' });
    res.flushHeaders();
    onStream(res, req);
  };
}

function frame(type: string, data: object): string {
  return `event: ${type}\r\ndata: ${JSON.stringify({ ...data, eventType: type })}\r\n\r\n`;
}

/** A keepalive like Jetty's heartbeat: "\r" and "\n" as two writes; `then` runs after the second. */
function keepalive(res: ServerResponse, then?: () => void): void {
  res.write('\r');
  setImmediate(() => {
    if (res.writable) res.write('\n');
    then?.();
  });
}

interface Recorder {
  events: [string, string][];
  connects: string[];
  errors: (MarathonError | undefined)[];
  log: string[];
}

/**
 * The stream under test on a fake clock (the watchdog, the reconnect delays and its times): time moves only by
 * `clock.advance`, or by `until(…, stepMs)`. The clock starts at the wall clock's now, as its times are epoch ms.
 */
function stream(
  t: { teardown(fn: () => unknown): void },
  opts: Partial<EventStreamOptions> & { endpoints: string[] },
  clock = new FakeClock(),
): [EventStream, Recorder, FakeClock] {
  clock.time = Date.now();
  const rec: Recorder = { events: [], connects: [], errors: [], log: [] };
  const s = new EventStream({
    timers: clock,
    watchdogMs: 2000,
    log: silentLogger(),
    backoff: { initialMs: 20, maxMs: 80, stableMs: 10_000 },
    onEvent: (type, data) => rec.events.push([type, data]),
    onConnected: ({ endpoint }) => {
      rec.connects.push(endpoint);
      rec.log.push('connected');
    },
    onDisconnected: (err) => rec.errors.push(err),
    ...opts,
  });
  t.teardown(() => s.stop());
  return [s, rec, clock];
}

/**
 * Waits (real time, for the sockets) until `cond` holds; with a clock and `stepMs`, fake time also moves on by
 * `stepMs` each round in which it does not (reconnect delays pass).
 */
async function until(cond: () => boolean, clock?: FakeClock, stepMs = 0): Promise<boolean> {
  const end = Date.now() + 3000;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(5);
    if (clock && !cond()) await clock.advance(stepMs);
  }
  return true;
}

/** True when `p` settles within a second of real time (a stop that waited on a timer would never: the clock stands still). */
async function settlesAtOnce(p: Promise<unknown>): Promise<boolean> {
  return Promise.race([p.then(() => true), sleep(1000).then(() => false)]);
}

t.test('connects with exactly one Accept value and auth, delivers events after onConnected, survives split keepalives', async (t) => {
  const srv = await serve(
    t,
    jetty((res) => {
      res.write(frame('event_stream_attached', { remoteAddress: '127.0.0.1' }));
      keepalive(res, () => keepalive(res, () => res.write(frame('status_update_event', { taskStatus: 'TASK_RUNNING', appId: '/web' }))));
    }),
  );
  const [s, rec, clock] = stream(t, {
    endpoints: [srv.url],
    user: 'u',
    password: 'p',
    onEvent: (type, data) => {
      rec.events.push([type, data]);
      rec.log.push(type);
    },
  });
  t.equal(s.connected, false);
  s.start();
  t.ok(await until(() => rec.events.length === 2), 'two events');
  t.same(rec.log, ['connected', 'event_stream_attached', 'status_update_event'], 'onConnected first');
  t.equal(JSON.parse(rec.events[1][1]).appId, '/web');
  t.equal(s.connected, true);
  t.equal(s.connectedEndpoint, srv.url);
  t.ok(s.lastEventAt && s.lastByteAt && s.lastByteAt >= s.lastEventAt);
  const req = srv.requests[0];
  t.equal(req.url, '/v2/events');
  const acceptValues = req.rawHeaders.filter((_, i) => i % 2 === 0 && req.rawHeaders[i].toLowerCase() === 'accept');
  t.equal(acceptValues.length, 1, 'one Accept header');
  t.equal(req.headers.accept, 'text/event-stream');
  t.equal(req.headers.authorization, `Basic ${Buffer.from('u:p').toString('base64')}`);

  await s.stop();
  t.equal(s.connected, false);
  t.ok(await until(() => srv.open() === 0), 'socket closed after stop');
  t.equal(clock.armed, 0, 'no timer left after stop');
  await clock.advance(10_000);
  await sleep(20);
  t.equal(srv.requests.length, 1, 'no reconnect after stop');
});

t.test('event_type filter in the query, kept across a 302 to the leader', async (t) => {
  const leader = await serve(t, jetty((res) => res.write(frame('event_stream_attached', {}))));
  const follower = await serve(t, (req, res) => {
    // Marathon 1.8+: a non-leader redirects, putting the query in the Location
    res.writeHead(302, { location: `${leader.url}${req.url}` });
    res.end();
  });
  const proxyish = await serve(t, (_req, res) => {
    // a Location without the query: ours must be kept
    res.writeHead(307, { location: `${follower.url}/v2/events` });
    res.end();
  });
  const [s, rec] = stream(t, { endpoints: [proxyish.url], eventTypes: ['status_update_event', 'api_post_event'] });
  s.start();
  t.ok(await until(() => rec.events.length === 1));
  t.same(rec.connects, [leader.url], 'onConnected names the leader');
  const q = new URL(leader.requests[0].url ?? '', 'http://x').searchParams;
  t.same(q.getAll('event_type'), ['status_update_event', 'api_post_event']);
  t.equal(leader.requests[0].headers.accept, 'text/event-stream');
});

t.test('redirect loop: E_MARATHON_REDIRECT after 5 hops, retried with backoff', async (t) => {
  let hops = 0;
  const loop = await serve(t, (req, res) => {
    hops++;
    res.writeHead(302, { location: req.url ?? '/' });
    res.end();
  });
  const [s, rec, clock] = stream(t, { endpoints: [loop.url] });
  s.start();
  t.ok(await until(() => rec.errors.length >= 2, clock, 20));
  await s.stop();
  t.equal(rec.errors[0]?.code, 'E_MARATHON_REDIRECT');
  t.equal(hops % 6, 0, 'one request plus 5 redirects per attempt');
});

t.test('405 HTML (a proxy that mangles Accept): clear error, retried with backoff', async (t) => {
  const srv = await serve(t, (_req, res) => {
    res.writeHead(405, { 'content-type': 'text/html' });
    res.end('<html><head><title>Error 405 HTTP method GET is not supported by this URL</title></head></html>');
  });
  const [s, rec, clock] = stream(t, { endpoints: [srv.url] });
  s.start();
  t.ok(await until(() => rec.errors.length >= 3, clock, 20));
  await s.stop();
  const err = rec.errors[0];
  t.equal(err?.code, 'E_MARATHON_HTTP');
  t.equal(err?.httpStatus, 405);
  t.match(err?.message, /exactly "text\/event-stream"/);
  t.match(err?.message, /HTTP method GET is not supported/);
  t.same(rec.connects, []);
});

t.test('200 that is not an event stream: E_MARATHON_CONTENT_TYPE', async (t) => {
  const srv = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<html><title>Marathon UI</title></html>');
  });
  const [s, rec] = stream(t, { endpoints: [srv.url] });
  s.start();
  t.ok(await until(() => rec.errors.length >= 1));
  await s.stop();
  t.equal(rec.errors[0]?.code, 'E_MARATHON_CONTENT_TYPE');
  t.match(rec.errors[0]?.message, /Marathon UI/);
});

t.test('401: E_MARATHON_AUTH', async (t) => {
  const srv = await serve(t, (_req, res) => {
    res.writeHead(401, { 'www-authenticate': 'Basic realm="Mesosphere"' });
    res.end();
  });
  const [s, rec] = stream(t, { endpoints: [srv.url] });
  s.start();
  t.ok(await until(() => rec.errors.length >= 1));
  await s.stop();
  t.equal(rec.errors[0]?.code, 'E_MARATHON_AUTH');
});

t.test('watchdog: silence aborts and reconnects (onConnected again: resync)', async (t) => {
  const srv = await serve(t, jetty((res) => res.write(frame('event_stream_attached', {}))));
  const [s, rec, clock] = stream(t, { endpoints: [srv.url], watchdogMs: 400 });
  s.start();
  t.ok(await until(() => rec.connects.length === 1), 'connected');
  await clock.advance(399);
  t.same(rec.errors, [], 'not before the watchdog time');
  await clock.advance(1);
  t.ok(await until(() => rec.connects.length >= 2, clock, 20), 'reconnected');
  await s.stop();
  const silent = rec.errors.find((e) => e?.code === 'E_MARATHON_TIMEOUT' && /established stream/.test(e.message));
  t.ok(silent, 'a watchdog timeout on the established stream');
});

t.test('watchdog also bounds connecting (no headers)', async (t) => {
  const srv = await serve(t, () => undefined);
  const [s, rec, clock] = stream(t, { endpoints: [srv.url], watchdogMs: 150 });
  s.start();
  t.ok(await until(() => srv.requests.length === 1), 'the request is in');
  await clock.advance(150);
  t.ok(await until(() => rec.errors.length >= 1));
  await s.stop();
  t.equal(rec.errors[0]?.code, 'E_MARATHON_TIMEOUT');
  t.match(rec.errors[0]?.message, /while connecting/);
});

t.test('keepalives alone keep the stream up', async (t) => {
  let marathon: ServerResponse | undefined;
  const srv = await serve(t, jetty((res) => { marathon = res; }));
  const [s, rec, clock] = stream(t, { endpoints: [srv.url], watchdogMs: 600 });
  s.start();
  t.ok(await until(() => rec.connects.length === 1 && marathon !== undefined), 'connected');
  for (let i = 0; i < 10; i++) {
    // a keepalive every 100 ms: 1 s in all, well past the 600 ms watchdog
    const before = s.lastByteAt;
    keepalive(marathon!);
    t.ok(await until(() => s.lastByteAt !== before), `keepalive ${i + 1} arrived`);
    await clock.advance(100);
  }
  t.equal(rec.connects.length, 1, 'never reconnected');
  t.same(rec.errors, []);
  t.same(rec.events, [], 'keepalives are not events');
  await s.stop();
});

t.test('stream closed by Marathon (leader change): reconnects to the same endpoint', async (t) => {
  let n = 0;
  const srv = await serve(
    t,
    jetty((res) => {
      n++;
      res.write(frame('event_stream_attached', { n }));
      if (n === 1) setImmediate(() => res.end());
    }),
  );
  const other = await serve(t, jetty((res) => res.write(frame('event_stream_attached', {}))));
  const [s, rec, clock] = stream(t, { endpoints: [srv.url, other.url] });
  s.start();
  t.ok(await until(() => rec.connects.length === 2, clock, 20));
  await s.stop();
  t.same(rec.connects, [srv.url, srv.url]);
  t.same(rec.errors, [undefined], 'a clean end is not an error');
  t.equal(other.requests.length, 0);
});

t.test('fails over to the next endpoint when one is down', async (t) => {
  const good = await serve(t, jetty((res) => res.write(frame('event_stream_attached', {}))));
  const [s, rec, clock] = stream(t, { endpoints: [await deadUrl(), good.url] });
  s.start();
  t.ok(await until(() => rec.connects.length === 1, clock, 20));
  await s.stop();
  t.same(rec.connects, [good.url]);
  t.equal(rec.errors[0]?.code, 'E_MARATHON_CONNECT');
});

t.test('backoff is capped and never below half the cap', async (t) => {
  const clock = new FakeClock();
  // The reconnect delays the stream asks its clock for (the watchdog's 2 s aside).
  const delays: number[] = [];
  const arm = clock.setTimeout.bind(clock);
  clock.setTimeout = (fn, ms) => {
    if (ms !== 2000) delays.push(ms);
    return arm(fn, ms);
  };
  const [s, rec] = stream(t, { endpoints: [await deadUrl()], watchdogMs: 2000, backoff: { initialMs: 10, maxMs: 40 } }, clock);
  s.start();
  t.ok(await until(() => rec.errors.length >= 8, clock, 40));
  await s.stop();
  // from the 3rd failure on the delay is capped: 20..40 ms (equal jitter)
  t.ok(delays.length >= 7 && delays.every((d) => d <= 40) && delays.slice(3).every((d) => d >= 20), `capped delays ${delays.join(',')}`);
});

t.test('stop() during backoff and during connect resolves quickly, leaves no socket', async (t) => {
  const hang = await serve(t, () => undefined);
  const [s1, rec1, clock1] = stream(t, { endpoints: [hang.url], watchdogMs: 10_000 });
  s1.start();
  t.ok(await until(() => hang.open() === 1));
  t.ok(await settlesAtOnce(s1.stop()), 'stop while waiting for headers (the 10 s watchdog never passes)');
  t.equal(clock1.armed, 0, 'no timer left');
  t.ok(await until(() => hang.open() === 0), 'socket closed');
  t.same(rec1.errors, [], 'stopping is not an error');

  const [s2, rec2, clock2] = stream(t, { endpoints: [await deadUrl()], backoff: { initialMs: 5000, maxMs: 5000 } });
  s2.start();
  t.ok(await until(() => rec2.errors.length === 1));
  t.ok(await settlesAtOnce(s2.stop()), 'stop while sleeping (backoff is 5 s, the clock stands still)');
  t.equal(clock2.armed, 0, 'no timer left');

  // stop() is idempotent and start() after stop() works
  await s2.stop();
  const good = await serve(t, jetty((res) => res.write(frame('event_stream_attached', {}))));
  const [s3, rec3] = stream(t, { endpoints: [good.url] });
  s3.start();
  t.ok(await until(() => rec3.connects.length === 1));
  await s3.stop();
  s3.start();
  t.ok(await until(() => rec3.connects.length === 2), 'restarted');
  await s3.stop();
  t.ok(await until(() => good.open() === 0));
});

t.test('a throwing onEvent or rejecting onConnected does not break the stream', async (t) => {
  const srv = await serve(
    t,
    jetty((res) => {
      res.write(frame('a', {}));
      res.write(frame('b', {}));
    }),
  );
  const seen: string[] = [];
  const [s] = stream(t, {
    endpoints: [srv.url],
    onConnected: () => Promise.reject(new Error('resync failed')),
    onEvent: (type) => {
      seen.push(type);
      throw new Error('handler bug');
    },
  });
  s.start();
  t.ok(await until(() => seen.length === 2));
  t.equal(s.connected, true);
  await s.stop();
});
