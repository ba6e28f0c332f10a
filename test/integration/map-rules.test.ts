/**
 * Rules that only change route map entries reach the running HAProxy through its runtime API (a versioned
 * map swapped in at once), with no reload and no `haproxy -c`; the file on disk stays the whole truth, the
 * order of the map (longest prefix first) holds, and after a reload or a restart of HAProxy the next rule
 * change still finds the live map. With the runtime API off, the same change reloads.
 */
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { MarathonEmulator } from '../helpers/marathon-emulator.js';
import { startCulm, type CulmInstance } from '../helpers/culm.js';
import { eventually, get, startBackend, type Backend } from '../helpers/net.js';
import { reloads } from '../helpers/reload-load.js';
import { runtimeCommands } from '../../src/haproxy/runtime-api.js';

async function putAcl(culm: CulmInstance, app: string, acl: string): Promise<void> {
  const r = await culm.json(`/api/services/${app}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ acl }) });
  if (r.status >= 300) throw new Error(`PUT ${app} ${acl}: ${r.status} ${JSON.stringify(r.body)}`);
}

/** Which backend answers `path` (backends answer with their own port). */
const answer = async (culm: CulmInstance, path: string): Promise<string> => {
  const r = await get(`${culm.frontend}${path}`);
  return r.status === 200 ? r.body.trim() : `status ${r.status}`;
};

/** The live route map's entries, as HAProxy answers `show map` (`<prefix> <backend>` lines). */
async function liveMap(culm: CulmInstance): Promise<string> {
  const socket = `${culm.outputPath}.sock`;
  const [maps = ''] = await runtimeCommands(socket, ['show map']);
  const id = /^(\d+) \(.*routes-[0-9a-f]+\.map\)/m.exec(maps)?.[1];
  if (id === undefined) throw new Error(`no route map in: ${maps}`);
  const [entries = ''] = await runtimeCommands(socket, [`show map #${id}`]);
  return entries.split('\n').map((l) => l.split(' ').slice(1).join(' ')).join('\n');
}

/** The map file the config on disk names, and its content. */
function mapOnDisk(culm: CulmInstance): string {
  const path = /map_beg\(([^)]+)\)/.exec(culm.config())?.[1];
  return path ? readFileSync(path, 'utf8') : '';
}

async function setup(t: Test, env: Record<string, string> = {}) {
  const marathon = await MarathonEmulator.start({ version: '1.10', keepaliveMs: 1000 });
  const b: Backend[] = [await startBackend(), await startBackend(), await startBackend()];
  marathon.addApp({ id: '/web' });
  marathon.addTask('/web', { port: b[0].port });
  marathon.addApp({ id: '/shop' });
  marathon.addTask('/shop', { port: b[1].port });
  const culm = await startCulm({ marathon: marathon.url, env: { CULM_EVENT_MODE: 'sse', ...env } });
  t.teardown(async () => {
    await culm.destroy();
    await marathon.stop();
    await Promise.all(b.map((x) => x.close()));
  });
  await culm.waitReady();
  return { marathon, b, culm };
}

