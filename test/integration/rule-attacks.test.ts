/**
 * Issue 9's rule attacks against the real culm binary, the Marathon emulator and real HAProxy 2.6: a rule may
 * not read culm's environment or files outside the operator's pattern-file directory, may not keep a core busy
 * or eat the host's memory, and its refusal neither stores anything nor quotes what HAProxy read. The validation
 * command is a wrapper around `haproxy -c` that records when each check starts and ends, so the test sees that
 * checks run one at a time and that refusals by the grammar never reach HAProxy. Bamboo's own rules still work.
 */
import t from 'tap';
import type { Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { request } from 'node:http';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MarathonEmulator } from '../helpers/marathon-emulator.js';
import { startCulm, type CulmInstance } from '../helpers/culm.js';
import { eventually, get, startBackend, type Backend } from '../helpers/net.js';

const TOKEN = 'tok-9f3c1e7a-very-secret';
let marathon: MarathonEmulator;
let culm: CulmInstance;
let dir: string;
let aclDir: string;
let spans: string;
const backends: Backend[] = [];

t.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'culm-rule-attacks-'));
  aclDir = join(dir, 'acl');
  mkdirSync(aclDir);
  writeFileSync(join(aclDir, 'loopback.lst'), '127.0.0.0/8\n');
  // A 64 GiB sparse file: reading it costs CPU, not disk; what /dev/zero did before the limit.
  closeSync(openSync(join(aclDir, 'sparse.lst'), 'w'));
  truncateSync(join(aclDir, 'sparse.lst'), 64 * 2 ** 30);
  // A million distinct prefixes: HAProxy's pattern tree needs far more than the test's memory limit.
  writeFileSync(join(aclDir, 'huge.lst'), Array.from({ length: 1_000_000 }, (_, i) => `/p${i}/${(i * 2654435761) % 4294967296}\n`).join(''));
  execFileSync('mkfifo', [join(aclDir, 'pipe')]);
  symlinkSync('/etc/shadow', join(aclDir, 'shadow-link'));
  spans = join(dir, 'spans');
  const wrapper = join(dir, 'validate.sh');
  writeFileSync(wrapper, `#!/bin/sh\necho "s $(date +%s%N)" >> ${spans}\nhaproxy -c -f "$1"\nrc=$?\necho "e $(date +%s%N)" >> ${spans}\nexit $rc\n`);

  marathon = await MarathonEmulator.start({ version: '1.10', keepaliveMs: 500 });
  for (let i = 0; i < 2; i++) backends.push(await startBackend());
  marathon.addApp({ id: '/web' });
  marathon.addTask('/web', { port: backends[0].port });
  marathon.addApp({ id: '/x' });
  marathon.addTask('/x', { port: backends[1].port });
  // Apps for the concurrent checks: a rule only reaches the config (and haproxy -c) when its app exists.
  for (const id of ['/a', '/b', '/c', '/d']) {
    marathon.addApp({ id });
    marathon.addTask(id, { port: backends[1].port });
  }
  culm = await startCulm({
    marathon: marathon.url,
    dir,
    env: {
      CULM_EVENT_MODE: 'sse',
      CULM_CALLBACK_TOKEN: TOKEN,
      CULM_ACL_FILES_DIR: aclDir,
      CULM_VALIDATION_CPU_SECONDS: '1',
      CULM_VALIDATION_MEMORY_MIB: '128',
      HAPROXY_RELOAD_VALIDATION_CMD: `sh ${wrapper} {{.}}`,
    },
  });
  await culm.waitReady();
});

t.teardown(async () => {
  await culm?.destroy();
  await marathon?.stop();
  await Promise.all(backends.map((b) => b.close()));
});

interface ErrorBody { error: { code: string; message: string; detail?: string } }

const put = (id: string, acl: string): Promise<{ status: number; body: ErrorBody; text: string; ms: number }> => {
  const started = performance.now();
  return fetch(`${culm.api}/api/services/${id}`, { method: 'PUT', body: JSON.stringify({ acl }), signal: AbortSignal.timeout(30_000) })
    .then(async (r) => {
      const text = await r.text();
      return { status: r.status, body: JSON.parse(text) as ErrorBody, text, ms: performance.now() - started };
    });
};

