/**
 * Issue 10, "one bad rule never blocks anything else", against the real culm binary, the emulator and real
 * HAProxy 2.6, with the production reload interval (1 s). A rule that passes culm's grammar but that HAProxy
 * refuses (`path_reg [a-`), stored for an app that does not exist yet: refused at PUT (checked against a
 * placeholder backend); written straight into the store, it is left out alone once its app appears (that app
 * gets its default route) and an unrelated app's new task serves at once. A Marathon task whose port fails the
 * input grammar freezes nothing either.
 */
import t from 'tap';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MarathonEmulator } from '../helpers/marathon-emulator.js';
import { startCulm, type CulmInstance } from '../helpers/culm.js';
import { eventually, get, startBackend, whoAnswers, type Backend } from '../helpers/net.js';

const BAD = 'path_reg [a-';
let marathon: MarathonEmulator;
let culm: CulmInstance;
const backends: Backend[] = [];

interface HistoryEntry { kind: string; result: string; reasons: string[]; leftOut?: Array<{ kind: string; id: string; error: string }> }

t.before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'culm-bad-rules-'));
  mkdirSync(join(dir, 'data'));
  // Behind culm's back, as ZooKeeper or an old Bamboo would hold it: the grammar admits it, HAProxy does not.
  writeFileSync(join(dir, 'data', 'rules.json'), JSON.stringify({ '/later': { version: '2', config: { Acl: BAD } } }));
  marathon = await MarathonEmulator.start({ version: '1.10', keepaliveMs: 500 });
  for (let i = 0; i < 5; i++) backends.push(await startBackend());
  marathon.addApp({ id: '/web' });
  marathon.addTask('/web', { port: backends[0].port });
  culm = await startCulm({ marathon: marathon.url, dir, env: { CULM_EVENT_MODE: 'sse', CULM_RELOAD_INTERVAL_MS: '1000' } });
  await culm.waitReady();
});

t.teardown(async () => {
  await culm?.destroy();
  await marathon?.stop();
  await Promise.all(backends.map((b) => b.close()));
});

const serves = async (path: string, port: number): Promise<boolean> => (await whoAnswers(`${culm.frontend}${path}`, 4)).has(String(port));

t.test('a rule for an app that does not exist yet is checked when it is stored', async (t) => {
  const put = (id: string, acl: string) => fetch(`${culm.api}/api/services/${id}`, { method: 'PUT', body: JSON.stringify({ acl }) });
  const refused = await put('notyet', BAD);
  t.equal(refused.status, 400, 'HAProxy refuses it against a placeholder backend');
  t.match(((await refused.json()) as { error: { code: string } }).error.code, /^E_RULE/);
  t.equal((await put('notyet', 'path_beg -i /soon')).status, 200, 'a good one is stored');
  const services = await culm.json<Record<string, unknown>>('/api/services');
  t.ok('/notyet' in services.body);
});

