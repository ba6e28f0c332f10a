/**
 * `GET /api/events` end to end: real culm, real HAProxy, the Marathon emulator. A task added in Marathon and a
 * rule PUT each appear on the stream with their app id; reads need the same credentials as other reads.
 */
import t from 'tap';
import { MarathonEmulator } from '../helpers/marathon-emulator.js';
import { culmWithWebApp, startCulm, type CulmInstance } from '../helpers/culm.js';
import { eventually, rawRequest, startBackend } from '../helpers/net.js';
import { MAX_STREAMS } from '../../src/http/live-stream.js';

interface Received { event: string; data: Record<string, unknown> }

/** Follows the stream in the background, parsing events as an EventSource would. */
async function follow(url: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string; events: Received[]; close(): void }> {
  const ac = new AbortController();
  const res = await fetch(url, { headers, signal: ac.signal });
  const events: Received[] = [];
  if (res.ok && res.body) {
    void (async () => {
      const decoder = new TextDecoder();
      let buf = '';
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          buf += decoder.decode(chunk, { stream: true });
          let end: number;
          while ((end = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, end);
            buf = buf.slice(end + 2);
            const lines = block.split('\n');
            const event = lines.find((l) => l.startsWith('event: '))?.slice(7);
            const data = lines.find((l) => l.startsWith('data: '))?.slice(6);
            if (event && data) events.push({ event, data: JSON.parse(data) as Record<string, unknown> });
          }
        }
      } catch {
        /* aborted */
      }
    })();
  } else {
    await res.text();
  }
  return { status: res.status, type: res.headers.get('content-type') ?? '', events, close: () => ac.abort() };
}

let marathon: MarathonEmulator;
let culm: CulmInstance;
let close: () => Promise<void>;

t.before(async () => {
  ({ marathon, culm, close } = await culmWithWebApp());
});

t.teardown(() => close?.());

t.test('a task added in Marathon: task, app and apply events naming the app', async (t) => {
  const stream = await follow(`${culm.api}/api/events`);
  t.teardown(() => stream.close());
  t.equal(stream.status, 200);
  t.match(stream.type, /^text\/event-stream/);
  const extra = await startBackend();
  t.teardown(() => extra.close());
  const taskId = marathon.addTask('/web', { port: extra.port });
  await eventually('task event', () => stream.events.some((e) => e.event === 'task' && e.data.taskId === taskId));
  const task = stream.events.find((e) => e.event === 'task' && e.data.taskId === taskId)!;
  t.equal(task.data.appId, '/web');
  t.equal(task.data.change, 'added');
  t.ok(stream.events.some((e) => e.event === 'app' && e.data.appId === '/web'), 'an app event for /web');
  await eventually('apply event', () => stream.events.some((e) => e.event === 'apply' && (e.data.appIds as string[]).includes('/web')));
  const apply = stream.events.find((e) => e.event === 'apply')!;
  t.equal(apply.data.result, 'applied');
  t.match(apply.data.mode, /^(runtime|reload)$/);
  t.match(apply.data.configHash, /^[0-9a-f]{64}$/);
  t.type(apply.data.durationMs, 'number');
  t.ok((apply.data.reasons as string[]).some((r) => r.includes('/web')), `reasons name the app: ${JSON.stringify(apply.data.reasons)}`);
});

t.test('a rule PUT: a rule event with its app id and who, then an apply naming it', async (t) => {
  const stream = await follow(`${culm.api}/api/events`);
  t.teardown(() => stream.close());
  const put = await culm.json('/api/services/web', { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ acl: 'path_beg -i /w' }) });
  t.equal(put.status, 200);
  await eventually('rule event', () => stream.events.some((e) => e.event === 'rule'));
  const rule = stream.events.find((e) => e.event === 'rule')!;
  t.equal(rule.data.appId, '/web');
  t.equal(rule.data.result, 'changed');
  t.equal(rule.data.who, 'anonymous');
  t.same((rule.data.after as { Acl: string }).Acl, 'path_beg -i /w');
  await eventually('apply after the rule', () => stream.events.some((e) => e.event === 'apply' && (e.data.appIds as string[]).includes('/web')));
  const bad = await culm.json('/api/services/web', { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ acl: 'nosuchfetch x' }) });
  t.equal(bad.status, 400);
  await eventually('refused rule event', () => stream.events.some((e) => e.event === 'rule' && e.data.result === 'refused'));
  t.pass('a refused write is on the stream too');
});

t.test(`more than ${MAX_STREAMS} streams at once: 429 with Retry-After`, async (t) => {
  const open = await Promise.all(Array.from({ length: MAX_STREAMS }, () => follow(`${culm.api}/api/events`)));
  t.teardown(() => open.forEach((s) => s.close()));
  t.same([...new Set(open.map((s) => s.status))], [200]);
  const res = await fetch(`${culm.api}/api/events`);
  t.equal(res.status, 429);
  t.equal(res.headers.get('retry-after'), '1');
  t.equal(((await res.json()) as { error: { code: string } }).error.code, 'E_TOO_MANY_STREAMS');
  open[0].close();
  await eventually('a place is free again', async () => {
    const again = await follow(`${culm.api}/api/events`);
    again.close();
    return again.status === 200;
  });
});

t.test('the stream asks for the read credentials when CULM_API_READ_AUTH is on, and checks Host', async (t) => {
  const locked = await startCulm({ marathon: marathon.url, env: { CULM_EVENT_MODE: 'sse', CULM_API_TOKEN: 'sekret-token-123456', CULM_API_READ_AUTH: 'true' } });
  t.teardown(() => locked.destroy());
  await locked.waitReady();
  const anonymous = await follow(`${locked.api}/api/events`);
  t.equal(anonymous.status, 401);
  const authed = await follow(`${locked.api}/api/events`, { Authorization: 'Bearer sekret-token-123456' });
  authed.close();
  t.equal(authed.status, 200);
  // fetch will not send another Host: a raw request does (a DNS-rebinding page's would carry its own name).
  const rebound = await rawRequest(`${locked.api}/api/events`, 'GET', { Authorization: 'Bearer sekret-token-123456', Host: 'evil.example' });
  t.equal(rebound.status, 403);
  t.match(rebound.body, /E_HOST_NOT_ALLOWED/);
});

t.test('culm stops with a stream open: the stream ends, culm exits 0', async (t) => {
  const other = await startCulm({ marathon: marathon.url, env: { CULM_EVENT_MODE: 'sse' } });
  t.teardown(() => other.destroy());
  await other.waitReady();
  const res = await fetch(`${other.api}/api/events`);
  t.equal(res.status, 200);
  const ended = (async () => {
    try {
      for await (const _chunk of res.body as unknown as AsyncIterable<Uint8Array>) { /* keep reading */ }
      return 'ended';
    } catch {
      return 'ended';
    }
  })();
  const code = await other.stop();
  t.equal(await ended, 'ended', 'the stream was ended by culm');
  t.equal(code, 0, 'culm exited cleanly');
});
