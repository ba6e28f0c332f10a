/**
 * The delivery owner's decisions, with a fake driver, socket, lingering bookkeeping and clock (no HAProxy):
 * which changes go through the runtime API (servers, maps, both), which reload, which wait for the reload
 * interval, and what a runtime failure leads to. The real HAProxy is in test/integration (runtime-api,
 * map-rules, seamless-reload).
 */
import t from 'tap';
import { CulmError } from '../../src/core/errors.js';
import { DeliveryError, HaproxyDelivery, type DeliveryDriver, type Lingering, type RuntimeSocket } from '../../src/haproxy/delivery.js';
import type { ApplyTimings, RuntimeCandidate, SideFile } from '../../src/haproxy/driver.js';
import type { RuntimeOp, ServerLine } from '../../src/haproxy/server-diff.js';
import type { MapEdit } from '../../src/haproxy/map-edits.js';
import { silentLogger } from '../../src/log/logger.js';

/** Files on disk and HAProxy's commands, recorded; `failReload`/`failCheck` make the next ones fail. */
class FakeDriver implements DeliveryDriver {
  text?: string;
  last?: string;
  calls: string[] = [];
  failReload?: CulmError;
  applied() { return this.text; }
  lastApplied() { return this.last; }
  forgetApplied() { this.calls.push('forget'); this.text = undefined; }
  async check(text: string) { this.calls.push(`check ${text.length}`); }
  async apply(text: string, files: readonly SideFile[] = []): Promise<ApplyTimings | null> {
    if (text === this.text) return null;
    this.calls.push(`reload ${files.map((f) => f.path).join(',')}`);
    if (this.failReload) throw this.failReload;
    this.text = text;
    this.last = text;
    return { validateMs: 1, reloadMs: 2 };
  }
  async restart() { this.calls.push('restart'); return 3; }
  async prepareRuntime(text: string): Promise<RuntimeCandidate> {
    this.calls.push('prepare');
    return { text, path: '/tmp/x.candidate' };
  }
  async commitRuntime(c: RuntimeCandidate) {
    this.calls.push('commit');
    this.text = c.text;
    this.last = this.text;
  }
  async discard() { this.calls.push('discard'); }
}

class FakeSocket implements RuntimeSocket {
  sent: string[] = [];
  fail = false;
  async applyOps(ops: RuntimeOp[]) {
    if (this.fail) throw new CulmError('E_RUNTIME', 'socket gone');
    this.sent.push(...ops.map((o) => `${o.op} ${o.backend}/${o.server.name}${o.op === 'weight' ? ` ${o.weight}` : o.op === 'maxconn' ? ` ${o.maxconn}` : ''}`));
    return { commands: ops.length, lingering: [] as Array<[string, ServerLine]> };
  }
  async replaceMap(live: string, text: string) {
    if (this.fail) throw new CulmError('E_RUNTIME', 'socket gone');
    this.sent.push(`map ${live} ${text.trim().split('\n').join('|')}`);
  }
  async editMap(live: string, edits: readonly MapEdit[]) {
    if (this.fail) throw new CulmError('E_RUNTIME', 'socket gone');
    this.sent.push(`edit ${live} ${edits.map((e) => (e.op === 'del' ? `del ${e.key}` : `${e.op} ${e.key} ${e.value}`)).join('|')}`);
  }
}

const lingering: Lingering = {
  exclusive: (fn) => fn(),
  known: () => new Map(),
  update: () => undefined,
  clear: () => undefined,
};

/** A config with a route map named by its content and one backend with these servers. */
function config(mapName: string, servers: number[]): string {
  return [
    'frontend http',
    `    use_backend %[path,lower,map_beg(/out.routes-${mapName}.map)]`,
    'backend web',
    ...servers.map((p) => `    server s${p} 127.0.0.1:${p} check`),
    '',
  ].join('\n');
}
const map = (name: string, text: string): SideFile[] => [{ path: `/out.routes-${name}.map`, text, map: true }];

function setup(o: { socket?: boolean; intervalMs?: number } = {}) {
  const driver = new FakeDriver();
  const socket = new FakeSocket();
  let now = 10_000;
  const delivery = new HaproxyDelivery({
    driver, log: silentLogger(), reloadIntervalMs: o.intervalMs ?? 0, clock: () => now,
    ...(o.socket === false ? {} : { socketPath: '/run/s.sock', socket, lingering }),
  });
  return { driver, socket, delivery, advance: (ms: number) => { now += ms; } };
}

t.test('the first delivery reloads; server-only changes then go through the runtime API', async (t) => {
  const { driver, socket, delivery } = setup();
  t.equal((await delivery.deliver(config('a', [1]), map('a', '/web web\n'))).mode, 'reload');
  const d = await delivery.deliver(config('a', [1, 2]), map('a', '/web web\n'));
  t.equal(d.mode, 'runtime');
  t.same(socket.sent, ['add web/s2']);
  t.same(driver.calls.slice(-2), ['prepare', 'commit'], 'the file is prepared before and renamed after the commands');
  t.equal(delivery.applied(), config('a', [1, 2]));
});

