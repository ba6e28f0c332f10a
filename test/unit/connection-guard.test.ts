/**
 * The connection guard on a real server (port 0) with small limits: silent sockets, slow bodies and idle
 * keep-alive from one address are closed oldest first, and requests that complete are still answered.
 */
import { connect, type Socket } from 'node:net';
import t from 'tap';
import { createHttpServer } from '../../src/http/server.js';
import { silentLogger } from '../../src/log/logger.js';
import { PrometheusMetrics } from '../../src/metrics/metrics.js';
import type { CulmCore } from '../../src/pipeline/types.js';

// The probes and the callback need nothing more of the core.
const core = {
  readiness: () => ({ ready: true, checks: {} }),
  acceptMarathonEvent: () => ({ accepted: true, kind: 'status_update_event' }),
  rules: () => new Map(),
} as unknown as CulmCore;

const LIMITS = { maxConnections: 400, total: 120, perClient: 60 };

async function start(t: { teardown(fn: () => unknown): void }) {
  const metrics = new PrometheusMetrics({ defaultMetrics: false });
  const http = createHttpServer({ core, metrics, log: silentLogger(), version: 't', limits: LIMITS });
  const { port } = await http.listen('127.0.0.1', 0);
  const sockets: Socket[] = [];
  t.teardown(async () => {
    for (const s of sockets) s.destroy();
    await http.close();
  });
  // In batches, each socket writing `first` as soon as it connects, so the server sees them arrive over time.
  const open = async (n: number, first = ''): Promise<Socket[]> => {
    const made: Socket[] = [];
    for (let i = 0; i < n; i += 10) {
      made.push(...await Promise.all(Array.from({ length: Math.min(10, n - i) }, () => new Promise<Socket>((resolve, reject) => {
        const s = connect(port, '127.0.0.1', () => {
          if (first) s.write(first);
          resolve(s);
        });
        s.on('error', () => {});
        // Reading, so the server's close is seen (a paused socket never emits 'end').
        s.resume();
        s.once('error', reject);
      }))));
      await new Promise((r) => setTimeout(r, 10));
    }
    sockets.push(...made);
    return made;
  };
  const evicted = async (reason: string): Promise<number> => {
    const line = (await metrics.text()).split('\n').find((l) => l.startsWith(`culm_http_connections_evicted_total{reason="${reason}"}`));
    return line ? Number(line.split(' ').pop()) : 0;
  };
  return { port, open, evicted, base: `http://127.0.0.1:${port}` };
}

const alive = (list: Socket[]): number => list.filter((s) => !s.destroyed && !s.closed && s.readyState === 'open').length;
/** Until the client side has seen the server's closes (or 3 s). */
async function settle(list: Socket[], limit: number): Promise<void> {
  for (let i = 0; i < 60 && alive(list) > limit; i++) await new Promise((r) => setTimeout(r, 50));
}

t.test('silent sockets: the oldest go, the newest and real requests stay', async (t) => {
  const { open, evicted, base } = await start(t);
  const old = await open(150);
  await settle(old, LIMITS.perClient);
  t.ok(alive(old) <= LIMITS.perClient, `at most ${LIMITS.perClient} held (${alive(old)})`);
  t.ok(old.slice(-40).every((s) => !s.destroyed && s.readyState === 'open'), 'the newest are kept');
  t.ok(old.slice(0, 50).every((s) => s.destroyed || s.readyState !== 'open'), 'the oldest were closed');
  t.ok(await evicted('waiting') >= 150 - LIMITS.perClient);
  const res = await fetch(`${base}/healthz`);
  t.equal(res.status, 200, 'a probe is answered meanwhile');
  const cb = await fetch(`${base}/api/marathon/event_callback`, { method: 'POST', body: '{"eventType":"status_update_event"}' });
  t.equal(cb.status, 200, 'a callback is answered meanwhile');
});

t.test('slow bodies: held until others need the room, complete ones never', async (t) => {
  const { open, evicted, base } = await start(t);
  const head = 'POST /api/marathon/event_callback HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{';
  const slow = await open(100, head);
  await settle(slow, LIMITS.perClient);
  t.ok(alive(slow) <= LIMITS.perClient, `slow bodies held: ${alive(slow)}`);
  t.ok(await evicted('slow-body') > 0, 'counted as slow bodies');
  const answers = await Promise.all(Array.from({ length: 20 }, () =>
    fetch(`${base}/api/marathon/event_callback`, { method: 'POST', body: '{"eventType":"status_update_event"}' }).then((r) => r.status, (err: Error) => String(err.cause ?? err))));
  t.same(answers, Array(20).fill(200), 'callbacks that arrive whole are all answered');
});

t.test('idle keep-alive sockets count as held', async (t) => {
  const { open, evicted } = await start(t);
  // In small batches, each answered before the next: a socket whose request is not read yet is "waiting", not idle
  // (on a loaded machine one big batch is evicted before its requests are parsed).
  const kept: Socket[] = [];
  for (let i = 0; i < 8; i++) {
    kept.push(...await open(10, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'));
    await new Promise((r) => setTimeout(r, 100));
  }
  await settle(kept, LIMITS.perClient);
  t.ok(alive(kept) <= LIMITS.perClient, `idle held: ${alive(kept)}`);
  t.ok(await evicted('idle') > 0);
});
