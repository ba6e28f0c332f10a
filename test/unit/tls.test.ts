/**
 * TLS with SNI: `HAPROXY_{n}_SSL_CERT` as the labels give it, the HTTPS frontend in the view (core/tls.ts), the
 * default template with TLS on (golden file, accepted by HAProxy), and the applier leaving out a certificate
 * that is missing or that `haproxy -c` refuses (real HAProxy as validation), never the app or the config.
 */
import t from 'tap';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { portsOf } from '../../src/core/lb-labels.js';
import { buildView, type CertCheck, type HaproxyPaths } from '../../src/core/view.js';
import { certsAtFailure } from '../../src/core/tls.js';
import { reportLabelProblems } from '../../src/core/lb-labels.js';
import type { Rejection } from '../../src/core/input-grammar.js';
import { Renderer } from '../../src/haproxy/render.js';
import { Applier, newMeasures } from '../../src/pipeline/apply.js';
import { HaproxyDriver } from '../../src/haproxy/driver.js';
import { HaproxyDelivery } from '../../src/haproxy/delivery.js';
import { certState } from '../../src/fs/cert-files.js';
import { loadConfig } from '../../src/config/index.js';
import { silentLogger } from '../../src/log/logger.js';
import { app, labels, stateOf, task, tasks } from '../helpers/builders.js';
import { requireBinary } from '../helpers/processes.js';
import { makeCert } from '../helpers/tls.js';

requireBinary('haproxy', 'apt-get install -y haproxy (see README, Set-up)');
requireBinary('openssl', 'apt-get install -y openssl');

const templates = new URL('../../templates/', import.meta.url).pathname;
const templatePath = join(templates, 'haproxy.cfg.eta');
const goldenPath = new URL('../fixtures/golden/tls.cfg', import.meta.url).pathname;
const paths: HaproxyPaths = {
  HttpBind: '127.0.0.1:18080', StatsSocket: '/run/culm/haproxy.cfg.sock', PidFile: '/run/culm/haproxy.cfg.pid', OutputPath: '/run/culm/haproxy.cfg',
  SslCerts: ['/run/culm/certs/default.pem'], HttpsBind: '127.0.0.1:18443',
};

t.test('HAPROXY_{n}_SSL_CERT: a path on each port; a bad value leaves the certificate out, not the port', async (t) => {
  const good = app('/web', labels({ HAPROXY_0_SSL_CERT: ' /etc/ssl/web.pem ', HAPROXY_1_SSL_CERT: '/etc/ssl/web-admin.pem' }));
  const two = { ...good, servicePorts: [10000, 10001] };
  t.same(portsOf(two).ports.map((p) => p.SslCert), ['/etc/ssl/web.pem', '/etc/ssl/web-admin.pem'], 'trimmed, per port');
  t.same(portsOf(two).problems, [], 'no problem');
  t.equal(portsOf(app('/plain')).ports[0].SslCert, '', 'none without the label');
  const bad: Array<[string, string]> = [
    ['relative', 'certs/web.pem'], ['a space', '/etc/ssl/my cert.pem'], ['a #', '/etc/ssl/web.pem#x'], ['a quote', "/etc/ssl/web'.pem"],
    ['..', '/etc/ssl/../shadow'], ['empty', ''], ['a bracket (crt-list options)', '/etc/ssl/web.pem [verify none]'], ['a $', '/etc/$HOME.pem'],
  ];
  for (const [desc, value] of bad) {
    const a = app('/web', labels({ HAPROXY_0_SSL_CERT: value, HAPROXY_0_VHOST: 'web.example.com' }));
    const { ports, problems } = portsOf(a);
    t.equal(ports[0].SslCert, '', `${desc}: no certificate`);
    t.equal(ports[0].NotServed, '', `${desc}: the port is still served`);
    t.same(ports[0].Vhosts, ['web.example.com'], `${desc}: and still routed by its labels`);
    t.match(problems, [{ label: 'HAPROXY_0_SSL_CERT', reason: /HAPROXY_0_SSL_CERT .*certificate left out/ }], `${desc}: the reason names the label`);
    const rejected: Rejection[] = [];
    reportLabelProblems(a, rejected);
    t.same(rejected.map((r) => r.field), ['lb_label'], `${desc}: counted as a refused label value`);
  }
});

