import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import t from 'tap';
import { createLogger, silentLogger } from '../../src/log/logger.js';
import { MarathonClient, type MarathonClientOptions } from '../../src/marathon/client.js';
import { deadUrl, rejection } from '../helpers/marathon-errors.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
interface Srv {
  url: string;
  requests: IncomingMessage[];
}

/** A real HTTP server on 127.0.0.1:0, closed (connections included) at the end of the test. */
async function serve(t: { teardown(fn: () => unknown): void }, handler: Handler): Promise<Srv> {
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
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}

function client(t: { teardown(fn: () => unknown): void }, opts: Partial<MarathonClientOptions> & { endpoints: string[] }): MarathonClient {
  const c = new MarathonClient({ timeoutMs: 1000, log: silentLogger(), ...opts });
  t.teardown(() => c.close());
  return c;
}

const APPS = { apps: [{ id: '/web', tasks: [] }] };

t.test('errors name the query parameters, never their values (callbackUrl carries the callback secret)', async (t) => {
  const m = await serve(t, (_req, res) => json(res, 500, { message: 'boom' }));
  const c = client(t, { endpoints: [m.url] });
  const cb = 'http://culm:8000/api/marathon/event_callback?token=s3cr3t-value';
  const err = await c.request('POST', '/v2/eventSubscriptions', { query: { callbackUrl: cb } }).catch((e: unknown) => e);
  t.ok(err instanceof Error, 'the request failed');
  const text = `${(err as Error).message} ${decodeURIComponent((err as Error).message)}`;
  t.notMatch(text, 's3cr3t-value', 'no secret in the message, encoded or not');
  t.match((err as Error).message, /callbackUrl=\[redacted\]/, 'the parameter is named');
});

t.test('getApps: path, embeds, headers, basic auth', async (t) => {
  const s = await serve(t, (_req, res) => json(res, 200, APPS));
  const c = client(t, { endpoints: [s.url], user: 'marathon', password: 's3cret' });
  t.same(await c.getApps(), APPS);
  const req = s.requests[0];
  const url = new URL(req.url ?? '', 'http://x');
  t.equal(url.pathname, '/v2/apps');
  t.same(url.searchParams.getAll('embed'), ['apps.tasks', 'apps.deployments', 'apps.readiness']);
  t.equal(req.headers.accept, 'application/json');
  t.equal(req.headers.authorization, `Basic ${Buffer.from('marathon:s3cret').toString('base64')}`);
  t.equal(c.currentEndpoint(), s.url);
});

t.test('no authorization header without a user; credentials in the URL are used and stripped', async (t) => {
  const s = await serve(t, (_req, res) => json(res, 200, APPS));
  await client(t, { endpoints: [s.url] }).getApps();
  t.equal(s.requests[0].headers.authorization, undefined);
  const withCreds = s.url.replace('http://', 'http://u:p%40ss@');
  const c = client(t, { endpoints: [withCreds] });
  await c.getApps();
  t.equal(s.requests[1].headers.authorization, `Basic ${Buffer.from('u:p@ss').toString('base64')}`);
  t.equal(c.currentEndpoint(), s.url, 'no credentials in the endpoint we show');
});

t.test('base path prefix and comma-separated endpoint lists', async (t) => {
  const s = await serve(t, (_req, res) => json(res, 200, APPS));
  const dead = await deadUrl();
  const c = client(t, { endpoints: [`${dead},${s.url}/marathon/`] });
  await c.getApps();
  t.match(s.requests[0].url, /^\/marathon\/v2\/apps\?/);
  t.equal(c.currentEndpoint(), `${s.url}/marathon`);
});

t.test('failover on 5xx and sticking to the endpoint that works', async (t) => {
  const bad = await serve(t, (_req, res) => json(res, 503, { message: 'Leader election in progress' }));
  const good = await serve(t, (_req, res) => json(res, 200, APPS));
  const calls: [string, string][] = [];
  const c = client(t, { endpoints: [bad.url, good.url], onRequest: (e, outcome) => calls.push([e, outcome]) });
  t.equal(c.currentEndpoint(), bad.url);
  await c.getApps();
  t.equal(c.currentEndpoint(), good.url, 'switched');
  await c.getApps();
  t.equal(bad.requests.length, 1, 'the failing endpoint is not retried first');
  t.equal(good.requests.length, 2);
  t.same(calls, [
    [bad.url, 'error'],
    [good.url, 'ok'],
    [good.url, 'ok'],
  ]);
});

