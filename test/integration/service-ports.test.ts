/**
 * Every service port bound (HAProxy.BindServicePorts) through real culm, HAProxy and the Marathon emulator:
 * a TCP echo service on its service port (HAPROXY_0_MODE=tcp) and on Bamboo's BAMBOO_TCP_PORT, a two-port app
 * on both ports (and port 1 by its vhost on the HTTP frontend), a port clash that leaves only the first app's port (and the rest applies), a task added to
 * a TCP app through the runtime API (no reload). Service ports are free ports on 127.0.0.1.
 */
import t from 'tap';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { MarathonEmulator } from '../helpers/marathon-emulator.js';
import { startCulm } from '../helpers/culm.js';
import { eventually, freePort, get, rawRequest, startBackend, type Backend } from '../helpers/net.js';

interface Echo { port: number; close(): Promise<void> }

/** A TCP server on 127.0.0.1 that answers each line with `<its port> <line>`. */
async function startEcho(): Promise<Echo> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    s.on('data', (d) => s.write(`${port} ${d.toString()}`));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

/** One line sent over TCP to 127.0.0.1:port, the answer (without its newline), or the error's code. */
function say(port: number, line: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let got = '';
    const done = (answer: string): void => {
      s.destroy();
      resolve(answer);
    };
    s.setTimeout(3000, () => done('timeout'));
    s.on('connect', () => s.write(`${line}\n`));
    s.on('data', (d) => {
      got += d.toString();
      if (got.includes('\n')) done(got.trim());
    });
    s.on('error', (err: NodeJS.ErrnoException) => done(err.code ?? 'error'));
    s.on('close', () => done(got.trim() || 'closed'));
  });
}

t.test('TCP services, every service port, a port clash, a TCP task through the runtime API', async (t) => {
  const marathon = await MarathonEmulator.start({ version: '1.10', keepaliveMs: 1000 });
  const echo = [await startEcho(), await startEcho(), await startEcho()];
  const http: Backend[] = [];
  for (let i = 0; i < 4; i++) http.push(await startBackend());
  const sp = { echo: await freePort(), twoA: await freePort(), twoB: await freePort(), clash: await freePort(), legacy: await freePort(), legacyHttp: await freePort() };

  marathon.addApp({ id: '/echo', servicePorts: [sp.echo], labels: { HAPROXY_0_MODE: 'tcp' } });
  marathon.addTask('/echo', { port: echo[0].port });
  marathon.addApp({ id: '/two', servicePorts: [sp.twoA, sp.twoB], labels: { HAPROXY_1_VHOST: 'two-b.example.com' } });
  marathon.addTask('/two', { port: http[0].port, extraPorts: [http[1].port] });
  marathon.addApp({ id: '/clash-a', servicePorts: [sp.clash] });
  marathon.addTask('/clash-a', { port: http[2].port });
  marathon.addApp({ id: '/clash-b', servicePorts: [sp.clash] });
  marathon.addTask('/clash-b', { port: http[3].port });
  marathon.addApp({ id: '/legacy', servicePorts: [sp.legacyHttp], env: { BAMBOO_TCP_PORT: String(sp.legacy) } });
  marathon.addTask('/legacy', { port: echo[1].port });

  const culm = await startCulm({
    marathon: marathon.url,
    env: { CULM_EVENT_MODE: 'sse', CULM_BIND_SERVICE_PORTS: 'true', CULM_SERVICE_PORT_BIND: '127.0.0.1' },
  });
  t.teardown(async () => {
    await culm.destroy();
    await marathon.stop();
    await Promise.all([...echo, ...http].map((x) => x.close()));
  });
  await culm.waitReady();

  t.equal(await say(sp.echo, 'hello'), `${echo[0].port} hello`, 'HAPROXY_0_MODE=tcp: the echo service answers on its service port');
  t.match(culm.config(), `frontend ::echo-port-${sp.echo}\n    bind 127.0.0.1:${sp.echo}\n    mode tcp`, 'a TCP frontend on 127.0.0.1');
  t.equal((await get(`${culm.frontend}/echo`)).status, 503, 'and no HTTP route to it');
  t.equal(await say(sp.legacy, 'bamboo'), `${echo[1].port} bamboo`, 'BAMBOO_TCP_PORT: TCP to port 0\'s task');

  t.equal((await get(`http://127.0.0.1:${sp.twoA}/`)).body.trim(), String(http[0].port), 'two ports: the first one');
  t.equal((await get(`http://127.0.0.1:${sp.twoB}/`)).body.trim(), String(http[1].port), 'two ports: the second one, to the task\'s second port');
  t.equal((await get(`${culm.frontend}/two`)).body.trim(), String(http[0].port), 'and port 0 by its path on the HTTP frontend');
  t.equal((await rawRequest(`${culm.frontend}/`, 'GET', { Host: 'Two-B.example.com:8080', Connection: 'close' })).body.trim(), String(http[1].port), 'and port 1 by its HAPROXY_1_VHOST on the HTTP frontend');

  t.equal((await get(`http://127.0.0.1:${sp.clash}/`)).body.trim(), String(http[2].port), 'a clash: the first app by id keeps the port');
  t.equal((await get(`${culm.frontend}/clash-b`)).body.trim(), String(http[3].port), 'the other keeps its HTTP route (the rest applies)');
  const state = await culm.json<{ Apps: Array<{ Id: string; NotServed: string }> }>('/api/state');
  const notServed = Object.fromEntries(state.body.Apps.map((a) => [a.Id, a.NotServed]));
  t.match(notServed['/clash-b'], `port clash: port 0 (service port ${sp.clash}) is already bound by app /clash-a port 0`, '/api/state says why');
  t.equal(notServed['/clash-a'], '', 'nothing for the first');
  t.equal(await culm.metric('culm_apps_skipped_total{reason="port clash"}'), 1, 'counted once');

  // A task added to the TCP app: a server added through the runtime API, the same HAProxy process.
  const reloads = (): Promise<number> => culm.metric('culm_haproxy_reload_duration_seconds_count');
  const before = await reloads();
  const pid = culm.haproxy.poll()[0];
  marathon.addTask('/echo', { port: echo[2].port });
  await eventually('the new TCP task serves', async () => (await say(sp.echo, 'x')).startsWith(`${echo[2].port} `), 15_000, 50);
  // The file is renamed into place once the commands are through: a moment after the server serves.
  await eventually('the file on disk too', () => culm.config().includes(`server ::echo-127.0.0.1-${echo[2].port} `), 5000).catch(() => undefined);
  t.match(culm.config(), `server ::echo-127.0.0.1-${echo[2].port} 127.0.0.1:${echo[2].port}`, 'the file on disk names it');
  t.equal(await reloads(), before, 'no reload');
  t.same(culm.haproxy.poll(), [pid], 'the same HAProxy process serves');
});

