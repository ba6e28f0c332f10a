/**
 * marathon-lb's value labels for an HTTP backend through real culm, HAProxy and the emulator: the proxypass
 * prefix cut before the task sees the path (and `Host:` set to the vhost), a task's `Location:` put back under
 * the prefix, the root redirect, basic auth from a crypt(3) hash, an address filter; a bad value leaves only
 * its app out.
 */
import { execFileSync } from 'node:child_process';
import t from 'tap';
import { MarathonEmulator } from '../helpers/marathon-emulator.js';
import { startCulm } from '../helpers/culm.js';
import { rawRequest, startBackend, type Backend } from '../helpers/net.js';

t.test('PROXYPASS_PATH, REVPROXY_PATH, HTTP_BACKEND_REDIR, AUTH, BACKEND_NETWORK_ALLOWED_ACL', async (t) => {
  const hash = execFileSync('openssl', ['passwd', '-6', 's3cret']).toString().trim();
  const marathon = await MarathonEmulator.start({ version: '1.10', keepaliveMs: 1000 });
  const b: Record<string, Backend> = {};
  const apps: Record<string, Record<string, string>> = {
    '/api': {
      HAPROXY_0_VHOST: 'api.example.com', HAPROXY_0_PATH: '/v1', HAPROXY_0_HTTP_BACKEND_PROXYPASS_PATH: '/v1',
      HAPROXY_0_HTTP_BACKEND_REVPROXY_PATH: '/v1', HAPROXY_0_HTTP_BACKEND_REDIR: '/v1/home',
    },
    '/home': { HAPROXY_0_VHOST: 'api.example.com', HAPROXY_0_HTTP_BACKEND_REDIR: '/v1/home' },
    '/staff': { HAPROXY_0_VHOST: 'staff.example.com', HAPROXY_0_AUTH: `Staff:bob:${hash}` },
    '/lan': { HAPROXY_0_VHOST: 'lan.example.com', HAPROXY_0_BACKEND_NETWORK_ALLOWED_ACL: '10.0.0.0/8' },
    '/local': { HAPROXY_0_VHOST: 'local.example.com', HAPROXY_0_BACKEND_NETWORK_ALLOWED_ACL: '127.0.0.0/8, ::1' },
    '/bad': { HAPROXY_0_VHOST: 'bad.example.com', HAPROXY_0_AUTH: 'Staff:bob:plain-text' },
  };
  for (const [id, labels] of Object.entries(apps)) {
    b[id] = await startBackend();
    marathon.addApp({ id, labels });
    marathon.addTask(id, { port: b[id].port });
  }
  const culm = await startCulm({ marathon: marathon.url, env: { CULM_EVENT_MODE: 'sse' } });
  t.teardown(async () => {
    await culm.destroy();
    await marathon.stop();
    await Promise.all(Object.values(b).map((x) => x.close()));
  });
  await culm.waitReady();
  const get = (host: string, path: string, headers: Record<string, string> = {}) => rawRequest(`${culm.frontend}${path}`, 'GET', { Host: host, Connection: 'close', ...headers });

  const cut = await get('API.example.com:8080', '/v1/users?id=3');
  t.equal(cut.body.trim(), String(b['/api'].port), 'routed by vhost and path');
  t.equal(cut.headers['x-path'], '/users?id=3', 'PROXYPASS_PATH: the prefix is cut before the task sees the path');
  t.equal(cut.headers['x-host'], 'api.example.com', 'and Host: is the vhost');
  t.equal((await get('api.example.com', '/v1')).headers['x-path'], '/', 'the prefix alone becomes /');
  const moved = await get('api.example.com', `/v1/x?location=${encodeURIComponent(`http://127.0.0.1:${b['/api'].port}/done`)}`);
  t.equal(moved.headers.location, '/v1/done', 'REVPROXY_PATH: the task\'s own Location is put under the prefix');

  const root = await get('api.example.com', '/');
  t.equal(root.status, 301, 'HTTP_BACKEND_REDIR: / of the vhost is redirected');
  t.equal(root.headers.location, '/v1/home');
  t.equal((await get('api.example.com', '/other')).body.trim(), String(b['/home'].port), 'other paths are served');

  t.equal((await get('staff.example.com', '/')).status, 401, 'AUTH: without credentials, 401');
  t.match(String((await get('staff.example.com', '/')).headers['www-authenticate']), /realm="Staff"/);
  const basic = (user: string, pass: string): Record<string, string> => ({ Authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` });
  t.equal((await get('staff.example.com', '/', basic('bob', 'wrong'))).status, 401, 'a wrong password: 401');
  t.equal((await get('staff.example.com', '/', basic('bob', 's3cret'))).body.trim(), String(b['/staff'].port), 'the right one: served');

  t.equal((await get('lan.example.com', '/')).status, 403, 'NETWORK_ALLOWED_ACL: a client outside the networks gets 403');
  t.equal((await get('local.example.com', '/')).body.trim(), String(b['/local'].port), 'one inside is served');

  t.equal((await get('bad.example.com', '/')).status, 503, 'a plain-text password: the app is left out');
  const state = await culm.json<{ Apps: Array<{ Id: string; NotServed: string }> }>('/api/state');
  const why = state.body.Apps.find((a) => a.Id === '/bad')?.NotServed ?? '';
  t.match(why, /HAPROXY_0_AUTH .*not realm:user:crypted-password/, '/api/state says why');
  t.notMatch(why, /plain-text/, 'without the refused password');
  t.match(culm.config(), /userlist ::staff-cluster-users\n {4}user bob password \$6\$/, 'the userlist section');
  const served = await rawRequest(`${culm.api}/api/config`, 'GET', { Connection: 'close' });
  t.match(served.body, /user bob password \[redacted\]/, 'the config culm serves has the hash redacted');
  t.notMatch(served.body, /\$6\$/, 'no hash a reader could crack offline');
});
