/**
 * Per-app backend settings through real culm, HAProxy and the Marathon emulator: `HAPROXY_0_BALANCE` in the
 * config and in behaviour, `HAPROXY_0_STICKY`'s cookie (set on the first answer, the same server while it is
 * sent), a REST rule's Config over the labels (and a bad Config value refused with nothing stored), and a
 * weight changed at runtime without a reload, which a later reload does not undo.
 */
import t from 'tap';
import { MarathonEmulator } from '../helpers/marathon-emulator.js';
import { startCulm, type CulmInstance } from '../helpers/culm.js';
import { eventually, rawRequest, startBackend, type Backend } from '../helpers/net.js';
import { runtimeCommands } from '../../src/haproxy/runtime-api.js';

/** The backend that answered (its port), and the response's headers. */
async function ask(culm: CulmInstance, path: string, headers: Record<string, string> = {}): Promise<{ who: string; headers: Record<string, string | string[] | undefined> }> {
  const res = await rawRequest(`${culm.frontend}${path}`, 'GET', { Connection: 'close', ...headers });
  return { who: res.status === 200 ? res.body.trim() : `status ${res.status}`, headers: res.headers };
}

const putRule = (culm: CulmInstance, id: string, body: unknown) => culm.json<{ error?: { code: string; message: string } }>(`/api/services/${id}`, {
  method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
});

/** A backend section of the applied config. */
const section = (culm: CulmInstance, name: string): string => {
  const text = culm.config();
  const at = text.indexOf(`\nbackend ${name}\n`);
  return at === -1 ? '' : text.slice(at + 1).split('\n\n')[0];
};

