/**
 * marathon-lb's labels through real culm, HAProxy and the Marathon emulator (1.10: `portDefinitions`; 1.4:
 * `ports`): requests by `Host:` (with and without a port, any case), by path, by both; a redirect to https; a
 * REST rule that overrides the labels; which apps an edge serves (HAProxy.Group, strict on and off).
 */
import t from 'tap';
import { MarathonEmulator } from '../helpers/marathon-emulator.js';
import { startCulm, type CulmInstance } from '../helpers/culm.js';
import { eventually, rawRequest, startBackend, type Backend } from '../helpers/net.js';

/** Which backend answered a request with this Host and path ('status <n>' when none did). */
async function who(culm: CulmInstance, host: string, path = '/'): Promise<string> {
  const res = await rawRequest(`${culm.frontend}${path}`, 'GET', { Host: host, Connection: 'close' });
  return res.status === 200 ? res.body.trim() : `status ${res.status}`;
}

t.test('vhost, path, both, redirect, a rule over labels, a group filter (not strict)', async (t) => {
  const marathon = await MarathonEmulator.start({ version: '1.10', keepaliveMs: 1000 });
  const b: Record<string, Backend> = {};
  const apps: Record<string, Record<string, string>> = {
    '/vhost': { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'web.example.com,www.example.com' },
    '/pathapp': { HAPROXY_0_PATH: '/api' },
    '/both': { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'both.example.com', HAPROXY_0_PATH: '/v2' },
    '/redir': { HAPROXY_0_VHOST: 'secure.example.com', HAPROXY_0_REDIRECT_TO_HTTPS: 'true' },
    '/internal': { HAPROXY_GROUP: 'internal', HAPROXY_0_VHOST: 'internal.example.com' },
    '/plain': {},
    '/ruled': { HAPROXY_0_VHOST: 'label.example.com' },
    '/broken': { HAPROXY_0_VHOST: 'broken.example.com:8080' },
  };
  for (const [id, labels] of Object.entries(apps)) {
    b[id] = await startBackend();
    marathon.addApp({ id, labels });
    marathon.addTask(id, { port: b[id].port });
  }
  const culm = await startCulm({ marathon: marathon.url, env: { CULM_EVENT_MODE: 'sse', HAPROXY_GROUP: 'external' } });
  t.teardown(async () => {
    await culm.destroy();
    await marathon.stop();
    await Promise.all(Object.values(b).map((x) => x.close()));
  });
  await culm.waitReady();
  const port = (id: string): string => String(b[id].port);

  t.equal(await who(culm, 'web.example.com'), port('/vhost'), 'Host: a vhost');
  t.equal(await who(culm, 'WWW.Example.COM:8080', '/anything'), port('/vhost'), 'Host: the other vhost, any case, with a port');
  t.equal(await who(culm, 'nobody.example.com', '/vhost'), 'status 503', 'no default path route for a vhost app');
  t.equal(await who(culm, 'any.example.com', '/api/users'), port('/pathapp'), 'path prefix, any host');
  t.equal(await who(culm, 'any.example.com', '/API/users'), port('/pathapp'), 'a path label alone is a path prefix like Bamboo\'s: any case');
  t.equal(await who(culm, 'both.example.com:80', '/v2/items'), port('/both'), 'vhost and path');
  t.equal(await who(culm, 'both.example.com', '/v1/items'), 'status 503', 'the vhost without the path: not routed');
  t.equal(await who(culm, 'other.example.com', '/v2/items'), 'status 503', 'the path without the vhost: not routed');
  t.equal(await who(culm, 'x.example.com', '/plain'), port('/plain'), 'no labels: Bamboo\'s default path route');

  const redirect = await rawRequest(`${culm.frontend}/login?next=1`, 'GET', { Host: 'secure.example.com', Connection: 'close' });
  t.equal(redirect.status, 301, 'HAPROXY_0_REDIRECT_TO_HTTPS: a redirect');
  t.equal(redirect.headers.location, 'https://secure.example.com/login?next=1', 'to the same URL on https');
  t.not((await rawRequest(`${culm.frontend}/`, 'GET', { Host: 'web.example.com', Connection: 'close' })).status, 301, 'other apps are not redirected');

  t.equal(await who(culm, 'internal.example.com'), 'status 503', 'a group this edge does not serve: no route');
  t.notMatch(culm.config(), 'backend ::internal-cluster', 'and no backend');
  t.equal(await who(culm, 'broken.example.com:8080'), 'status 503', 'a bad label: the app is left out');
  t.ok(await culm.metric('culm_marathon_data_rejected_total{field="lb_label"}') >= 1, 'the bad label is counted');
  const state = await culm.json<{ Apps: Array<{ Id: string; NotServed: string }> }>('/api/state');
  const notServed = Object.fromEntries(state.body.Apps.map((a) => [a.Id, a.NotServed]));
  t.match(notServed['/internal'], /group internal is not served by this edge \(HAProxy.Group external\)/, '/api/state says why');
  t.match(notServed['/broken'], /HAPROXY_0_VHOST "broken.example.com:8080" is not a host name/);
  t.equal(notServed['/vhost'], '');

  // A rule for an app this edge leaves out is still judged by HAProxy: it would break the config the day the app is let in.
  const refused = await culm.json<{ error: { code: string } }>('/api/services/internal', {
    method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ acl: 'path_reg [a-' }),
  });
  t.equal(refused.status, 400, 'a bad rule for a left-out app is refused');
  t.equal(refused.body.error.code, 'E_RULE_INVALID');

  // A REST rule for the app wins over its labels.
  t.equal(await who(culm, 'label.example.com'), port('/ruled'), 'labels route before the rule');
  const put = await culm.json('/api/services/ruled', {
    method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ acl: 'hdr(host) -i rule.example.com' }),
  });
  t.equal(put.status, 200, 'rule stored');
  await eventually('the rule routes', async () => (await who(culm, 'rule.example.com')) === port('/ruled'));
  t.equal(await who(culm, 'label.example.com'), 'status 503', 'the label vhost no longer routes');
  t.equal(await who(culm, 'web.example.com'), port('/vhost'), 'other apps unchanged');
});

t.test('strict groups (1.4 shape): only labelled apps of this edge\'s group', async (t) => {
  const marathon = await MarathonEmulator.start({ version: '1.4', keepaliveMs: 1000 });
  const ext = await startBackend();
  const plain = await startBackend();
  marathon.addApp({ id: '/ext', labels: { HAPROXY_GROUP: 'internal', HAPROXY_0_GROUP: 'external', HAPROXY_0_VHOST: 'ext.example.com' } });
  marathon.addTask('/ext', { port: ext.port });
  marathon.addApp({ id: '/plain' });
  marathon.addTask('/plain', { port: plain.port });
  const culm = await startCulm({ marathon: marathon.url, env: { CULM_EVENT_MODE: 'sse', HAPROXY_GROUP: 'external', CULM_STRICT_GROUPS: 'true' } });
  t.teardown(async () => {
    await culm.destroy();
    await marathon.stop();
    await ext.close();
    await plain.close();
  });
  await culm.waitReady();
  t.equal(await who(culm, 'ext.example.com:80'), String(ext.port), 'the port\'s own group label is served');
  t.equal(await who(culm, 'x.example.com', '/plain'), 'status 503', 'an app without a group label is not');
  // Labelled at run time: it is served once Marathon says so.
  marathon.addApp({ id: '/plain', labels: { HAPROXY_GROUP: 'external' } });
  await eventually('labelled app served', async () => (await who(culm, 'x.example.com', '/plain')) === String(plain.port));
});
