/**
 * Issue 10, a restart after `kill -9` honours the current servers, with the real HAProxy 2.6 and the driver:
 * the server-state file was saved at the last reload, and runtime changes since then are not in it. A server
 * in maintenance at that reload (taken out while a connection lingered), removed by it, then added back
 * through the runtime API, must serve after the restart; one whose state is unchanged keeps it.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HaproxyDriver } from '../../src/haproxy/driver.js';
import { applyRuntimeOps, runtimeCommands } from '../../src/haproxy/runtime-api.js';
import { runtimeOps } from '../../src/haproxy/server-diff.js';
import { silentLogger } from '../../src/log/logger.js';
import { eventually, freePort, whoAnswers, startBackend, type Backend } from '../helpers/net.js';
import { isAlive, PidFileWatcher, requireBinary } from '../helpers/processes.js';

requireBinary('haproxy', 'apt-get install -y haproxy (see README, Set-up)');
const dir = mkdtempSync(join(tmpdir(), 'culm-restart-state-'));
const out = join(dir, 'haproxy.cfg');
const pidFile = `${out}.pid`;
const socket = join(dir, 'haproxy.sock');
const statePath = `${out}.state`;
const pids = new PidFileWatcher(pidFile);
const backends: Backend[] = [];
let frontend = 0;

t.teardown(async () => {
  await pids.stopAll();
  await Promise.all(backends.map((b) => b.close()));
  rmSync(dir, { recursive: true, force: true });
});

/** A config with these servers in backend web (`name` → backend index); `rev` changes a non-server line. */
function config(servers: Array<[string, number]>, rev: number): string {
  return [
    'global', `    stats socket ${socket} mode 600 level admin expose-fd listeners`, `    server-state-file ${statePath}`,
    'defaults', '    mode http', '    load-server-state-from-file global', '    timeout connect 2s', '    timeout client 5s', '    timeout server 5s',
    'frontend in', `    bind 127.0.0.1:${frontend}`, `    # revision ${rev}`, '    default_backend web',
    'backend web', ...servers.map(([name, i]) => `    server ${name} 127.0.0.1:${backends[i].port}`), '',
  ].join('\n');
}

const adminState = async (name: string): Promise<number | undefined> => {
  const [state = ''] = await runtimeCommands(socket, ['show servers state web']);
  const line = state.split('\n').find((l) => l.split(' ')[3] === name);
  return line ? Number(line.split(' ')[6]) : undefined; // srv_admin_state: 0 ready, 1 maintenance (forced)
};

t.test('kill -9 after runtime changes: the restart loads only the server states still true', async (t) => {
  frontend = await freePort();
  for (let i = 0; i < 3; i++) backends.push(await startBackend());
  const driver = new HaproxyDriver({
    outputPath: out, validationCommand: 'haproxy -c -q -f {{.}}', cleanupCommand: 'exit 0', commandTimeoutMs: 10_000,
    reloadCommand: `haproxy -f ${out} -p ${pidFile} -D -sf $(cat ${pidFile} 2>/dev/null)`,
    statsSocketPath: socket, serverStatePath: statePath, log: silentLogger(),
  });
  const port = (i: number): string => String(backends[i].port);
  await driver.apply(config([['a', 0], ['b', 1], ['c', 2]], 1));
  await eventually('serving', async () => (await whoAnswers(`http://127.0.0.1:${frontend}/`, 6)).has(port(0)), 5000);
  // An operator's maintenance of c, and culm taking a out (maintenance first, as a runtime removal does).
  await runtimeCommands(socket, ['set server web/c state maint', 'set server web/a state maint']);
  // A reload for something else, with a gone: the state file now says a and c are in maintenance.
  await driver.apply(config([['b', 1], ['c', 2]], 2));
  t.match(readFileSync(statePath, 'utf8'), / web 1 a /, 'a saved in maintenance at that reload');
  // The task comes back: added through the runtime API, as culm does, then the file committed.
  const before = config([['b', 1], ['c', 2]], 2);
  const after = config([['a', 0], ['b', 1], ['c', 2]], 2);
  await applyRuntimeOps(socket, runtimeOps(before, after)!);
  await driver.commitRuntime(await driver.prepareRuntime(after));
  t.equal(await adminState('a'), 0, 'a serves before the kill');

  const pid = pids.poll()[0];
  process.kill(pid, 'SIGKILL');
  await eventually('the killed HAProxy is gone', () => !isAlive(pid), 5000);
  rmSync(pidFile, { force: true }); // as the supervisor does
  await driver.restart();
  await eventually('restarted', async () => (await adminState('b')) === 0, 5000);
  t.equal(await adminState('a'), 0, 'a, added since the reload, is not put back in maintenance');
  t.equal(await adminState('c'), 1, 'c, unchanged since, keeps its maintenance');
  t.ok((await whoAnswers(`http://127.0.0.1:${frontend}/`, 8)).has(port(0)), 'a takes requests');
  t.notMatch(readFileSync(statePath, 'utf8'), / web \d+ a /, 'the file no longer has a');
});
