import t from 'tap';
import { httpExtrasOf, isNetwork, NO_EXTRAS } from '../../src/core/http-labels.js';
import { redactConfigText } from '../../src/core/text.js';

const HASH = '$6$C6Zv6Cosuy0FIb06$3HOmrP5K0OqKXxtY4rxBwywFyoJu7JK/iZM.2N60SNFrZEH5qMBPzMA24cZtsX0tsrrQ/.21ovuiYVsk5Xl671';

t.test('each label gives its lines, in the backend of its port', (t) => {
  const cases: Array<{ labels: Record<string, string>; vhosts?: string[]; mode?: 'http' | 'tcp'; want: string[] }> = [
    { labels: { HAPROXY_0_HTTP_BACKEND_PROXYPASS_PATH: '/api/' }, want: ['http-request replace-path ^/api$ /', 'http-request replace-path ^/api(/.*)$ \\1'] },
    { labels: { HAPROXY_0_HTTP_BACKEND_PROXYPASS_PATH: '/v1.2' }, vhosts: ['a.example.com'], want: ['http-request set-header Host a.example.com', 'http-request replace-path ^/v1\\\\.2$ /', 'http-request replace-path ^/v1\\\\.2(/.*)$ \\1'] },
    { labels: { HAPROXY_0_HTTP_BACKEND_REVPROXY_PATH: '/app' }, want: ['http-response replace-header Location ^(https?://[^/]*)?(/.*)$ /app\\2 if { res.hdr(Location) -m found }'] },
    { labels: { HAPROXY_0_HTTP_BACKEND_REDIR: '/home' }, want: ['http-request redirect code 301 location /home if { path / }'] },
    { labels: { HAPROXY_0_HTTP_BACKEND_REDIR: '/home' }, vhosts: ['a.example.com', 'b.example.com'], want: ['http-request redirect code 301 location /home if { path / } { hdr(host),field(1,:),lower -m str a.example.com b.example.com }'] },
    // Wildcard vhosts: matched by suffix where the port's hosts are named; no Host: set from a wildcard.
    { labels: { HAPROXY_0_HTTP_BACKEND_REDIR: '/home' }, vhosts: ['*.example.com'], want: ['http-request redirect code 301 location /home if { path / } { hdr(host),field(1,:),lower -m end .example.com }'] },
    { labels: { HAPROXY_0_HTTP_BACKEND_REDIR: '/home' }, vhosts: ['*.example.com', 'example.com', '*.b.org'], want: ['http-request redirect code 301 location /home if { path / } { hdr(host),field(1,:),lower -m str example.com } || { path / } { hdr(host),field(1,:),lower -m end .example.com .b.org }'] },
    { labels: { HAPROXY_0_HTTP_BACKEND_PROXYPASS_PATH: '/api' }, vhosts: ['*.example.com', 'api.example.com'], want: ['http-request set-header Host api.example.com', 'http-request replace-path ^/api$ /', 'http-request replace-path ^/api(/.*)$ \\1'] },
    { labels: { HAPROXY_0_HTTP_BACKEND_PROXYPASS_PATH: '/api' }, vhosts: ['*.example.com'], want: ['http-request replace-path ^/api$ /', 'http-request replace-path ^/api(/.*)$ \\1'] },
    { labels: { HAPROXY_0_BACKEND_NETWORK_ALLOWED_ACL: '10.1.40.0/24 10.1.55.43,::1' }, want: ['acl b-allowed src 10.1.40.0/24 10.1.55.43 ::1', 'http-request deny if !b-allowed'] },
    { labels: { HAPROXY_0_BACKEND_NETWORK_ALLOWED_ACL: '10.0.0.0/8' }, mode: 'tcp', want: ['acl b-allowed src 10.0.0.0/8', 'tcp-request content reject if !b-allowed'] },
    { labels: { HAPROXY_0_AUTH: `Staff only:bob:${HASH}` }, want: ['acl b-auth http_auth(b-users)', 'http-request auth realm "Staff only" if !b-auth'] },
    { labels: { HAPROXY_1_HTTP_BACKEND_REDIR: '/x' }, want: [] },
  ];
  for (const c of cases) {
    const { extras, problems } = httpExtrasOf(c.labels, 0, 'b', c.mode ?? 'http', c.vhosts ?? []);
    t.same(problems, [], JSON.stringify(c.labels));
    t.same(extras.Lines, c.want, JSON.stringify(c.labels));
  }
  const auth = httpExtrasOf({ HAPROXY_0_AUTH: `r:bob:${HASH}` }, 0, 'b', 'http', []).extras;
  t.same(auth.Userlist, { Name: 'b-users', User: 'bob', Password: HASH });
  t.equal(httpExtrasOf({}, 0, 'b', 'http', []).extras, NO_EXTRAS, 'no label: the shared empty extras');
  t.end();
});

