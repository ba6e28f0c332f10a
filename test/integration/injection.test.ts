/**
 * Config injection, tried as the attacker did, against the real binary, the emulator and real HAProxy:
 * newlines and spaces in Marathon's own data (task hosts, health-check paths) and in events, by the event stream
 * and by callback. None of it may write a directive; every other app keeps routing.
 */
import t, { type Test } from 'tap';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { connect } from 'node:net';
import { MarathonEmulator } from '../helpers/marathon-emulator.js';
import { startCulm, type CulmInstance } from '../helpers/culm.js';
import { eventually, freePort, startBackend, whoAnswers } from '../helpers/net.js';

const marker = join(mkdtempSync(join(tmpdir(), 'culm-pwn-')), 'pwned');

/** The payloads, aimed at this test's marker file and a port of its own. */
function payloads(port: number, stealPort: number) {
  return {
    program: `127.0.0.1:${port}\nglobal\n    master-worker\nprogram pwn\n    command /bin/sh -c "touch ${marker}"\n#`,
    listen: `127.0.0.1:${port}\nlisten steal\n    bind 127.0.0.1:${stealPort}\n    http-request return status 200 content-type text/plain file /etc/passwd\n#`,
    redir: `127.0.0.1:${port} redir http://evil.example #`,
    healthPath: `/health\nlisten steal2\n    bind 127.0.0.1:${stealPort}\n    http-request return status 200 content-type text/plain file /etc/passwd\n#`,
  };
}

const listening = (port: number): Promise<boolean> => new Promise((resolve) => {
  const s = connect(port, '127.0.0.1');
  s.once('connect', () => { s.destroy(); resolve(true); });
  s.once('error', () => resolve(false));
});

function assertClean(t: Test, culm: CulmInstance, stealPort: number): Promise<void> {
  const config = culm.config();
  for (const word of ['program', 'master-worker', 'listen']) t.notMatch(config, new RegExp(`^\\s*${word}\\b`, 'm'), `no "${word}" directive`);
  for (const text of ['redir', 'evil.example', '/etc/passwd', 'touch']) t.notMatch(config, text, `no "${text}" in the config`);
  t.notOk(existsSync(marker), 'HAProxy ran no command');
  return listening(stealPort).then((open) => { t.notOk(open, 'nothing serves on the injected listener\'s port'); });
}