t.test('view: the HTTPS frontend from HAProxy.SslCerts and the apps\' certificates', async (t) => {
  const state = stateOf(
    app('/a', labels({ HAPROXY_0_SSL_CERT: '/certs/a.pem', HAPROXY_0_VHOST: 'a.example.com' }), tasks(task(31001))),
    app('/a2', labels({ HAPROXY_0_SSL_CERT: '/certs/a.pem' }), tasks(task(31002))),
    app('/b', labels({ HAPROXY_0_SSL_CERT: '/certs/b.pem' }), tasks(task(31003))),
    app('/op', labels({ HAPROXY_0_SSL_CERT: '/certs/default.pem' })),
    { ...app('/tcp', labels({ HAPROXY_0_SSL_CERT: '/certs/tcp.pem', HAPROXY_0_MODE: 'tcp' })), servicePorts: [10500] },
    app('/bad', labels({ HAPROXY_0_SSL_CERT: '/certs/bad.pem', HAPROXY_0_VHOST: 'bad:1' })),
    app('/gone', labels({ HAPROXY_0_SSL_CERT: '/certs/gone.pem' })),
  );
  const rules = new Map();
  const off = buildView(state, rules, { ...paths, SslCerts: [] });
  t.equal(off.Tls, undefined, 'no HAProxy.SslCerts: no HTTPS frontend');
  t.same(off.CertProblems, [], 'and nothing to report');
  const own: HaproxyPaths = { ...paths, SslCerts: ['/certs/default.pem', '/certs/dir'], HttpsBind: '*:443', ServeGroups: { groups: [], strict: false, servicePortBind: '127.0.0.1' } };
  const check: CertCheck = (path) => ({ problem: path === '/certs/gone.pem' ? 'no such file' : '', stamp: '1' });
  const v = buildView(state, rules, own, { certCheck: check });
  t.ok(v.Tls, 'an HTTPS frontend');
  t.same(v.Tls!.Certs, ['/certs/default.pem', '/certs/dir'], 'the operator\'s certificates, in order (the first is the default)');
  t.same(v.Tls!.CrtList!.Entries, [{ Cert: '/certs/a.pem', AppIds: ['/a', '/a2'] }, { Cert: '/certs/b.pem', AppIds: ['/b'] }],
    'one line per certificate, with the apps naming it; the operator\'s own, a TCP port\'s and a left-out port\'s are not there');
  t.equal(v.Tls!.CrtList!.Text, '/certs/a.pem\n/certs/b.pem\n');
  t.match(v.Tls!.CrtList!.Path, /^\/run\/culm\/haproxy\.cfg\.certs-[0-9a-f]{16}\.crtlist$/, 'beside the output, named by a hash');
  t.equal(v.Tls!.BindOptions, `ssl crt /certs/default.pem crt /certs/dir crt-list ${v.Tls!.CrtList!.Path}`);
  const gone = v.CertProblems.filter((p) => p.Cert === '/certs/gone.pem');
  t.same(gone.map((p) => [p.AppId, p.Frontend ?? '']), [['/gone', ''], ['/gone', '::gone-port-10000']],
    'a missing file: that app\'s certificate left out, of the crt-list and with its service port\'s frontend');
  t.match(gone[0].Reason, /HAPROXY_0_SSL_CERT \/certs\/gone\.pem: no such file/);
  t.ok(v.Apps.some((a) => a.Id === '/gone'), 'the app itself is served');
  t.notOk(v.Listeners.some((l) => l.Port === 443), 'no listener on the HTTPS port');

  const renewed = buildView(state, rules, own, { certCheck: (p) => ({ ...check(p, false), stamp: '2' }) });
  t.not(renewed.Tls!.CrtList!.Path, v.Tls!.CrtList!.Path, 'a renewed file: a new crt-list name (the config changes, HAProxy reloads)');
  t.not(renewed.Tls!.Stamp, v.Tls!.Stamp);

  const refused = buildView(state, rules, own, { certCheck: check, refusedCerts: new Map([['/certs/b.pem', "HAProxy refuses it (unable to load certificate from file '/certs/b.pem')"]]) });
  t.same(refused.Tls!.CrtList!.Entries.map((e) => e.Cert), ['/certs/a.pem'], 'a certificate HAProxy refused is left out');
  t.match(refused.CertProblems, [{ AppId: '/b', Reason: /HAProxy refuses it \(unable to load/ }, { AppId: '/gone' }]);

  const operatorGone = buildView(state, rules, own, { certCheck: (p) => ({ problem: p === '/certs/dir' ? 'not readable' : '', stamp: '' }) });
  t.same(operatorGone.Tls!.Certs, ['/certs/default.pem'], 'an operator certificate unreadable since start is left out');
  t.same(operatorGone.CertProblems.filter((p) => p.Frontend === undefined), [{ AppId: '', Cert: '/certs/dir', Reason: 'not readable' }], 'the HTTPS frontend\'s problems');
  const none = buildView(state, rules, own, { certCheck: () => ({ problem: 'no such file', stamp: '' }) });
  t.equal(none.Tls, undefined, 'no usable certificate at all: no HTTPS frontend (HAProxy would refuse it)');
  t.equal(none.CertProblems.filter((p) => p.Frontend === undefined).length, 2 + 4, 'every one of the HTTPS frontend reported');
  t.same(none.CertProblems.filter((p) => p.Frontend !== undefined).map((p) => p.Frontend), ['::a-port-10000', '::a2-port-10000', '::b-port-10000', '::gone-port-10000', '::op-port-10000', '::tcp-port-10500'],
    'and those of the service-port frontends naming one (the builder gives every app service port 10000: judged before clashes, each is reported)');
  t.same(none.PortClashes, {}, 'frontends left out for their certificates claim no port');

  const s = { ...app('/s', tasks(task(31009))), servicePorts: [10443] };
  const clash = buildView(stateOf(s), rules, { ...own, HttpsBind: '127.0.0.1:10443', ServeGroups: { groups: [], strict: false, servicePortBind: '*' } });
  t.same(clash.Listeners, [], 'a service port equal to the HTTPS bind port is left out');
  t.match(clash.PortClashes['/s'], /HTTPS bind \(HAProxy\.HttpsBind\)/, 'the clash names the HTTPS bind');
});

t.test('certsAtFailure: the crt-list lines a haproxy -c error names', async (t) => {
  const v = buildView(stateOf(app('/a', labels({ HAPROXY_0_SSL_CERT: '/c/a.pem' })), app('/b', labels({ HAPROXY_0_SSL_CERT: '/c/a.pem.old' }))), new Map(), paths);
  const at = (m: string) => certsAtFailure(m, v).map((e) => e.Cert);
  t.same(at("parsing [haproxy.cfg:60] : 'bind *:443' in section 'frontend' : 'crt-list' : unable to load certificate from file '/c/a.pem'."), ['/c/a.pem']);
  t.same(at("parsing [haproxy.cfg:60] : 'bind *:443' in section 'frontend' : No Private Key found in '/c/a.pem.old.key'."), ['/c/a.pem.old'], 'the key beside it, not a path it starts');
  t.same(at("parsing [haproxy.cfg:12] : unknown keyword 'foo'"), [], 'another error: none');
  t.same(certsAtFailure('x', {}), []);
});

t.test('default template with TLS on: golden file, and HAProxy accepts it with real certificates', async (t) => {
  const state = stateOf(
    app('/a', labels({ HAPROXY_0_VHOST: 'a.example.com', HAPROXY_0_SSL_CERT: '/run/culm/certs/a.pem', HAPROXY_0_REDIRECT_TO_HTTPS: 'true' }), tasks(task(31001))),
    app('/b', labels({ HAPROXY_0_VHOST: 'b.example.com', HAPROXY_0_SSL_CERT: '/run/culm/certs/b.pem' }), tasks(task(31002))),
    app('/plain', tasks(task(31003))),
  );
  const view = buildView(state, new Map(), paths);
  const text = new Renderer(templatePath).render(view).replace(templatePath, 'templates/haproxy.cfg.eta');
  if (process.env.UPDATE_GOLDEN) writeFileSync(goldenPath, text);
  t.equal(text, readFileSync(goldenPath, 'utf8'), 'matches test/fixtures/golden/tls.cfg (UPDATE_GOLDEN=1 to refresh)');
  const https = text.slice(text.indexOf('frontend https-in'), text.indexOf('\nbackend '));
  const http = text.slice(text.indexOf('frontend http-in'), text.indexOf('frontend https-in'));
  const routing = (s: string) => s.split('\n').filter((l) => /^\s+(acl|use_backend) /.test(l));
  t.ok(routing(https).length > 0, 'the HTTPS frontend routes');
  t.same(routing(https), routing(http), 'with the same lines as the HTTP one');
  t.match(https, `bind 127.0.0.1:18443 ssl crt /run/culm/certs/default.pem crt-list ${view.Tls!.CrtList!.Path}`);

  const dir = mkdtempSync(join(tmpdir(), 'culm-tls-golden-'));
  const local = (s: string) => s.replaceAll('/run/culm/', `${dir}/`);
  execFileSync('mkdir', ['-p', join(dir, 'certs')]);
  for (const [name, cn] of [['default', 'edge.example.com'], ['a', 'a.example.com'], ['b', 'b.example.com']]) makeCert(join(dir, 'certs', `${name}.pem`), cn);
  writeFileSync(join(dir, 'haproxy.cfg'), local(text));
  writeFileSync(local(view.RouteMap!.Path), view.RouteMap!.Text);
  writeFileSync(local(view.Tls!.CrtList!.Path), local(view.Tls!.CrtList!.Text));
  t.match(execFileSync('haproxy', ['-c', '-f', join(dir, 'haproxy.cfg')], { encoding: 'utf8' }), /Configuration file is valid/);
});

t.test('applier: a missing certificate, or one HAProxy refuses, leaves that app\'s certificate out; the rest applies', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'culm-tls-apply-'));
  for (const f of readdirSync(templates)) copyFileSync(join(templates, f), join(dir, f));
  for (const name of ['default', 'a', 'b']) makeCert(join(dir, `${name}.pem`), `${name}.example.com`);
  writeFileSync(join(dir, 'garbage.pem'), 'not a certificate\n');
  const log = silentLogger();
  const out = join(dir, 'haproxy.cfg');
  const driver = new HaproxyDriver({ outputPath: out, validationCommand: 'haproxy -c -f {{.}}', reloadCommand: 'true', cleanupCommand: 'true', commandTimeoutMs: 10_000, log });
  const applier = new Applier(new Renderer(join(dir, 'haproxy.cfg.eta')), new HaproxyDelivery({ driver, log }), {
    HttpBind: '127.0.0.1:1', StatsSocket: join(dir, 's.sock'), PidFile: join(dir, 'p'), OutputPath: out, SslCerts: [join(dir, 'default.pem')], HttpsBind: '127.0.0.1:2',
  }, log, certState);
  const skipped: string[] = [];
  const apply = async () => {
    const measures = newMeasures();
    const record = await applier.apply(state, new Map(), measures);
    skipped.push(...measures.skipped.map((x) => `${x.kind} ${x.id} ${x.reason}`));
    return record;
  };
  const cert = (id: string, file: string) => app(id, labels({ HAPROXY_0_SSL_CERT: join(dir, file), HAPROXY_0_VHOST: `${id.slice(1)}.example.com` }), tasks(task(31000 + id.length)));
  const state = stateOf(cert('/a', 'a.pem'), cert('/bb', 'b.pem'), cert('/missing', 'missing.pem'), cert('/garbage', 'garbage.pem'));
  const r = await apply();
  t.equal(r.result, 'applied', 'applied');
  const cfg = readFileSync(out, 'utf8');
  const list = /crt-list (\/\S+)/.exec(cfg)![1];
  t.equal(readFileSync(list, 'utf8'), `${join(dir, 'a.pem')}\n${join(dir, 'b.pem')}\n`, 'the good certificates are in the crt-list, the missing and the refused ones not');
  t.match(cfg, 'backend ::garbage-cluster', 'the app whose certificate HAProxy refused is still served');
  t.match(cfg, 'backend ::missing-cluster', 'so is the one whose file is missing');
  t.match(r.leftOut, [{ kind: 'cert', id: '/garbage', error: /garbage\.pem/ }], 'the record says which certificate was left out');
  t.ok(applier.refusedCerts.has(join(dir, 'garbage.pem')));
  t.same(skipped.sort(), ['app /garbage tls cert', 'app /missing tls cert'], 'each counted once (culm_apps_skipped_total{reason="tls cert"})');

  t.equal((await apply()).result, 'unchanged', 'nothing new: unchanged');
  t.equal(skipped.length, 2, 'and not counted again');

  makeCert(join(dir, 'garbage.pem'), 'garbage.example.com');
  makeCert(join(dir, 'missing.pem'), 'missing.example.com');
  t.equal((await apply()).result, 'applied', 'the files fixed: applied');
  const fixed = readFileSync(/crt-list (\/\S+)/.exec(readFileSync(out, 'utf8'))![1], 'utf8');
  t.match(fixed, 'garbage.pem', 'the fixed file is tried again (its stamp changed)');
  t.match(fixed, 'missing.pem', 'the file that appeared is used');
  await driver.idle(); // the prune runs after the reload, off the apply's path
  t.same(readdirSync(dir).filter((n) => n.endsWith('.crtlist')).length, 1, 'old crt-lists are pruned');
});

