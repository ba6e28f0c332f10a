/**
 * Who may write, end to end: the real culm binary, the Marathon emulator and real HAProxy. With auth off a
 * Bamboo-era `curl -d` still works; with it on, a write without credentials is 401 and changes nothing; DNS
 * rebinding-shaped writes and https Origins are 403 either way; each rule write is audited in /api/history.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { MarathonEmulator } from '../helpers/marathon-emulator.js';
import { startCulm, type CulmInstance } from '../helpers/culm.js';
import { eventually, freePort, get, rawRequest, startBackend, type Backend } from '../helpers/net.js';

const MAIN = new URL('../../dist/main.js', import.meta.url).pathname;
const JSON_TYPE = { 'Content-Type': 'application/json' };

interface RuleRecord { kind: string; result: string; who: string; from: string; id?: string; before: { Acl: string } | null; after: { Acl: string } | null; status: number; error?: { code: string } }

async function ruleRecords(culm: CulmInstance, headers: Record<string, string> = {}): Promise<RuleRecord[]> {
  const h = await culm.json<Array<{ kind?: string }>>('/api/history', { headers });
  return h.body.filter((r): r is RuleRecord => r.kind === 'rule');
}

/** `culm hash-password`, as an operator runs it: the password on stdin, the hash on stdout. */
function hashPassword(password: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, 'hash-password'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`hash-password exited ${code}`))));
    child.stdin.end(`${password}\n`);
  });
}

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

t.test('auth off (Bamboo compatible): curl writes; rebinding and https Origins are refused; writes are audited', async (t) => {
  const marathon = await MarathonEmulator.start({ version: '1.4' });
  const backend = await startBackend();
  const other = await startBackend();
  marathon.addApp({ id: '/x' });
  marathon.addTask('/x', { port: backend.port });
  const apiPort = await freePort();
  const culm = await startCulm({
    marathon: marathon.url,
    ports: { api: apiPort, frontend: await freePort() },
    env: { BAMBOO_ENDPOINT: `http://127.0.0.1:${apiPort}`, CULM_EVENT_MODE: 'callback' },
  });
  t.teardown(async () => {
    await culm.destroy();
    await marathon.stop();
    await backend.close();
    await other.close();
  });
  await culm.waitReady();
  t.match(culm.child.output(), /REST writes are open to anyone.*a rule can take any app's traffic/, 'start-up warning: writes are open');

  // The Bamboo-era client, as Bamboo's README documents it.
  const curl = execFileSync('curl', ['-s', '-w', '\\n%{http_code}', '-X', 'POST', '-d', '{"id":"/x","acl":"path_beg -i /bamboo"}', `${culm.api}/api/services`], { encoding: 'utf8' });
  t.match(curl, /"Acl":"path_beg -i \/bamboo"[\s\S]*\n200$/, 'plain curl -d POST: 200');
  await eventually('curl rule routes', async () => (await get(`${culm.frontend}/bamboo`)).body === String(backend.port));

  const configBefore = culm.config();
  const rebind = await rawRequest(`${culm.api}/api/services/x`, 'PUT', { ...JSON_TYPE, Host: `rebind.evil:${apiPort}`, Origin: `http://rebind.evil:${apiPort}` }, '{"acl":"always_true"}');
  t.equal(rebind.status, 403, 'DNS-rebinding-shaped rule write: 403');
  t.match(JSON.parse(rebind.body), { error: { code: 'E_HOST_NOT_ALLOWED' } });
  const taskId = marathon.tasksOf('/x')[0].id;
  const forged = await rawRequest(`${culm.api}/api/marathon/event_callback`, 'POST', { ...JSON_TYPE, Host: `rebind.evil:${apiPort}`, Origin: `http://rebind.evil:${apiPort}` },
    JSON.stringify({ eventType: 'status_update_event', appId: '/x', taskId, taskStatus: 'TASK_KILLED', host: '127.0.0.1', ports: [backend.port], timestamp: new Date().toISOString() }));
  t.equal(forged.status, 403, 'DNS-rebinding-shaped event: 403');
  const https = await rawRequest(`${culm.api}/api/services/x`, 'PUT', { ...JSON_TYPE, Host: `127.0.0.1:${apiPort}`, Origin: `https://127.0.0.1:${apiPort}` }, '{"acl":"always_true"}');
  t.equal(https.status, 403, 'https Origin for an http host: 403');
  t.match(JSON.parse(https.body), { error: { code: 'E_CROSS_ORIGIN' } });
  const services = await culm.json<Record<string, { Acl: string }>>('/api/services');
  t.equal(services.body['/x'].Acl, 'path_beg -i /bamboo', 'the rule is unchanged');
  t.same(Object.keys(services.body), ['/x']);
  const state = await culm.json<{ Apps: Array<{ Id: string; Tasks: Array<{ Id: string }> }> }>('/api/state');
  t.same(state.body.Apps.find((a) => a.Id === '/x')?.Tasks.map((x) => x.Id), [taskId], 'no event was fed: the task is still there');
  t.equal((await get(`${culm.frontend}/bamboo`)).body, String(backend.port), 'still routing');
  t.equal(culm.config(), configBefore, 'the config is unchanged');

  // Marathon's own callbacks (Host: the registered URL's) still pass.
  marathon.addTask('/x', { port: other.port });
  await eventually('callback-delivered task serves', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) seen.add((await get(`${culm.frontend}/bamboo`)).body);
    return seen.has(String(other.port));
  });

  const records = await ruleRecords(culm);
  t.match(records, [
    { result: 'changed', who: 'anonymous', from: '127.0.0.1', id: '/x', before: null, after: { Acl: 'path_beg -i /bamboo' }, status: 200 },
    { result: 'refused', who: 'anonymous', id: '/x', before: { Acl: 'path_beg -i /bamboo' }, after: null, status: 403, error: { code: 'E_HOST_NOT_ALLOWED' } },
    { result: 'refused', status: 403, error: { code: 'E_CROSS_ORIGIN' } },
  ], 'audit: the change and both refusals, in order');
  t.equal(records.length, 3, 'the refused event is not a rule write');
  t.match(culm.child.output(), /rule \/x set by anonymous from 127\.0\.0\.1: none -> \\"path_beg -i \/bamboo\\"/, 'audit line in the log');
  const history = await culm.json<Array<{ kind: string; result: string }>>('/api/history');
  t.ok(history.body.some((r) => r.kind === 'apply' && r.result === 'applied'), 'applies are still listed, marked kind "apply"');
  const page = await fetch(`${culm.api}/`).then((r) => r.text());
  t.match(page, /rule changed/, 'the UI shows rule changes in its history');
});