t.test('a stored bad rule: once its app appears it alone is left out; everything else applies at once', async (t) => {
  const skippedBefore = await culm.metric('culm_rules_skipped_total{reason="invalid"}');
  await new Promise((r) => setTimeout(r, 1100)); // no reload within the interval: what is measured is culm's own delay
  marathon.addApp({ id: '/later' });
  marathon.addTask('/later', { port: backends[1].port });
  const started = Date.now();
  marathon.addTask('/web', { port: backends[2].port });
  const webMs = await eventually('/web\'s new task serves', () => serves('/web', backends[2].port), 10_000);
  const laterMs = await eventually('/later serves through its default route', () => serves('/later/x', backends[1].port), 10_000);
  t.comment(`after the bad rule's app appeared: /web's new task served in ${webMs} ms, /later in ${Date.now() - started} ms`);
  t.ok(webMs < 1500, `an unrelated app's new task serves within ~1 s (${webMs} ms)`);
  t.ok(laterMs < 1500, `the bad rule's app serves on its default route within ~1 s (${laterMs} ms)`);
  t.notMatch(culm.config(), '[a-', 'the rule is not in the applied config');
  const history = (await culm.json<HistoryEntry[]>('/api/history')).body;
  const left = history.filter((h) => h.leftOut?.some((l) => l.kind === 'rule' && l.id === '/later'));
  t.equal(left.length, 1, '/api/history shows the rule left out, once');
  t.equal(left[0].result, 'applied');
  t.match(left[0].reasons.join('\n'), 'rule /later left out');
  t.match(left[0].leftOut?.[0].error, /\[a-/, 'with HAProxy\'s reason');
  t.ok(!history.some((h) => h.result === 'deferred' || h.result === 'invalid'), 'no apply was refused or held back');
  t.equal(await culm.metric('culm_rules_skipped_total{reason="invalid"}'), skippedBefore + 1, 'counted once');
  t.match(culm.child.output(), 'rule breaks the config: left out', 'logged');
  // Still left out on later applies, without being judged again; the others keep applying.
  marathon.addApp({ id: '/more' });
  marathon.addTask('/more', { port: backends[3].port });
  await eventually('a new app serves after it', () => serves('/more', backends[3].port), 5000);
  t.equal(await culm.metric('culm_rules_skipped_total{reason="invalid"}'), skippedBefore + 1, 'not counted again');
});

t.test('a Marathon task whose port fails the input grammar freezes nothing', async (t) => {
  const rejectedBefore = await culm.metric('culm_marathon_data_rejected_total{field="port"}');
  await new Promise((r) => setTimeout(r, 1100)); // no reload within the interval
  marathon.addTask('/web', { port: 99_999_999 });
  const started = Date.now();
  marathon.addApp({ id: '/other' });
  marathon.addTask('/other', { port: backends[4].port });
  const ms = await eventually('/other serves', () => serves('/other', backends[4].port), 10_000);
  t.comment(`a new app served ${ms} ms after a task with port 99999999`);
  t.ok(Date.now() - started < 1500, `the other app serves within ~1 s (${ms} ms)`);
  t.notMatch(culm.config(), '99999999', 'the bad task is left out');
  t.same(await whoAnswers(`${culm.frontend}/web`, 6), new Set([String(backends[0].port), String(backends[2].port)]), '/web keeps its good tasks');
  t.ok((await get(`${culm.api}/readyz`)).status === 200, 'still ready');
  const rejected = await fetch(`${culm.api}/metrics`).then((r) => r.text());
  t.match(rejected, /culm_marathon_data_rejected_total\{field="[^"]*port[^"]*"\} [1-9]/, 'the refusal is counted');
  t.ok(rejectedBefore >= 0);
});

t.test('the reload interval bounds the rate, it is no delay: a rule set when no reload ran within it applies at once', async (t) => {
  const b = backends[4];
  marathon.addApp({ id: '/ruled' });
  marathon.addTask('/ruled', { port: b.port });
  await eventually('/ruled serves', () => serves('/ruled', b.port), 5000);
  await new Promise((r) => setTimeout(r, 1100)); // the interval since that reload is over
  const started = Date.now();
  const r = await fetch(`${culm.api}/api/services/ruled`, { method: 'PUT', body: JSON.stringify({ acl: 'path_beg -i /by-rule' }) });
  t.equal(r.status, 200);
  const ms = await eventually('the rule routes', () => serves('/by-rule', b.port), 5000, 10);
  t.comment(`rule PUT → routed in ${Date.now() - started} ms (interval 1000 ms)`);
  t.ok(Date.now() - started < 500, `not held back by the interval (${ms} ms after the PUT answered)`);
});

t.test('a stored bad rule whose app runs when culm starts: HAProxy\'s first start (no check before it) refuses it, it alone is left out, the rest starts in the same apply', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'culm-bad-rules-'));
  mkdirSync(join(dir, 'data'));
  writeFileSync(join(dir, 'data', 'rules.json'), JSON.stringify({ '/early': { version: '2', config: { Acl: BAD } } }));
  const m = await MarathonEmulator.start({ version: '1.10', keepaliveMs: 500 });
  m.addApp({ id: '/early' });
  m.addTask('/early', { port: backends[3].port });
  m.addApp({ id: '/other' });
  m.addTask('/other', { port: backends[4].port });
  const c = await startCulm({ marathon: m.url, dir, env: { CULM_EVENT_MODE: 'sse' } });
  t.teardown(async () => {
    await c.destroy();
    await m.stop();
  });
  await c.waitReady();
  await eventually('/other serves', async () => (await whoAnswers(`${c.frontend}/other`, 2)).has(String(backends[4].port)), 10_000);
  await eventually('/early serves on its default route', async () => (await whoAnswers(`${c.frontend}/early/x`, 2)).has(String(backends[3].port)), 10_000);
  const history = (await c.json<Array<HistoryEntry & { validateMs?: number }>>('/api/history')).body.filter((h) => h.kind === 'apply');
  t.equal(history[0].result, 'applied', 'the first apply started HAProxy');
  t.same(history[0].leftOut?.map((l) => `${l.kind} ${l.id}`), ['rule /early'], 'without the rule HAProxy refused');
  t.match(history[0].leftOut?.[0].error, /\[a-/, 'with the reason the check gave after the refused start');
  t.equal(history[0].validateMs, 0, 'the start that served ran no check before it');
  t.equal(await c.metric('culm_haproxy_validation_failures_total'), 1, 'the refusal counted as a refused check');
  t.notMatch(c.config(), '[a-');
});