t.test('HAProxy.SslCerts: every entry readable at start, else an error naming the key', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'culm-tls-config-'));
  makeCert(join(dir, 'edge.pem'), 'edge.example.com');
  execFileSync('mkdir', ['-p', join(dir, 'more')]);
  execFileSync('mkfifo', [join(dir, 'fifo.pem')]);
  makeCert(join(dir, 'beside.pem'), 'beside.example.com');
  execFileSync('mkfifo', [join(dir, 'beside.pem.ocsp')]);
  execFileSync('mkdir', ['-p', join(dir, 'stalls')]);
  makeCert(join(dir, 'stalls', 'x.pem'), 'x.example.com');
  execFileSync('mkfifo', [join(dir, 'stalls', 'x.pem.sctl')]);
  const load = (value: string) => loadConfig({ argv: [], env: { HAPROXY_SSL_CERTS: value }, cwd: dir }).haproxy;
  t.same(load('').sslCerts, [], 'unset: no HTTPS');
  const ok = load('edge.pem, more');
  t.same(ok.sslCerts, [join(dir, 'edge.pem'), join(dir, 'more')], 'relative entries against the working directory; a directory is accepted');
  t.equal(ok.httpsBind, '*:443', 'HAProxy.HttpsBind defaults to *:443');
  t.equal(loadConfig({ argv: ['--haproxy_https_bind', '127.0.0.1:8443', '--haproxy_ssl_certs', 'edge.pem'], env: {}, cwd: dir }).haproxy.httpsBind, '127.0.0.1:8443', 'flags from the env names');
  for (const [desc, value, why] of [['missing', 'edge.pem,nope.pem', /nope\.pem: no such file/], ['a FIFO', 'fifo.pem', /not a regular file or a directory/],
    ['a FIFO beside it', 'edge.pem,beside.pem', /beside\.pem: .*beside\.pem\.ocsp beside it \(HAProxy loads it with the certificate\): not a regular file/],
    ['a FIFO beside a file of its directory', 'stalls', /stalls: x\.pem in it: .*x\.pem\.sctl beside it .*: not a regular file/], ['a space', 'my cert.pem', /one word/]] as const) {
    t.throws(() => load(value), { code: 'E_CONFIG', message: /HAProxy\.SslCerts \/ HAPROXY_SSL_CERTS/ }, `${desc}: E_CONFIG naming the key`);
    t.throws(() => load(value), { message: why }, `${desc}: and why`);
  }
});