t.test('auth on: 401 without credentials and nothing written; bearer and basic users write; reads open', async (t) => {
  const marathon = await MarathonEmulator.start({ version: '1.10', keepaliveMs: 500 });
  const backends: Backend[] = [await startBackend(), await startBackend()];
  marathon.addApp({ id: '/web' });
  marathon.addTask('/web', { port: backends[0].port });
  marathon.addApp({ id: '/api' });
  marathon.addTask('/api', { port: backends[1].port });
  const apiPort = await freePort();
  const token = 'tok-6c1f0e9a2b7d4e38';
  const usersFile = join(tmpdir(), `culm-users-${process.pid}-${apiPort}`);
  writeFileSync(usersFile, `# operators\nops:${await hashPassword('correct horse')}\n`, { mode: 0o600 });
  const culm = await startCulm({
    marathon: marathon.url,
    ports: { api: apiPort, frontend: await freePort() },
    env: { CULM_EVENT_MODE: 'sse', CULM_API_TOKEN: token, CULM_API_USERS_FILE: usersFile },
  });
  t.teardown(async () => {
    await culm.destroy();
    await marathon.stop();
    await Promise.all(backends.map((b) => b.close()));
    rmSync(usersFile, { force: true });
  });
  await culm.waitReady();
  t.notMatch(culm.child.output(), /REST writes are open/, 'no open-writes warning');

  const configBefore = culm.config();
  const anon = await culm.json<{ error: { code: string; message: string } }>('/api/services/web', { method: 'PUT', headers: JSON_TYPE, body: '{"acl":"always_true"}' });
  t.equal(anon.status, 401, 'unauthenticated PUT: 401');
  t.equal(anon.body.error.code, 'E_UNAUTHORIZED');
  const challenge = await fetch(`${culm.api}/api/services/web`, { method: 'DELETE' });
  t.match(challenge.headers.get('www-authenticate'), /Basic realm="culm".*Bearer realm="culm"/, 'WWW-Authenticate names both schemes');
  const wrong = await culm.json('/api/services', { method: 'POST', headers: { ...JSON_TYPE, Authorization: basic('ops', 'wrong') }, body: '{"id":"/web","acl":"always_true"}' });
  t.equal(wrong.status, 401, 'wrong password: 401');
  t.same((await culm.json('/api/services')).body, {}, 'nothing was written');
  t.equal(culm.config(), configBefore, 'the config is unchanged');

  const bearer = await culm.json('/api/services/web', { method: 'PUT', headers: { ...JSON_TYPE, Authorization: `Bearer ${token}` }, body: '{"acl":"path_beg -i /front"}' });
  t.equal(bearer.status, 200, 'the bearer token writes');
  const user = await culm.json('/api/services/api', { method: 'PUT', headers: { ...JSON_TYPE, Authorization: basic('ops', 'correct horse') }, body: '{"acl":"path_beg -i /v2"}' });
  t.equal(user.status, 200, 'a basic-auth user writes');
  await eventually('both rules route', async () =>
    (await get(`${culm.frontend}/front`)).body === String(backends[0].port) && (await get(`${culm.frontend}/v2`)).body === String(backends[1].port));

  const rebind = await rawRequest(`${culm.api}/api/services/web`, 'PUT', { ...JSON_TYPE, Authorization: `Bearer ${token}`, Host: `rebind.evil:${apiPort}`, Origin: `http://rebind.evil:${apiPort}` }, '{"acl":"always_true"}');
  t.equal(rebind.status, 403, 'DNS rebinding with auth on: 403 even with the token');
  const https = await rawRequest(`${culm.api}/api/services/web`, 'PUT', { ...JSON_TYPE, Authorization: `Bearer ${token}`, Origin: `https://127.0.0.1:${apiPort}` }, '{"acl":"always_true"}');
  t.equal(https.status, 403, 'https Origin with auth on: 403');
  t.equal((await culm.json<Record<string, { Acl: string }>>('/api/services')).body['/web'].Acl, 'path_beg -i /front', 'unchanged by the refused writes');

  for (const path of ['/api/services', '/api/state', '/api/history', '/metrics', '/', '/healthz', '/readyz', '/status']) {
    t.equal((await fetch(`${culm.api}${path}`)).status, 200, `${path}: reads open (CULM_API_READ_AUTH unset)`);
  }
  const del = await culm.json('/api/services/api', { method: 'DELETE', headers: { Authorization: basic('ops', 'correct horse') } });
  t.equal(del.status, 200, 'a user deletes');

  const records = await ruleRecords(culm);
  t.match(records, [
    { result: 'refused', who: 'anonymous', from: '127.0.0.1', id: '/web', status: 401, error: { code: 'E_UNAUTHORIZED' } },
    { result: 'refused', who: 'anonymous', status: 401, error: { code: 'E_UNAUTHORIZED' } },
    { result: 'refused', who: 'anonymous', status: 401 },
    { result: 'changed', who: 'token', id: '/web', before: null, after: { Acl: 'path_beg -i /front' } },
    { result: 'changed', who: 'ops', id: '/api', before: null, after: { Acl: 'path_beg -i /v2' } },
    { result: 'refused', who: 'anonymous', status: 403, error: { code: 'E_HOST_NOT_ALLOWED' } },
    { result: 'refused', status: 403, error: { code: 'E_CROSS_ORIGIN' } },
    { result: 'changed', who: 'ops', id: '/api', before: { Acl: 'path_beg -i /v2' }, after: null },
  ], 'audit: who, from, before, after, and refusals with their code');
  const log = culm.child.output();
  t.notMatch(log, new RegExp(token), 'the token is never logged');
  t.notMatch(log, /correct horse|\$scrypt\$/, 'neither the password nor its hash');
  t.match(log, /"token":"\[redacted\]"/, 'the config line shows the token redacted');
  t.match(readFileSync(usersFile, 'utf8'), /^ops:\$scrypt\$ln=\d+,r=\d+,p=\d+\$/m, 'hash-password made a PHC-style scrypt string');
});