t.test('a bad value leaves the port out with the reason, never a line', (t) => {
  const bad: Array<[Record<string, string>, RegExp, ('http' | 'tcp')?]> = [
    [{ HAPROXY_0_HTTP_BACKEND_PROXYPASS_PATH: '/a b' }, /PROXYPASS_PATH "\/a b" is not a path prefix/],
    [{ HAPROXY_0_HTTP_BACKEND_PROXYPASS_PATH: '/' }, /not \/\)/],
    [{ HAPROXY_0_HTTP_BACKEND_PROXYPASS_PATH: '/(x)' }, /is not a path prefix/],
    [{ HAPROXY_0_HTTP_BACKEND_REVPROXY_PATH: 'app' }, /REVPROXY_PATH/],
    [{ HAPROXY_0_HTTP_BACKEND_REDIR: '/a\nbackend x' }, /HTTP_BACKEND_REDIR/],
    [{ HAPROXY_0_BACKEND_NETWORK_ALLOWED_ACL: 'dead.beef' }, /not a list of IP addresses/],
    [{ HAPROXY_0_BACKEND_NETWORK_ALLOWED_ACL: '10.0.0.0/33' }, /not a list of IP addresses/],
    [{ HAPROXY_0_BACKEND_NETWORK_ALLOWED_ACL: '' }, /not a list of IP addresses/],
    [{ HAPROXY_0_AUTH: 'realm:bob:plain' }, /not realm:user:crypted-password/],
    [{ HAPROXY_0_AUTH: `re"alm:bob:${HASH}` }, /not realm:user/],
    [{ HAPROXY_0_AUTH: `r:bob:${HASH}` }, /for an HTTP port/, 'tcp'],
  ];
  for (const [labels, reason, mode] of bad) {
    const { extras, problems } = httpExtrasOf(labels, 0, 'b', mode ?? 'http', []);
    t.equal(problems.length, 1, JSON.stringify(labels));
    t.match(problems[0].reason, reason);
    t.match(problems[0].reason, /port 0 left out$/);
    t.equal(extras, NO_EXTRAS, 'nothing written');
  }
  t.notMatch(httpExtrasOf({ HAPROXY_0_AUTH: 'realm:bob:plain' }, 0, 'b', 'http', []).problems[0].reason, /plain/, 'a refused password is not logged');
  t.end();
});

t.test('networks: addresses and prefixes HAProxy never resolves', (t) => {
  for (const ok of ['10.0.0.1', '10.0.0.0/8', '::1', 'fd00::/64', '0.0.0.0/0']) t.ok(isNetwork(ok), ok);
  for (const no of ['dead.beef', 'localhost', '10.0.0.0/', '10.0.0.0/x', '::1/129', '10.0.0.256']) t.notOk(isNetwork(no), no);
  t.end();
});

t.test('the config culm shows: userlist password hashes redacted, in a config and in a diff', (t) => {
  const config = `backend b\n    server s 10.0.0.1:80\nuserlist b-users\n    user bob password ${HASH}\n    user eve insecure-password plain\n`;
  const shown = redactConfigText(config);
  t.match(shown, /user bob password \[redacted\]\n/);
  t.match(shown, /user eve insecure-password \[redacted\]\n/);
  t.notMatch(shown, /\$6\$|plain/);
  t.match(shown, /server s 10\.0\.0\.1:80/, 'the rest as it is');
  const diff = `@@ -1,2 +1,2 @@\n userlist b-users\n-    user bob password ${HASH}\n+    user bob password $6$other$hash\n`;
  t.notMatch(redactConfigText(diff), /\$6\$/, 'a diff\'s + and - lines too');
  t.equal(redactConfigText('backend b\n'), 'backend b\n', 'nothing to redact: the same text');
  t.end();
});
