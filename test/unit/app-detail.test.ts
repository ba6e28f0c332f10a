/**
 * One app's detail: HAProxy's `show stat` read by column name, a backend cut from the applied config, and the
 * detail that puts Marathon's view of each task beside HAProxy's.
 */
import t from 'tap';
import { parseServerStats, splitCsv, outOfService, type ServerStat } from '../../src/haproxy/server-stats.js';
import { backendSection } from '../../src/haproxy/config-section.js';
import { appDetail } from '../../src/http/app-detail.js';
import type { CulmCore } from '../../src/pipeline/types.js';
import type { Rule } from '../../src/core/model.js';
import { app, healthChecks, labels, stateOf, task, tasks } from '../helpers/builders.js';

// Cut from a real HAProxy 2.6 answer (`show stat ::web-cluster 4 -1`), a few columns left out of the middle.
const HEADER = '# pxname,svname,qcur,qmax,scur,smax,slim,stot,status,weight,check_status,check_code,check_desc,addr,mode,';
const STAT = `${HEADER}
::web-cluster,::web-127.0.0.1-31001,0,0,3,5,,9,DOWN,1,L4CON,,Connection refused,127.0.0.1:31001,http,
::web-cluster,::web-127.0.0.1-31002,0,0,0,0,,0,MAINT,1,,,,127.0.0.1:31002,http,
::web-cluster,::web-127.0.0.1-31003,0,0,1,1,,4,UP 2/3,1,L7OK,200,"Layer7 check passed, ""ok""",127.0.0.1:31003,http,
`;

t.test('show stat: columns by name, quoted fields, statuses as HAProxy says them', async (t) => {
  const stats = parseServerStats(STAT);
  t.same(stats.map((s) => [s.server, s.status, s.sessions, s.check]), [
    ['::web-127.0.0.1-31001', 'DOWN', 3, 'L4CON'],
    ['::web-127.0.0.1-31002', 'MAINT', 0, ''],
    ['::web-127.0.0.1-31003', 'UP 2/3', 1, 'L7OK'],
  ]);
  t.equal(stats[0].checkDetail, 'Connection refused');
  t.equal(stats[2].checkDetail, 'Layer7 check passed, "ok"');
  t.equal(stats[0].address, '127.0.0.1:31001');
  t.same(parseServerStats('No such proxy.'), [], 'a backend HAProxy does not have');
  t.same(parseServerStats(''), []);
  t.same(splitCsv('a,"b,c",,d'), ['a', 'b,c', '', 'd']);
  t.ok(outOfService('DOWN 1/2') && outOfService('MAINT (resolution)') && !outOfService('UP') && !outOfService('no check'));
});

const CONFIG = `global
    stats socket /x.sock

backend ::web-cluster
    balance leastconn
    server ::web-127.0.0.1-31001 127.0.0.1:31001

backend ::web-cluster2
    server b 127.0.0.1:1

# the last one
backend ::last-cluster
    balance leastconn`;

t.test('a backend cut from the config: to the next section, its comment left to it', async (t) => {
  t.same(backendSection(CONFIG, '::web-cluster'), ['backend ::web-cluster', '    balance leastconn', '    server ::web-127.0.0.1-31001 127.0.0.1:31001']);
  t.same(backendSection(CONFIG, '::web-cluster2'), ['backend ::web-cluster2', '    server b 127.0.0.1:1'], 'a name that starts like another');
  t.same(backendSection(CONFIG, '::last-cluster'), ['backend ::last-cluster', '    balance leastconn'], 'at the end of the text');
  t.same(backendSection(CONFIG, '::web'), [], 'no such backend');
  t.same(backendSection('backend a\n    x\n', 'a'), ['backend a', '    x'], 'at the start of the text');
});

function coreWith(over: Partial<CulmCore> = {}, rules = new Map<string, Rule>()): CulmCore {
  const state = stateOf(
    app('/web', healthChecks(), tasks(task(31001, { id: 'a', healthy: true }), task(31002, { id: 'b', healthy: false }))),
    app('/shop', labels({ HAPROXY_0_VHOST: 'shop.example.com' }), tasks(task(31010, { id: 'c' }))),
  );
  return {
    state: () => state, rules: () => rules, readiness: () => ({ ready: true, checks: {} }), history: () => [],
    appliedConfig: () => CONFIG,
    ...over,
  } as unknown as CulmCore;
}

const stat = (server: string, status: string, sessions = 0): ServerStat => ({ backend: '::web-cluster', server, address: '', status, sessions, check: '', checkDetail: '' });

t.test('the detail: each task beside HAProxy\'s view of its server; servers no task names; the backend\'s lines', async (t) => {
  const asked: string[][] = [];
  const core = coreWith({
    serverStats: async (b) => {
      asked.push([...b]);
      return [stat('::web-127.0.0.1-31001', 'UP', 2), stat('::web-127.0.0.1-39999', 'MAINT', 1)];
    },
  });
  const d = await appDetail(core, '/web');
  t.same(asked, [['::web-cluster']], 'HAProxy asked about the app\'s backends only');
  t.same(d.routes, [{ port: 0, source: 'default', backend: '::web-cluster', condition: '::web-aclrule', acls: [{ name: '::web-aclrule', acl: 'path_beg -i /web' }] }]);
  t.same(d.tasks.map((x) => [x.id, x.healthy, x.serving, x.haproxy?.status ?? null, x.haproxy?.sessions ?? null]), [
    ['a', true, true, 'UP', 2],
    ['b', false, false, null, null],
  ]);
  t.same(d.backends[0].servers.map((s) => s.server), ['::web-127.0.0.1-31001', '::web-127.0.0.1-39999'], 'a lingering server too');
  t.same(d.backends[0].config[0], 'backend ::web-cluster');
  t.same(d.haproxy, { ok: true, detail: '' });
});

t.test('where a route comes from: labels, a rule, a rule HAProxy refused (the default then)', async (t) => {
  const labelled = await appDetail(coreWith(), '/shop');
  t.equal(labelled.routes[0].source, 'labels');
  t.match(labelled.routes[0].acls[0].acl, 'shop.example.com');
  t.equal(labelled.tasks[0].checked, false, 'no health checks');
  t.equal(labelled.haproxy.ok, false, 'no HAProxy to ask: said, not thrown');
  const rules = new Map<string, Rule>([['/shop', { id: '/shop', acl: 'path_beg -i /s', config: {} }]]);
  t.equal((await appDetail(coreWith({}, rules), '/shop')).routes[0].source, 'rule');
  const refused = await appDetail(coreWith({ leftOut: () => ({ rules: new Set(['/shop']), apps: new Set() }) }, rules), '/shop');
  t.equal(refused.routes[0].source, 'labels', 'routes as the config has it');
  t.equal(refused.ruleLeftOut, true);
  t.equal(refused.rule?.Acl, 'path_beg -i /s');
});

t.test('HAProxy not answering is said in the detail; no such app is a 404', async (t) => {
  const d = await appDetail(coreWith({ serverStats: () => Promise.reject(new Error('stats socket /x.sock: ECONNREFUSED')) }), '/web');
  t.same(d.haproxy, { ok: false, detail: 'stats socket /x.sock: ECONNREFUSED' });
  t.equal(d.tasks[0].haproxy, null);
  await t.rejects(appDetail(coreWith(), '/nothing'), { code: 'E_APP_NOT_FOUND', status: 404 });
});