/** GET with a Host header (fetch may not set one). */
const getWithHost = (url: string, host: string): Promise<string> => new Promise((resolve) => {
  const req = request(url, { headers: { host, connection: 'close' }, timeout: 3000 }, (res) => {
    let body = '';
    res.on('data', (d: Buffer) => { body += d.toString(); });
    res.on('end', () => resolve(body.trim()));
  });
  req.on('error', (err) => resolve(String(err)));
  req.end();
});

const validations = (): number => (readFileSync(spans, 'utf8').match(/^s /gm) ?? []).length;

/** Runs `fn` and checks that nothing changed: no rule stored, the config on disk the same. */
async function nothingChanges(t: Test, fn: () => Promise<void>): Promise<void> {
  const rules = await culm.json('/api/services');
  const config = culm.config();
  await fn();
  t.same((await culm.json('/api/services')).body, rules.body, 'no rule stored');
  t.equal(culm.config(), config, 'the config on disk is unchanged');
}

t.test('environment expansion: refused before HAProxy runs, the token appears nowhere', async (t) => {
  const before = validations();
  await nothingChanges(t, async () => {
    for (const acl of ['src "${CULM_CALLBACK_TOKEN}"', 'src "$CULM_CALLBACK_TOKEN"', 'hdr(x) a"${CULM_CALLBACK_TOKEN}"', 'src ${CULM_CALLBACK_TOKEN}']) {
      const r = await put('web', acl);
      t.equal(r.status, 400, `${acl}: 400`);
      t.equal(r.body.error.code, 'E_RULE_ACL_ENV', `${acl}: ${r.body.error.message}`);
      t.notMatch(r.text, TOKEN, `${acl}: the token is not in the answer`);
    }
  });
  t.equal(validations(), before, 'HAProxy never saw these rules');
  const history = await fetch(`${culm.api}/api/history`).then((r) => r.text());
  t.notMatch(history, TOKEN, 'nor in the history');
});

t.test('pattern files outside the directory: 400, no file content in the answer', async (t) => {
  const pid = culm.child.proc.pid!;
  const cases = [
    { acl: 'src -f /etc/shadow', code: 'E_RULE_ACL_FILE' },
    { acl: 'src -f /proc/self/environ', code: 'E_RULE_ACL_FILE' },
    { acl: `src -f /proc/${pid}/environ`, code: 'E_RULE_ACL_FILE' },
    { acl: `src -f /proc/${pid}/cmdline`, code: 'E_RULE_ACL_FILE' },
    { acl: `src "-f" /etc/passwd`, code: 'E_RULE_ACL_FILE' },
    { acl: `src -f ${aclDir}/../../../etc/shadow`, code: 'E_RULE_ACL_FILE' },
    { acl: `src -f ${aclDir}/shadow-link`, code: 'E_RULE_ACL_FILE', message: 'leads outside' },
    { acl: `src -M -f ${aclDir}/missing`, code: 'E_RULE_ACL_FILE', message: 'no such file' },
    { acl: 'path,map(/etc/shadow) -m found', code: 'E_RULE_ACL_FETCH' },
    { acl: 'env(CULM_CALLBACK_TOKEN) -m found', code: 'E_RULE_ACL_FETCH' },
  ];
  const before = validations();
  await nothingChanges(t, async () => {
    for (const c of cases) {
      const r = await put('web', c.acl);
      t.equal(r.status, 400, `${c.acl}: 400`);
      t.equal(r.body.error.code, c.code, `${c.acl}: ${r.body.error.message}`);
      if (c.message) t.match(r.body.error.message, c.message);
      t.notMatch(r.text, /root:|PATH=|MARATHON_ENDPOINT|dist\/main\.js/, `${c.acl}: no file content`);
      t.notMatch(r.text, TOKEN);
    }
  });
  t.equal(validations(), before, 'all refused before HAProxy ran');
});

t.test('devices and FIFOs: 400 at once', async (t) => {
  await nothingChanges(t, async () => {
    for (const acl of ['path_beg -f /dev/zero', 'path_beg -f /dev/urandom', `path_beg -f ${aclDir}/pipe`]) {
      const r = await put('web', acl);
      t.equal(r.status, 400, `${acl}: 400`);
      t.equal(r.body.error.code, 'E_RULE_ACL_FILE', `${acl}: ${r.body.error.message}`);
      t.ok(r.ms < 500, `${acl}: refused in ${Math.round(r.ms)} ms`);
    }
  });
});

