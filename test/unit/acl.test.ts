/**
 * The rule grammar (src/core/acl.ts): what Bamboo users write is accepted and parsed into its parts; what
 * could read files or the environment, cut the line or mean something else to HAProxy than it seems is refused
 * with its own code and a message that names the piece.
 */
import t from 'tap';
import { checkAclFiles, parseAcl, splitWords } from '../../src/core/acl.js';
import { checkRule, makeRule } from '../../src/core/rules.js';
import { CulmError } from '../../src/core/errors.js';

const accepted: Array<{ desc: string; acl: string; fetch: string; patterns?: string[]; flags?: string[]; converters?: string[] }> = [
  { desc: 'Bamboo host rule', acl: 'hdr(host) -i app.example.com', fetch: 'hdr', flags: ['-i'], patterns: ['app.example.com'] },
  { desc: 'domain match', acl: 'hdr_dom(host) -i example.com', fetch: 'hdr_dom', patterns: ['example.com'] },
  { desc: 'path prefix, case-insensitive', acl: 'path_beg -i /shop', fetch: 'path_beg', patterns: ['/shop'] },
  { desc: 'several prefixes', acl: 'path_beg /a /b', fetch: 'path_beg', patterns: ['/a', '/b'] },
  { desc: 'regex with anchors and escapes', acl: 'path_reg ^/api/v[0-9]+\\.json$', fetch: 'path_reg', patterns: ['^/api/v[0-9]+\\.json$'] },
  { desc: 'regex alternation in a pattern', acl: 'path_reg ^/(a|b)/', fetch: 'path_reg', patterns: ['^/(a|b)/'] },
  { desc: 'converter chain and -m', acl: 'req.hdr(host),lower,field(1,:) -m str app.example.com', fetch: 'req.hdr', converters: ['lower', 'field'], flags: ['-m', 'str'] },
  { desc: 'presence test', acl: 'req.cook(SESSION) -m found', fetch: 'req.cook', patterns: [] },
  { desc: 'always_true', acl: 'always_true', fetch: 'always_true', patterns: [] },
  { desc: 'source network', acl: 'src 10.0.0.0/8 192.168.1.1 ::1', fetch: 'src', patterns: ['10.0.0.0/8', '192.168.1.1', '::1'] },
  { desc: 'dotted mask, IPv6 prefix, ipmask', acl: 'src,ipmask(24) 10.0.0.0/255.0.0.0 fe80::/10', fetch: 'src', converters: ['ipmask'], patterns: ['10.0.0.0/255.0.0.0', 'fe80::/10'] },
  { desc: 'integer compare', acl: 'dst_port 8080', fetch: 'dst_port', patterns: ['8080'] },
  { desc: 'method', acl: 'method GET HEAD', fetch: 'method', patterns: ['GET', 'HEAD'] },
  { desc: 'single quotes keep $ and #', acl: "path_reg '^/a#b$'", fetch: 'path_reg', patterns: ['^/a#b$'] },
  { desc: 'double quotes with spaces', acl: 'hdr(user-agent) -m sub "Mozilla Firefox"', fetch: 'hdr', patterns: ['Mozilla Firefox'] },
  { desc: 'escaped $ in double quotes', acl: 'path_reg "^/a\\$"', fetch: 'path_reg', patterns: ['^/a$'] },
  { desc: 'escaped #', acl: 'path_sub \\#x', fetch: 'path_sub', patterns: ['#x'] },
  { desc: '-- makes || a literal', acl: 'path_sub -- || -x', fetch: 'path_sub', patterns: ['||', '-x'] },
  { desc: 'single quotes are literal: no expansion in HAProxy 2.6 (checked with haproxy -c)', acl: "hdr(x) '${HOME}' '$HOME'", fetch: 'hdr', patterns: ['${HOME}', '$HOME'] },
  { desc: 'unquoted $ is not expanded (2.6)', acl: 'path_end .json$x', fetch: 'path_end', patterns: ['.json$x'] },
  { desc: 'tls sni', acl: 'ssl_fc_sni -i app.example.com', fetch: 'ssl_fc_sni' },
  { desc: 'url parameter', acl: 'urlp(id) 42', fetch: 'urlp', patterns: ['42'] },
  { desc: 'a converter that needs an ip', acl: 'src,ipmask(24) 10.1.2.0', fetch: 'src', converters: ['ipmask'] },
  { desc: 'a name pattern for an ip fetch with a converter is not judged', acl: 'hdr(x-real-ip),lower -m str abc', fetch: 'hdr' },
  { desc: 'repeated blanks', acl: 'path_beg  -i   /x ', fetch: 'path_beg', patterns: ['/x'] },
  { desc: 'quotes inside a word are removed (as HAProxy does)', acl: 'hdr("host") -i x', fetch: 'hdr', patterns: ['x'] },
];