t.test('rule changes on apps with a backend: runtime map, no reload, file on disk the whole truth', async (t) => {
  const { marathon, b, culm } = await setup(t);
  const web = String(b[0].port);
  const shop = String(b[1].port);
  const before = await reloads(culm);
  const pid = culm.haproxy.poll()[0];

  await putAcl(culm, 'shop', 'path_beg -i /store');
  await eventually('/store routed to /shop', async () => (await answer(culm, '/store/x')) === shop);
  t.equal(await answer(culm, '/web'), web, 'the other app still routes');
  t.equal(await answer(culm, '/shop/x'), 'status 503', 'the old prefix routes nothing at once (edited in place: no stale lookup)');
  // The config naming the new map file is renamed into place once the commands are through.
  await eventually('the file on disk names the new map', () => mapOnDisk(culm).includes('/store ::shop-cluster'), 5000).catch(() => undefined);
  t.match(mapOnDisk(culm), '/store ::shop-cluster', 'the map file on disk holds the new entry');
  t.notMatch(mapOnDisk(culm), /^\/shop /m, 'and not the default one any more');
  const live = await liveMap(culm);
  t.match(live, '/store ::shop-cluster', 'HAProxy\'s live map holds the new entry (show map)');
  t.notMatch(live, /^\/shop /m, 'and not the old one');
  const lines = (text: string): string[] => text.trim().split('\n').sort();
  t.same(lines(live), lines(mapOnDisk(culm)), 'a rule edited in place: the live map holds the file\'s entries (appended last, no other key a prefix of it)');

  // Longer prefixes first, as the map file orders them: /web/shop beats /web in the live map too.
  await putAcl(culm, 'shop', 'path_beg -i /web/shop');
  await eventually('/web/shop routed to /shop', async () => (await answer(culm, '/web/shop/cart')) === shop);
  t.equal(await answer(culm, '/web/other'), web, '/web/other stays with /web');
  t.equal(await answer(culm, '/store/x'), 'status 503', 'the old prefix is gone from the live map');
  // The file is renamed into place once the map is swapped: a moment after the live map routes.
  await eventually('the file on disk is the live map', async () => (await liveMap(culm)).trim() === mapOnDisk(culm).trim(), 5000).catch(() => undefined);
  t.equal((await liveMap(culm)).trim(), mapOnDisk(culm).trim(), 'the live map is the file on disk, line for line, in its order');

  const del = await culm.json('/api/services/shop', { method: 'DELETE' });
  t.ok(del.status < 300, 'rule deleted');
  await eventually('the default route is back', async () => (await answer(culm, '/shop')) === shop);
  t.equal(await reloads(culm), before, 'no reload for any rule change');
  t.same(culm.haproxy.poll(), [pid], 'the same HAProxy process serves');
  const history = await culm.json<Array<{ mode?: string; reasons: string[] }>>('/api/history');
  t.ok(history.body.some((r) => r.mode === 'runtime' && r.reasons.some((x) => /rule/.test(x))), 'recorded as runtime applies of a rule change');

  // A reload (a new app) starts a process that loads the map from the file on disk; the next rule change
  // finds the map under the name that process knows.
  marathon.addApp({ id: '/new' });
  marathon.addTask('/new', { port: b[2].port });
  await eventually('reloaded for the new app', async () => (await reloads(culm)) > before);
  await eventually('new app routes', async () => (await answer(culm, '/new')) === String(b[2].port));
  t.equal(await answer(culm, '/shop'), shop, 'rules applied at runtime survive the reload (the file was the truth)');
  const afterReload = await reloads(culm);
  await putAcl(culm, 'web', 'path_beg -i /www');
  await eventually('/www routed after the reload', async () => (await answer(culm, '/www')) === web);
  t.equal(await reloads(culm), afterReload, 'still without a reload');

  // HAProxy killed: the supervisor starts it from the file; rule changes keep going through the runtime API.
  const current = culm.haproxy.poll()[0];
  process.kill(current, 'SIGKILL');
  await eventually('HAProxy started again', async () => {
    const [p] = culm.haproxy.poll();
    return p !== undefined && p !== current && (await answer(culm, '/www').catch(() => '')) === web;
  }, 15_000);
  const afterRestart = await reloads(culm);
  await putAcl(culm, 'web', 'path_beg -i /w3');
  await eventually('/w3 routed after the restart', async () => (await answer(culm, '/w3')) === web);
  t.equal(await answer(culm, '/www'), 'status 503', 'the previous prefix left the live map');
  t.equal(await reloads(culm), afterRestart, 'no reload for a rule change after the restart');
});

t.test('with the runtime API off, the same rule change reloads', async (t) => {
  const { b, culm } = await setup(t, { CULM_RUNTIME_API: 'false' });
  const before = await reloads(culm);
  await putAcl(culm, 'shop', 'path_beg -i /store');
  await eventually('/store routed to /shop', async () => (await answer(culm, '/store')) === String(b[1].port));
  // The new process serves before the reload command has returned (and the reload is counted): wait for the count.
  await eventually('a reload counted', async () => (await reloads(culm)) > before);
  t.ok((await reloads(culm)) > before, 'a reload applied it');
});
