/**
 * Every Marathon health-check kind renders a check that works, against real backends through real HAProxy:
 * HTTP (a 500 on the check path goes DOWN), HTTPS (a TLS backend is checked and served over TLS, also when
 * added at runtime), TCP (a closed port goes DOWN), COMMAND (no HAProxy check: a failing path stays UP), a
 * check on another port (portIndex 1 checks the second host port). Marathon reports every task healthy, so
 * what is seen is HAProxy's own check. States are read from the stats socket (`show stat`).
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MarathonEmulator } from '../helpers/marathon-emulator.js';
import { startCulm, type CulmInstance } from '../helpers/culm.js';
import { eventually, freePort, get, whoAnswers } from '../helpers/net.js';
import { requireBinary } from '../helpers/processes.js';
import { runtimeCommands } from '../../src/haproxy/runtime-api.js';

requireBinary('openssl', 'apt-get install -y openssl');
const certDir = mkdtempSync(join(tmpdir(), 'culm-tls-'));
execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=localhost',
  '-keyout', join(certDir, 'key.pem'), '-out', join(certDir, 'cert.pem')], { stdio: 'pipe' });
const tls = { key: readFileSync(join(certDir, 'key.pem')), cert: readFileSync(join(certDir, 'cert.pem')) };
rmSync(certDir, { recursive: true, force: true });

interface TestBackend {
  port: number;
  /** Requests to `/health` (HAProxy's checks: Marathon's emulator never calls). */
  checks: number;
  close(): Promise<void>;
}

/** A loopback backend (TLS when `secure`) answering `/health` with `health` and anything else 200 `<port>`. */
async function backend(health: number, secure = false): Promise<TestBackend> {
  const b = { port: 0, checks: 0 } as TestBackend;
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const isCheck = req.url === '/health';
    if (isCheck) b.checks++;
    res.writeHead(isCheck ? health : 200, { 'content-type': 'text/plain', connection: 'close' });
    res.end(`${b.port}\n`);
  };
  const server: Server = secure ? createHttpsServer(tls, handler) : createHttpServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  b.port = typeof address === 'object' && address ? address.port : 0;
  b.close = () => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
  return b;
}