t.test('CULM_API_READ_AUTH: reads need credentials, probes never', async (t) => {
  const marathon = await MarathonEmulator.start({ version: '1.10', keepaliveMs: 500 });
  const culm = await startCulm({ marathon: marathon.url, env: { CULM_EVENT_MODE: 'sse', CULM_API_TOKEN: 'read-tok', CULM_API_READ_AUTH: 'true' } });
  t.teardown(async () => {
    await culm.destroy();
    await marathon.stop();
  });
  await culm.waitReady();
  for (const path of ['/api/services', '/api/state', '/api/history', '/api/config', '/metrics', '/', '/ui']) {
    const res = await fetch(`${culm.api}${path}`);
    t.equal(res.status, 401, `${path}: 401 without the token`);
    t.equal(res.headers.get('www-authenticate'), 'Bearer realm="culm"');
    t.not((await fetch(`${culm.api}${path}`, { headers: { Authorization: 'Bearer read-tok' } })).status, 401, `${path}: the token reads`);
  }
  for (const path of ['/healthz', '/readyz', '/status']) t.equal((await fetch(`${culm.api}${path}`)).status, 200, `${path}: open to probes`);
});

t.test('a bad users file stops culm with a message naming the setting', async (t) => {
  const marathon = await MarathonEmulator.start({ version: '1.10' });
  const culm = await startCulm({ marathon: marathon.url, env: { CULM_API_USERS_FILE: '/nonexistent/culm-users' } });
  t.teardown(async () => {
    await culm.destroy();
    await marathon.stop();
  });
  t.equal(await culm.child.exited, 2, 'exit 2, like any bad setting');
  t.match(culm.child.output(), /CULM_API_USERS_FILE: cannot read \/nonexistent\/culm-users/);
});