t.test('failover on connection refused', async (t) => {
  const good = await serve(t, (_req, res) => json(res, 200, APPS));
  const c = client(t, { endpoints: [await deadUrl(), good.url] });
  t.same(await c.getApps(), APPS);
  const only = client(t, { endpoints: [await deadUrl()] });
  const err = await rejection(only.getApps());
  t.equal(err.code, 'E_MARATHON_CONNECT');
});

t.test('timeout waiting for headers, then failover', async (t) => {
  const hang = await serve(t, () => undefined);
  const good = await serve(t, (_req, res) => json(res, 200, APPS));
  const c = client(t, { endpoints: [hang.url, good.url], timeoutMs: 600 });
  const began = Date.now();
  t.same(await c.getApps(), APPS);
  t.ok(Date.now() - began < 3000, 'bounded by the timeout');
  const err = await rejection(client(t, { endpoints: [hang.url], timeoutMs: 150 }).getApps());
  t.equal(err.code, 'E_MARATHON_TIMEOUT');
  t.equal(err.status, 504);
});

t.test('the deadline covers the body: a trickling body times out', async (t) => {
  const trickle = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"apps":[');
    const timer = setInterval(() => res.write(' '), 30);
    res.on('close', () => clearInterval(timer));
  });
  const err = await rejection(client(t, { endpoints: [trickle.url], timeoutMs: 250 }).getApps());
  t.equal(err.code, 'E_MARATHON_TIMEOUT', 'undici idle timeouts alone would never fire here');
});

t.test('HTML pages, bad JSON and wrong shapes fail over', async (t) => {
  const html = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<html><head><title>Login required</title></head><body>…</body></html>');
  });
  const broken = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"apps": [');
  });
  const shape = await serve(t, (_req, res) => json(res, 200, { apps: {} }));
  const good = await serve(t, (_req, res) => json(res, 200, APPS));

  const cases = [
    { desc: 'text/html', srv: html, code: 'E_MARATHON_CONTENT_TYPE', msg: /Login required/ },
    { desc: 'cut short', srv: broken, code: 'E_MARATHON_BODY', msg: /ends before its JSON object/ },
    { desc: 'apps not an array', srv: shape, code: 'E_MARATHON_BODY', msg: /"apps" array/ },
  ];
  for (const c of cases) {
    const alone = await rejection(client(t, { endpoints: [c.srv.url] }).getApps());
    t.equal(alone.code, c.code, `${c.desc}: code`);
    t.match(alone.message, c.msg, `${c.desc}: message`);
    t.same(await client(t, { endpoints: [c.srv.url, good.url] }).getApps(), APPS, `${c.desc}: failover`);
  }
});

t.test('streamApps: apps handed over as they arrive; a half-read answer is dropped with its sink', async (t) => {
  const apps = Array.from({ length: 3000 }, (_, i) => ({ id: `/app${i}`, labels: { s: '"]},[{' }, tasks: [{ id: `t${i}`, host: 'h', ports: [i] }] }));
  const text = JSON.stringify({ apps });
  // Cut after 60 % of the body: the connection dies half-way.
  const dying = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write(text.slice(0, Math.floor(text.length * 0.6)), () => setTimeout(() => res.socket?.destroy(), 20));
  });
  // Small pieces with pauses: the apps before a pause are already delivered when it ends.
  let deliveredDuringPause = -1;
  let sinks = 0;
  let current: unknown[] = [];
  const trickling = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    const pieces = Math.ceil(text.length / 50_000);
    let k = 0;
    const next = (): void => {
      if (k === 2) deliveredDuringPause = current.length;
      if (k === pieces) return void res.end();
      res.write(text.slice(k * 50_000, ++k * 50_000), () => setTimeout(next, 5));
    };
    next();
  });
  const c = client(t, { endpoints: [dying.url, trickling.url], timeoutMs: 10_000 });
  const got = await c.streamApps(() => {
    sinks++;
    const mine: unknown[] = [];
    current = mine;
    return { add: (raw) => mine.push(raw), result: () => mine };
  });
  t.equal(sinks, 2, 'one sink per endpoint tried');
  t.same(got, apps, 'the second endpoint\'s apps only, all of them, in order');
  t.ok(deliveredDuringPause > 0 && deliveredDuringPause < apps.length, `apps delivered before the answer was complete (${deliveredDuringPause})`);

  const alone = await rejection(client(t, { endpoints: [dying.url] }).streamApps(() => ({ add: () => undefined, result: () => 0 })));
  t.match(alone.code, /E_MARATHON_(CONNECT|BODY)/, `a body cut by the connection: ${alone.code}`);
});

