/**
 * A `haproxy -c` that stops at its limit with app certificates in the config (issue 12: a file on a slow mount,
 * a FIFO beside a certificate): the bisection (stall-search.ts) against a reference on random cases, and the
 * applier over the real driver and delivery with an injected command runner that stalls on chosen files: those
 * certificates are left out with their reason, the rest applies, and another app's change applies after.
 */
import t from 'tap';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { searchStalls } from '../../src/pipeline/stall-search.js';
import { Applier, newMeasures, STALL_RETRY_MAX_MS, STALL_RETRY_MS } from '../../src/pipeline/apply.js';
import { HaproxyDriver } from '../../src/haproxy/driver.js';
import { HaproxyDelivery } from '../../src/haproxy/delivery.js';
import type { CommandResult } from '../../src/haproxy/command.js';
import { Renderer } from '../../src/haproxy/render.js';
import type { CertState } from '../../src/core/tls.js';
import { silentLogger } from '../../src/log/logger.js';
import { app, labels, stateOf, task, tasks } from '../helpers/builders.js';

/** A small seeded generator (mulberry32): the same cases on every run. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 2 ** 32;
  };
}

t.test('searchStalls: finds exactly the culprits, within its probes; none when the fault is elsewhere', async (t) => {
  const next = random(12);
  for (let i = 0; i < 300; i++) {
    const n = 1 + Math.floor(next() * 40);
    const items = Array.from({ length: n }, (_, k) => k);
    const culprits = new Set(items.filter(() => next() < 0.08));
    if (culprits.size === 0) culprits.add(Math.floor(next() * n));
    // The reference: the check stalls while any culprit is in (not held out).
    let stalling = 0;
    const stalls = async (out: ReadonlySet<number>) => {
      const s = [...culprits].some((c) => !out.has(c));
      if (s) stalling++;
      return s;
    };
    const budget = next() < 0.5 ? 1000 : 1 + Math.floor(next() * 8);
    const found = await searchStalls(items, stalls, budget);
    const desc = `n=${n} culprits=${[...culprits]} budget=${budget}`;
    t.ok(found, desc);
    if (!found) continue;
    t.ok(found.probes <= Math.max(budget, 1), `${desc}: at most the probes allowed (${found.probes})`);
    t.ok(found.culprits.every((c) => culprits.has(c)), `${desc}: only culprits are proven`);
    t.ok([...culprits].every((c) => found.culprits.includes(c) || found.unresolved.includes(c)), `${desc}: every culprit is held out`);
    t.notOk(await stalls(new Set([...found.culprits, ...found.unresolved])), `${desc}: the check passes without them`);
    if (budget === 1000) t.same(found.unresolved, [], `${desc}: enough probes: nothing left unresolved`);
    if (budget === 1000 && culprits.size === 1) {
      const log2 = Math.ceil(Math.log2(n));
      t.ok(found.probes <= 1 + 2 * log2, `${desc}: one culprit costs 1 + 2·ceil(log2 n) probes at most (${found.probes})`);
      t.ok(stalling - 1 <= log2, `${desc}: of which ceil(log2 n) stall at most (${stalling - 1})`); // the last call above passed
    }
  }
  let probes = 0;
  t.equal(await searchStalls([1, 2, 3], async () => (probes++, true), 16), undefined, 'still stalls with all of them out: none is at fault');
  t.equal(probes, 1, 'told by one probe');
});

const templates = new URL('../../templates/', import.meta.url).pathname;
const CPU_LIMIT = { cpuSeconds: 1, memoryMiB: 0 };

/**
 * An applier over the real driver and delivery whose commands are answered here: a validation whose candidate's
 * crt-list names one of `stall` stops at the CPU limit (SIGXCPU), or times out with `timeout`; each validation's
 * certificates and each reload are recorded.
 */