t.test('certState: a kernel, device, empty or outsized file is never a certificate (a label names the path)', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'culm-certstate-'));
  writeFileSync(join(dir, 'empty.pem'), '');
  writeFileSync(join(dir, 'big.pem'), Buffer.alloc((1 << 20) + 1, 65));
  writeFileSync(join(dir, 'ok.pem'), '-----BEGIN CERTIFICATE-----\n');
  t.match(certState('/proc/self/pagemap', false).problem, /kernel or device file/, '/proc: HAProxy would read it for ever');
  t.match(certState('/dev/zero', false).problem, /kernel or device file|not a regular file/);
  t.match(certState(join(dir, 'empty.pem'), false).problem, /empty/);
  t.match(certState(join(dir, 'big.pem'), false).problem, /larger than 1 MiB/);
  t.equal(certState(join(dir, 'ok.pem'), false).problem, '', 'a small PEM file passes');
  t.end();
});

t.test('certState: the files HAProxy loads beside a certificate get the same bounds, for an app\'s file and the edge\'s directory', (t) => {
  const pem = '-----BEGIN CERTIFICATE-----\n';
  const cases: Array<[desc: string, make: (side: string) => void, why: RegExp]> = [
    ['a FIFO .ocsp (HAProxy would block on it)', (side) => execFileSync('mkfifo', [side]), /\.ocsp beside it \(HAProxy loads it with the certificate\): not a regular file/],
    ['an outsized .ocsp', (side) => writeFileSync(side, Buffer.alloc((1 << 20) + 1, 48)), /\.ocsp beside it .*: larger than 1 MiB/],
    ['a .ocsp linked to /dev/zero', (side) => symlinkSync('/dev/zero', side), /\.ocsp beside it .*: not a regular file/],
    ['a .ocsp linked to a kernel file', (side) => symlinkSync('/proc/self/pagemap', side), /\.ocsp beside it .*: a kernel or device file/],
    ['a directory as .ocsp', (side) => mkdirSync(side), /\.ocsp beside it .*: not a regular file/],
  ];
  for (const [desc, make, why] of cases) {
    const dir = mkdtempSync(join(tmpdir(), 'culm-certside-'));
    writeFileSync(join(dir, 'a.pem'), pem);
    make(join(dir, 'a.pem.ocsp'));
    t.match(certState(join(dir, 'a.pem'), false), { problem: why, stamp: '' }, `${desc}: the app's certificate cannot be used`);
    t.match(certState(dir, true).problem, new RegExp(`^a\\.pem in it: .*${why.source}`), `${desc}: nor the edge's directory holding it`);
    rmSync(dir, { recursive: true, force: true });
  }
  const dir = mkdtempSync(join(tmpdir(), 'culm-certside-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cert = join(dir, 'b.pem');
  writeFileSync(cert, pem);
  const bare = certState(cert, false);
  t.equal(bare.problem, '', 'no file beside it: usable');
  writeFileSync(`${cert}.issuer`, '');
  t.equal(certState(cert, false).problem, '', 'an empty side file is HAProxy\'s to judge (it accepts an empty .issuer)');
  writeFileSync(`${cert}.ocsp`, 'response');
  const stamped = certState(cert, false);
  t.equal(stamped.problem, '', 'a small regular .ocsp: usable');
  t.not(stamped.stamp, bare.stamp, 'and its state is in the stamp: a renewed .ocsp reloads HAProxy');
  writeFileSync(`${cert}.ocsp`, 'a renewed response');
  t.not(certState(cert, false).stamp, stamped.stamp, 'renewed: a new stamp');
  chmodSync(`${cert}.ocsp`, 0);
  if (process.getuid?.() !== 0) t.match(certState(cert, false).problem, /\.ocsp beside it .*: not readable/, 'an unreadable .ocsp');
  t.end();
});