t.test('404 from Marathon (JSON) is definitive: typed error, no failover', async (t) => {
  const nf = await serve(t, (_req, res) => json(res, 404, { message: "App '/x' does not exist" }));
  const other = await serve(t, (_req, res) => json(res, 200, {}));
  const err = await rejection(client(t, { endpoints: [nf.url, other.url] }).getJson('/v2/apps/x'));
  t.equal(err.code, 'E_MARATHON_NOT_FOUND');
  t.equal(err.httpStatus, 404);
  t.match(err.message, "App '/x' does not exist");
  t.equal(other.requests.length, 0);
});

t.test('getApp: one app with the resync\'s embeds; Marathon\'s 404 is null, other failures throw', async (t) => {
  const s = await serve(t, (req, res) => {
    const url = new URL(req.url ?? '', 'http://x');
    if (url.pathname === '/v2/apps/grp/web') json(res, 200, { app: { id: '/grp/web', tasks: [] } });
    else if (url.pathname === '/v2/apps/shape') json(res, 200, { apps: [] });
    else if (url.pathname === '/v2/apps/down') json(res, 503, { message: 'no leader' });
    else json(res, 404, { message: `App '${url.pathname.slice('/v2/apps'.length)}' does not exist` });
  });
  const c = client(t, { endpoints: [s.url] });
  t.same(await c.getApp('/grp/web'), { id: '/grp/web', tasks: [] });
  const url = new URL(s.requests[0].url ?? '', 'http://x');
  t.same(url.searchParams.getAll('embed'), ['app.tasks', 'app.deployments', 'app.readiness']);
  t.equal(await c.getApp('/gone'), null, '404 with Marathon\'s JSON: the app does not exist');
  await t.rejects(c.getApp('/shape'), { code: 'E_MARATHON_BODY' }, 'an answer without "app" is a failed read');
  await t.rejects(c.getApp('/down'), { code: 'E_MARATHON_HTTP' });
  t.equal(await c.getApp('/a b'), null);
  t.equal(new URL(s.requests.at(-1)!.url ?? '', 'http://x').pathname, '/v2/apps/a%20b', 'segments are encoded');
});

t.test('404 that is not JSON (not Marathon) fails over', async (t) => {
  const nf = await serve(t, (_req, res) => {
    res.writeHead(404, { 'content-type': 'text/html' });
    res.end('<h1>Not Found</h1>');
  });
  const good = await serve(t, (_req, res) => json(res, 200, { ok: true }));
  t.same(await client(t, { endpoints: [nf.url, good.url] }).getJson('/v2/info'), { ok: true });
});

t.test('other 4xx: error with the message, no failover', async (t) => {
  const bad = await serve(t, (_req, res) => json(res, 422, { message: 'Object is not valid', details: [] }));
  const other = await serve(t, (_req, res) => json(res, 200, {}));
  const err = await rejection(client(t, { endpoints: [bad.url, other.url] }).request('POST', '/v2/x'));
  t.equal(err.code, 'E_MARATHON_HTTP');
  t.equal(err.httpStatus, 422);
  t.match(err.message, 'Object is not valid');
  t.equal(other.requests.length, 0);
});

