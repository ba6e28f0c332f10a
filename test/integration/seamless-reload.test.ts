/**
 * Issue 10, "Reloads that lose nothing", against the real culm binary, the emulator and real HAProxy 2.6: 20 rule
 * changes force 20 reloads while a bounded load (~200 req/s, keep-alive clients reusing idle connections and new
 * connections) runs on loopback; no request may fail. A server put in maintenance through the socket stays so
 * across a reload (server-state-file).
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { MarathonEmulator } from '../helpers/marathon-emulator.js';
import { startCulm, type CulmInstance } from '../helpers/culm.js';
import { eventually, startBackend, type Backend } from '../helpers/net.js';
import { runtimeCommands } from '../../src/haproxy/runtime-api.js';
import { load, putRule as storeRule, reloads as reloadCount, reloadsInHistory } from '../helpers/reload-load.js';

let marathon: MarathonEmulator;
let culm: CulmInstance;
const backends: Backend[] = [];
const RELOAD_INTERVAL_MS = 300;

t.before(async () => {
  marathon = await MarathonEmulator.start({ version: '1.10', keepaliveMs: 500 });
  for (let i = 0; i < 3; i++) backends.push(await startBackend());
  marathon.addApp({ id: '/web' });
  marathon.addTask('/web', { port: backends[0].port });
  marathon.addTask('/web', { port: backends[1].port });
  marathon.addApp({ id: '/other' });
  marathon.addTask('/other', { port: backends[2].port });
  culm = await startCulm({ marathon: marathon.url, env: { CULM_EVENT_MODE: 'sse', CULM_RELOAD_INTERVAL_MS: String(RELOAD_INTERVAL_MS) } });
  await culm.waitReady();
});

t.teardown(async () => {
  await culm?.destroy();
  await marathon?.stop();
  await Promise.all(backends.map((b) => b.close()));
});

const reloads = (): Promise<number> => reloadCount(culm);
const putRule = (i: number): Promise<void> => storeRule(culm, 'other', i);

t.test('20 reloads under ~200 req/s (keep-alive and new connections): no request fails', async (t) => {
  t.match(culm.config(), /server-state-file .*\.state\n/, 'the default template names the state file');
  const before = await reloads();
  const traffic = load(`${culm.frontend}/web`, 200);
  await new Promise((r) => setTimeout(r, 500));
  for (let i = 0; i < 20; i++) {
    await putRule(i);
    await eventually(`reload ${i + 1}`, async () => (await reloads()) >= before + i + 1, 5000);
    await new Promise((r) => setTimeout(r, RELOAD_INTERVAL_MS + 50));
  }
  await new Promise((r) => setTimeout(r, 500));
  await traffic.stop();
  const done = (await reloads()) - before;
  t.comment(`${done} reloads, ${traffic.ok} ok, ${traffic.failed} failed ${JSON.stringify([...traffic.errors])}`);
  t.ok(done >= 20, `${done} reloads`);
  t.ok(await reloadsInHistory(culm) >= 20, '/api/history shows them with mode "reload"');
  t.ok(traffic.ok > 1000, `load ran (${traffic.ok} requests)`);
  t.equal(traffic.failed, 0, 'no failed request');
});

t.test('a server in maintenance (disable server) stays so after a reload', async (t) => {
  const sock = `${culm.outputPath}.sock`;
  const backend = /^backend (\S+)\n(?:.*\n)*?\s*server (\S+) 127\.0\.0\.1:(\d+)/m.exec(culm.config());
  t.ok(backend, 'a server in the config');
  if (!backend) return;
  const id = `${backend[1]}/${backend[2]}`;
  const [reply] = await runtimeCommands(sock, [`disable server ${id}`]);
  t.equal(reply, '', `disable server ${id}`);
  const adminState = async (): Promise<string | undefined> => {
    const [state = ''] = await runtimeCommands(sock, [`show servers state ${backend[1]}`]);
    const row = state.split('\n').find((l) => l.split(' ')[3] === backend[2]);
    return row?.split(' ')[6]; // srv_admin_state
  };
  t.equal(await adminState(), '1', 'in maintenance before the reload');
  const before = await reloads();
  const pid = readFileSync(`${culm.outputPath}.pid`, 'utf8').trim();
  await new Promise((r) => setTimeout(r, RELOAD_INTERVAL_MS + 50));
  await putRule(100);
  await eventually('reloaded', async () => (await reloads()) > before, 5000);
  t.not(readFileSync(`${culm.outputPath}.pid`, 'utf8').trim(), pid, 'a new HAProxy process');
  await eventually('the new process answers', async () => (await adminState().catch(() => undefined)) !== undefined, 3000);
  t.equal(await adminState(), '1', 'still in maintenance in the new process');
});