t.test('a service port another program holds: that app is left out, the rest applies (no reload loop)', async (t) => {
  const marathon = await MarathonEmulator.start({ version: '1.10', keepaliveMs: 1000 });
  const http = [await startBackend(), await startBackend()];
  const squatter = createServer(() => undefined);
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
  const held = (squatter.address() as { port: number }).port;
  const free = await freePort();
  marathon.addApp({ id: '/held', servicePorts: [held] });
  marathon.addTask('/held', { port: http[0].port });
  marathon.addApp({ id: '/fine', servicePorts: [free] });
  marathon.addTask('/fine', { port: http[1].port });
  const culm = await startCulm({
    marathon: marathon.url,
    env: { CULM_EVENT_MODE: 'sse', CULM_BIND_SERVICE_PORTS: 'true', CULM_SERVICE_PORT_BIND: '127.0.0.1', CULM_RELOAD_INTERVAL_MS: '300' },
  });
  t.teardown(async () => {
    await culm.destroy();
    await marathon.stop();
    await Promise.all(http.map((x) => x.close()));
    await new Promise<void>((resolve) => squatter.close(() => resolve()));
  });
  await culm.waitReady(20_000);
  t.equal((await get(`http://127.0.0.1:${free}/`)).body.trim(), String(http[1].port), 'the other app\'s service port serves');
  t.equal((await get(`${culm.frontend}/fine`)).body.trim(), String(http[1].port), 'and its HTTP route');
  t.notMatch(culm.config(), `bind 127.0.0.1:${held}`, 'the held port is not in the config');
  const history = await culm.json<Array<{ leftOut?: Array<{ kind: string; id: string; error: string }> }>>('/api/history');
  const left = history.body.flatMap((h) => h.leftOut ?? []);
  t.match(left, [{ kind: 'app', id: '/held', error: /cannot bind socket/ }], 'left out, with HAProxy\'s reason, in the history');
  marathon.addApp({ id: '/later', servicePorts: [await freePort()] });
  marathon.addTask('/later', { port: http[1].port });
  await eventually('a later app still applies', async () => (await get(`${culm.frontend}/later`)).status === 200, 10_000);
});
