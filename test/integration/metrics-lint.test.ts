/**
 * Issue 14: a running culm's `/metrics` answer passes `promtool check metrics` (Debian's `prometheus` package,
 * installed by .ci/setup), with series in every kind of metric it can show: events, a hint, REST requests, an
 * apply with a reload, a rule change, a rejected rule.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { culmWithWebApp } from '../helpers/culm.js';
import { eventually, get } from '../helpers/net.js';
import { requireBinary } from '../helpers/processes.js';

t.test('promtool check metrics accepts /metrics of a culm that has applied, reloaded and answered', async (t) => {
  const promtool = requireBinary('promtool', 'apt-get install -y --no-install-recommends prometheus (see .ci/setup)');
  const env = await culmWithWebApp();
  t.teardown(() => env.close());
  const { culm } = env;
  await eventually('/web routed', async () => (await get(`${culm.frontend}/web`)).status === 200);
  const put = (acl: string) => culm.json('/api/services/web', { method: 'PUT', body: JSON.stringify({ acl }) });
  t.equal((await put('path_beg -i /web')).status, 200, 'a rule set');
  t.equal((await put('no_such_fetch(x)')).status >= 400, true, 'a rule refused');
  await culm.json('/no/such/route');

  const res = await fetch(`${culm.api}/metrics`);
  t.equal(res.status, 200);
  const text = await res.text();
  t.match(text, /^culm_applies_total\{result="[a-z-]+"\} [1-9]/m, 'an apply counted');
  t.match(text, /^culm_http_request_duration_seconds_count\{/m, 'REST requests counted');
  t.notMatch(text, /^# TYPE \S+_total gauge$/m, 'no gauge named like a counter');

  const lint = spawnSync(promtool, ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 20_000 });
  t.equal(lint.error, undefined, 'promtool ran');
  t.equal(`${lint.stdout}${lint.stderr}`.trim(), '', 'promtool reports no problem');
  t.equal(lint.status, 0, 'promtool exit status');
});
