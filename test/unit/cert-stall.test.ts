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
import { Applier, newMeasures } from '../../src/pipeline/apply.js';
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
function setup(o: { stall: Set<string>; stallAlways?: boolean; timeout?: boolean; stamps?: Map<string, string> }) {
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
    const list = /crt-list (\/\S+)/.exec(readFileSync(candidate, 'utf8'))?.[1];
    const certs = list ? readFileSync(list, 'utf8').split('\n').filter(Boolean) : [];
    validations.push(certs);
    if (o.stallAlways || certs.some((c) => o.stall.has(c))) return o.timeout ? answer({ code: null, signal: 'SIGKILL', timedOut: true, ms: 5000 }) : answer({ code: null, signal: 'SIGXCPU' });
    return answer({});
  };
  const log = silentLogger();
  const driver = new HaproxyDriver({ outputPath: out, validationCommand: 'haproxy -c -f {{.}}', reloadCommand: 'reload', cleanupCommand: 'true', commandTimeoutMs: 5000, validationLimits: CPU_LIMIT, log, run });
  const certFiles = (path: string): CertState => ({ problem: '', stamp: o.stamps?.get(path) ?? '1' });
  const applier = new Applier(new Renderer(join(templates, 'haproxy.cfg.eta')), new HaproxyDelivery({ driver, log }), {
    HttpBind: '127.0.0.1:1', StatsSocket: join(dir, 's.sock'), PidFile: join(dir, 'p'), OutputPath: out, SslCerts: ['/certs/default.pem'], HttpsBind: '127.0.0.1:2',
  }, log, certFiles);
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
  t.match(r.leftOut?.[0].error, /stops at its limit with it \(validation timed out after 5000 ms\)/);
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
