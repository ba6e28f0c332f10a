/**
 * App certificates HAProxy refuses, with the real `haproxy -c` and the real file checks (cert-files.ts): HAProxy
 * 2.6 names only the first crt-list line it cannot load per check, so more bad files than isolation rounds must
 * still all be found in one apply, and stay out when an apply later fails for another reason. And the labels an
 * edge without `HAProxy.SslCerts` ignores: one warning per app, not per apply.
 */
import t from 'tap';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Applier } from '../../src/pipeline/apply.js';
import { HaproxyDriver } from '../../src/haproxy/driver.js';
import { HaproxyDelivery } from '../../src/haproxy/delivery.js';
import { Renderer } from '../../src/haproxy/render.js';
import { certState } from '../../src/fs/cert-files.js';
import { createLogger } from '../../src/log/logger.js';
import type { App } from '../../src/core/model.js';
import { app, labels, stateOf, task, tasks } from '../helpers/builders.js';
import { requireBinary } from '../helpers/processes.js';
import { makeCert } from '../helpers/tls.js';

requireBinary('haproxy', 'apt-get install -y haproxy (see README, Set-up)');
const templates = new URL('../../templates/', import.meta.url).pathname;
const BAD = 6; // more than the applier's isolation rounds (5)

function setup(o: { sslCerts?: boolean } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'culm-cert-refusals-'));
  for (const f of readdirSync(templates)) copyFileSync(join(templates, f), join(dir, f));
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({ write(chunk: Buffer, _enc, done) { for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>); done(); } });
  const log = createLogger('warn', sink);
  const out = join(dir, 'haproxy.cfg');
  const driver = new HaproxyDriver({ outputPath: out, validationCommand: 'haproxy -c -f {{.}}', reloadCommand: 'true', cleanupCommand: 'true', commandTimeoutMs: 10_000, log });
  makeCert(join(dir, 'edge.pem'), 'edge.example.com');
  makeCert(join(dir, 'good.pem'), 'good.example.com');
  // Readable regular files that are no certificate: certState lets them through, HAProxy refuses them.
  for (let i = 0; i < BAD; i++) writeFileSync(join(dir, `bad${i}.pem`), `not a certificate ${i}\n`);
  const applier = new Applier(new Renderer(join(dir, 'haproxy.cfg.eta')), new HaproxyDelivery({ driver, log }), {
    HttpBind: '127.0.0.1:1', StatsSocket: join(dir, 's.sock'), PidFile: join(dir, 'p'), OutputPath: out,
    ...o.sslCerts === false ? {} : { SslCerts: [join(dir, 'edge.pem')], HttpsBind: '127.0.0.1:2' },
  }, log, certState);
  const crtList = (): string[] => {
    const list = /crt-list (\/\S+)/.exec(readFileSync(out, 'utf8'))?.[1];
    return list ? readFileSync(list, 'utf8').split('\n').filter(Boolean) : [];
  };
  const bad = Array.from({ length: BAD }, (_, i) => join(dir, `bad${i}.pem`));
  return { dir, out, applier, crtList, bad, good: join(dir, 'good.pem'), lines };
}

const withCert = (id: string, cert: string, port: number): App =>
  app(id, labels({ HAPROXY_0_SSL_CERT: cert, HAPROXY_0_VHOST: `${id.slice(1)}.example.com` }), tasks(task(port)));

t.test(`${BAD} apps with certificates HAProxy refuses and one good app: all ${BAD} left out in one apply, the good app's changes apply`, async (t) => {
  const { applier, crtList, bad, good, out } = setup();
  const apps = (goodPort: number) => stateOf(...bad.map((c, i) => withCert(`/bad${i}`, c, 31000 + i)), withCert('/good', good, goodPort));
  const r = await applier.apply(apps(31100), new Map());
  t.equal(r.result, 'applied', r.error?.message ?? '');
  t.same([...applier.refusedCerts.keys()].sort(), [...bad].sort(), 'every bad file is left out');
  t.same(crtList(), [good], 'the good certificate stays in the crt-list');
  for (let i = 0; i < BAD; i++) {
    const left = r.leftOut?.find((l) => l.id === `/bad${i}`);
    t.equal(left?.kind, 'cert', `/bad${i}: its certificate left out`);
    t.match(left?.error ?? '', /unable to load certificate/, `/bad${i}: with HAProxy's reason`);
  }
  const next = await applier.apply(apps(31101), new Map());
  t.equal(next.result, 'applied', 'a change of the good app applies');
  t.match(readFileSync(out, 'utf8'), '127.0.0.1:31101', 'its new task is in the config');
  t.equal(applier.refusedCerts.size, BAD, 'the bad files stay out');
});

t.test(`one app with ${BAD} HTTP ports, each naming a file HAProxy refuses (all in the crt-list, no service-port frontends): one apply leaves them all out`, async (t) => {
  const { applier, bad, good, crtList } = setup();
  const many: Record<string, string> = {};
  bad.forEach((c, i) => { many[`HAPROXY_${i}_SSL_CERT`] = c; many[`HAPROXY_${i}_VHOST`] = `p${i}.example.com`; });
  const wide = app('/wide', labels(many), tasks(task(31000, { ports: bad.map((_, i) => 31000 + i) })));
  wide.servicePorts = bad.map((_, i) => 10100 + i);
  const r = await applier.apply(stateOf(wide, withCert('/good', good, 31100)), new Map());
  t.equal(r.result, 'applied', r.error?.message ?? '');
  t.same([...applier.refusedCerts.keys()].sort(), [...bad].sort());
  t.same(crtList(), [good]);
});

t.test('certificates HAProxy named stay out when the apply then fails for another reason (the template)', async (t) => {
  const { applier, bad, good, dir } = setup();
  // The template breaks the config for every app: no isolation can make it valid.
  const main = join(dir, 'haproxy.cfg.eta');
  writeFileSync(main, `${readFileSync(main, 'utf8')}\nfrontend broken\n    bind 127.0.0.1:3\n    bogus_keyword here\n`);
  const r = await applier.apply(stateOf(...bad.map((c, i) => withCert(`/bad${i}`, c, 31000 + i)), withCert('/good', good, 31100)), new Map());
  t.not(r.result, 'applied');
  t.same([...applier.refusedCerts.keys()].sort(), [...bad].sort(), 'every file HAProxy refused is still left out');
  t.ok(bad.every((_, i) => r.leftOut?.some((l) => l.kind === 'cert' && l.id === `/bad${i}`)), 'and the record says so');
  t.equal(applier.excludedApps.size + applier.ignoredRules.size, 0, 'apps and rules are not left out for the template\'s fault');
});

t.test('without HAProxy.SslCerts: one warning per app naming its ignored labels and the setting, HTTP ports without a frontend of their own too', async (t) => {
  const { applier, lines, good } = setup({ sslCerts: false });
  const state = (port: number) => stateOf(withCert('/web', good, port), app('/plain', tasks(task(31200))));
  t.equal((await applier.apply(state(31000), new Map())).result, 'applied');
  t.equal((await applier.apply(state(31001), new Map())).result, 'applied');
  const warned = lines.filter((l) => /HAPROXY_\{n\}_SSL_CERT\) ignored: HAProxy\.SslCerts is empty/.test(String(l.msg)));
  t.equal(warned.length, 1, 'one warning, not one per apply');
  t.equal(warned[0]?.level, 40, 'a warning');
  t.equal(warned[0]?.app, '/web');
  t.same(warned[0]?.labels, [`HAPROXY_0_SSL_CERT=${good}`], 'naming the label');
});