t.test('401/403: other endpoints are tried, and the auth problem wins the final code', async (t) => {
  const denied = await serve(t, (_req, res) => {
    res.writeHead(401, { 'www-authenticate': 'Basic realm="Mesosphere"', 'content-type': 'text/html' });
    res.end('<html><head><title>Error 401 Unauthorized</title></head></html>');
  });
  const down = await serve(t, (_req, res) => json(res, 502, { message: 'Could not determine the current leader' }));
  const err = await rejection(client(t, { endpoints: [denied.url, down.url], user: 'u', password: 'wrong' }).getApps());
  t.equal(err.code, 'E_MARATHON_AUTH');
  t.equal(down.requests.length, 1, 'the other endpoint was tried');
  t.match(err.message, /all 2 Marathon endpoints failed/);
  t.match(err.message, /Unauthorized/);
  t.match(err.message, /Could not determine the current leader/);
  t.ok(err.cause instanceof AggregateError);
});

t.test('all endpoints 5xx: last code, every message', async (t) => {
  const a = await serve(t, (_req, res) => json(res, 500, { message: 'boom a' }));
  const b = await serve(t, (_req, res) => json(res, 503, { message: 'boom b' }));
  const err = await rejection(client(t, { endpoints: [a.url, b.url] }).getApps());
  t.equal(err.code, 'E_MARATHON_HTTP');
  t.equal(err.httpStatus, 503);
  t.match(err.message, /boom a.*boom b/);
});

t.test('request(): methods, query encoding, JSON body', async (t) => {
  const bodies: string[] = [];
  const s = await serve(t, (req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      bodies.push(body);
      json(res, 200, { method: req.method });
    });
  });
  const c = client(t, { endpoints: [s.url] });
  const cb = 'http://culm:8000/api/marathon/event?x=1&y=a b';
  t.same(await c.request('POST', '/v2/eventSubscriptions', { query: { callbackUrl: cb } }), { method: 'POST' });
  t.same(await c.request('DELETE', '/v2/eventSubscriptions', { query: { callbackUrl: cb } }), { method: 'DELETE' });
  t.same(await c.request('PUT', '/v2/x', { body: { a: 1 } }), { method: 'PUT' });
  const u = new URL(s.requests[0].url ?? '', 'http://x');
  t.equal(u.searchParams.get('callbackUrl'), cb, 'round-trips through encoding');
  t.equal(s.requests[2].headers['content-type'], 'application/json');
  t.same(bodies, ['', '', '{"a":1}']);
});

t.test('caller abort: no failover, E_MARATHON_ABORTED', async (t) => {
  const hang = await serve(t, () => undefined);
  const other = await serve(t, (_req, res) => json(res, 200, APPS));
  const c = client(t, { endpoints: [hang.url, other.url], timeoutMs: 5000 });
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 50);
  const err = await rejection(c.getApps({ signal: ac.signal }));
  t.equal(err.code, 'E_MARATHON_ABORTED');
  t.equal(other.requests.length, 0);
});

t.test('the password never reaches logs or error messages', async (t) => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  const log = createLogger('trace', sink);
  const down = await serve(t, (_req, res) => json(res, 503, { message: 'nope' }));
  const dead = await deadUrl();
  const errs: string[] = [];
  for (const opts of [
    { endpoints: [down.url, dead], user: 'admin', password: 'hunter2-secret' },
    { endpoints: [down.url.replace('http://', 'http://admin:hunter2-secret@'), dead] },
  ]) {
    const c = new MarathonClient({ timeoutMs: 500, log, ...opts });
    t.teardown(() => c.close());
    const err = await rejection(c.getApps());
    errs.push(err.message, JSON.stringify(err), String(err.stack));
  }
  t.ok(lines.length > 0, 'something was logged');
  t.notMatch(lines.join(''), /hunter2/);
  t.notMatch(errs.join(''), /hunter2/);
  t.notMatch(lines.join(''), /YWRtaW46aHVudGVy/, 'nor the base64 header');
});
