/**
 * Issue 11, HAProxy's logs in culm's output (HAProxy.Log), against the real culm binary, the emulator and real
 * HAProxy 2.6 started with `-D`: the warnings of its start, a reload's messages (the old process stopping its proxies) and, with request
 * logs on, a request's line reach culm's stdout as JSON with `"source":"haproxy"`; every line stays JSON.
 */
import t from 'tap';
import { MarathonEmulator } from '../helpers/marathon-emulator.js';
import { startCulm, type CulmInstance } from '../helpers/culm.js';
import { eventually, get, startBackend, type Backend } from '../helpers/net.js';

interface Line { source?: string; severity?: string; pid?: number; msg?: string; level?: number; name?: string }

let marathon: MarathonEmulator;
let culm: CulmInstance;
let backend: Backend;

t.before(async () => {
  marathon = await MarathonEmulator.start({ version: '1.10', keepaliveMs: 500 });
  backend = await startBackend();
  marathon.addApp({ id: '/web' });
  marathon.addTask('/web', { port: backend.port });
  culm = await startCulm({
    marathon: marathon.url,
    env: { CULM_EVENT_MODE: 'sse', CULM_RUNTIME_API: 'false', CULM_HAPROXY_LOG: 'true', CULM_HAPROXY_REQUEST_LOG: 'true' },
  });
  await culm.waitReady();
});

t.teardown(async () => {
  await culm?.destroy();
  await marathon?.stop();
  await backend?.close();
});

/** Every line of culm's output parsed (throws on a line that is not JSON). */
function lines(): Line[] {
  return culm.child.output().split('\n').filter((l) => l.trim() !== '').map((l) => {
    try {
      return JSON.parse(l) as Line;
    } catch {
      throw new Error(`not a JSON line in culm's output: ${l.slice(0, 300)}`);
    }
  });
}
const fromHaproxy = (): Line[] => lines().filter((l) => l.source === 'haproxy');

t.test('the rendered config sends HAProxy\'s log to culm', async (t) => {
  t.match(culm.config(), /^\s+log 127\.0\.0\.1:\d+ len 4096 local0 info$/m, 'global log line to culm\'s receiver (info: request logs on)');
  t.match(culm.config(), /^\s+option httplog$/m, 'request logs');
});

t.test('the first start\'s warnings (printed by `haproxy -D` before it forks) appear as lines with source haproxy', async (t) => {
  // The first HAProxy has no server state to load yet: HAProxy 2.6 warns about the missing file on stderr.
  const warning = fromHaproxy().find((l) => /server state file/.test(l.msg ?? ''));
  t.ok(warning, 'the warning is logged');
  t.equal(warning?.severity, 'warning');
  t.notMatch(warning?.msg ?? '', /^\[WARNING\]/, 'the tag became the severity');
});

t.test('a reload\'s messages appear as JSON lines with source haproxy', async (t) => {
  const pid = culm.haproxy.poll()[0];
  marathon.addTask('/web', { port: backend.port, host: '127.0.0.2' });
  await eventually('the old process logged its proxies stopping', () => fromHaproxy().some((l) => l.pid === pid && /Proxy \S+ stopped/.test(l.msg ?? '')), 10_000);
  const stopped = fromHaproxy().find((l) => l.pid === pid && /Proxy \S+ stopped/.test(l.msg ?? ''))!;
  t.equal(stopped.name, 'culm', 'written by culm\'s logger');
  t.equal(stopped.severity, 'warning', 'HAProxy\'s severity kept');
  t.equal(stopped.level, 40, 'at warn');
  t.notMatch(stopped.msg, /^<\d+>|haproxy\[\d+\]:/, 'syslog header stripped');
});

t.test('a request\'s log line appears', async (t) => {
  t.equal((await get(`${culm.frontend}/web/logged-path`)).status, 200);
  await eventually('request logged', () => fromHaproxy().some((l) => (l.msg ?? '').includes('GET /web/logged-path HTTP/1.1')), 5000);
  const line = fromHaproxy().find((l) => (l.msg ?? '').includes('GET /web/logged-path'))!;
  t.equal(line.severity, 'info');
  t.match(line.msg, / 200 /, 'with the status');
  t.ok(lines().some((l) => l.source === undefined && l.msg === 'HAProxy log receiver listening'), 'culm\'s own lines are JSON too, without source');
});