t.test('balance, sticky, a rule\'s Config over labels, weights at runtime', async (t) => {
  const marathon = await MarathonEmulator.start({ version: '1.10', keepaliveMs: 1000 });
  const b: Record<string, Backend[]> = {};
  const apps: Record<string, Record<string, string>> = {
    '/rr': { HAPROXY_0_BALANCE: 'roundrobin' },
    '/lc': {},
    '/sticky': { HAPROXY_0_STICKY: 'true' },
    '/ruled': { HAPROXY_0_BALANCE: 'roundrobin', HAPROXY_0_STICKY: 'true' },
    '/weighted': {},
    '/broken': { HAPROXY_0_BALANCE: 'fastest' },
  };
  for (const [id, labels] of Object.entries(apps)) {
    b[id] = [await startBackend(), await startBackend()];
    marathon.addApp({ id, labels });
    for (const x of b[id]) marathon.addTask(id, { port: x.port });
  }
  const culm = await startCulm({ marathon: marathon.url, env: { CULM_EVENT_MODE: 'sse' } });
  t.teardown(async () => {
    await culm.destroy();
    await marathon.stop();
    await Promise.all(Object.values(b).flat().map((x) => x.close()));
  });
  await culm.waitReady();
  const ports = (id: string): Set<string> => new Set(b[id].map((x) => String(x.port)));
  const socket = `${culm.outputPath}.sock`;
  const reloads = (): Promise<number> => culm.metric('culm_haproxy_reload_duration_seconds_count');

  // Balance: in the config, and roundrobin's strict turns in behaviour (sequential requests, one connection each).
  t.match(section(culm, '::rr-cluster'), /\n {4}balance roundrobin\n/, 'HAPROXY_0_BALANCE=roundrobin in the config');
  t.match(section(culm, '::lc-cluster'), /\n {4}balance leastconn\n/, 'no label: Bamboo\'s leastconn');
  const turns: string[] = [];
  for (let i = 0; i < 6; i++) turns.push((await ask(culm, '/rr')).who);
  t.same(new Set(turns), ports('/rr'), 'both servers answer');
  t.ok(turns.every((w, i) => i === 0 || w !== turns[i - 1]), `roundrobin takes turns: ${turns.join(' ')}`);
  t.equal((await ask(culm, '/broken')).who, 'status 503', 'a bad balance label: that app is left out');
  t.notMatch(culm.config(), '::broken-cluster', 'not in the config');

  // Sticky: a cookie on the first answer, then the same server while the client sends it.
  const first = await ask(culm, '/sticky');
  const setCookie = [first.headers['set-cookie'] ?? []].flat().find((c) => c.startsWith('mesosphere_server_id='));
  t.ok(setCookie, `Set-Cookie on the first answer: ${setCookie}`);
  const cookie = setCookie!.split(';')[0];
  const withCookie = new Set<string>();
  for (let i = 0; i < 8; i++) {
    const r = await ask(culm, '/sticky', { Cookie: cookie });
    withCookie.add(r.who);
    t.notOk(r.headers['set-cookie'], 'no new cookie while it is sent');
  }
  t.same([...withCookie], [first.who], 'the same server for every request with the cookie');
  const other = [...ports('/sticky')].find((p) => p !== first.who)!;
  const otherCookie = /cookie ([0-9a-f]{10})$/m.exec(section(culm, '::sticky-cluster').split('\n').find((l) => l.includes(`:${other}`)) ?? '')?.[1];
  t.equal((await ask(culm, '/sticky', { Cookie: `mesosphere_server_id=${otherCookie}` })).who, other, 'the other server\'s cookie: the other server');

  // A REST rule's Config wins over the labels; a bad value is refused and nothing is stored.
  const bad = await putRule(culm, 'ruled', { acl: 'path_beg -i /ruled', config: { balance: 'fastest' } });
  t.equal(bad.status, 400, 'a bad Config value: 400');
  t.equal(bad.body.error?.code, 'E_RULE_INVALID');
  t.match(bad.body.error?.message, /Config\.balance "fastest" is not an HAProxy algorithm/);
  t.equal((await culm.json('/api/services/ruled')).status, 404, 'nothing stored');
  const reloadsBefore = await reloads();
  const good = await putRule(culm, 'ruled', { acl: 'path_beg -i /ruled', config: { balance: 'source', sticky: 'false', timeoutServer: '30s' } });
  t.equal(good.status, 200, 'stored');
  await eventually('the rule\'s balance applied by a reload', async () => (await reloads()) > reloadsBefore);
  t.match(section(culm, '::ruled-cluster'), /\n {4}balance source\n/, 'the rule\'s balance');
  t.match(section(culm, '::ruled-cluster'), /\n {4}timeout server 30s\n/, 'timeout server');
  t.notMatch(section(culm, '::ruled-cluster'), /cookie/, 'sticky off, over the label');
  const bySource = new Set<string>();
  for (let i = 0; i < 6; i++) bySource.add((await ask(culm, '/ruled')).who);
  t.equal(bySource.size, 1, 'balance source: one client, one server');

  // A weight through a rule's Config, then changed: runtime commands, no reload.
  const before = await reloads();
  const servers = section(culm, '::weighted-cluster').split('\n').filter((l) => l.trim().startsWith('server ')).map((l) => l.trim().split(/\s+/)[1]);
  t.equal(servers.length, 2);
  const weights = async (): Promise<string[]> => runtimeCommands(socket, servers.map((s) => `get weight ::weighted-cluster/${s}`));
  t.same(await weights(), ['1 (initial 1)', '1 (initial 1)'], 'HAProxy\'s default weight first');
  t.equal((await putRule(culm, 'weighted', { acl: 'path_beg -i /weighted', config: { weight: '5' } })).status, 200);
  await eventually('weight 5 in HAProxy', async () => (await weights()).every((w) => w.startsWith('5 ')));
  // The file is renamed into place once the commands are through, a moment after HAProxy has the weight.
  await eventually('the file on disk too', () => / weight 5\n/.test(section(culm, '::weighted-cluster')), 5000).catch(() => undefined);
  t.match(section(culm, '::weighted-cluster'), / weight 5\n/, 'the file on disk says it');
  t.equal((await putRule(culm, 'weighted', { acl: 'path_beg -i /weighted', config: { weight: '7' } })).status, 200);
  await eventually('weight 7 in HAProxy', async () => (await weights()).every((w) => w.startsWith('7 ')));
  t.equal((await putRule(culm, 'weighted', { acl: 'path_beg -i /weighted', config: { weight: '7', maxconn: '50' } })).status, 200);
  const limits = async (): Promise<string[]> => (await runtimeCommands(socket, ['show stat']))[0].split('\n')
    .filter((l) => l.startsWith('::weighted-cluster,') && !l.includes(',BACKEND,')).map((l) => l.split(',')[6]);
  await eventually('maxconn 50 in HAProxy', async () => (await limits()).join() === '50,50');
  t.equal(await reloads(), before, 'no reload for the weight changes, nor the maxconn');
  const state = (await runtimeCommands(socket, ['show servers state ::weighted-cluster']))[0];
  t.match(state, new RegExp(` ${servers[0]} \\S+ \\d+ \\d+ 7 1 `), 'show servers state: the new weight (srv_uweight 7, initial 1)');
  const history = await culm.json<Array<{ mode?: string }>>('/api/history');
  t.ok(history.body.some((r) => r.mode === 'runtime'), 'recorded as runtime applies');

  // Back to 1 with a change that reloads (balance): the reloaded HAProxy has the file's weight, not the runtime 7.
  t.equal((await putRule(culm, 'weighted', { acl: 'path_beg -i /weighted', config: { weight: '1', balance: 'roundrobin' } })).status, 200);
  await eventually('reloaded', async () => (await reloads()) > before);
  await eventually('the reloaded process runs roundrobin', () => /balance roundrobin/.test(section(culm, '::weighted-cluster')));
  t.same(await weights(), ['1 (initial 1)', '1 (initial 1)'], 'weight 1 after the reload');
  const answering = new Set<string>();
  for (let i = 0; i < 4; i++) answering.add((await ask(culm, '/weighted')).who);
  t.same(answering, ports('/weighted'), 'both servers serve');
});
