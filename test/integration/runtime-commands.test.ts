/**
 * The runtime API layer against a real HAProxy 2.6 started here (own config, socket and pid file): replies
 * framed one per command, and a removed server that still has a connection stays in maintenance (no new
 * requests, no failure, no reload) until a later deletion succeeds.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyRuntimeOps, deleteServers, runtimeCommands } from '../../src/haproxy/runtime-api.js';
import { LingeringServers } from '../../src/haproxy/lingering.js';
import { silentLogger } from '../../src/log/logger.js';
import { eventually, freePort, get, startBackend } from '../helpers/net.js';
import { PidFileWatcher, requireBinary } from '../helpers/processes.js';

requireBinary('haproxy', 'apt-get install -y haproxy (see README, Set-up)');

/** Admin state of each server of backend `b` (0: in rotation, 1: maintenance), from `show servers state`. */
async function adminStates(socket: string): Promise<Map<string, string>> {
  const [state] = await runtimeCommands(socket, ['show servers state b']);
  const out = new Map<string, string>();
  for (const row of state.split('\n').slice(2)) {
    const f = row.split(' ');
    if (f.length > 6) out.set(f[3], f[6]);
  }
  return out;
}

t.test('a server with a request in flight is put in maintenance, deleted once the request is done', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'culm-rt-'));
  const socket = join(dir, 's.sock');
  const pidFile = join(dir, 'h.pid');
  const front = await freePort();
  // A backend that holds its requests until told to answer.
  const held: ServerResponse[] = [];
  const slow = createServer((_req, res) => { held.push(res); });
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
  const slowPort = (slow.address() as { port: number }).port;
  const other = await startBackend();
  writeFileSync(join(dir, 'h.cfg'), [
    'global', `    stats socket ${socket} mode 600 level admin`,
    'defaults', '    mode http', '    timeout connect 1s', '    timeout client 10s', '    timeout server 10s',
    'frontend f', `    bind 127.0.0.1:${front}`, '    default_backend b',
    'backend b', '    balance leastconn', `    server slow 127.0.0.1:${slowPort}`, '',
  ].join('\n'));
  execFileSync('haproxy', ['-f', join(dir, 'h.cfg'), '-p', pidFile, '-D']);
  const haproxy = new PidFileWatcher(pidFile);
  haproxy.poll();
  t.teardown(async () => {
    await haproxy.stopAll();
    for (const res of held) res.destroy();
    slow.closeAllConnections();
    slow.close();
    await other.close();
  });

  // Replies framed one per command, whatever their own endings (some end with a blank line, some not).
  const replies = await runtimeCommands(socket, ['set server b/slow state ready', 'del server b/slow', 'del server b/nosuch', 'add server b/x 127.0.0.1:1']);
  t.same(replies, ['', 'Only servers in maintenance mode can be deleted.', 'No such server.', 'New server registered.']);
  await runtimeCommands(socket, ['set server b/x state maint', 'del server b/x']);

  const inFlight = get(`http://127.0.0.1:${front}/`);
  await eventually('request held by the slow server', () => held.length === 1);
  const server = { name: 'slow', address: '127.0.0.1', port: slowPort, options: '' };
  const result = await applyRuntimeOps(socket, [
    { op: 'remove', backend: 'b', server },
    { op: 'add', backend: 'b', server: { name: 'other', address: '127.0.0.1', port: other.port, options: '' } },
  ]);
  t.same(result.lingering, [['b/slow', server]], 'refused deletion reported (with its line), not thrown');
  t.equal((await adminStates(socket)).get('slow'), '1', 'in maintenance meanwhile');
  t.equal((await get(`http://127.0.0.1:${front}/`)).body, String(other.port), 'new requests go to the other server');
  t.same(await deleteServers(socket, ['b/slow']), ['b/slow'], 'still refused while the request is in flight');

  // An add of the same name takes the lingering server back, but only with the same options.
  const known = new Map([['b/slow', server]]);
  await t.rejects(applyRuntimeOps(socket, [{ op: 'add', backend: 'b', server: { ...server, options: 'weight 50' } }], known), { code: 'E_RUNTIME' }, 'other options: not taken back (the caller reloads)');
  t.equal((await adminStates(socket)).get('slow'), '1', 'still in maintenance');
  await t.rejects(applyRuntimeOps(socket, [{ op: 'add', backend: 'b', server }]), { code: 'E_RUNTIME' }, 'a server culm does not know as lingering: not taken over');
  t.same((await applyRuntimeOps(socket, [{ op: 'add', backend: 'b', server }], known)).lingering, [], 'same line: taken back');
  t.equal((await adminStates(socket)).get('slow'), '0', 'in rotation again');
  const batch = await applyRuntimeOps(socket, [{ op: 'remove', backend: 'b', server }, { op: 'add', backend: 'b', server }]);
  t.same(batch.lingering, [], 'refused deletion and take-back in one batch: not lingering');
  t.equal((await adminStates(socket)).get('slow'), '0');
  t.same((await applyRuntimeOps(socket, [{ op: 'remove', backend: 'b', server }])).lingering, [['b/slow', server]], 'removed again');

  const lingering = new LingeringServers(socket, silentLogger(), { firstRetryMs: 50, maxRetryMs: 100 });
  lingering.update(result.lingering, []);
  held[0].end('done\n');
  t.equal((await inFlight).body, 'done', 'the request in flight completes');
  // The server may keep an idle keep-alive connection a little longer: the retries wait for it.
  await eventually('lingering server deleted', () => lingering.list().length === 0, 15_000, 50);
  t.notOk((await adminStates(socket)).has('slow'), 'gone from HAProxy');
  t.ok((await adminStates(socket)).has('other'));
});

t.test('LingeringServers: added ids are no longer lingering, new lingering ones are; a reload clears them', async (t) => {
  const line = (name: string) => ({ name, address: '10.0.0.1', port: 1, options: '' });
  const lingering = new LingeringServers('/nonexistent/culm.sock', silentLogger(), { firstRetryMs: 10_000 });
  lingering.update([['b/a', line('a')], ['b/b', line('b')]], []);
  t.same(lingering.list().sort(), ['b/a', 'b/b']);
  t.same(lingering.known().get('b/a'), line('a'), 'kept with its line');
  lingering.update([['b/c', line('c')]], ['b/a']);
  t.same(lingering.list().sort(), ['b/b', 'b/c'], 'added again: no longer lingering; the new one is');
  lingering.clear();
  t.same(lingering.list(), [], 'a reload clears them');
});
