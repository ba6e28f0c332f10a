/** When HAProxy's first start stands in for `haproxy -c` (haproxy/first-start.ts): the settings, and "nothing serves". */
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.js';
import { firstStartUnchecked, nothingServes } from '../../src/haproxy/first-start.js';

const dir = mkdtempSync(join(tmpdir(), 'culm-first-start-'));
const config = (env: Record<string, string>) => loadConfig({ argv: [], env: { CULM_DATA_DIR: dir, MARATHON_ENDPOINT: 'http://127.0.0.1:8080', ...env }, cwd: dir });

const edge = join(dir, 'edge.pem');
writeFileSync(edge, 'not read by this test\n');

t.test('only culm\'s own reload command with HAProxy\'s plain check, no pattern files for rules, no raw label lines', async (t) => {
  t.ok(firstStartUnchecked(config({})), 'the defaults');
  t.ok(firstStartUnchecked(config({ HAPROXY_RELOAD_VALIDATION_CMD: 'haproxy -c -q -f {{.}}' })), 'the quiet check');
  const table: Array<[string, Record<string, string>]> = [
    ['an operator\'s reload command', { HAPROXY_RELOAD_CMD: 'systemctl reload haproxy' }],
    ['an operator\'s check', { HAPROXY_RELOAD_VALIDATION_CMD: 'sh check.sh {{.}}' }],
    ['rules may load pattern files (the check\'s limits guard those)', { CULM_ACL_FILES_DIR: dir }],
    ['raw label lines are written', { CULM_TRUST_LABEL_CONFIG: 'true' }],
    ['certificates are loaded (a file beside one can stall the load: the check\'s limits and search bound that)', { HAPROXY_SSL_CERTS: edge }],
  ];
  for (const [desc, env] of table) t.notOk(firstStartUnchecked(config(env)), desc);
});

t.test('nothing serves: no live process in the pid file, no HAProxy naming the output', async (t) => {
  const out = join(dir, 'haproxy.cfg');
  const pid = join(dir, 'haproxy.pid');
  t.ok(nothingServes(pid, out), 'no pid file');
  writeFileSync(pid, '999999999\n');
  t.ok(nothingServes(pid, out), 'a pid file naming a process that is gone');
  writeFileSync(pid, `${process.pid}\n`);
  t.notOk(nothingServes(pid, out), 'a pid file naming a live process');
});