t.test('a map-only change swaps the live map under the name HAProxy loaded it by, and keeps that name', async (t) => {
  const { socket, delivery } = setup();
  await delivery.deliver(config('a', [1]), map('a', '/web web\n'));
  t.ok(delivery.mapOnly(config('b', [1]), map('b', '/shop web\n')), 'known as map-only before delivery (no -c needed)');
  const d = await delivery.deliver(config('b', [1]), map('b', '/shop web\n'));
  t.same(d.mode === 'runtime' && [d.maps, d.serverOps], [1, 0]);
  t.same(socket.sent, ['edit /out.routes-a.map add /shop web|del /web'], 'a few entries: edited in place');
  // The next map change still names the map as the running process knows it: the first file's name.
  await delivery.deliver(config('c', [1, 2]), map('c', '/store web\n'));
  t.same(socket.sent.slice(1), ['edit /out.routes-a.map add /store web|del /shop', 'add web/s2'], 'a map and a server change together, map first');
});

t.test('the whole map is swapped when edits could answer in another order, or the lookups are not by prefix', async (t) => {
  const { socket, delivery } = setup();
  await delivery.deliver(config('a', [1]), map('a', '/web web\n'));
  // /web is a prefix of /web/shop: appended last, /web would answer first. The swap keeps the file's order.
  await delivery.deliver(config('b', [1]), map('b', '/web/shop shop\n/web web\n'));
  t.same(socket.sent, ['map /out.routes-a.map /web/shop shop|/web web'], 'a new key with a prefix among the others: swapped');
  await delivery.deliver(config('c', [1]), map('c', '/web/shop web\n/web web\n'));
  t.same(socket.sent.at(-1), 'edit /out.routes-a.map set /web/shop web', 'a new value: edited');
  await delivery.deliver(config('d', [1]), map('d', '/web web\n'));
  t.same(socket.sent.at(-1), 'edit /out.routes-a.map del /web/shop', 'a deletion: edited');
  const reg = (name: string): string => config(name, [1]).replace('map_beg(', 'map_reg(');
  const other = setup();
  await other.delivery.deliver(reg('a'), map('a', '/web web\n'));
  await other.delivery.deliver(reg('b'), map('b', '/shop web\n'));
  t.same(other.socket.sent, ['map /out.routes-a.map /shop web'], 'a map_reg lookup answers by the order in other ways: swapped');
});

t.test('after a reload or a restart, the live map is the one that process started from', async (t) => {
  const { driver, socket, delivery } = setup();
  await delivery.deliver(config('a', [1]), map('a', '/a web\n'));
  await delivery.deliver(config('b', [1]), map('b', '/b web\n')); // runtime
  await delivery.deliver(config('b', [1]).replace('frontend http', 'frontend http\n    timeout client 5s'), map('b', '/b web\n')); // reload
  t.match(driver.calls.at(-1), /^reload \/out\.routes-b\.map/);
  await delivery.deliver(config('c', [1]).replace('frontend http', 'frontend http\n    timeout client 5s'), map('c', '/c web\n'));
  t.equal(socket.sent.at(-1), 'edit /out.routes-b.map add /c web|del /b', 'the reloaded process knows the map by the name it loaded');
  await delivery.restart();
  await delivery.deliver(config('d', [1]).replace('frontend http', 'frontend http\n    timeout client 5s'), map('d', '/d web\n'));
  t.equal(socket.sent.at(-1), 'edit /out.routes-c.map add /d web|del /c', 'a restarted process loaded the file on disk: its name');
});

t.test('a weight-only change re-weights the servers at runtime; on a static algorithm, or with another change, it reloads', async (t) => {
  const { driver, socket, delivery } = setup();
  const weighted = (weight: number, balance = 'leastconn', mapName = 'a'): string => config(mapName, [1, 2])
    .replace('backend web', `backend web\n    balance ${balance}`).replace(/ check$/gm, ` check weight ${weight}`);
  await delivery.deliver(weighted(5), map('a', '/web web\n'));
  const d = await delivery.deliver(weighted(7), map('a', '/web web\n'));
  t.same(d.mode === 'runtime' && d.serverOps, 2, 'through the runtime API');
  t.same(socket.sent, ['weight web/s1 7', 'weight web/s2 7'], 'set server … weight, each server');
  t.same(driver.calls.slice(-2), ['prepare', 'commit'], 'the file on disk is rewritten as the whole truth');
  t.equal(delivery.applied(), weighted(7));
  t.equal((await delivery.deliver(weighted(0, 'leastconn', 'b'), map('b', '/shop web\n'))).mode, 'runtime', 'with a map change: both at runtime');
  t.same(socket.sent.slice(-3), ['edit /out.routes-a.map add /shop web|del /web', 'weight web/s1 0', 'weight web/s2 0']);
  const reloads = driver.calls.filter((c) => c.startsWith('reload')).length;
  t.equal((await delivery.deliver(weighted(3, 'static-rr', 'b'), map('b', '/shop web\n'))).mode, 'reload', 'the algorithm changed: a reload');
  t.equal((await delivery.deliver(weighted(4, 'static-rr', 'b'), map('b', '/shop web\n'))).mode, 'runtime', 'static-rr: not a weight op…');
  t.same(socket.sent.slice(-4), ['remove web/s1', 'add web/s1', 'remove web/s2', 'add web/s2'], '…but a remove and an add (which HAProxy refuses there: then a reload)');
  t.equal(driver.calls.filter((c) => c.startsWith('reload')).length, reloads + 1);
  const limited = weighted(4, 'static-rr', 'b').replace(/ weight 4$/gm, ' weight 4 maxconn 50');
  t.equal((await delivery.deliver(limited, map('b', '/shop web\n'))).mode, 'runtime', 'a maxconn, whatever the algorithm');
  t.same(socket.sent.slice(-2), ['maxconn web/s1 50', 'maxconn web/s2 50']);
});

