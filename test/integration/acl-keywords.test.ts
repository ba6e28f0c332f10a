/**
 * Every fetch, ACL keyword and converter of the closed lists (src/core/acl-keywords.ts) is one HAProxy 2.6
 * knows: one acl line each, all in one config, checked by the real `haproxy -c`. Each line first passes culm's
 * own grammar, so the lists and the parser agree. Then the error cleaner on HAProxy's real output for the
 * attacks of issue 9: the reason stays, pids, the candidate's path and file contents go.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONVERTERS, FETCHES } from '../../src/core/acl-keywords.js';
import { parseAcl } from '../../src/core/acl.js';
import { cleanHaproxyOutput } from '../../src/haproxy/haproxy-errors.js';
import { requireBinary } from '../helpers/processes.js';

const haproxy = requireBinary('haproxy', 'apt-get install -y haproxy (see README, Set-up)');

// Arguments HAProxy accepts for the keywords that need (or are usually given) some.
const FETCH_ARGS: Record<string, string> = {
  nbsrv: 'b', be_conn: 'b', be_conn_free: 'b', be_sess_rate: 'b', connslots: 'b', queue: 'b', avg_queue: 'b',
  fe_conn: 'http-in', fe_req_rate: 'http-in', fe_sess_rate: 'http-in', srv_is_up: 'b/s', srv_conn: 'b/s', srv_queue: 'b/s', srv_sess_rate: 'b/s',
  ssl_c_s_dn: 'CN', ssl_c_i_dn: 'CN', 'req.payload': '0,4', payload: '0,4', 'req.payload_lv': '0,2', payload_lv: '0,2',
};
const NAMED_ARG = /hdr|cook|urlp|url_param|^cookie$|rdp_cookie/;
const CONVERTER_INPUT: Record<string, [input: string, args: string]> = {
  bytes: ['path', '0,1'], field: ['path', '1,/'], word: ['path', '1,/'], ipmask: ['src', '24'], ltrim: ['path', '/'],
  rtrim: ['path', '/'], add: ['src_port', '1'], sub: ['src_port', '1'], mul: ['src_port', '2'], div: ['src_port', '2'],
  mod: ['src_port', '2'], and: ['src_port', '1'], or: ['src_port', '1'], xor: ['src_port', '1'],
  language: ['req.hdr(accept-language)', 'en'], iif: ['ssl_fc', 'a,b'], be2dec: ['req.payload(0,4)', '-,1'],
};

function fetchExpression(name: string): string {
  const use = FETCHES[name];
  const args = FETCH_ARGS[name] ?? (NAMED_ARG.test(name) ? 'x' : undefined);
  if (use === 'required' || (use === 'optional' && args)) return `${name}(${args})`;
  return name;
}

function converterExpression(name: string): string {
  const [input, args] = CONVERTER_INPUT[name] ?? ['path', ''];
  return CONVERTERS[name] === 'required' ? `${input},${name}(${args})` : `${input},${name}`;
}

function check(frontendLines: string[]): { status: number | null; output: string; path: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'culm-acl-kw-'));
  const path = join(dir, '.haproxy.cfg.4242-abcd1234.0000beef.candidate');
  writeFileSync(path, [
    'global', 'defaults', '    mode http', '    timeout client 5s', '    timeout server 5s', '    timeout connect 5s',
    'frontend http-in', '    bind 127.0.0.1:9',
    ...frontendLines.map((l) => `    ${l}`),
    'backend b', '    server s 127.0.0.1:1', '',
  ].join('\n'));
  const r = spawnSync(haproxy, ['-c', '-f', path], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, output: `${r.stderr}\n${r.stdout}`, path, dir };
}

t.test('real haproxy -c accepts every fetch and converter in the closed lists', async (t) => {
  const expressions = [...Object.keys(FETCHES).map(fetchExpression), ...Object.keys(CONVERTERS).map(converterExpression)];
  const acls = expressions.map((e) => `${e} -m found`);
  for (const acl of acls) parseAcl(acl); // throws (and fails the test) if culm's grammar refuses one
  const lines = [
    ...acls.map((acl, i) => `acl k${i} ${acl}`),
    ...acls.map((_, i) => `use_backend b if k${i}`),
  ];
  const r = check(lines);
  t.teardown(() => rmSync(r.dir, { recursive: true, force: true }));
  t.equal(r.status, 0, `haproxy -c: ${cleanHaproxyOutput(r.output)}`);
  t.ok(Object.keys(FETCHES).length > 150 && Object.keys(CONVERTERS).length > 40, 'the lists are the full ones');
});

t.test('HAProxy\'s real errors, cleaned: reason kept; pids, candidate path and file contents gone', async (t) => {
  const cases = [
    { desc: 'unknown fetch', acl: 'foo /x', keep: ["unknown fetch method 'foo'", 'parsing [haproxy.cfg:'] },
    { desc: 'pattern file content', acl: 'src -f /etc/passwd', keep: ['is not a valid IPv4 or IPv6 address at line 1 of file \'/etc/passwd\''], drop: ['root:', '/bin/'] },
    { desc: 'environment value', acl: 'src "${CULM_TEST_SECRET}"', keep: ['is not a valid IPv4'], drop: [] },
  ];
  for (const c of cases) {
    const spawnEnv = { ...process.env, CULM_TEST_SECRET: 'hunter2-secret' };
    const dir = mkdtempSync(join(tmpdir(), 'culm-acl-err-'));
    const path = join(dir, '.haproxy.cfg.4242-abcd1234.0000beef.candidate');
    writeFileSync(path, `defaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n    timeout connect 5s\nfrontend f\n    bind 127.0.0.1:9\n    acl a-aclrule ${c.acl}\n    use_backend b if a-aclrule\nbackend b\n    server s 127.0.0.1:1\n`);
    const r = spawnSync(haproxy, ['-c', '-f', path], { encoding: 'utf8', env: spawnEnv });
    rmSync(dir, { recursive: true, force: true });
    const raw = `${r.stderr}\n${r.stdout}`;
    t.match(raw, /\[ALERT\]\s+\(\d+\)/, `${c.desc}: the raw output has pids`);
    const clean = cleanHaproxyOutput(raw, { replace: [[path, 'haproxy.cfg']] });
    for (const k of c.keep) t.match(clean, k, `${c.desc}: keeps ${k}`);
    for (const d of c.drop ?? []) {
      t.match(raw, d, `${c.desc}: the raw output quotes ${d}`);
      t.notMatch(clean, d, `${c.desc}: the cleaned one does not`);
    }
    t.notMatch(clean, /\(\d{2,}\)|\[ALERT\]|NOTICE|candidate|culm-acl-err/, `${c.desc}: no pid, level, notice or candidate path: ${clean}`);
    if (c.desc === 'environment value') {
      // Shown for the record: HAProxy itself quotes the expanded value, which is why culm refuses "${…}" before.
      t.match(raw, 'hunter2-secret');
    }
  }
});