t.test('newlines and spaces in Marathon\'s own data (event stream): refused per task/app, the rest routes', async (t) => {
  const marathon = await MarathonEmulator.start({ version: '1.5', keepaliveMs: 500 });
  const good = await startBackend();
  const other = await startBackend();
  const stealPort = await freePort();
  const p = payloads(good.port, stealPort);
  marathon.addApp({ id: '/web' });
  marathon.addTask('/web', { port: good.port });
  // One payload per app, each alone in its backend (last server line), as the attacker placed them.
  marathon.addApp({ id: '/shop/api' });
  marathon.addTask('/shop/api', { port: other.port });
  marathon.addApp({ id: '/shop/zz' });
  marathon.addTask('/shop/zz', { port: good.port, host: p.program, ip: '127.0.0.1' });
  marathon.addApp({ id: '/shop/zz2' });
  marathon.addTask('/shop/zz2', { port: good.port, host: p.redir, ip: '127.0.0.1' });
  marathon.addApp({ id: '/shop/zz3' });
  marathon.addTask('/shop/zz3', { port: good.port, host: p.listen, ip: '127.0.0.1' });
  marathon.addApp({ id: '/hc', healthChecks: [{ protocol: 'HTTP', path: p.healthPath }] });
  marathon.addTask('/hc', { port: good.port, healthy: true });
  const culm = await startCulm({ marathon: marathon.url, env: { CULM_EVENT_MODE: 'sse' } });
  t.teardown(async () => {
    await culm.destroy();
    await marathon.stop();
    await good.close();
    await other.close();
  });
  await culm.waitReady();
  t.same(await whoAnswers(`${culm.frontend}/web`, 4), new Set([String(good.port)]), '/web routes');
  t.same(await whoAnswers(`${culm.frontend}/shop/api`, 4), new Set([String(other.port)]), '/shop/api routes');
  for (const id of ['zz', 'zz2', 'zz3']) t.match(culm.config(), `backend ::shop::${id}-cluster\n    balance leastconn\n    option forwardfor\n\n`, `/shop/${id} has a backend without servers`);
  t.notMatch(culm.config(), 'backend ::hc-cluster', 'the app with a malformed health-check path is refused');

  // The same through the event stream, for a task of /web, and a health event for it.
  marathon.emit('status_update_event', {
    eventType: 'status_update_event', appId: '/web', taskId: 'web.forged-1', taskStatus: 'TASK_RUNNING', host: p.listen,
    ports: [good.port], ipAddresses: [], version: '2026-12-01T00:00:00.000Z', timestamp: new Date().toISOString(),
  });
  marathon.emit('health_status_changed_event', {
    eventType: 'health_status_changed_event', appId: '/web', taskId: 'web.forged-1', instanceId: 'web.marathon-forged-1', alive: true,
    version: '2026-12-01T00:00:00.000Z', timestamp: new Date().toISOString(),
  });
  // A real change after them: once it serves, the events before it have been handled.
  marathon.addTask('/web', { port: other.port });
  await eventually('a later task serves', async () => (await whoAnswers(`${culm.frontend}/web`, 6)).has(String(other.port)));
  await assertClean(t, culm, stealPort);
  // Defence in depth: started as root, HAProxy runs as Debian's haproxy user (as culm's user otherwise).
  const pid = culm.haproxy.poll()[0];
  const user = execFileSync('ps', ['-o', 'user=', '-p', String(pid)], { encoding: 'utf8' }).trim();
  t.equal(user, process.getuid?.() === 0 ? 'haproxy' : userInfo().username, `HAProxy (pid ${pid}) runs as ${user}`);

  t.ok(await culm.metric('culm_marathon_data_rejected_total{field="host"}') >= 4, 'hosts refused are counted');
  t.ok(await culm.metric('culm_marathon_data_rejected_total{field="health_check_path"}') >= 1, 'the health-check path refused is counted');
  t.match(culm.child.output(), /"app":"\/hc".*value from Marathon refused|value from Marathon refused.*"app":"\/hc"/, 'the log names the refused app');
  t.ok(await culm.metric('culm_marathon_events_rejected_total{reason="invalid host"}') >= 1, 'the event is refused');
});

t.test('the issue\'s callback payload, even with the callback token, writes nothing', async (t) => {
  const marathon = await MarathonEmulator.start({ version: '1.4' });
  const good = await startBackend();
  const stealPort = await freePort();
  const p = payloads(good.port, stealPort);
  marathon.addApp({ id: '/shop/api' });
  marathon.addTask('/shop/api', { port: good.port });
  const apiPort = await freePort();
  const culm = await startCulm({
    marathon: marathon.url,
    ports: { api: apiPort, frontend: await freePort() },
    env: { BAMBOO_ENDPOINT: `http://127.0.0.1:${apiPort}`, CULM_EVENT_MODE: 'callback', CULM_CALLBACK_TOKEN: 'tok3n' },
  });
  t.teardown(async () => {
    await culm.destroy();
    await marathon.stop();
    await good.close();
  });
  await culm.waitReady();
  const before = culm.config();
  for (const host of [p.program, p.listen, p.redir]) {
    const post = (body: object) => fetch(`${culm.api}/api/marathon/event_callback?token=tok3n`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    const res = await post({ eventType: 'status_update_event', appId: '/shop/api', taskId: 'shop_api.forged', taskStatus: 'TASK_RUNNING', host, ports: [good.port] });
    t.equal(res.status, 200, 'Marathon is answered 200 (no backoff)');
    t.same(await res.json(), { accepted: false, kind: 'invalid' }, 'and told the event is refused');
    await post({ eventType: 'health_status_changed_event', appId: '/shop/api', taskId: 'shop_api.forged', alive: true });
  }
  const second = await startBackend();
  t.teardown(() => second.close());
  marathon.addTask('/shop/api', { port: second.port });
  await eventually('a later task serves', async () => (await whoAnswers(`${culm.frontend}/shop/api`, 6)).has(String(second.port)));
  t.equal(culm.config().split('\n').filter((l) => /^\S/.test(l)).join('\n'), before.split('\n').filter((l) => /^\S/.test(l)).join('\n'), 'the same sections as before');
  await assertClean(t, culm, stealPort);
});