const refused: Array<{ desc: string; acl: string; code: string; message: string }> = [
  { desc: 'env in double quotes, braces', acl: 'src "${CULM_CALLBACK_TOKEN}"', code: 'E_RULE_ACL_ENV', message: 'environment variables' },
  { desc: 'env in double quotes, bare', acl: 'hdr(x) "$HOME"', code: 'E_RULE_ACL_ENV', message: 'environment variables' },
  { desc: 'env braces unquoted', acl: 'hdr(x) ${HOME}', code: 'E_RULE_ACL_ENV', message: 'not allowed' },
  { desc: 'env inside a quoted part of a word', acl: 'hdr(x) a"${X}"b', code: 'E_RULE_ACL_ENV', message: 'position 10' },
  { desc: 'pattern file', acl: 'src -f /etc/shadow', code: 'E_RULE_ACL_FILE', message: 'pattern files are not allowed' },
  { desc: 'quoted -f is still -f', acl: 'src "-f" /proc/self/environ', code: 'E_RULE_ACL_FILE', message: '/proc/self/environ' },
  { desc: 'pattern file device', acl: 'path_beg -f /dev/zero', code: 'E_RULE_ACL_FILE', message: 'not allowed' },
  { desc: '-M without -f', acl: 'path_beg -M /x', code: 'E_RULE_ACL_FLAG', message: '-M' },
  { desc: 'unknown fetch', acl: 'foo /x', code: 'E_RULE_ACL_FETCH', message: 'unknown fetch "foo"' },
  { desc: 'env() fetch', acl: 'env(CULM_CALLBACK_TOKEN) -m found', code: 'E_RULE_ACL_FETCH', message: 'unknown fetch "env"' },
  { desc: 'var() fetch', acl: 'var(txn.x) -m found', code: 'E_RULE_ACL_FETCH', message: 'unknown fetch "var"' },
  { desc: 'map converter reads a file', acl: 'path,map(/etc/shadow) -m found', code: 'E_RULE_ACL_FETCH', message: 'converter "map"' },
  { desc: 'response fetch', acl: 'res.hdr(x) y', code: 'E_RULE_ACL_FETCH', message: 'unknown fetch "res.hdr"' },
  { desc: 'upper-case fetch', acl: 'PATH_BEG /x', code: 'E_RULE_ACL_FETCH', message: 'expected a fetch name' },
  { desc: 'args for an arg-less fetch', acl: 'path(x) /a', code: 'E_RULE_ACL_FETCH', message: 'takes no arguments' },
  { desc: 'missing args', acl: 'srv_is_up -m bool', code: 'E_RULE_ACL_FETCH', message: 'needs arguments' },
  { desc: 'odd characters in args', acl: "hdr('ho;st') x", code: 'E_RULE_ACL_FETCH', message: 'may only hold' },
  { desc: 'unbalanced parenthesis', acl: 'hdr(host -i x', code: 'E_RULE_ACL_SYNTAX', message: 'unbalanced parenthesis' },
  { desc: 'stray closing parenthesis', acl: 'path) /x', code: 'E_RULE_ACL_SYNTAX', message: 'unbalanced parenthesis' },
  { desc: 'nested parenthesis', acl: 'hdr(a(b)) x', code: 'E_RULE_ACL_SYNTAX', message: 'nested' },
  { desc: 'junk after the fetch', acl: 'hdr(host)x y', code: 'E_RULE_ACL_SYNTAX', message: 'unexpected "x"' },
  { desc: 'unbalanced double quote', acl: 'path_beg "/x', code: 'E_RULE_ACL_SYNTAX', message: 'unbalanced double quote' },
  { desc: 'unbalanced single quote', acl: "path_beg '/x", code: 'E_RULE_ACL_SYNTAX', message: 'unbalanced single quote' },
  { desc: 'comment cuts the line', acl: 'path_beg /x # y', code: 'E_RULE_ACL_SYNTAX', message: 'starts a comment' },
  { desc: 'trailing backslash', acl: 'path_beg /x\\', code: 'E_RULE_ACL_SYNTAX', message: 'lone backslash' },
  { desc: 'hex escape', acl: 'path_beg /x\\x0a', code: 'E_RULE_ACL_SYNTAX', message: 'control character' },
  { desc: 'newline escape', acl: 'path_beg /x\\n', code: 'E_RULE_ACL_SYNTAX', message: 'control character' },
  { desc: '|| between tests', acl: 'path_beg /a || path_beg /b', code: 'E_RULE_ACL_OPERATOR', message: 'one test' },
  { desc: 'or between tests', acl: 'hdr(host) a.com or hdr(host) b.com', code: 'E_RULE_ACL_OPERATOR', message: 'one test' },
  { desc: 'negated test in patterns', acl: 'path_beg /a !path_beg', code: 'E_RULE_ACL_OPERATOR', message: 'one test' },
  { desc: 'leading !', acl: '!path_beg /a', code: 'E_RULE_ACL_OPERATOR', message: "cannot start with '!'" },
  { desc: 'unknown flag', acl: 'path_beg -x /a', code: 'E_RULE_ACL_FLAG', message: 'not an ACL flag' },
  { desc: 'flag after patterns', acl: 'path_beg /a -i', code: 'E_RULE_ACL_FLAG', message: 'put --' },
  { desc: 'unknown match method', acl: 'path -m foo /a', code: 'E_RULE_ACL_FLAG', message: 'unknown match method' },
  { desc: 'flag without value', acl: 'path -m', code: 'E_RULE_ACL_FLAG', message: '-m needs a value' },
  { desc: 'host name for src (DNS at check time)', acl: 'src evil.example.com', code: 'E_RULE_ACL_PATTERN', message: 'not an IP address' },
  { desc: 'a hex-only host name is no IP (dead.beef is looked up in DNS)', acl: 'src dead.beef', code: 'E_RULE_ACL_PATTERN', message: 'not an IP address' },
  { desc: 'a host name after ipmask is resolved too', acl: 'src,ipmask(24) localhost', code: 'E_RULE_ACL_PATTERN', message: 'not an IP address' },
  { desc: 'a mask that is no mask', acl: 'src 10.0.0.0/33', code: 'E_RULE_ACL_PATTERN', message: 'not an IP address' },
  { desc: 'too long', acl: `path_beg /${'a'.repeat(1600)}`, code: 'E_RULE_ACL_SYNTAX', message: 'at most 1500' },
  { desc: 'too many words', acl: `path_beg ${Array.from({ length: 70 }, (_, i) => `/p${i}`).join(' ')}`, code: 'E_RULE_ACL_SYNTAX', message: 'at most 60' },
];