/** `status` and `check_status` per server of one backend, from `show stat` (e.g. `{ 31001: ['UP', 'L7OK'] }` by port). */
async function serverStates(culm: CulmInstance, app: string): Promise<Map<number, [string, string]>> {
  const [csv] = await runtimeCommands(`${culm.outputPath}.sock`, ['show stat']);
  const lines = csv.split('\n');
  const header = lines[0].replace(/^# /, '').split(',');
  const col = (name: string): number => header.indexOf(name);
  const out = new Map<number, [string, string]>();
  const backendName = `${app.replace(/\//g, '::')}-cluster`;
  for (const line of lines.slice(1)) {
    const f = line.split(',');
    if (f[col('pxname')] !== backendName || f[col('svname')] === 'BACKEND') continue;
    const port = Number(/-(\d+)$/.exec(f[col('svname')])?.[1]);
    out.set(port, [f[col('status')], f[col('check_status')]]);
  }
  return out;
}

const state = async (culm: CulmInstance, app: string, port: number): Promise<string> => (await serverStates(culm, app)).get(port)?.join(' ') ?? 'absent';

t.test('every health-check kind, checked by real HAProxy against real backends', async (t) => {
  const marathon = await MarathonEmulator.start({ version: '1.10', keepaliveMs: 1000 });
  const plainGood = await backend(200);
  const plainBad = await backend(500);
  const tlsGood = await backend(200, true);
  const tlsLater = await backend(200, true);
  const tcpOpen = await backend(200);
  const tcpClosed = await freePort();
  const cmd = await backend(500);
  // portIndex 1: serving port and checked port answer the check path differently.
  const servesBadCheck = await backend(500);
  const checkGood = await backend(200);
  const servesGoodCheck = await backend(200);
  const checkBad = await backend(500);
  const laterServes = await backend(500);
  const laterCheck = await backend(200);
  const all = [plainGood, plainBad, tlsGood, tlsLater, tcpOpen, cmd, servesBadCheck, checkGood, servesGoodCheck, checkBad, laterServes, laterCheck];

  marathon.addApp({ id: '/plain', healthChecks: [{ protocol: 'HTTP', path: '/health' }] });
  marathon.addApp({ id: '/tls', healthChecks: [{ protocol: 'HTTPS', path: '/health' }] });
  marathon.addApp({ id: '/tcp', healthChecks: [{ protocol: 'TCP' }] });
  marathon.addApp({ id: '/cmd', healthChecks: [{ protocol: 'COMMAND' }] });
  marathon.addApp({ id: '/other-port', servicePorts: [10010, 10011], healthChecks: [{ protocol: 'HTTP', path: '/health', portIndex: 1 }] });
  marathon.addTask('/plain', { port: plainGood.port, healthy: true });
  marathon.addTask('/plain', { port: plainBad.port, healthy: true });
  marathon.addTask('/tls', { port: tlsGood.port, healthy: true });
  marathon.addTask('/tcp', { port: tcpOpen.port, healthy: true });
  marathon.addTask('/tcp', { port: tcpClosed, healthy: true });
  marathon.addTask('/cmd', { port: cmd.port, healthy: true });
  marathon.addTask('/other-port', { port: servesBadCheck.port, extraPorts: [checkGood.port], healthy: true });
  marathon.addTask('/other-port', { port: servesGoodCheck.port, extraPorts: [checkBad.port], healthy: true });

  const culm = await startCulm({ marathon: marathon.url, env: { CULM_EVENT_MODE: 'sse' } });
  t.teardown(async () => {
    await culm.destroy();
    await marathon.stop();
    await Promise.all(all.map((b) => b.close()));
  });
  await culm.waitReady();

  // Checks are spread over `inter 5s` and a server that starts unchecked goes DOWN at its first failure: every
  // server has its first result within ~5 s of HAProxy's start (and the states below are then stable).
  const checked = [['/plain', plainGood.port], ['/plain', plainBad.port], ['/tls', tlsGood.port], ['/tcp', tcpOpen.port],
    ['/tcp', tcpClosed], ['/other-port', servesBadCheck.port], ['/other-port', servesGoodCheck.port]] as const;
  await eventually('every checked server has a check result', async () => {
    const states = await Promise.all(checked.map(([app, port]) => state(culm, app, port)));
    return states.every((s) => / L[47]/.test(s));
  }, 30_000, 250);

  t.match(await state(culm, '/plain', plainGood.port), /^UP L7OK/, 'HTTP: 200 on the check path is UP');
  t.match(await state(culm, '/plain', plainBad.port), /^DOWN L7STS/, 'HTTP: 500 on the check path is DOWN');
  t.same(await whoAnswers(`${culm.frontend}/plain`, 6), new Set([String(plainGood.port)]), 'HTTP: traffic only to the good task');

  t.match(await state(culm, '/tls', tlsGood.port), /^UP L7OK/, 'HTTPS: checked over TLS (a plain check of a TLS port fails)');
  t.same(await get(`${culm.frontend}/tls`), { status: 200, body: String(tlsGood.port) }, 'HTTPS: served over TLS');
  t.ok(tlsGood.checks > 0, 'HTTPS: the check reached the TLS backend');

  t.match(await state(culm, '/tcp', tcpOpen.port), /^UP L4OK/, 'TCP: a listening port is UP by connect');
  t.match(await state(culm, '/tcp', tcpClosed), /^DOWN L4CON/, 'TCP: a closed port is DOWN');
  t.equal(tcpOpen.checks, 0, 'TCP: no HTTP request is sent');

  t.match(await state(culm, '/cmd', cmd.port), /^no check/, 'COMMAND: HAProxy runs no check');
  t.same(await get(`${culm.frontend}/cmd`), { status: 200, body: String(cmd.port) }, 'COMMAND: served although /health would fail');
  t.equal(cmd.checks, 0, 'COMMAND: nothing probes the check path');

  t.match(await state(culm, '/other-port', servesBadCheck.port), /^UP L7OK/, 'portIndex 1: the second port answers the check');
  t.match(await state(culm, '/other-port', servesGoodCheck.port), /^DOWN L7STS/, 'portIndex 1: a failing second port is DOWN');
  t.equal(servesBadCheck.checks + servesGoodCheck.checks, 0, 'portIndex 1: the serving ports are never checked');
  t.ok(checkGood.checks > 0 && checkBad.checks > 0, 'portIndex 1: the checked ports are');
  t.same(await whoAnswers(`${culm.frontend}/other-port`, 6), new Set([String(servesBadCheck.port)]), 'portIndex 1: traffic to the serving port of the UP task');

  // A task added to the HTTPS app goes through the runtime API with its TLS keywords, not a reload.
  const reloads = (): Promise<number> => culm.metric('culm_haproxy_reload_duration_seconds_count');
  const before = await reloads();
  const pid = culm.haproxy.poll()[0];
  marathon.addTask('/tls', { port: tlsLater.port, healthy: true });
  await eventually('the runtime-added TLS server is checked', async () => /^UP L7OK/.test(await state(culm, '/tls', tlsLater.port)), 15_000, 100);
  t.ok((await whoAnswers(`${culm.frontend}/tls`, 6)).has(String(tlsLater.port)), 'runtime-added HTTPS task served over TLS');
  t.ok(tlsLater.checks > 0, 'and checked over TLS');
  t.match(culm.config(), new RegExp(`127\\.0\\.0\\.1:${tlsLater.port} check inter 5s ssl verify none check-ssl\\n`), 'the file names it with its TLS keywords');
  // And one added to the app checked on its second port keeps `port <n>`.
  marathon.addTask('/other-port', { port: laterServes.port, extraPorts: [laterCheck.port], healthy: true });
  await eventually('the runtime-added server is checked on its second port', async () => /^UP L7OK/.test(await state(culm, '/other-port', laterServes.port)), 15_000, 100);
  t.ok(laterCheck.checks > 0 && laterServes.checks === 0, 'runtime-added: the check goes to the second port only');
  t.equal(await reloads(), before, 'no reload');
  t.same(culm.haproxy.poll(), [pid], 'the same HAProxy process');
});

t.test('a TLS server line the runtime API cannot take falls back to a reload', async (t) => {
  const marathon = await MarathonEmulator.start({ version: '1.10', keepaliveMs: 1000 });
  const first = await backend(200, true);
  const second = await backend(200, true);
  marathon.addApp({ id: '/tls', healthChecks: [{ protocol: 'HTTPS', path: '/health' }] });
  marathon.addTask('/tls', { port: first.port, healthy: true });
  // The default template with `cookie <name>` on each server line: HAProxy refuses it for dynamic servers.
  const dir = mkdtempSync(join(tmpdir(), 'culm-hc-'));
  const templates = new URL('../../templates/', import.meta.url).pathname;
  for (const f of readdirSync(templates)) copyFileSync(join(templates, f), join(dir, f));
  const partial = readFileSync(join(dir, 'backend.eta'), 'utf8');
  // The server line is the one that starts `server <%= task.Server %>`: `cookie` goes at its end.
  const patched = partial.replace(/^( {4}server <%= task\.Server %>.*)$/m, '$1 cookie <%= task.Server %>');
  if (patched === partial) throw new Error('backend.eta has no server line to patch');
  writeFileSync(join(dir, 'backend.eta'), patched);
  const culm = await startCulm({ marathon: marathon.url, dir, env: { CULM_EVENT_MODE: 'sse', HAPROXY_TEMPLATE_PATH: join(dir, 'haproxy.cfg.eta') } });
  t.teardown(async () => {
    await culm.destroy();
    rmSync(dir, { recursive: true, force: true });
    await marathon.stop();
    await first.close();
    await second.close();
  });
  await culm.waitReady();
  t.match(culm.config(), /ssl verify none check-ssl cookie /, 'the custom line is rendered');
  const reloads = (): Promise<number> => culm.metric('culm_haproxy_reload_duration_seconds_count');
  const before = await reloads();
  marathon.addTask('/tls', { port: second.port, healthy: true });
  await eventually('reloaded for the new task', async () => (await reloads()) > before, 15_000, 100);
  await eventually('the new TLS server is checked', async () => /^UP L7OK/.test(await state(culm, '/tls', second.port)), 15_000, 100);
  t.ok((await whoAnswers(`${culm.frontend}/tls`, 6)).has(String(second.port)), 'served over TLS after the reload');
});
