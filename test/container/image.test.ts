/**
 * The container image, run as a user runs it: the project's Dockerfile built by `.ci/image` (podman, image
 * CULM_CI_IMAGE), each container on the host network beside the in-process Marathon emulator and backends on
 * 127.0.0.1. Not in `npm test` (it needs podman and root): `.ci/image` runs it (or, once the image is built,
 * `npx tap test/container/image.test.ts`). Containers carry the label
 * CULM_CI_LABEL and are removed with `podman rm -f` at the end, whatever happened; CULM_CI_FIGURES names a file
 * for the figures (start-to-ready, stop duration), one line each.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { MarathonEmulator } from '../helpers/marathon-emulator.js';
import { eventually, freePort, get, startBackend, whoAnswers, type Backend } from '../helpers/net.js';
import { requireBinary } from '../helpers/processes.js';

requireBinary('podman', 'run .ci/image, which installs it and builds the image');
// podman's settings for these machines (runc, cgroupfs, host network...), as .ci/image gives them.
process.env.CONTAINERS_CONF ??= new URL('../../.ci/containers.conf', import.meta.url).pathname;
const IMAGE = process.env.CULM_CI_IMAGE ?? 'localhost/culm:ci';
const LABEL = process.env.CULM_CI_LABEL ?? `culm-ci=test-${process.pid}`;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** podman, asynchronously: the emulator and the backends live in this process and must keep answering. */
function podman(args: string[], timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile('podman', args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function figure(name: string, value: number, unit: string): void {
  t.comment(`figure: ${name} ${value} ${unit}`);
  if (process.env.CULM_CI_FIGURES) appendFileSync(process.env.CULM_CI_FIGURES, `${name}: ${value} ${unit}\n`);
}

interface Container {
  name: string;
  api: string;
  frontend: string;
  /** ms from `podman run` to the first /readyz 200 (waitReady). */
  waitReady(): Promise<number>;
  json<T = unknown>(path: string, init?: RequestInit): Promise<{ status: number; body: T }>;
  metric(pattern: RegExp): Promise<number>;
  logs(): Promise<string>;
}

const containers: string[] = [];
const started: Array<() => Promise<unknown>> = [];

/** `podman run -d` of the image with culm's REST port and HAProxy's frontend on free loopback ports. */
async function runContainer(suffix: string, env: Record<string, string>, ports?: { api: number; frontend: number }): Promise<Container> {
  const api = ports?.api ?? (await freePort());
  const frontend = ports?.frontend ?? (await freePort());
  const name = `culm-${suffix}-${process.pid}`;
  const all = { BIND: `:${api}`, HAPROXY_HTTP_BIND: `127.0.0.1:${frontend}`, CULM_RELOAD_INTERVAL_MS: '100', ...env };
  // Host network from CONTAINERS_CONF (.ci/containers.conf): culm's and HAProxy's ports are loopback ports here.
  const args = ['run', '-d', '--name', name, '--label', LABEL];
  for (const [k, v] of Object.entries(all)) args.push('-e', `${k}=${v}`);
  containers.push(name);
  const startedAt = Date.now();
  const r = await podman([...args, IMAGE]);
  if (r.code !== 0) throw new Error(`podman run ${name} failed (${r.code}): ${r.stderr.trim()}`);
  const base = `http://127.0.0.1:${api}`;
  const json = async <T>(path: string, init?: RequestInit): Promise<{ status: number; body: T }> => {
    const res = await fetch(base + path, { ...init, signal: AbortSignal.timeout(5000) });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
  };
  return {
    name,
    api: base,
    frontend: `http://127.0.0.1:${frontend}`,
    json,
    async waitReady() {
      await eventually(`${name} /readyz 200`, async () => (await get(`${base}/readyz`)).status === 200, 30_000);
      return Date.now() - startedAt;
    },
    async metric(pattern) {
      const text = await (await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
      let sum = 0;
      for (const line of text.split('\n')) {
        const m = /^(\S+) (\S+)$/.exec(line);
        if (m && pattern.test(m[1])) sum += Number(m[2]);
      }
      return sum;
    },
    async logs() {
      const r = await podman(['logs', name]);
      return r.stdout + r.stderr;
    },
  };
}

/** The JSON objects among a container's log lines. */
function jsonLines(text: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // not JSON: HAProxy's own stderr before CULM_HAPROXY_LOG, npm, tini
    }
  }
  return out;
}

/** Each process in the container (from /proc, the image has no ps): pid, command, state letter. */
async function processes(name: string): Promise<Array<{ pid: number; comm: string; state: string }>> {
  const r = await podman(['exec', name, 'sh', '-c', 'cat /proc/[0-9]*/stat 2>/dev/null']);
  if (r.code !== 0) throw new Error(`podman exec ${name} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout.split('\n').filter(Boolean).map((line) => {
    const close = line.lastIndexOf(')');
    return { pid: Number(line.slice(0, line.indexOf(' '))), comm: line.slice(line.indexOf('(') + 1, close), state: line.slice(close + 2, close + 3) };
  });
}

async function putRule(c: Container, id: string, acl: string): Promise<number> {
  const init = { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id, acl }) };
  return (await c.json(`/api/services/${encodeURIComponent(id)}`, init)).status;
}

async function until(url: string, body: string, what: string): Promise<void> {
  await eventually(what, async () => {
    const r = await get(url);
    return r.status === 200 && r.body === body;
  });
}

let marathon: MarathonEmulator;
const backends: Backend[] = [];
const port = (i: number): string => String(backends[i].port);

t.before(async () => {
  marathon = await MarathonEmulator.start({ version: '1.10', keepaliveMs: 1000 });
  started.push(() => marathon.stop());
  for (let i = 0; i < 4; i++) {
    const backend = await startBackend();
    backends.push(backend);
    started.push(() => backend.close());
  }
  marathon.addApp({ id: '/web' });
  marathon.addTask('/web', { port: backends[0].port });
  marathon.addApp({ id: '/x' });
  marathon.addTask('/x', { port: backends[1].port });
});

t.teardown(async () => {
  if (containers.length > 0) await podman(['rm', '-f', '-v', '-t', '0', ...containers]);
  for (const close of started.reverse()) await close();
});

t.test('SSE mode: ready, routes, rules, reloads, health, logs, stop with a request in flight', async (t) => {
  const c = await runContainer('sse', { MARATHON_ENDPOINT: marathon.url });
  const readyMs = await c.waitReady();
  figure('start-to-ready', readyMs, 'ms');
  t.equal((await get(`${c.api}/readyz`)).status, 200, '/readyz answers 200');

  await t.test("a request through the container's HAProxy reaches the app's task", async (t) => {
    await until(`${c.frontend}/web`, port(0), '/web routed to its task');
    t.same([...(await whoAnswers(`${c.frontend}/web`, 3))], [port(0)], "/web is answered by /web's task");
  });

  await t.test('a rule set through REST changes routing', async (t) => {
    t.not((await get(`${c.frontend}/y`)).body, port(1), 'before the rule, /y does not reach /x');
    const init = { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: '/x', acl: 'path_beg -i /y' }) };
    t.equal((await c.json('/api/services', init)).status, 200, 'POST /api/services accepted');
    await until(`${c.frontend}/y`, port(1), '/y routed to /x');
    t.equal((await get(`${c.frontend}/y`)).body, port(1), "/y now reaches /x's task");
    t.equal(await putRule(c, '/x', 'path_beg -i /z'), 200, 'PUT /api/services/%2Fx accepted');
    await until(`${c.frontend}/z`, port(1), '/z routed to /x');
    t.not((await get(`${c.frontend}/y`)).body, port(1), '/y no longer reaches /x');
  });

  await t.test('no zombie processes after ten reloads', async (t) => {
    const reloads = /^culm_haproxy_reload_duration_seconds_count/;
    const before = await c.metric(reloads);
    for (let i = 0; i < 10; i++) {
      const path = `/r${i}`;
      // Case-sensitive on purpose: a `path_beg -i` prefix is a route map entry, applied without a reload.
      t.equal(await putRule(c, '/x', `path_beg ${path}`), 200, `rule ${i + 1} accepted`);
      await until(`${c.frontend}${path}`, port(1), `${path} routed to /x`);
    }
    // The reload is counted once its command has returned, which may be just after the new process answers.
    await eventually('ten reloads counted', async () => (await c.metric(reloads)) - before >= 10, 5000, 100).catch(() => undefined);
    t.ok((await c.metric(reloads)) - before >= 10, 'HAProxy was reloaded at least ten times');
    // Old HAProxy processes (-sf) exit once their connections are done; tini must reap them. A zombie may be
    // seen for the instant between an exit and its reaping, not for seconds.
    let procs = await processes(c.name);
    await eventually('no zombie in the container', async () => {
      procs = await processes(c.name);
      return !procs.some((p) => p.state === 'Z');
    }, 5000, 200).catch(() => undefined);
    t.same(procs.filter((p) => p.state === 'Z'), [], 'no process in state Z (within 5 s)');
    t.ok(procs.some((p) => p.comm === 'haproxy'), 'HAProxy runs in the container');
  });

  await t.test('the HEALTHCHECK reports healthy with a non-default BIND', async (t) => {
    const r = await podman(['healthcheck', 'run', c.name]);
    t.equal(r.code, 0, `podman healthcheck run exits 0 (${(r.stdout + r.stderr).trim()})`);
  });

  await t.test('podman stop finishes a slow request in flight and exits 0', async (t) => {
    const slow = await startBackend({ delayMs: 2000 });
    started.push(() => slow.close());
    marathon.addApp({ id: '/slow' });
    marathon.addTask('/slow', { port: slow.port });
    await eventually('/slow routed', async () => slow.hits > 0 || (await get(`${c.frontend}/slow`)).status === 200);
    const hits = slow.hits;
    let answeredAt = 0;
    const inFlight = get(`${c.frontend}/slow`).finally(() => (answeredAt = Date.now()));
    await eventually('the slow request reached its backend', () => slow.hits > hits);
    const stopAt = Date.now();
    const stop = await podman(['stop', '-t', '10', c.name], 30_000);
    const stopMs = Date.now() - stopAt;
    figure('stop with a request in flight', stopMs, 'ms');
    t.equal(stop.code, 0, 'podman stop succeeded', { stderr: stop.stderr.trim() });
    const answer = await inFlight;
    figure('the request in flight answered after the stop began', answeredAt - stopAt, 'ms');
    t.same(answer, { status: 200, body: String(slow.port) }, 'the request in flight completed with 200');
    const state = await podman(['inspect', c.name, '--format', '{{.State.ExitCode}}']);
    t.equal(state.stdout.trim(), '0', 'the container exited 0 (within the stop timeout: no SIGKILL)');
  });

  await t.test("podman logs shows culm's JSON lines and HAProxy's", async (t) => {
    const lines = jsonLines(await c.logs());
    const culm = lines.filter((l) => l.source !== 'haproxy' && typeof l.msg === 'string' && typeof l.level === 'number');
    t.ok(culm.length > 0, "culm's JSON log lines are in podman logs");
    t.ok(culm.some((l) => l.msg === 'signal received'), 'including the SIGTERM podman stop sent');
    const haproxy = lines.filter((l) => l.source === 'haproxy');
    t.ok(haproxy.length > 0, `HAProxy's log lines ("source":"haproxy") are in podman logs (${haproxy.length})`);
  });
});