const failure = (fn: () => unknown): CulmError | undefined => {
  try {
    fn();
  } catch (err) {
    return err as CulmError;
  }
  return undefined;
};

t.test('accepted rules parse into fetch, converters, flags and patterns', async (t) => {
  for (const c of accepted) {
    const p = parseAcl(c.acl);
    t.equal(p.fetch, c.fetch, `${c.desc}: fetch`);
    if (c.patterns) t.same(p.patterns, c.patterns, `${c.desc}: patterns`);
    if (c.flags) t.same(p.flags, c.flags, `${c.desc}: flags`);
    if (c.converters) t.same(p.converters.map((x) => x.name), c.converters, `${c.desc}: converters`);
    t.doesNotThrow(() => checkRule(makeRule('/x', c.acl), { aclFilesDir: '' }), `${c.desc}: checkRule`);
  }
});

t.test('refused rules: a 400 with a precise code and message', async (t) => {
  for (const c of refused) {
    const err = failure(() => checkRule(makeRule('/web', c.acl), { aclFilesDir: '' }));
    t.ok(err instanceof CulmError, `${c.desc}: refused`);
    t.equal(err?.code, c.code, `${c.desc}: code`);
    t.equal(err?.status, 400, `${c.desc}: 400`);
    t.match(err?.message ?? '', c.message, `${c.desc}: message`);
    t.match(err?.message ?? '', 'acl for /web', `${c.desc}: names the rule`);
  }
});

t.test('the line splitter reads quotes and escapes as HAProxy does', async (t) => {
  t.same(splitWords(`a 'b c' "d e" f'g'"h" \\ i`), ['a', 'b c', 'd e', 'fgh', ' i']);
  t.same(splitWords(`'\\x' "\\\\" \\.`), ['\\x', '\\', '\\.'], 'no escapes in single quotes; \\\\ is one; other escapes keep the backslash');
  t.same(splitWords(`"" ''`), ['', ''], 'empty quoted words are words');
});

t.test('pattern files: only absolute paths inside the configured directory', async (t) => {
  const dir = '/srv/acl';
  const ok = (acl: string): void => checkAclFiles(parseAcl(acl), dir);
  t.doesNotThrow(() => ok('src -f /srv/acl/office.lst'));
  t.doesNotThrow(() => ok('path_beg -i -f /srv/acl/a/prefixes.lst -M'));
  for (const bad of ['src -f /srv/acl/../../etc/shadow', 'src -f office.lst', 'src -f /srv/aclx/a', 'src -f /srv/acl/', 'src -f /srv/acl/./a', 'src -f /etc/shadow']) {
    const err = failure(() => ok(bad));
    t.equal(err?.code, 'E_RULE_ACL_FILE', `${bad}: refused`);
    t.match(err?.message ?? '', 'inside /srv/acl/', `${bad}: says where files may be`);
  }
  t.doesNotThrow(() => checkRule(makeRule('/x', 'src -f /etc/shadow')), 'without a policy (the REST layer) files are left to the core');
});

t.test('the control-character check still runs first', async (t) => {
  const err = failure(() => checkRule(makeRule('/x', 'path_beg /x\nglobal')));
  t.equal(err?.code, 'E_RULE_ACL');
  t.match(err?.message ?? '', 'control character');
  t.doesNotThrow(() => checkRule(makeRule('/x', '')), 'an empty ACL means the default one');
});
