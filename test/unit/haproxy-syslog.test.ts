/**
 * HAProxy's log (HAProxy.Log): syslog datagrams and command output to lines (header stripped, severity kept),
 * the bounded queue, and the receiver on a real UDP socket dropping and counting what does not fit.
 */
import t from 'tap';
import { createSocket } from 'node:dgram';
import { BoundedQueue, HaproxyLogReceiver, parseCommandOutput, parseSyslog, type HaproxyLogLine } from '../../src/haproxy/syslog.js';
import { createLogger, silentLogger } from '../../src/log/logger.js';
import { Writable } from 'node:stream';

t.test('syslog datagrams', async (t) => {
  const cases: Array<{ desc: string; in: string; out: HaproxyLogLine }> = [
    {
      desc: 'RFC 3164, HAProxy\'s default (local0.warning)',
      in: '<132>Dec  2 00:55:27 haproxy[5837]: Proxy f stopped (cumulated conns: FE: 0, BE: 0).\n',
      out: { level: 'warn', severity: 'warning', pid: 5837, message: 'Proxy f stopped (cumulated conns: FE: 0, BE: 0).' },
    },
    {
      desc: 'RFC 3164 with a host name (log-send-hostname), two-digit day, request line at info',
      in: '<134>Dec 12 10:01:02 edge1 haproxy[77]: 127.0.0.1:4242 [02/Dec/2026:10:01:02.123] http-in web/s1 0/0/0/1/1 200 5 - - ---- 1/1/0/0/0 0/0 "GET /web HTTP/1.1"',
      out: { level: 'info', severity: 'info', pid: 77, message: '127.0.0.1:4242 [02/Dec/2026:10:01:02.123] http-in web/s1 0/0/0/1/1 200 5 - - ---- 1/1/0/0/0 0/0 "GET /web HTTP/1.1"' },
    },
    {
      desc: 'alert (server down) and emerg map to error',
      in: '<129>Dec  2 00:55:26 haproxy[5837]: Server b/s1 is DOWN',
      out: { level: 'error', severity: 'alert', pid: 5837, message: 'Server b/s1 is DOWN' },
    },
    {
      desc: 'RFC 5424 (format rfc5424), no structured data',
      in: '<133>1 2026-12-02T00:55:27.123456+00:00 edge1 haproxy 5837 - - Proxy f started.',
      out: { level: 'info', severity: 'notice', pid: 5837, message: 'Proxy f started.' },
    },
    {
      desc: 'RFC 5424 with structured data',
      in: '<135>1 2026-12-02T00:55:27Z host haproxy 12 - [x@1 a="b\\]c"] debug text',
      out: { level: 'debug', severity: 'debug', pid: 12, message: 'debug text' },
    },
    {
      desc: 'format raw: only the priority',
      in: '<131>backend b has no server available!',
      out: { level: 'error', severity: 'err', message: 'backend b has no server available!' },
    },
    {
      desc: 'no priority at all: the whole text at info',
      in: 'just text: with a colon',
      out: { level: 'info', severity: 'info', message: 'just text: with a colon' },
    },
    {
      desc: 'a priority out of range is text',
      in: '<999>odd',
      out: { level: 'info', severity: 'info', message: '<999>odd' },
    },
  ];
  for (const c of cases) t.same(parseSyslog(c.in), c.out, c.desc);
});

t.test('reload command output: HAProxy\'s tags to levels, pid lifted, blank lines left out', async (t) => {
  const out = parseCommandOutput([
    '[WARNING]  (1234) : config : missing timeouts for backend \'b\'.',
    '',
    '[ALERT]    (1234) : Binding [h.cfg:37] for frontend http-in: cannot bind socket',
    '[NOTICE]   (1) : New worker (2) forked',
    'plain line   ',
  ].join('\n'));
  t.same(out, [
    { level: 'warn', severity: 'warning', pid: 1234, message: 'config : missing timeouts for backend \'b\'.' },
    { level: 'error', severity: 'alert', pid: 1234, message: 'Binding [h.cfg:37] for frontend http-in: cannot bind socket' },
    { level: 'info', severity: 'notice', pid: 1, message: 'New worker (2) forked' },
    { level: 'info', severity: 'notice', message: 'plain line' },
  ]);
  t.same(parseCommandOutput('\n \n'), [], 'nothing printed: no line');
});

t.test('bounded queue: refuses past capacity, first in first out, room again after take', async (t) => {
  const q = new BoundedQueue<number>(3);
  t.same([1, 2, 3, 4].map((n) => q.push(n)), [true, true, true, false]);
  t.equal(q.size, 3);
  t.same(q.take(2), [1, 2]);
  t.ok(q.push(5) && q.push(6));
  t.notOk(q.push(7), 'full again');
  t.same(q.take(10), [3, 5, 6]);
  t.equal(q.size, 0);
  // Many rounds never keep more than the capacity (plus what was taken and not yet compacted).
  for (let i = 0; i < 10_000; i++) { q.push(i); if (i % 2) q.take(1); }
  t.ok(q.size <= 3);
  t.ok((q as unknown as { items: number[] }).items.length <= 2 * 3 + 1, 'the backing array stays bounded');
});

t.test('receiver: datagrams become JSON lines with source haproxy; a flood beyond the queue is dropped and counted', async (t) => {
  const out: string[] = [];
  const sink = new Writable({ write(chunk: Buffer, _e, cb) { out.push(chunk.toString()); cb(); } });
  const log = createLogger('debug', sink);
  const written: HaproxyLogLine[] = [];
  let dropped = 0;
  const receiver = new HaproxyLogReceiver({
    write: (line) => { written.push(line); log.child({ source: 'haproxy' })[line.level]({ severity: line.severity }, line.message); },
    dropped: (n) => { dropped += n; },
    log: silentLogger(),
    capacity: 5,
    slice: 1,
  });
  const target = await receiver.start();
  t.match(target, /^127\.0\.0\.1:\d+$/);
  const [, port] = target.split(':');
  const sender = createSocket('udp4');
  const send = (text: string): Promise<void> => new Promise((resolve) => sender.send(text, Number(port), '127.0.0.1', () => resolve()));
  await send('<134>Dec  2 00:55:27 haproxy[9]: hello');
  for (let i = 0; i < 50 && written.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  t.same(written[0], { level: 'info', severity: 'info', pid: 9, message: 'hello' });
  const json = JSON.parse(out[0]) as Record<string, unknown>;
  t.match(json, { source: 'haproxy', severity: 'info', msg: 'hello', level: 30 });

  // 200 datagrams sent at once: libuv hands several to culm in one turn, more than the 5 the queue holds.
  const flood = 200;
  await Promise.all(Array.from({ length: flood }, (_, i) => send(`<134>line ${i}`)));
  for (let i = 0; i < 100 && written.length - 1 + dropped < flood; i++) await new Promise((r) => setTimeout(r, 10));
  await receiver.close();
  sender.close();
  t.ok(dropped > 0, `some dropped and counted (${dropped})`);
  t.ok(written.length - 1 + dropped <= flood, `none counted twice (${written.length - 1} written, ${dropped} dropped)`);
  const numbers = written.slice(1).map((l) => Number(l.message.split(' ')[1]));
  t.same(numbers, [...numbers].sort((a, b) => a - b), 'those written keep their order');
});
