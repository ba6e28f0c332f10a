/** Where a write may come from: the Host check (DNS rebinding) and the exact-origin rule, table-driven. */
import t from 'tap';
import { asHostList } from '../../src/config/parse.js';
import { allowedHosts, defaultAllowedHostEntries, refuseWrite, type WriteHeaders } from '../../src/http/write-origin.js';

const defaults = allowedHosts(defaultAllowedHostEntries({
  bindHost: '', endpoint: 'http://lb1.example.com:8000', hostname: 'edge-3.dc1.example.com', interfaceAddresses: ['127.0.0.1', '10.1.2.3', '::1', 'fe80::1%eth0'],
}));

t.test('default allowed hosts', async (t) => {
  t.same(defaultAllowedHostEntries({ bindHost: '0.0.0.0', endpoint: '', hostname: 'h', interfaceAddresses: [] }), ['localhost', '127.0.0.1', '[::1]', 'h'],
    'a wildcard bind adds no name');
  const list = defaultAllowedHostEntries({ bindHost: '192.168.0.9', endpoint: 'http://[2001:db8::1]:8000', hostname: 'Edge.Example', interfaceAddresses: ['fe80::1%eth0'] });
  for (const want of ['192.168.0.9', 'edge.example', 'edge', '[fe80::1]', '[2001:db8::1]']) t.ok(list.includes(want), want);
});

t.test('refuseWrite', async (t) => {
  const cases: Array<{ desc: string; h: WriteHeaders; want?: 'E_HOST_NOT_ALLOWED' | 'E_CROSS_ORIGIN' }> = [
    { desc: 'curl to loopback', h: { host: '127.0.0.1:8000' } },
    { desc: 'no Host (HTTP/1.0)', h: {} },
    { desc: 'localhost', h: { host: 'localhost:8000' } },
    { desc: 'localhost with a trailing dot', h: { host: 'localhost.:8000' } },
    { desc: 'upper case', h: { host: 'LOCALHOST:8000' } },
    { desc: 'IPv6 loopback', h: { host: '[::1]:8000' } },
    { desc: 'own hostname', h: { host: 'edge-3.dc1.example.com:8000' } },
    { desc: 'short hostname', h: { host: 'edge-3:8000' } },
    { desc: 'interface address', h: { host: '10.1.2.3:8000' } },
    { desc: 'link-local without zone', h: { host: '[fe80::1]:8000' } },
    { desc: 'Bamboo.Endpoint host (Marathon)', h: { host: 'lb1.example.com:8000' } },
    { desc: 'same origin from the UI', h: { host: '127.0.0.1:8000', origin: 'http://127.0.0.1:8000', secFetchSite: 'same-origin' } },
    { desc: 'default port folded', h: { host: 'localhost', origin: 'http://localhost:80' } },
    { desc: 'DNS rebinding: attacker name, same origin', h: { host: 'rebind.evil:8000', origin: 'http://rebind.evil:8000' }, want: 'E_HOST_NOT_ALLOWED' },
    { desc: 'attacker name without Origin', h: { host: 'rebind.evil:8000' }, want: 'E_HOST_NOT_ALLOWED' },
    { desc: 'a suffix of an allowed name is not it', h: { host: 'localhost.evil:8000' }, want: 'E_HOST_NOT_ALLOWED' },
    { desc: 'garbage Host', h: { host: 'a b' }, want: 'E_HOST_NOT_ALLOWED' },
    { desc: 'userinfo in Host', h: { host: 'evil@localhost' }, want: 'E_HOST_NOT_ALLOWED' },
    { desc: 'https Origin for an http host', h: { host: '127.0.0.1:8000', origin: 'https://127.0.0.1:8000' }, want: 'E_CROSS_ORIGIN' },
    { desc: 'other port', h: { host: '127.0.0.1:8000', origin: 'http://127.0.0.1:8001' }, want: 'E_CROSS_ORIGIN' },
    { desc: 'other page', h: { host: '127.0.0.1:8000', origin: 'http://evil.example' }, want: 'E_CROSS_ORIGIN' },
    { desc: 'opaque origin', h: { host: '127.0.0.1:8000', origin: 'null' }, want: 'E_CROSS_ORIGIN' },
    { desc: 'Sec-Fetch-Site cross-site without Origin', h: { host: '127.0.0.1:8000', secFetchSite: 'cross-site' }, want: 'E_CROSS_ORIGIN' },
    { desc: 'Origin but no Host', h: { origin: 'http://127.0.0.1:8000' }, want: 'E_CROSS_ORIGIN' },
  ];
  for (const c of cases) t.equal(refuseWrite(c.h, defaults)?.code, c.want, c.desc);
});

t.test('CULM_ALLOWED_HOSTS entries', async (t) => {
  const list = allowedHosts(asHostList('culm.example.com, 10.0.0.5:8000, [2001:DB8::1], https://culm.example.com'));
  const cases: Array<{ desc: string; h: WriteHeaders; want?: string }> = [
    { desc: 'listed name, any port', h: { host: 'culm.example.com:9000' } },
    { desc: 'listed name:port', h: { host: '10.0.0.5:8000' } },
    { desc: 'listed address, other port', h: { host: '10.0.0.5:8001' }, want: 'E_HOST_NOT_ALLOWED' },
    { desc: 'IPv6, case folded', h: { host: '[2001:db8::1]:8000' } },
    { desc: 'loopback not listed any more', h: { host: '127.0.0.1:8000' }, want: 'E_HOST_NOT_ALLOWED' },
    { desc: 'a listed origin (TLS proxy)', h: { host: 'culm.example.com', origin: 'https://culm.example.com' } },
    { desc: 'an unlisted https origin', h: { host: 'culm.example.com', origin: 'https://culm.example.com:8443' }, want: 'E_CROSS_ORIGIN' },
  ];
  // Twice, in turn with the other list: the second answers come from the per-list cache of Host answers.
  for (let round = 0; round < 2; round++) {
    for (const c of cases) t.equal(refuseWrite(c.h, list)?.code, c.want, c.desc);
    t.equal(refuseWrite({ host: 'culm.example.com:9000' }, allowedHosts(['localhost']))?.code, 'E_HOST_NOT_ALLOWED', 'another list, its own answers');
  }
  const unlisted = Array.from({ length: 600 }, (_, i) => refuseWrite({ host: `h${i}.example.com` }, list)?.code);
  t.ok(unlisted.every((code) => code === 'E_HOST_NOT_ALLOWED'), '600 unlisted hosts (more than the cache holds) refused');
  t.equal(refuseWrite({ host: 'culm.example.com:9000' }, list), undefined, 'after the cache filled and was emptied');
  const any = allowedHosts(asHostList('*'));
  t.equal(refuseWrite({ host: 'rebind.evil' }, any), undefined, '* turns the Host check off');
  t.equal(refuseWrite({ host: 'rebind.evil', origin: 'http://other' }, any)?.code, 'E_CROSS_ORIGIN', 'but not the Origin rule');
  t.throws(() => asHostList('bad host'), /not a host name/);
  t.throws(() => asHostList('https://x/path'), /no path/);
  t.same(asHostList(''), [], 'empty: the default');
});
