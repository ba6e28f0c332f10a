/**
 * Issue 12 through real culm, HAProxy and the Marathon emulator: an app certificate on which `haproxy -c` never
 * ends. The certificate is a good regular file (culm's file checks pass it), but a FIFO nobody writes lies beside
 * it as `<cert>.sctl`, which HAProxy opens when it loads the certificate (`ssl-load-extra-files`, on by default):
 * every check is stopped at the command timeout. That certificate is left out, the other apps' TLS works, and a
 * change of another app (a new app with its own certificate) is applied after it.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MarathonEmulator } from '../helpers/marathon-emulator.js';
import { eventually, startBackend, type Backend } from '../helpers/net.js';
import { requireBinary } from '../helpers/processes.js';
import { httpsRequest, makeCert, startTlsCulm } from '../helpers/tls.js';

requireBinary('openssl', 'apt-get install -y openssl');
requireBinary('mkfifo', 'apt-get install -y coreutils');

interface HistoryEntry { result: string; reasons: string[]; leftOut?: Array<{ kind: string; id: string; error: string; stalled?: boolean }>; error?: { code: string } }

t.test('a certificate haproxy -c stalls on is left out; the rest applies, and so does another app\'s change', async (t) => {
  const certs = mkdtempSync(join(tmpdir(), 'culm-it-stall-'));
  for (const name of ['edge', 'a', 'slow', 'c']) makeCert(join(certs, `${name}.pem`), `${name}.example.com`);
  execFileSync('mkfifo', [join(certs, 'slow.pem.sctl')]);
  const marathon = await MarathonEmulator.start({ version: '1.10', keepaliveMs: 1000 });
  const b: Record<string, Backend> = {};
  const addApp = async (id: string): Promise<void> => {
    const name = id.slice(1);
    b[id] = await startBackend();
    marathon.addApp({ id, labels: { HAPROXY_0_VHOST: `${name}.example.com`, HAPROXY_0_SSL_CERT: join(certs, `${name}.pem`) } });
    marathon.addTask(id, { port: b[id].port });
  };
  await addApp('/a');
  await addApp('/slow');
  // A short timeout: each check that stalls costs it (the first, and the probes that hold the FIFO's certificate in).
  const { culm, httpsPort } = await startTlsCulm(t, marathon, certs, b, { CULM_COMMAND_TIMEOUT_MS: '3000' });
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
  t.match(told, { result: 'applied', leftOut: [{ kind: 'cert', id: '/slow', stalled: true, error: /slow\.pem: haproxy -c stops at its limit with it \(validation timed out/ }] },
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