t.test('a pattern file inside the directory that exhausts the limits: the check is cut off with a clear 400', async (t) => {
  await nothingChanges(t, async () => {
    const cpu = await put('web', `path_beg -f ${aclDir}/sparse.lst`);
    t.equal(cpu.status, 400);
    t.equal(cpu.body.error.code, 'E_RULE_ACL_LIMIT', cpu.body.error.message);
    t.match(cpu.body.error.message, 'CPU-time limit of 1 s');
    t.ok(cpu.ms < 10_000, `the 64 GiB file was cut off after ${Math.round(cpu.ms)} ms`);
    const memory = await put('web', `path_beg -f ${aclDir}/huge.lst`);
    t.equal(memory.status, 400);
    t.equal(memory.body.error.code, 'E_RULE_ACL_LIMIT', memory.body.error.message);
    t.match(memory.body.error.message, 'memory limit of 128 MiB');
    t.notMatch(memory.text, /\/p\d+\//, 'no pattern from the file in the answer');
  });
});

t.test('four slow checks at once run one after the other', async (t) => {
  writeFileSync(spans, '');
  await nothingChanges(t, async () => {
    const results = await Promise.all(['a', 'b', 'c', 'd'].map((id) => put(id, `path_beg -f ${aclDir}/sparse.lst`)));
    for (const r of results) t.equal(r.body.error?.code, 'E_RULE_ACL_LIMIT', r.text);
    const spread = Math.max(...results.map((r) => r.ms));
    t.ok(spread > 3000, `the last answer came after ${Math.round(spread)} ms: four 1 s CPU budgets in a row`);
  });
  const marks = readFileSync(spans, 'utf8').trim().split('\n').map((l) => l.split(' ')).map(([k, ns]) => ({ k, at: BigInt(ns) }));
  t.ok(marks.filter((m) => m.k === 's').length >= 4, 'four checks ran');
  let open = 0;
  let maxOpen = 0;
  for (const m of marks.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0))) {
    open += m.k === 's' ? 1 : -1;
    maxOpen = Math.max(maxOpen, open);
  }
  t.equal(maxOpen, 1, 'never two validations at the same time');
});

t.test('Bamboo\'s rules are still accepted and route', async (t) => {
  // Bamboo's documented curl: a form-encoded POST whose body is JSON.
  const post = await fetch(`${culm.api}/api/services`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '{"id":"/x","acl":"path_beg -i /x"}',
  });
  t.equal(post.status, 200, await post.text());
  const host = await put('web', 'hdr(host) -i web.example.com');
  t.equal(host.status, 200, host.text);
  await eventually('host rule routes', async () => (await getWithHost(`${culm.frontend}/anything`, 'web.example.com')) === String(backends[0].port));
  t.not(await getWithHost(`${culm.frontend}/anything`, 'other.example.com'), String(backends[0].port), 'another host does not reach /web');
  t.equal((await get(`${culm.frontend}/X/y`)).body.trim(), String(backends[1].port), 'path_beg -i /x routes');
  const file = await put('web', `src -f ${aclDir}/loopback.lst`);
  t.equal(file.status, 200, `a pattern file inside the directory is fine: ${file.text}`);
  await eventually('pattern-file rule routes', async () => (await get(`${culm.frontend}/whatever`)).body.trim() === String(backends[0].port));
  for (const acl of ['hdr_dom(host) -i example.com', 'path_beg /a /b', 'path_beg -i /shop']) {
    const r = await put('web', acl);
    t.equal(r.status, 200, `${acl}: ${r.text}`);
  }
  const invalid = await put('web', 'path_reg [a-');
  t.equal(invalid.status, 400, 'HAProxy still judges what the grammar lets through');
  t.equal(invalid.body.error.code, 'E_RULE_INVALID');
  t.match(invalid.body.error.detail, /parsing \[haproxy\.cfg:\d+\]/, `HAProxy's reason with the output's name: ${invalid.body.error.detail}`);
  for (const text of [invalid.body.error.message, invalid.body.error.detail ?? '']) t.notMatch(text, /ALERT|\(\d{3,}\)|candidate|culm-rule-attacks/, 'no level, pid or temporary path');
});