t.test('anything else reloads: another line changed, a map added or removed, the runtime API off', async (t) => {
  const { delivery, socket } = setup();
  await delivery.deliver(config('a', [1]), map('a', '/a web\n'));
  const other = config('b', [1]).replace('backend web', 'backend web\n    balance roundrobin');
  t.notOk(delivery.mapOnly(other, map('b', '/b web\n')), 'map and another line: not map-only');
  t.equal((await delivery.deliver(other, map('b', '/b web\n'))).mode, 'reload');
  t.equal((await delivery.deliver(other.replace(/ *use_backend.*\n/, ''), [])).mode, 'reload', 'no map any more');
  t.same(socket.sent, []);
  const off = setup({ socket: false });
  await off.delivery.deliver(config('a', [1]), map('a', '/a web\n'));
  t.equal((await off.delivery.deliver(config('a', [1, 2]), map('a', '/a web\n'))).mode, 'reload', 'no socket: every change reloads');
});

t.test('a runtime failure: the driver forgets what runs, the candidate is discarded, a reload puts it right', async (t) => {
  const { driver, socket, delivery } = setup();
  await delivery.deliver(config('a', [1]), map('a', '/a web\n'));
  socket.fail = true;
  const d = await delivery.deliver(config('a', [1, 2]), map('a', '/a web\n'));
  t.equal(d.mode, 'reload');
  t.equal(d.runtimeFailed, true, 'reported, for the metric');
  t.same(driver.calls.slice(-4), ['prepare', 'forget', 'discard', 'reload /out.routes-a.map']);
});

t.test('the reload interval bounds the rate; a refused reload is reported with its code and still counts', async (t) => {
  const { driver, delivery, advance } = setup({ intervalMs: 1000 });
  t.equal((await delivery.deliver('one\n')).mode, 'reload', 'none within the interval: at once');
  const d = await delivery.deliver('two\n');
  t.same(d.mode === 'deferred' && d.retryAt, 11_000, 'deferred until the interval since the last reload is over');
  advance(1000);
  driver.failReload = new CulmError('E_RELOAD_FAILED', 'reload exited 1');
  const err = await delivery.deliver('two\n').catch((e: unknown) => e);
  t.ok(err instanceof DeliveryError && err.code === 'E_RELOAD_FAILED', 'a DeliveryError with the code');
  driver.failReload = undefined;
  t.equal((await delivery.deliver('two\n')).mode, 'deferred', 'a failed reload counts for the interval');
  driver.failReload = new CulmError('E_CONFIG_INVALID', 'haproxy -c: bad');
  advance(1000);
  const invalid = await delivery.deliver('three\n').catch((e: unknown) => e);
  t.ok(invalid instanceof DeliveryError && invalid.code === 'E_CONFIG_INVALID');
  driver.failReload = undefined;
  t.equal((await delivery.deliver('four\n')).mode, 'reload', 'a refused candidate reloaded nothing: the next one goes at once');
});

t.test('HAProxy\'s view of its servers is read through the delivery, and only there', async (t) => {
  const asked: string[][] = [];
  const withStats = new HaproxyDelivery({
    driver: new FakeDriver(), log: silentLogger(),
    readStats: async (backends) => {
      asked.push([...backends]);
      return [{ backend: '::web-cluster', server: 's', address: '127.0.0.1:1', status: 'UP', sessions: 2, check: '', checkDetail: '' }];
    },
  });
  t.same((await withStats.serverStats(['::web-cluster'])).map((s) => [s.server, s.status, s.sessions]), [['s', 'UP', 2]]);
  t.same(asked, [['::web-cluster']]);
  const none = new HaproxyDelivery({ driver: new FakeDriver(), log: silentLogger() });
  await t.rejects(none.serverStats(['::web-cluster']), { code: 'E_RUNTIME', message: /no stats socket/ }, 'no socket: a clear error');
});
