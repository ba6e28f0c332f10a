/**
 * Issue 11, graceful stop in a container, against the real culm binary, the emulator and real HAProxy 2.6:
 * with HAProxy.StopOnExit, SIGTERM closes HAProxy's listeners (new connections refused), lets the requests in
 * flight finish (on the current process and on an old one draining after a reload), and culm exits 0 with no
 * HAProxy process of the test left. Past the grace period the rest are killed. Without it (a host), HAProxy
 * keeps serving after culm exits.
 */
import t from 'tap';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { MarathonEmulator } from '../helpers/marathon-emulator.js';
import { startCulm, type CulmInstance } from '../helpers/culm.js';
import { eventually, get, startBackend, type Backend } from '../helpers/net.js';
import { isAlive } from '../helpers/processes.js';

/** A backend that holds each request until the test releases it (a slow one whose slowness the test decides). */
interface HeldBackend {
  port: number;
  waiting: ServerResponse[];
  release(): void;
  close(): Promise<void>;
}

async function startHeldBackend(): Promise<HeldBackend> {
  const waiting: ServerResponse[] = [];
  const server: Server = createServer((_req, res) => { waiting.push(res); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    waiting,
    release() {
      for (const res of waiting.splice(0)) res.writeHead(200, { 'content-type': 'text/plain' }).end('slow answer\n');
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** Whether a new TCP connection to the port is refused (the listener is closed). */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(false); });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

const portOf = (url: string): number => Number(new URL(url).port);

/** A request through HAProxy that the test awaits later: its status and body, or the error. */
const inFlight = (url: string): Promise<{ status: number; body: string }> =>
  fetch(url, { signal: AbortSignal.timeout(20_000) })
    .then(async (r) => ({ status: r.status, body: (await r.text()).trim() }), (err: unknown) => ({ status: 0, body: String(err) }));

let marathon: MarathonEmulator;
let held: HeldBackend;
let fast: Backend;
const culms: CulmInstance[] = [];

t.before(async () => {
  marathon = await MarathonEmulator.start({ version: '1.10', keepaliveMs: 500 });
  held = await startHeldBackend();
  fast = await startBackend();
  marathon.addApp({ id: '/slow' });
  marathon.addTask('/slow', { port: held.port });
  marathon.addApp({ id: '/web' });
  marathon.addTask('/web', { port: fast.port });
});

t.teardown(async () => {
  held?.release();
  for (const c of culms) await c.destroy();
  await marathon?.stop();
  await held?.close();
  await fast?.close();
});

async function culmWith(env: Record<string, string>): Promise<CulmInstance> {
  // Reloads, not runtime changes, so a new task leaves an old process draining.
  const culm = await startCulm({ marathon: marathon.url, env: { CULM_EVENT_MODE: 'sse', CULM_RUNTIME_API: 'false', ...env } });
  culms.push(culm);
  await culm.waitReady();
  return culm;
}

t.test('StopOnExit: listeners close, requests in flight (old and current process) finish, culm exits 0, no HAProxy left', async (t) => {
  const culm = await culmWith({ CULM_HAPROXY_STOP_ON_EXIT: 'true', CULM_HAPROXY_STOP_GRACE_MS: '15000' });
  const firstPid = culm.haproxy.poll()[0];
  t.ok(firstPid && isAlive(firstPid), `HAProxy runs (pid ${firstPid})`);

  const onOld = inFlight(`${culm.frontend}/slow`);
  await eventually('the first request reached the backend', () => held.waiting.length === 1, 5000);
  // A reload: the first process keeps the request in flight and drains; a new one takes the listeners.
  marathon.addTask('/web', { port: fast.port, host: '127.0.0.2' });
  await eventually('a reload started a new HAProxy', () => { const p = culm.haproxy.poll()[0]; return p !== undefined && p !== firstPid; }, 10_000);
  const secondPid = culm.haproxy.poll()[0];
  t.ok(isAlive(firstPid), 'the old process still drains its request');
  const onCurrent = inFlight(`${culm.frontend}/slow`);
  await eventually('the second request reached the backend', () => held.waiting.length === 2, 5000);

  const exit = culm.stop();
  await eventually('new connections are refused once the listeners close', () => refused(portOf(culm.frontend)), 5000);
  t.equal(held.waiting.length, 2, 'both requests are still in flight when the listeners are closed');
  t.ok(isAlive(firstPid) && isAlive(secondPid), 'both processes still run for their requests');
  held.release();
  t.same(await onOld, { status: 200, body: 'slow answer' }, 'the request on the old process completes');
  t.same(await onCurrent, { status: 200, body: 'slow answer' }, 'the request on the current process completes');
  t.equal(await exit, 0, 'culm exits 0');
  const left = [...culm.haproxy.seen].filter(isAlive);
  t.same(left, [], `no HAProxy process of this test left (seen: ${[...culm.haproxy.seen].join(', ')})`);
  t.match(culm.child.output(), 'HAProxy stopped: requests in flight finished', 'logged');
  t.notMatch(culm.child.output(), 'HAProxy keeps serving', 'does not claim HAProxy keeps serving');
});

t.test('StopOnExit: past the grace period the busy processes are killed, culm still exits 0', async (t) => {
  const culm = await culmWith({ CULM_HAPROXY_STOP_ON_EXIT: 'true', CULM_HAPROXY_STOP_GRACE_MS: '300' });
  const pid = culm.haproxy.poll()[0];
  const request = inFlight(`${culm.frontend}/slow`);
  await eventually('the request reached the backend', () => held.waiting.length === 1, 5000);
  t.equal(await culm.stop(), 0, 'culm exits 0');
  t.notOk(isAlive(pid), 'the busy HAProxy was stopped');
  t.not((await request).status, 200, 'the request held past the grace period was cut');
  t.match(culm.child.output(), 'HAProxy still busy after the grace period', 'the kill is logged');
  held.release();
});

t.test('default (a host): HAProxy keeps serving after culm exits', async (t) => {
  const culm = await culmWith({});
  const pid = culm.haproxy.poll()[0];
  t.equal(await culm.stop(), 0, 'culm exits 0');
  t.ok(isAlive(pid), 'HAProxy still runs');
  t.equal((await get(`${culm.frontend}/web`)).status, 200, 'and serves');
  t.match(culm.child.output(), 'HAProxy keeps serving', 'logged');
  // destroy() (teardown) stops it by pid.
});