function setup(o: {
  stall: Set<string>; stallAlways?: boolean; timeout?: boolean; stamps?: Map<string, string>;
  /** HAProxy.SslCerts set (default): app certificates are honoured. */
  sslCerts?: boolean;
  /** HAProxy.BindServicePorts: each service port a frontend of its own. */
  servicePorts?: boolean;
  /** The applier's clock, and what each validation adds to it (a check that stalls costs its limit). */
  clock?: { now: number; perCheck?: number };
  commandTimeoutMs?: number;
  /** The stamp of a certificate left out, files beside it included (cert-files.ts `leftOutStamp`). */
  leftOut?: Map<string, string>;
  /** Certificate files missing on the edge. */
  missing?: Set<string>;
}) {
  const dir = mkdtempSync(join(tmpdir(), 'culm-cert-stall-'));
  const out = join(dir, 'haproxy.cfg');
  const validations: string[][] = [];
  let reloads = 0;
  const answer = (over: Partial<CommandResult>): CommandResult => ({ code: 0, signal: null, stdout: '', stderr: '', timedOut: false, ms: 1, ...over });
  const run = async (command: string): Promise<CommandResult> => {
    const candidate = /-f '?(\S+?\.candidate)/.exec(command)?.[1];
    if (!candidate) {
      reloads++;
      return answer({});
    }
    const text = readFileSync(candidate, 'utf8');
    const list = /crt-list (\/\S+)/.exec(text)?.[1];
    // The crt-list's certificates, then the service-port frontends' own (`bind … ssl crt <file>`; not https-in's default).
    const certs = [...list ? readFileSync(list, 'utf8').split('\n').filter(Boolean) : [], ...[...text.matchAll(/^\s*bind \S+ ssl crt (\S+)/gm)].map((m) => m[1]).filter((c) => c !== '/certs/default.pem')];
    validations.push(certs);
    if (o.clock) o.clock.now += o.clock.perCheck ?? 0;
    if (o.stallAlways || certs.some((c) => o.stall.has(c))) return o.timeout ? answer({ code: null, signal: 'SIGKILL', timedOut: true, ms: 5000 }) : answer({ code: null, signal: 'SIGXCPU' });
    return answer({});
  };
  const log = silentLogger();
  const driver = new HaproxyDriver({ outputPath: out, validationCommand: 'haproxy -c -f {{.}}', reloadCommand: 'reload', cleanupCommand: 'true', commandTimeoutMs: 5000, validationLimits: CPU_LIMIT, log, run });
  const certFiles = (path: string): CertState => ({ problem: o.missing?.has(path) ? 'no such file' : '', stamp: o.stamps?.get(path) ?? '1' });
  const clock = o.clock;
  const applier = new Applier(new Renderer(join(templates, 'haproxy.cfg.eta')), new HaproxyDelivery({ driver, log }), {
    HttpBind: '127.0.0.1:1', StatsSocket: join(dir, 's.sock'), PidFile: join(dir, 'p'), OutputPath: out,
    ...o.sslCerts === false ? {} : { SslCerts: ['/certs/default.pem'], HttpsBind: '127.0.0.1:2' },
    ...o.servicePorts ? { ServeGroups: { groups: [], strict: false, servicePortBind: '127.0.0.1' } } : {},
  }, log, certFiles, {
    ...clock ? { now: () => clock.now } : {},
    ...o.commandTimeoutMs ? { commandTimeoutMs: o.commandTimeoutMs } : {},
    ...o.leftOut ? { leftOutStamp: (path: string) => `${o.stamps?.get(path) ?? '1'} ${o.leftOut?.get(path) ?? ''}` } : {},
  });
  const crtList = (): string[] => {
    const list = /crt-list (\/\S+)/.exec(readFileSync(out, 'utf8'))?.[1];
    return list ? readFileSync(list, 'utf8').split('\n').filter(Boolean) : [];
  };
  return { out, applier, validations, reloads: () => reloads, crtList };
}