t.test('callback mode (Marathon 1.4): registers its subscription, routes a task added afterwards', async (t) => {
  const m14 = await MarathonEmulator.start({ version: '1.4' });
  started.push(() => m14.stop());
  const api = await freePort();
  const callback = `http://127.0.0.1:${api}/api/marathon/event_callback`;
  const c = await runContainer('cb', { MARATHON_ENDPOINT: m14.url, BAMBOO_ENDPOINT: `http://127.0.0.1:${api}` }, { api, frontend: await freePort() });
  await c.waitReady();
  await eventually('the callback subscription is registered', async () => {
    const r = await fetch(`${m14.url}/v2/eventSubscriptions`);
    const body = (await r.json()) as { callbackUrls?: string[] };
    return (body.callbackUrls ?? []).some((u) => u.startsWith(callback));
  });
  const subs = (await (await fetch(`${m14.url}/v2/eventSubscriptions`)).json()) as { callbackUrls: string[] };
  t.ok(subs.callbackUrls.some((u) => u.startsWith(callback)), `GET /v2/eventSubscriptions lists ${callback}`);
  m14.addApp({ id: '/late' });
  m14.addTask('/late', { port: backends[2].port });
  await until(`${c.frontend}/late`, port(2), '/late routed to its task');
  t.equal((await get(`${c.frontend}/late`)).body, port(2), 'a task added after the start is routed (callback delivered)');
  t.ok(m14.deliveries.some((d) => d.url.startsWith(callback)), 'Marathon delivered events to the callback');
});

t.test('the HEALTHCHECK reports unhealthy when HAProxy is down', async (t) => {
  // A listener of ours holds the frontend port: HAProxy cannot bind it, so it never runs a config.
  const frontend = await freePort();
  const holder: Server = createServer((s) => s.destroy());
  await new Promise<void>((resolve) => holder.listen(frontend, '127.0.0.1', resolve));
  started.push(() => new Promise((resolve) => holder.close(resolve)));
  const c = await runContainer('down', { MARATHON_ENDPOINT: marathon.url }, { api: await freePort(), frontend });
  await eventually('culm tried to start HAProxy and failed', async () => (await c.metric(/^culm_applies_total\{result="(reload-failed|error)"\}/)) > 0, 30_000);
  t.equal((await get(`${c.api}/healthz`)).status, 200, 'culm itself is up');
  t.not((await get(`${c.api}/readyz`)).status, 200, 'culm is not ready');
  const r = await podman(['healthcheck', 'run', c.name]);
  t.not(r.code, 0, `podman healthcheck run fails (${(r.stdout + r.stderr).trim()})`);
  t.match(r.stdout + r.stderr, /unhealthy/, 'and reports unhealthy');
});
