import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { silentLogger } from '../../src/log/logger.js';
import { MarathonClient } from '../../src/marathon/client.js';
import { MarathonError } from '../../src/marathon/http.js';
import { CallbackSubscription, removeSubscriptionsOf, withoutToken } from '../../src/marathon/subscription.js';
import { rejection } from '../helpers/marathon-errors.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

async function serve(t: { teardown(fn: () => unknown): void }, handler: Handler): Promise<{ url: string; requests: IncomingMessage[] }> {
  const requests: IncomingMessage[] = [];
  const server = createServer((req, res) => {
    requests.push(req);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** Marathon 1.4 with --event_subscriber http_callback (EventSubscriptionsResource semantics). */
function marathon14(subscribers: Set<string>): Handler {
  return (req, res) => {
    const u = new URL(req.url ?? '', 'http://x');
    if (u.pathname !== '/v2/eventSubscriptions') return json(res, 404, { message: 'not found' });
    const cb = u.searchParams.get('callbackUrl') ?? '';
    const stamp = { clientIp: '127.0.0.1', timestamp: new Date().toISOString() };
    switch (req.method) {
      case 'GET':
        return json(res, 200, { callbackUrls: [...subscribers] });
      case 'POST':
        if (!/^https?:\/\//.test(cb)) return json(res, 422, { message: 'Object is not valid', details: [{ path: '/callbackUrl' }] });
        subscribers.add(cb);
        return json(res, 200, { callbackUrl: cb, eventType: 'subscribe_event', ...stamp });
      case 'DELETE':
        subscribers.delete(cb);
        return json(res, 200, { callbackUrl: cb, eventType: 'unsubscribe_event', ...stamp });
      default:
        return json(res, 405, { message: 'method' });
    }
  };
}

const NOT_RUNNING =
  'http event callback system is not running on this Marathon instance. Please re-start this instance with\n"--event_subscriber http_callback".';

const CB = 'http://culm.example:8000/api/marathon/event?token=a&b=c d';

function setup(t: { teardown(fn: () => unknown): void }, url: string, extra: Partial<ConstructorParameters<typeof CallbackSubscription>[0]> = {}) {
  const client = new MarathonClient({ endpoints: [url], timeoutMs: 1000, log: silentLogger() });
  t.teardown(() => client.close());
  const sub = new CallbackSubscription({ client, callbackUrl: CB, checkIntervalMs: 40, log: silentLogger(), ...extra });
  t.teardown(() => sub.stop());
  return sub;
}

t.test('register POSTs our URL (encoded) and returns "registered"', async (t) => {
  const subs = new Set<string>();
  const srv = await serve(t, marathon14(subs));
  const sub = setup(t, srv.url);
  t.equal(await sub.register(), 'registered');
  t.equal(sub.registered, true);
  t.same([...subs], [CB], 'Marathon decoded exactly our URL');
  t.equal(srv.requests[0].method, 'POST');
  t.equal(srv.requests[0].headers.accept, 'application/json');
  t.equal(await sub.register(), 'registered', 'idempotent');
  t.same(await sub.subscribers(), [CB]);
});

t.test('callbacks unavailable → E_CALLBACKS_UNAVAILABLE', async (t) => {
  const cases: { desc: string; handler: Handler }[] = [
    { desc: '1.4 without --event_subscriber (400)', handler: (_req, res) => json(res, 400, { message: NOT_RUNNING }) },
    { desc: '1.5+ (404 JSON)', handler: (_req, res) => json(res, 404, { message: 'URI not found: /v2/eventSubscriptions' }) },
    {
      desc: '1.5+ (404 HTML)',
      handler: (_req, res) => {
        res.writeHead(404, { 'content-type': 'text/html' });
        res.end('<html><title>Error 404 Not Found</title></html>');
      },
    },
  ];
  for (const c of cases) {
    const srv = await serve(t, c.handler);
    const err = await rejection(setup(t, srv.url).register());
    t.equal(err.code, 'E_CALLBACKS_UNAVAILABLE', c.desc);
    t.ok(err.cause instanceof MarathonError, `${c.desc}: cause kept`);
  }
});

t.test('other errors pass through: 422 invalid URL, other 400s', async (t) => {
  const srv = await serve(t, marathon14(new Set()));
  const client = new MarathonClient({ endpoints: [srv.url], timeoutMs: 1000, log: silentLogger() });
  t.teardown(() => client.close());
  const bad = new CallbackSubscription({ client, callbackUrl: 'not a url', checkIntervalMs: 1000, log: silentLogger() });
  const err = await rejection(bad.register());
  t.equal(err.code, 'E_MARATHON_HTTP');
  t.equal(err.httpStatus, 422);

  const other = await serve(t, (_req, res) => json(res, 400, { message: 'something else' }));
  t.equal((await rejection(setup(t, other.url).register())).code, 'E_MARATHON_HTTP');
});

t.test('start registers, checks periodically, re-registers when our URL disappears', async (t) => {
  const subs = new Set<string>(['http://someone-else/cb']);
  const srv = await serve(t, marathon14(subs));
  const sub = setup(t, srv.url);
  await sub.start();
  t.ok(subs.has(CB));
  subs.delete(CB); // e.g. ZooKeeper state lost, or an operator removed it
  const deadline = Date.now() + 2000;
  while (!subs.has(CB) && Date.now() < deadline) await sleep(10);
  t.ok(subs.has(CB), 're-registered');
  t.ok(sub.lastCheckAt !== undefined);
  const posts = srv.requests.filter((r) => r.method === 'POST').length;
  t.equal(posts, 2, 'one POST at start, one after the loss');

  await sub.stop({ unregister: true });
  t.same([...subs], ['http://someone-else/cb'], 'only our URL deleted');
  t.equal(sub.registered, false);
  const count = srv.requests.length;
  await sleep(120);
  t.equal(srv.requests.length, count, 'no checks after stop');
});

t.test('start throws and leaves nothing running when callbacks are unavailable', async (t) => {
  const srv = await serve(t, (_req, res) => json(res, 400, { message: NOT_RUNNING }));
  const sub = setup(t, srv.url);
  t.equal((await rejection(sub.start())).code, 'E_CALLBACKS_UNAVAILABLE');
  await sleep(100);
  t.equal(srv.requests.length, 1);
});

t.test('a check finding callbacks gone calls onUnavailable; transient failures are only retried', async (t) => {
  const subs = new Set<string>();
  let mode: 'ok' | 'down' | 'gone' = 'ok';
  const ok = marathon14(subs);
  const srv = await serve(t, (req, res) => {
    if (mode === 'down') return json(res, 503, { message: 'no leader' });
    if (mode === 'gone') return json(res, 400, { message: NOT_RUNNING });
    ok(req, res);
  });
  const unavailable: MarathonError[] = [];
  const sub = setup(t, srv.url, { onUnavailable: (e) => unavailable.push(e) });
  await sub.start();
  mode = 'down';
  await sleep(120);
  t.same(unavailable, [], '5xx is not "unavailable"');
  mode = 'gone';
  const deadline = Date.now() + 2000;
  while (unavailable.length === 0 && Date.now() < deadline) await sleep(10);
  t.equal(unavailable[0]?.code, 'E_CALLBACKS_UNAVAILABLE');
  t.equal(sub.registered, false);
  await sub.stop();
});

t.test('stop without unregister sends no DELETE; a failing DELETE does not throw', async (t) => {
  const subs = new Set<string>();
  const srv = await serve(t, marathon14(subs));
  const sub = setup(t, srv.url);
  await sub.start();
  await sub.stop();
  t.ok(subs.has(CB));
  t.notOk(srv.requests.some((r) => r.method === 'DELETE'));

  const failing = await serve(t, (req, res) => (req.method === 'DELETE' ? json(res, 500, { message: 'x' }) : marathon14(new Set())(req, res)));
  const sub2 = setup(t, failing.url);
  await sub2.start();
  await sub2.stop({ unregister: true });
  t.pass('resolved');
});

t.test('removeSubscriptionsOf: every URL of a gone instance, whatever its token; never another one', async (t) => {
  const subscribers = new Set([
    'http://10.0.0.1:8000/api/marathon/event_callback?token=aaa',
    'http://10.0.0.1:8000/api/marathon/event_callback',
    'http://10.0.0.2:8000/api/marathon/event_callback?token=bbb',
    'http://10.0.0.1:8000/api/marathon/event_callback/other?token=aaa',
    'http://bamboo.example:8000/api/marathon/event_callback',
  ]);
  const s = await serve(t, marathon14(subscribers));
  const client = new MarathonClient({ endpoints: [s.url], timeoutMs: 1000, log: silentLogger() });
  t.teardown(() => client.close());
  t.equal(await removeSubscriptionsOf(client, 'http://10.0.0.1:8000/api/marathon/event_callback'), 2);
  t.same([...subscribers], [
    'http://10.0.0.2:8000/api/marathon/event_callback?token=bbb',
    'http://10.0.0.1:8000/api/marathon/event_callback/other?token=aaa',
    'http://bamboo.example:8000/api/marathon/event_callback',
  ]);
  t.equal(withoutToken('http://x/cb?token=t'), 'http://x/cb');
  t.equal(withoutToken('http://x/cb?a=1&token=t&b=2'), 'http://x/cb?a=1&b=2');
  const gone = await serve(t, (_req, res) => json(res, 404, { message: 'HTTP 404 Not Found' }));
  const modern = new MarathonClient({ endpoints: [gone.url], timeoutMs: 1000, log: silentLogger() });
  t.teardown(() => modern.close());
  t.equal(await removeSubscriptionsOf(modern, 'http://10.0.0.1:8000/api/marathon/event_callback'), 0, 'Marathon 1.5+: nothing to remove');
});