const withCert = (id: string, port: number, ...more: ReturnType<typeof task>[]) =>
  app(id, labels({ HAPROXY_0_SSL_CERT: `/certs/${id.slice(1)}.pem`, HAPROXY_0_VHOST: `${id.slice(1)}.example.com` }), tasks(task(port), ...more));
const ids = ['/a', '/b', '/c', '/slow', '/d', '/e', '/f'];
const cluster = (...extra: ReturnType<typeof task>[]) => stateOf(...ids.map((id, i) => withCert(id, 31000 + i)), app('/plain', tasks(task(31100), ...extra)));

t.test('applier: a check that stops at its CPU limit with app certificates: the one it stalls on is left out, the rest applies', async (t) => {
  const { applier, validations, reloads, crtList, out } = setup({ stall: new Set(['/certs/slow.pem']) });
  const measures = newMeasures();
  const r = await applier.apply(cluster(), new Map(), measures);
  t.equal(r.result, 'applied', 'applied');
  t.same(crtList().sort(), ids.filter((id) => id !== '/slow').map((id) => `/certs/${id.slice(1)}.pem`).sort(), 'every other app certificate is in the crt-list');
  t.match(readFileSync(out, 'utf8'), 'backend ::slow-cluster', 'the app itself is still served (HTTPS with the default certificate)');
  t.match(r.leftOut, [{ kind: 'cert', id: '/slow', stalled: true, error: /^certificate \/certs\/slow\.pem: haproxy -c stops at its limit with it \(validation exceeded its CPU-time limit/ }]);
  t.equal(r.leftOut?.length, 1, 'only that one');
  t.ok(r.reasons.includes("certificate of app /slow left out: HAProxy's check stalls on it"), 'the record says why');
  t.same(measures.skipped, [{ kind: 'app', id: '/slow', reason: 'tls cert' }], 'counted once (culm_apps_skipped_total{reason="tls cert"})');
  t.equal(reloads(), 1, 'one reload');
  const stalled = validations.filter((v) => v.includes('/certs/slow.pem')).length;
  t.ok(stalled <= 1 + Math.ceil(Math.log2(ids.length)), `checks that stalled: the first and at most ceil(log2 7) probes (${stalled})`);
  t.ok(validations.length <= 2 + 2 * Math.ceil(Math.log2(ids.length)) + 1, `checks in all: ${validations.length}`);
  t.same(validations.at(-1), crtList(), 'the last check was of the config applied');

  const before = validations.length;
  const next = await applier.apply(cluster(task(31101)), new Map());
  t.equal(next.result, 'applied', 'another app\'s change applies');
  t.match(readFileSync(out, 'utf8'), ':31101', 'with its new task');
  t.equal(validations.length - before, 1, 'one check: the certificate stays out, nothing is searched again');
  t.equal(next.leftOut, undefined, 'and it is not told again');
});

t.test('applier: two certificates that time the check out are both left out', async (t) => {
  const { applier, crtList } = setup({ stall: new Set(['/certs/b.pem', '/certs/e.pem']), timeout: true });
  const r = await applier.apply(cluster(), new Map());
  t.equal(r.result, 'applied');
  t.same(r.leftOut?.map((l) => l.id).sort(), ['/b', '/e']);
  t.match(r.leftOut?.[0].error, /stops at its limit with it \(validation timed out after 5000 ms: stopped at its time limit of 5000 ms \(HAProxy\.CommandTimeoutMs \/ CULM_COMMAND_TIMEOUT_MS raises it\)\)/);
  t.same(crtList().sort(), ['/certs/a.pem', '/certs/c.pem', '/certs/d.pem', '/certs/f.pem', '/certs/slow.pem'], 'the others are in');
});

t.test('applier: when the checks run out before every certificate is cleared, the rest of the suspects are left out too, saying so', async (t) => {
  const many = Array.from({ length: 24 }, (_, i) => `/m${i}`);
  const stall = new Set(many.filter((_, i) => i % 2 === 0).map((id) => `/certs/${id.slice(1)}.pem`));
  const { applier, crtList, validations } = setup({ stall });
  const r = await applier.apply(stateOf(...many.map((id, i) => withCert(id, 32000 + i))), new Map());
  t.equal(r.result, 'applied', 'applied');
  t.notOk(crtList().some((c) => stall.has(c)), 'no certificate it stalls on is in the crt-list');
  t.ok(crtList().length > 0, 'those cleared are');
  const untested = (r.leftOut ?? []).filter((l) => /left out untested: .* 16 checks did not tell whether this is one/.test(l.error));
  t.ok(untested.length > 0, `some left out untested (${untested.length}), with that reason`);
  t.ok(validations.length <= 1 + 16 + 1, `the check, 16 probes at most and the apply's (${validations.length})`);
});

t.test('applier: a certificate left out for a stall is tried again once its file changes', async (t) => {
  const stall = new Set(['/certs/slow.pem']);
  const stamps = new Map<string, string>();
  const { applier, crtList } = setup({ stall, stamps });
  t.equal((await applier.apply(cluster(), new Map())).result, 'applied');
  t.notOk(crtList().includes('/certs/slow.pem'));
  stall.clear();
  stamps.set('/certs/slow.pem', '2');
  const r = await applier.apply(cluster(), new Map());
  t.equal(r.result, 'applied', 'the new file: applied');
  t.ok(crtList().includes('/certs/slow.pem'), 'with that certificate back');
  t.equal(applier.refusedCerts.size, 0);
});

t.test('applier: a check that stalls without the app certificates too, or with none in the config, fails as before', async (t) => {
  const always = setup({ stall: new Set(), stallAlways: true });
  const r = await always.applier.apply(cluster(), new Map());
  t.equal(r.result, 'error', 'the apply fails (and is retried with backoff)');
  t.equal(r.error?.code, 'E_VALIDATION_LIMIT');
  t.equal(r.leftOut, undefined, 'nothing left out');
  t.equal(always.applier.refusedCerts.size, 0);
  t.equal(always.validations.length, 2, 'the check, and one probe with every app certificate held out');
  t.equal(always.reloads(), 0, 'nothing reloaded');

  const none = setup({ stall: new Set(), stallAlways: true });
  const plain = await none.applier.apply(stateOf(app('/plain', tasks(task(31100)))), new Map());
  t.equal(plain.result, 'error');
  t.equal(plain.error?.code, 'E_VALIDATION_LIMIT');
  t.equal(none.validations.length, 1, 'no app certificate in the candidate: no search');
});

/** An app whose TCP service port terminates TLS with its own certificate (in no crt-list: only its frontend's bind line). */
const tcpCert = (id: string, port: number, servicePort: number) =>
  ({ ...app(id, labels({ HAPROXY_0_MODE: 'tcp', HAPROXY_0_SSL_CERT: `/certs/${id.slice(1)}.pem` }), tasks(task(port))), servicePorts: [servicePort] });
const tcpCluster = () => stateOf(tcpCert('/slow', 31000, 10100), tcpCert('/db', 31001, 10101), { ...app('/plain', tasks(task(31100))), servicePorts: [10102] });

t.test('applier: a service port\'s own certificate (a TCP port, in no crt-list) the check stalls on is found and left out with its frontend', async (t) => {
  const { applier, out, validations } = setup({ stall: new Set(['/certs/slow.pem']), servicePorts: true });
  const r = await applier.apply(tcpCluster(), new Map());
  t.equal(r.result, 'applied', 'applied (not E_VALIDATION_LIMIT for ever)');
  t.match(r.leftOut, [{ kind: 'cert', id: '/slow', stalled: true, error: /^certificate \/certs\/slow\.pem: haproxy -c stops at its limit with it/ }]);
  t.equal(r.leftOut?.length, 1, 'only that one');
  const text = readFileSync(out, 'utf8');
  t.notMatch(text, 'bind 127.0.0.1:10100', 'its frontend is left out (never served in clear)');
  t.match(text, 'bind 127.0.0.1:10101 ssl crt /certs/db.pem', 'the other certificate\'s frontend is there');
  t.match(text, 'backend ::slow-cluster', 'the app itself is still served');
  t.ok(validations.length > 1, 'found by probes');
});

t.test('applier: without HAProxy.SslCerts a service port\'s certificate is ignored (its frontend left out): nothing to stall on', async (t) => {
  const { applier, out, validations } = setup({ stall: new Set(['/certs/slow.pem']), servicePorts: true, sslCerts: false });
  const measures = newMeasures();
  const r = await applier.apply(tcpCluster(), new Map(), measures);
  t.equal(r.result, 'applied');
  t.equal(validations.length, 1, 'one check');
  const text = readFileSync(out, 'utf8');
  t.notMatch(text, 'ssl crt', 'no app certificate in the config');
  t.notMatch(text, /bind 127\.0\.0\.1:1010[01]/, 'the ports that asked for TLS are not served in clear');
  t.match(text, 'bind 127.0.0.1:10102', 'the others are');
  t.same(measures.skipped, [], 'ignored, not counted as a bad certificate (one info line per app)');
  t.equal(applier.readsCertFiles(), false, 'and no file to watch: resyncs stop early again');
});

t.test('applier: a certificate left out for a stall is tried again after STALL_RETRY_MS, doubling while it still stalls', async (t) => {
  const stall = new Set(['/certs/slow.pem']);
  const clock = { now: 1_000_000 };
  const { applier, crtList } = setup({ stall, clock });
  t.equal((await applier.apply(cluster(), new Map())).result, 'applied');
  t.equal(applier.refusedCerts.get('/certs/slow.pem')?.retryAt, 1_000_000 + STALL_RETRY_MS, 'left out until then');
  clock.now += STALL_RETRY_MS - 1;
  await applier.apply(cluster(task(31101)), new Map());
  t.notOk(crtList().includes('/certs/slow.pem'), 'not yet');
  clock.now += 1;
  const again = await applier.apply(cluster(task(31102)), new Map());
  t.equal(again.result, 'applied', 'tried again: still stalls, left out again, the rest applies');
  t.match(again.leftOut, [{ id: '/slow', stalled: true }]);
  t.equal(applier.refusedCerts.get('/certs/slow.pem')?.retryAt, clock.now + 2 * STALL_RETRY_MS, 'for twice as long');
  for (let i = 0; i < 10; i++) {
    clock.now = applier.refusedCerts.get('/certs/slow.pem')!.retryAt!;
    await applier.apply(cluster(task(31110 + i)), new Map());
  }
  t.equal(applier.refusedCerts.get('/certs/slow.pem')?.retryAt, clock.now + STALL_RETRY_MAX_MS, `never longer than ${STALL_RETRY_MAX_MS / 3_600_000} h`);
  stall.clear(); // the mount recovered: nothing culm can see changed
  clock.now += STALL_RETRY_MAX_MS;
  const back = await applier.apply(cluster(task(31120)), new Map());
  t.equal(back.result, 'applied');
  t.ok(crtList().includes('/certs/slow.pem'), 'back at its retry');
  t.equal(applier.refusedCerts.size, 0);
});

t.test('applier: a stall found again before its retry was due (a failed apply undid the isolation) keeps its schedule', async (t) => {
  const { applier } = setup({ stall: new Set(['/certs/slow.pem']), clock: { now: 0 } });
  const retryAt = (applier as unknown as { stallRetryAt(path: string, now: number): number }).stallRetryAt.bind(applier);
  t.equal(retryAt('/certs/slow.pem', 1000), 1000 + STALL_RETRY_MS, 'a first stall');
  t.equal(retryAt('/certs/slow.pem', 5000), 1000 + STALL_RETRY_MS, 'again before its retry: the same time, no doubling');
  t.equal(retryAt('/certs/slow.pem', 1000 + STALL_RETRY_MS), 1000 + 3 * STALL_RETRY_MS, 'at its retry: twice as long');
});

t.test('applier: certificates left out untested expire too; a file beside a stalled one that changes tries it at once', async (t) => {
  const many = Array.from({ length: 24 }, (_, i) => `/m${i}`);
  const stall = new Set(many.filter((_, i) => i % 2 === 0).map((id) => `/certs/${id.slice(1)}.pem`));
  const clock = { now: 0 };
  const { applier, crtList } = setup({ stall, clock });
  const st = (k: number) => stateOf(...many.map((id, i) => withCert(id, 32000 + 100 * k + i)));
  await applier.apply(st(0), new Map());
  const untested = [...applier.refusedCerts].filter(([, r]) => /left out untested/.test(r.why)).map(([c]) => c);
  t.ok(untested.length > 0, `some left out untested (${untested.length})`);
  stall.clear();
  clock.now += STALL_RETRY_MS;
  t.equal((await applier.apply(st(1), new Map())).result, 'applied');
  t.equal(applier.refusedCerts.size, 0, 'every one tried again after the delay');
  t.equal(crtList().length, 24, 'all back');

  const side = new Map<string, string>();
  const slow = new Set(['/certs/slow.pem']);
  const s2 = setup({ stall: slow, clock: { now: 0 }, leftOut: side });
  await s2.applier.apply(cluster(), new Map());
  t.ok(s2.applier.refusedCerts.has('/certs/slow.pem'));
  await s2.applier.apply(cluster(task(31102)), new Map());
  t.ok(s2.applier.refusedCerts.has('/certs/slow.pem'), 'nothing changed: still out');
  slow.clear();
  side.set('/certs/slow.pem', 'ocsp FIFO removed');
  await s2.applier.apply(cluster(task(31101)), new Map());
  t.equal(s2.applier.refusedCerts.has('/certs/slow.pem'), false, 'a file beside it changed: tried again before its delay');
});

t.test('applier: the search stops at its deadline (4 × HAProxy.CommandTimeoutMs), leaving the rest out unresolved', async (t) => {
  const many = Array.from({ length: 24 }, (_, i) => `/m${i}`);
  const stall = new Set(many.filter((_, i) => i % 2 === 0).map((id) => `/certs/${id.slice(1)}.pem`));
  // Every check costs its timeout: 5 s.
  const { applier, crtList, validations } = setup({ stall, clock: { now: 0, perCheck: 5000 }, commandTimeoutMs: 5000, timeout: true });
  const r = await applier.apply(stateOf(...many.map((id, i) => withCert(id, 32000 + i))), new Map());
  t.equal(r.result, 'applied', 'applied');
  t.notOk(crtList().some((c) => stall.has(c)), 'no certificate it stalls on is in');
  t.ok(validations.length <= 1 + 4 + 1, `the check, the probes of 20 s, and the apply's (${validations.length})`);
  t.ok((r.leftOut ?? []).some((l) => /left out untested: .* \(all the search's 20 s allowed\) did not tell whether this is one/.test(l.error)), 'the untested ones say why');
});

t.test('applier: an HTTP port\'s missing certificate (in https-in and its own frontend) is counted once', async (t) => {
  const { applier } = setup({ stall: new Set(), servicePorts: true, missing: new Set(['/certs/missing.pem']) });
  const measures = newMeasures();
  const web = (port: number) => ({ ...app('/web', labels({ HAPROXY_0_SSL_CERT: '/certs/missing.pem', HAPROXY_0_VHOST: 'web.example.com' }), tasks(task(port))), servicePorts: [10443] });
  await applier.apply(stateOf(web(31000)), new Map(), measures);
  t.same(measures.skipped, [{ kind: 'app', id: '/web', reason: 'tls cert' }], 'culm_apps_skipped_total{reason="tls cert"} once');
  const next = newMeasures();
  await applier.apply(stateOf(web(31001)), new Map(), next);
  t.same(next.skipped, [], 'and not again while it stays out');
});
