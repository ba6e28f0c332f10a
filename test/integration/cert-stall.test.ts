/**
 * Issue 12 through real culm, HAProxy and the Marathon emulator: files HAProxy loads beside an app certificate.
 * A FIFO or an oversized `<cert>.ocsp` is judged by culm's file checks, as the certificate itself is: that
 * certificate is left out before any check, with the reason, and nothing stalls. A stall those checks cannot see
 * (here a template with `ssl-load-extra-del-ext`, so HAProxy opens `slow.sctl` beside `slow.crt`, a FIFO nobody
 * writes) stops every check at the command timeout: the applier's search finds that certificate and leaves it
 * out, the other apps' TLS works, and a change of another app (a new app with its own certificate) is applied
 * after it.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MarathonEmulator } from '../helpers/marathon-emulator.js';
import { eventually, startBackend, type Backend } from '../helpers/net.js';
import { requireBinary } from '../helpers/processes.js';
import { httpsRequest, makeCert, startTlsCulm } from '../helpers/tls.js';

requireBinary('openssl', 'apt-get install -y openssl');
requireBinary('mkfifo', 'apt-get install -y coreutils');

interface HistoryEntry { result: string; reasons: string[]; leftOut?: Array<{ kind: string; id: string; error: string; stalled?: boolean }>; error?: { code: string } }

t.test('a FIFO or an oversized .ocsp beside a good certificate: left out before any check, no stall; the other app\'s TLS served', async (t) => {
  const certs = mkdtempSync(join(tmpdir(), 'culm-it-side-'));
  for (const name of ['edge', 'a', 'fifo', 'big']) makeCert(join(certs, `${name}.pem`), `${name}.example.com`);
  execFileSync('mkfifo', [join(certs, 'fifo.pem.ocsp')]);
  writeFileSync(join(certs, 'big.pem.ocsp'), Buffer.alloc((1 << 20) + 1, 48));
  const marathon = await MarathonEmulator.start({ version: '1.10', keepaliveMs: 1000 });
  const b: Record<string, Backend> = {};
  for (const name of ['a', 'fifo', 'big']) {
    b[`/${name}`] = await startBackend();
    marathon.addApp({ id: `/${name}`, labels: { HAPROXY_0_VHOST: `${name}.example.com`, HAPROXY_0_SSL_CERT: join(certs, `${name}.pem`) } });
    marathon.addTask(`/${name}`, { port: b[`/${name}`].port });
  }
  // The default timeout (30 s): a check that stalled would cost it, and the history would say so.
  const { culm, httpsPort } = await startTlsCulm(t, marathon, certs, b, {});
  await culm.waitReady(60_000);

  const a = await httpsRequest(httpsPort, 'a.example.com', 'a.example.com');
  t.equal(a.cn, 'a.example.com', 'the other app\'s certificate is offered');
  t.equal(a.body, String(b['/a'].port), 'and that app is served');
  for (const name of ['fifo', 'big']) {
    const got = await httpsRequest(httpsPort, `${name}.example.com`, `${name}.example.com`);
    t.equal(got.cn, 'edge.example.com', `${name}: its certificate is left out, the default one offered`);
    t.equal(got.body, String(b[`/${name}`].port), `${name}: its app still served over HTTPS`);
  }
  t.equal(readFileSync(/crt-list (\/\S+)/.exec(culm.config())![1], 'utf8'), `${join(certs, 'a.pem')}\n`, 'the crt-list holds a\'s certificate only');
  const output = culm.child.output();
  t.match(output, /fifo\.pem\.ocsp beside it \(HAProxy loads it with the certificate\): not a regular file/, 'the FIFO\'s reason is logged');
  t.match(output, /big\.pem\.ocsp beside it \(HAProxy loads it with the certificate\): larger than 1 MiB/, 'the oversized file\'s too');
  t.notMatch(output, /looking for those it stalls on/, 'no check stalled: no search for a stalling certificate');
  const history = (await culm.json<HistoryEntry[]>('/api/history')).body;
  t.notOk(history.some((h) => h.error || h.leftOut?.some((l) => l.stalled)), 'no apply failed or stalled');
  t.ok(await culm.metric('culm_apps_skipped_total{reason="tls cert"}') >= 2, 'both counted as left out');
});

t.test('a certificate haproxy -c stalls on beyond culm\'s file checks is left out; the rest applies, and so does another app\'s change', async (t) => {
  const certs = mkdtempSync(join(tmpdir(), 'culm-it-stall-'));
  for (const name of ['edge', 'a', 'c']) makeCert(join(certs, `${name}.pem`), `${name}.example.com`);
  // With `ssl-load-extra-del-ext`, HAProxy looks for `slow.sctl` beside `slow.crt`: culm checks `slow.crt.sctl`.
  makeCert(join(certs, 'slow.crt.pem'), 'slow.example.com');
  copyFileSync(join(certs, 'slow.crt.pem'), join(certs, 'slow.crt'));
  execFileSync('mkfifo', [join(certs, 'slow.sctl')]);
  const templates = mkdtempSync(join(tmpdir(), 'culm-it-stall-tpl-'));
  const shipped = new URL('../../templates/', import.meta.url).pathname;
  for (const f of readdirSync(shipped)) copyFileSync(join(shipped, f), join(templates, f));
  const main = readFileSync(join(templates, 'haproxy.cfg.eta'), 'utf8');
  const patched = main.replace(/^global\n/m, 'global\n    ssl-load-extra-del-ext\n');
  if (patched === main) throw new Error('haproxy.cfg.eta has no global section to patch');
  writeFileSync(join(templates, 'haproxy.cfg.eta'), patched);
  t.teardown(() => rmSync(templates, { recursive: true, force: true }));
  const marathon = await MarathonEmulator.start({ version: '1.10', keepaliveMs: 1000 });
  const b: Record<string, Backend> = {};
  const addApp = async (id: string): Promise<void> => {
    const name = id.slice(1);
    b[id] = await startBackend();
    marathon.addApp({ id, labels: { HAPROXY_0_VHOST: `${name}.example.com`, HAPROXY_0_SSL_CERT: join(certs, name === 'slow' ? 'slow.crt' : `${name}.pem`) } });
    marathon.addTask(id, { port: b[id].port });
  };
  await addApp('/a');
  await addApp('/slow');
  // A short timeout: each check that stalls costs it (the first, and the probes that hold the FIFO's certificate in).
  const { culm, httpsPort } = await startTlsCulm(t, marathon, certs, b, { CULM_COMMAND_TIMEOUT_MS: '3000', HAPROXY_TEMPLATE_PATH: join(templates, 'haproxy.cfg.eta') });
  await culm.waitReady(60_000);

  const a = await httpsRequest(httpsPort, 'a.example.com', 'a.example.com');
  t.equal(a.cn, 'a.example.com', 'a\'s certificate is offered');
  t.equal(a.body, String(b['/a'].port), 'and a is served');
  const slow = await httpsRequest(httpsPort, 'slow.example.com', 'slow.example.com');
  t.equal(slow.cn, 'edge.example.com', 'the stalling certificate is left out: the default one is offered');
  t.equal(slow.body, String(b['/slow'].port), 'and its app is still served over HTTPS');
  const list = readFileSync(/crt-list (\/\S+)/.exec(culm.config())![1], 'utf8');
  t.equal(list, `${join(certs, 'a.pem')}\n`, 'the crt-list holds a\'s certificate only');
  const history = (await culm.json<HistoryEntry[]>('/api/history')).body;
  const told = history.find((h) => h.leftOut?.length);
  t.match(told, { result: 'applied', leftOut: [{ kind: 'cert', id: '/slow', stalled: true, error: /slow\.crt: haproxy -c stops at its limit with it \(validation timed out after \d+ ms: stopped at its time limit of 3000 ms \(HAProxy\.CommandTimeoutMs \/ CULM_COMMAND_TIMEOUT_MS raises it\)/ }] },
    'the history says which certificate was left out, and why');
  t.ok(told?.reasons.includes("certificate of app /slow left out: HAProxy's check stalls on it"));
  t.ok(await culm.metric('culm_apps_skipped_total{reason="tls cert"}') >= 1, 'counted as left out');

  await addApp('/c');
  await eventually('the new app\'s certificate is offered', async () => (await httpsRequest(httpsPort, 'c.example.com', 'c.example.com')).cn === 'c.example.com', 20_000);
  t.equal((await httpsRequest(httpsPort, 'c.example.com', 'c.example.com')).body, String(b['/c'].port), 'another app\'s change is applied: c is served with its certificate');
  t.equal((await httpsRequest(httpsPort, 'slow.example.com', 'slow.example.com')).cn, 'edge.example.com', 'the stalling certificate stays out');
  const after = (await culm.json<HistoryEntry[]>('/api/history')).body;
  t.notOk(after.some((h) => h.error?.code === 'E_VALIDATION_TIMEOUT'), 'no apply failed at the limit');
});
