/**
 * marathon-lb's labels of a service port's own frontend and its answers: `HAPROXY_{n}_BIND_ADDR`,
 * `_BIND_OPTIONS` (raw words, HAProxy.TrustLabelConfig only), `_SSL_CERT` on the port's bind line (HTTP and TCP
 * ports, as marathon-lb writes `bind {bindAddr}:{servicePort}{sslCert}{bindOptions}`), `_USE_HSTS` with
 * `_BACKEND_HSTS_OPTIONS`: from app JSON in Marathon's three shapes through the mapping, view and default
 * template to config lines; port clashes by address; a certificate left out with its frontend; a golden file
 * that HAProxy accepts with real certificates.
 */
import t, { type Test } from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CertCheck, HaproxyPaths } from '../../src/core/view.js';
import { resolveClashes, boundAddresses, type ListenerView } from '../../src/core/service-ports.js';
import { certsAtFailure } from '../../src/core/tls.js';
import { diffViews } from '../../src/core/diff.js';
import { appAtFailure } from '../../src/pipeline/apply.js';
import { Renderer } from '../../src/haproxy/render.js';
import { requireBinary } from '../helpers/processes.js';
import { makeCert } from '../helpers/tls.js';
import { renderShape, section, SHAPES, type AppSpec, type Shape } from '../helpers/marathon-shapes.js';

const renderer = new Renderer(new URL('../../templates/haproxy.cfg.eta', import.meta.url).pathname);
const base: HaproxyPaths = { HttpBind: '127.0.0.1:18080', StatsSocket: '/run/culm/haproxy.cfg.sock', PidFile: '/run/culm/haproxy.cfg.pid', OutputPath: '/run/culm/haproxy.cfg' };
/** App certificates are honoured only with HAProxy.SslCerts set (the edge's own): these tests set it. */
const bound = (trust: boolean, servicePortBind = '127.0.0.1'): HaproxyPaths => ({
  ...base, SslCerts: ['/run/culm/certs/default.pem'], HttpsBind: '127.0.0.1:18443', ServeGroups: { groups: [], strict: false, servicePortBind, ...(trust ? { trustLabelConfig: true } : {}) },
});
const render = (specs: AppSpec[], shape: Shape, paths: HaproxyPaths, certCheck?: CertCheck, refusedCerts?: ReadonlyMap<string, string>) =>
  renderShape(renderer, specs, shape, paths, { view: { ...(certCheck ? { certCheck } : {}), ...(refusedCerts ? { refusedCerts } : {}) } });
const lines = (text: string): string[] => text.split('\n').map((l) => l.trim()).filter((l) => l !== '');

t.test('labels to config lines, all three Marathon shapes', async (t) => {
  const cases: Array<{
    desc: string; labels: Record<string, string>; env?: Record<string, string>; ports?: number[]; trust?: boolean; servicePortBind?: string;
    /** Whole lines (trimmed) expected in the named sections. */
    sections?: Record<string, string[]>;
    /** Lines (trimmed) that must not be anywhere. */
    absent?: string[];
    /** Why the port is left out (port 0: the app), with the label refused where the app enters. */
    refused?: RegExp;
  }> = [
    { desc: 'no label: the edge\'s address', labels: {}, sections: { 'frontend ::web-port-10100': ['bind 127.0.0.1:10100'] } },
    { desc: 'BIND_ADDR IPv4', labels: { HAPROXY_0_BIND_ADDR: '127.0.0.2' }, sections: { 'frontend ::web-port-10100': ['bind 127.0.0.2:10100'] }, absent: ['bind 127.0.0.1:10100'] },
    { desc: 'BIND_ADDR with spaces around', labels: { HAPROXY_0_BIND_ADDR: ' 10.0.0.42 ' }, sections: { 'frontend ::web-port-10100': ['bind 10.0.0.42:10100'] } },
    { desc: 'BIND_ADDR IPv6', labels: { HAPROXY_0_BIND_ADDR: '::1' }, sections: { 'frontend ::web-port-10100': ['bind ::1:10100'] } },
    { desc: 'BIND_ADDR IPv6 in brackets', labels: { HAPROXY_0_BIND_ADDR: '[fd00::7]' }, sections: { 'frontend ::web-port-10100': ['bind fd00::7:10100'] } },
    { desc: 'BIND_ADDR *: every address, whatever the edge\'s', labels: { HAPROXY_0_BIND_ADDR: '*' }, sections: { 'frontend ::web-port-10100': ['bind *:10100'] } },
    { desc: 'BIND_ADDR on port 1 only', ports: [10100, 10101], labels: { HAPROXY_1_BIND_ADDR: '127.0.0.3' }, sections: { 'frontend ::web-port-10100': ['bind 127.0.0.1:10100'], 'frontend ::web-port-10101': ['bind 127.0.0.3:10101'] } },
    { desc: 'BIND_ADDR a host name', labels: { HAPROXY_0_BIND_ADDR: 'localhost' }, refused: /HAPROXY_0_BIND_ADDR "localhost" is not \* or an IP address/ },
    { desc: 'BIND_ADDR a DNS name', labels: { HAPROXY_0_BIND_ADDR: 'edge.example.com' }, refused: /HAPROXY_0_BIND_ADDR/ },
    { desc: 'BIND_ADDR with a port', labels: { HAPROXY_0_BIND_ADDR: '127.0.0.2:80' }, refused: /HAPROXY_0_BIND_ADDR/ },
    { desc: 'BIND_ADDR out of range', labels: { HAPROXY_0_BIND_ADDR: '10.0.0.300' }, refused: /HAPROXY_0_BIND_ADDR/ },
    { desc: 'BIND_ADDR IPv4 in brackets', labels: { HAPROXY_0_BIND_ADDR: '[10.0.0.1]' }, refused: /HAPROXY_0_BIND_ADDR/ },
    { desc: 'BIND_ADDR two addresses', labels: { HAPROXY_0_BIND_ADDR: '10.0.0.1,10.0.0.2' }, refused: /HAPROXY_0_BIND_ADDR/ },
    { desc: 'BIND_ADDR empty', labels: { HAPROXY_0_BIND_ADDR: '' }, refused: /HAPROXY_0_BIND_ADDR/ },
    { desc: 'BIND_ADDR a unix socket', labels: { HAPROXY_0_BIND_ADDR: 'unix@/tmp/x' }, refused: /HAPROXY_0_BIND_ADDR/ },

    { desc: 'BIND_OPTIONS trusted: after the address', trust: true, labels: { HAPROXY_0_BIND_OPTIONS: ' accept-proxy   tfo ' }, sections: { 'frontend ::web-port-10100': ['bind 127.0.0.1:10100 accept-proxy tfo'] } },
    { desc: 'BIND_OPTIONS untrusted: ignored', labels: { HAPROXY_0_BIND_OPTIONS: 'accept-proxy' }, sections: { 'frontend ::web-port-10100': ['bind 127.0.0.1:10100'] }, absent: ['bind 127.0.0.1:10100 accept-proxy'] },
    { desc: 'BIND_OPTIONS with a #', trust: true, labels: { HAPROXY_0_BIND_OPTIONS: 'accept-proxy # x' }, refused: /HAPROXY_0_BIND_OPTIONS contains #/ },
    { desc: 'BIND_OPTIONS on two lines', trust: true, labels: { HAPROXY_0_BIND_OPTIONS: 'accept-proxy\nbackend x' }, refused: /HAPROXY_0_BIND_OPTIONS spans lines/ },
    { desc: 'BIND_OPTIONS a quoted first word', trust: true, labels: { HAPROXY_0_BIND_OPTIONS: '"accept-proxy"' }, refused: /HAPROXY_0_BIND_OPTIONS line 1 starts with/ },
    { desc: 'BIND_OPTIONS a section keyword', trust: true, labels: { HAPROXY_0_BIND_OPTIONS: 'global' }, refused: /HAPROXY_0_BIND_OPTIONS line 1 starts a new section/ },
    { desc: 'BIND_OPTIONS a control character', trust: true, labels: { HAPROXY_0_BIND_OPTIONS: 'accept-proxy\u0001' }, refused: /HAPROXY_0_BIND_OPTIONS contains/ },
    { desc: 'BIND_OPTIONS braces are literal', trust: true, labels: { HAPROXY_0_BIND_OPTIONS: 'name {backend}' }, sections: { 'frontend ::web-port-10100': ['bind 127.0.0.1:10100 name {backend}'] } },

    { desc: 'SSL_CERT on an HTTP port', labels: { HAPROXY_0_SSL_CERT: '/c/web.pem' }, sections: { 'frontend ::web-port-10100': ['bind 127.0.0.1:10100 ssl crt /c/web.pem', 'mode http'] } },
    { desc: 'SSL_CERT on a TCP port (marathon-lb too)', labels: { HAPROXY_0_SSL_CERT: '/c/web.pem', HAPROXY_0_MODE: 'tcp' }, sections: { 'frontend ::web-port-10100': ['bind 127.0.0.1:10100 ssl crt /c/web.pem', 'mode tcp'] } },
    { desc: 'SSL_CERT, BIND_ADDR and BIND_OPTIONS: marathon-lb\'s order', trust: true, labels: { HAPROXY_0_SSL_CERT: '/c/web.pem', HAPROXY_0_BIND_ADDR: '127.0.0.2', HAPROXY_0_BIND_OPTIONS: 'alpn h2,http/1.1' }, sections: { 'frontend ::web-port-10100': ['bind 127.0.0.2:10100 ssl crt /c/web.pem alpn h2,http/1.1'] } },
    { desc: 'SSL_CERT not a path: no frontend of its own (never in clear where TLS is expected), the app served', labels: { HAPROXY_0_SSL_CERT: 'web.pem', HAPROXY_0_VHOST: 'web.example.com' },
      sections: { 'backend ::web-cluster': ['option forwardfor'], 'frontend http-in': ['use_backend ::web-cluster if ::web-0-host'] }, absent: ['bind 127.0.0.1:10100', 'frontend ::web-port-10100'] },
    { desc: 'BAMBOO_TCP_PORT\'s frontend: the edge\'s address, no TLS (Bamboo\'s, not a service port)', env: { BAMBOO_TCP_PORT: '10150' }, labels: { HAPROXY_0_SSL_CERT: '/c/web.pem', HAPROXY_0_BIND_ADDR: '127.0.0.2' },
      sections: { 'frontend ::web-port-10100': ['bind 127.0.0.2:10100 ssl crt /c/web.pem'], 'frontend ::web-port-10150': ['bind 127.0.0.1:10150'] } },

    { desc: 'USE_HSTS: marathon-lb\'s header line', labels: { HAPROXY_0_USE_HSTS: 'true' }, sections: { 'backend ::web-cluster': ['http-response set-header Strict-Transport-Security max-age=15768000', 'option forwardfor'] } },
    { desc: 'USE_HSTS false', labels: { HAPROXY_0_USE_HSTS: 'false' }, absent: ['http-response set-header Strict-Transport-Security max-age=15768000'] },
    { desc: 'USE_HSTS on port 1 only', ports: [10100, 10101], labels: { HAPROXY_1_USE_HSTS: 'yes' }, sections: { 'backend ::web-1-cluster': ['http-response set-header Strict-Transport-Security max-age=15768000'] } },
    { desc: 'USE_HSTS on a TCP port: ignored (marathon-lb writes it for HTTP only)', labels: { HAPROXY_0_USE_HSTS: 'true', HAPROXY_0_MODE: 'tcp' }, absent: ['http-response set-header Strict-Transport-Security max-age=15768000'] },
    { desc: 'USE_HSTS not a boolean', labels: { HAPROXY_0_USE_HSTS: 'maybe' }, refused: /HAPROXY_0_USE_HSTS "maybe" is not a boolean/ },
    { desc: 'BACKEND_HSTS_OPTIONS trusted: instead of the default', trust: true, labels: { HAPROXY_0_USE_HSTS: 'true', HAPROXY_0_BACKEND_HSTS_OPTIONS: 'http-response set-header Strict-Transport-Security "max-age=31536000; includeSubDomains"\nhttp-response set-header X-Hsts {yes}' },
      sections: { 'backend ::web-cluster': ['http-response set-header Strict-Transport-Security "max-age=31536000; includeSubDomains"', 'http-response set-header X-Hsts {yes}'] },
      absent: ['http-response set-header Strict-Transport-Security max-age=15768000'] },
    { desc: 'BACKEND_HSTS_OPTIONS untrusted: the default line', labels: { HAPROXY_0_USE_HSTS: 'true', HAPROXY_0_BACKEND_HSTS_OPTIONS: 'http-response set-header X-Other 1' },
      sections: { 'backend ::web-cluster': ['http-response set-header Strict-Transport-Security max-age=15768000'] }, absent: ['http-response set-header X-Other 1'] },
    { desc: 'BACKEND_HSTS_OPTIONS without USE_HSTS: nothing (as marathon-lb)', trust: true, labels: { HAPROXY_0_BACKEND_HSTS_OPTIONS: 'http-response set-header X-Other 1' }, absent: ['http-response set-header X-Other 1'] },
    { desc: 'BACKEND_HSTS_OPTIONS opening a section', trust: true, labels: { HAPROXY_0_USE_HSTS: 'true', HAPROXY_0_BACKEND_HSTS_OPTIONS: 'http-response set-header X 1\nfrontend evil' }, refused: /HAPROXY_0_BACKEND_HSTS_OPTIONS line 2 starts a new section/ },

    { desc: 'FRONTEND_HEAD: marathon-lb\'s default head is culm\'s own lines', trust: true,
      labels: { HAPROXY_0_SSL_CERT: '/c/web.pem', HAPROXY_0_BIND_ADDR: '127.0.0.2', HAPROXY_0_BIND_OPTIONS: 'accept-proxy', HAPROXY_0_FRONTEND_HEAD: '\nfrontend {backend}\n  bind {bindAddr}:{servicePort}{sslCert}{bindOptions}\n  mode {mode}\n' },
      sections: { 'frontend ::web-port-10100': ['bind 127.0.0.2:10100 ssl crt /c/web.pem accept-proxy', 'mode http', 'default_backend ::web-cluster'] } },
    { desc: 'FRONTEND_HEAD: placeholders filled', trust: true,
      labels: { HAPROXY_0_SSL_CERT: '/c/web.pem', HAPROXY_0_BIND_ADDR: '127.0.0.2', HAPROXY_0_FRONTEND_HEAD: 'bind {bindAddr}:{servicePort}{sslCert}{bindOptions}\nbind 127.0.0.9:{servicePort}{sslCert}' },
      sections: { 'frontend ::web-port-10100': ['bind 127.0.0.2:10100 ssl crt /c/web.pem', 'bind 127.0.0.9:10100 ssl crt /c/web.pem'] } },
  ];
  for (const c of cases) {
    for (const shape of SHAPES) {
      const desc = `${shape} ${c.desc}`;
      const spec: AppSpec = { id: '/web', ports: c.ports ?? [10100], labels: c.labels, ...(c.env ? { env: c.env } : {}), tasks: 1 };
      const other: AppSpec = { id: '/other', ports: [10900] };
      const { view, text, rejected } = render([spec, other], shape, bound(c.trust === true, c.servicePortBind));
      for (const [header, want] of Object.entries(c.sections ?? {})) {
        const got = lines(section(text, header));
        t.ok(got.length > 0, `${desc}: ${header} is there`);
        for (const line of want) t.ok(got.includes(line), `${desc}: ${header} has ${JSON.stringify(line)}`);
      }
      for (const line of c.absent ?? []) t.notOk(lines(text).includes(line), `${desc}: no ${JSON.stringify(line)}`);
      if (c.refused) {
        t.match(view.NotServed['/web'], c.refused, `${desc}: the app (port 0) left out, with the reason`);
        t.notMatch(text, '::web-port-10100', `${desc}: no frontend for it`);
        const fromLabels = !/BIND_OPTIONS|HSTS_OPTIONS/.test(c.refused.source);
        if (fromLabels) t.match(rejected, [{ appId: '/web', field: 'lb_label' }], `${desc}: counted as a refused label value`);
      } else {
        t.equal(view.NotServed['/web'], undefined, `${desc}: served`);
      }
      t.match(section(text, 'frontend ::other-port-10900'), 'bind 127.0.0.1:10900\n', `${desc}: the other app untouched`);
    }
  }
});

t.test('HAProxy.BindServicePorts off: the labels only a port\'s own frontend reads are ignored, never refused', async (t) => {
  const unbound: HaproxyPaths = { ...base, ServeGroups: { groups: [], strict: false, trustLabelConfig: true } };
  const cases: Array<{ desc: string; labels: Record<string, string> }> = [
    { desc: 'BIND_ADDR a host name', labels: { HAPROXY_0_BIND_ADDR: 'localhost' } },
    { desc: 'BIND_ADDR out of range', labels: { HAPROXY_0_BIND_ADDR: '10.0.0.300' } },
    { desc: 'MODE neither http nor tcp', labels: { HAPROXY_0_MODE: 'udp' } },
    { desc: 'BIND_OPTIONS a section keyword (trusted)', labels: { HAPROXY_0_BIND_OPTIONS: 'global' } },
    { desc: 'FRONTEND_HEAD opening a section (trusted)', labels: { HAPROXY_0_FRONTEND_HEAD: 'bind :1\nbackend evil' } },
    { desc: 'FRONTEND_BACKEND_GLUE opening a section (trusted)', labels: { HAPROXY_0_FRONTEND_BACKEND_GLUE: 'listen evil' } },
  ];
  for (const shape of SHAPES) {
    for (const c of cases) {
      const desc = `${shape} ${c.desc}`;
      const specs: AppSpec[] = [{ id: '/web', ports: [10100], labels: { ...c.labels, HAPROXY_0_VHOST: 'web.example.com' } }];
      const off = render(specs, shape, unbound);
      t.equal(off.view.NotServed['/web'], undefined, `${desc}: the app served`);
      t.same(off.rejected, [], `${desc}: nothing refused where the app came in`);
      t.equal(off.view.LabelConfigNotes['/web'], undefined, `${desc}: no label note either`);
      t.match(section(off.text, 'frontend http-in'), 'use_backend ::web-cluster if ::web-0-host', `${desc}: routed by its vhost`);
      t.notMatch(off.text, /evil|frontend ::web-port|bind :1\b/, `${desc}: nothing of the label written`);
      const on = render(specs, shape, bound(true));
      t.match(on.view.NotServed['/web'], Object.keys(c.labels)[0], `${desc}: with service ports bound, refused (the port left out)`);
    }
    const hsts = render([{ id: '/web', ports: [10100], labels: { HAPROXY_0_USE_HSTS: 'maybe' } }], shape, unbound);
    t.match(hsts.view.NotServed['/web'], /HAPROXY_0_USE_HSTS/, `${shape}: a label the backend reads is still refused`);
    t.match(hsts.rejected, [{ appId: '/web', field: 'lb_label' }], `${shape}: and counted`);
  }
});

t.test('untrusted raw words are told once per app, never written', async (t) => {
  const { view } = render([{ id: '/web', ports: [10100], labels: { HAPROXY_0_BIND_OPTIONS: 'accept-proxy', HAPROXY_0_BACKEND_HSTS_OPTIONS: 'x', HAPROXY_0_USE_HSTS: 'true' } }], '1.5', bound(false));
  t.same(view.LabelConfigNotes['/web'], { refused: false, note: 'HAPROXY_0_BACKEND_HSTS_OPTIONS, HAPROXY_0_BIND_OPTIONS' }, 'the note names both labels');
  t.equal(view.Listeners[0].BindOptions, '');
  t.same(view.Apps[0].Backends[0].Hsts, ['    http-response set-header Strict-Transport-Security max-age=15768000'], 'USE_HSTS needs no trust');
});

t.test('port clashes consider the address', async (t) => {
  const l = (appId: string, address: string, port: number, index = 0): ListenerView => ({
    Name: `${appId}-port-${port}`, Bind: `${address}:${port}`, Address: address, SslCert: '', CertStamp: '', BindOptions: '', BindLine: `${address}:${port}`,
    Mode: 'http', Backend: `${appId}-cluster`, AppId: appId, Index: index, Port: port, Bamboo: false, RawHead: [], RawGlue: null,
  });
  const cases: Array<{ desc: string; apps: ListenerView[][]; http?: string; kept: string[] }> = [
    { desc: 'two explicit addresses, one port: both', apps: [[l('/a', '127.0.0.2', 10000)], [l('/b', '127.0.0.3', 10000)]], kept: ['/a', '/b'] },
    { desc: 'the same address twice: the first', apps: [[l('/a', '127.0.0.2', 10000)], [l('/b', '127.0.0.2', 10000)]], kept: ['/a'] },
    { desc: 'IPv6 spelled two ways: the same address', apps: [[l('/a', '::1', 10000)], [l('/b', '0:0:0:0:0:0:0:1', 10000)]], kept: ['/a'] },
    { desc: 'IPv4-mapped IPv6 is its IPv4 address (HAProxy would bind both)', apps: [[l('/a', '127.0.0.2', 10000)], [l('/b', '::ffff:127.0.0.2', 10000)]], kept: ['/a'] },
    { desc: 'IPv4-mapped first, in hex and full', apps: [[l('/a', '0:0:0:0:0:ffff:7f00:2', 10000)], [l('/b', '127.0.0.2', 10000)]], kept: ['/a'] },
    { desc: 'IPv4-mapped, another IPv4 address: no clash', apps: [[l('/a', '::ffff:127.0.0.3', 10000)], [l('/b', '127.0.0.2', 10000)]], kept: ['/a', '/b'] },
    { desc: 'IPv4-mapped 0.0.0.0 is a wildcard', apps: [[l('/a', '127.0.0.2', 10000)], [l('/b', '::ffff:0.0.0.0', 10000)]], kept: ['/a'] },
    { desc: 'not mapped (::1:7f00:2): another address', apps: [[l('/a', '::1:7f00:2', 10000)], [l('/b', '127.0.0.2', 10000)]], kept: ['/a', '/b'] },
    { desc: 'the HTTP bind on the IPv4 of a mapped address', http: '127.0.0.2:10000', apps: [[l('/a', '::ffff:127.0.0.2', 10000)]], kept: [] },
    { desc: '* first: clashes with an explicit address', apps: [[l('/a', '*', 10000)], [l('/b', '127.0.0.2', 10000)]], kept: ['/a'] },
    { desc: 'explicit first: * clashes with it', apps: [[l('/a', '127.0.0.2', 10000)], [l('/b', '*', 10000)]], kept: ['/a'] },
    { desc: '0.0.0.0 is a wildcard', apps: [[l('/a', '127.0.0.2', 10000)], [l('/b', '0.0.0.0', 10000)]], kept: ['/a'] },
    { desc: ':: is a wildcard (Linux binds IPv4 with it)', apps: [[l('/a', '::', 10000)], [l('/b', '127.0.0.2', 10000)]], kept: ['/a'] },
    { desc: 'other ports: no clash', apps: [[l('/a', '*', 10000)], [l('/b', '*', 10001)]], kept: ['/a', '/b'] },
    { desc: 'one app, one port number on two addresses: its frontends are named by the port', apps: [[l('/a', '127.0.0.2', 10000, 0), l('/a', '127.0.0.3', 10000, 1)]], kept: ['/a'] },
    { desc: 'the HTTP bind on another address: no clash', http: '127.0.0.1:10000', apps: [[l('/a', '127.0.0.2', 10000)]], kept: ['/a'] },
    { desc: 'the HTTP bind on the same address', http: '127.0.0.2:10000', apps: [[l('/a', '127.0.0.2', 10000)]], kept: [] },
    { desc: 'the HTTP bind on *', http: '*:10000', apps: [[l('/a', '127.0.0.2', 10000)]], kept: [] },
    { desc: 'the HTTP bind on a host name: taken as every address', http: 'localhost:10000', apps: [[l('/a', '127.0.0.2', 10000)]], kept: [] },
    { desc: 'the HTTP bind on [::]', http: 'ipv6@[::]:10000', apps: [[l('/a', '127.0.0.2', 10000)]], kept: [] },
  ];
  for (const c of cases) {
    const r = resolveClashes(c.apps, boundAddresses(c.http ?? '*:80'));
    t.same(r.listeners.map((x) => x.AppId), c.kept, c.desc);
    const out = c.apps.flat().length - r.listeners.length;
    t.equal(Object.keys(r.clashes).length > 0, out > 0, `${c.desc}: a reason for each one left out`);
  }
  t.same(boundAddresses('127.0.0.1:8080,[::]:8081,:80,unix@/x.sock,ipv4@10.0.0.1:9'), [
    { address: '127.0.0.1', port: 8080 }, { address: '::', port: 8081 }, { address: '', port: 80 }, { address: '10.0.0.1', port: 9 },
  ]);
});

t.test('from labels: two apps on one service port, each on its own address', async (t) => {
  for (const shape of SHAPES) {
    const mapped = render([
      { id: '/a', ports: [10100], labels: { HAPROXY_0_BIND_ADDR: '127.0.0.2' } },
      { id: '/b', ports: [10100], labels: { HAPROXY_0_BIND_ADDR: '::ffff:127.0.0.2' } },
    ], shape, bound(false)).view;
    t.same(mapped.Listeners.map((l) => l.BindLine), ['127.0.0.2:10100'], `${shape}: an IPv4-mapped address is its IPv4 one`);
    t.match(mapped.PortClashes['/b'], /port clash: port 0 \(service port 10100\) is already bound by app \/a port 0/, `${shape}: and says so`);
    const { view } = render([
      { id: '/a', ports: [10100], labels: { HAPROXY_0_BIND_ADDR: '127.0.0.2' } },
      { id: '/b', ports: [10100], labels: { HAPROXY_0_BIND_ADDR: '127.0.0.3' } },
      { id: '/c', ports: [10100] },
    ], shape, bound(false));
    t.same(view.Listeners.map((l) => l.BindLine), ['127.0.0.2:10100', '127.0.0.3:10100', '127.0.0.1:10100'], `${shape}: three addresses, no clash`);
    const all = render([{ id: '/a', ports: [10100], labels: { HAPROXY_0_BIND_ADDR: '127.0.0.2' } }, { id: '/b', ports: [10100] }], shape, bound(false, '*')).view;
    t.same(all.Listeners.map((l) => l.AppId), ['/a'], `${shape}: the edge binding * clashes with an explicit address`);
    t.match(all.PortClashes['/b'], /port clash: port 0 \(service port 10100\) is already bound by app \/a port 0/, `${shape}: and says so`);
  }
});

t.test('a service port\'s certificate: checked as the HTTPS frontend\'s, its frontend left out when unusable', async (t) => {
  const specs: AppSpec[] = [
    { id: '/a', ports: [10100], labels: { HAPROXY_0_SSL_CERT: '/c/a.pem' } },
    { id: '/gone', ports: [10200], labels: { HAPROXY_0_SSL_CERT: '/c/gone.pem', HAPROXY_0_VHOST: 'gone.example.com' } },
    { id: '/garbage', ports: [10300], labels: { HAPROXY_0_SSL_CERT: '/c/garbage.pem', HAPROXY_0_MODE: 'tcp' } },
  ];
  const check = (stamp: string): CertCheck => (path) => ({ problem: path === '/c/gone.pem' ? 'no such file' : '', stamp });
  // As the applier keeps it (apply.ts): the reason whole, written once in the frontend's.
  const refused = new Map([['/c/garbage.pem', "HAProxy refuses it (unable to load certificate from file '/c/garbage.pem')"]]);
  const v = render(specs, '1.5', bound(false), check('1'), refused);
  t.same(v.view.Listeners.map((l) => l.Name), ['::a-port-10100'], 'only the usable certificate\'s frontend');
  t.match(v.view.CertProblems.filter((p) => p.Frontend), [
    { AppId: '/garbage', Cert: '/c/garbage.pem', Frontend: '::garbage-port-10300', Reason: /HAPROXY_0_SSL_CERT \/c\/garbage\.pem: HAProxy refuses it .*: the frontend of service port 10300 left out/ },
    { AppId: '/gone', Cert: '/c/gone.pem', Frontend: '::gone-port-10200', Reason: /no such file: the frontend of service port 10200 left out/ },
  ]);
  t.equal(v.view.CertProblems.find((p) => p.Frontend === '::garbage-port-10300')?.Reason,
    "HAPROXY_0_SSL_CERT /c/garbage.pem: HAProxy refuses it (unable to load certificate from file '/c/garbage.pem'): the frontend of service port 10300 left out",
    'the refusal said once (not "HAProxy refuses it (HAProxy refuses it (…))")');
  t.match(v.text, 'backend ::gone-cluster', 'the app itself is served');
  t.match(section(v.text, 'frontend http-in'), 'gone.example.com', 'and routed by the HTTP frontend');
  const a = v.view.Listeners[0];
  t.match(a.CertStamp, /^[0-9a-f]{16}$/, 'a stamp of the file');
  t.match(section(v.text, 'frontend ::a-port-10100'), `# HAPROXY_0_SSL_CERT as of ${a.CertStamp}`, 'written in the frontend');

  const again = render(specs, '1.5', bound(false), check('1'), refused);
  t.equal(again.view.Listeners, v.view.Listeners, 'the same listeners while nothing changed (rendered once)');
  const renewed = render(specs, '1.5', bound(false), check('2'), refused);
  t.not(renewed.view.Listeners[0].CertStamp, a.CertStamp, 'a renewed file: a new stamp (the config changes, HAProxy reloads)');
  t.match(diffViews(v.view, renewed.view), ['frontend ::a-port-10100: certificate /c/a.pem changed'], 'and the diff says why');
  const fixed = render(specs, '1.5', bound(false), check('1'));
  t.same(fixed.view.Listeners.map((l) => l.Name), ['::a-port-10100', '::garbage-port-10300'], 'a refused file tried again once its refusal is dropped (the applier does, when the file changes)');

  t.same(certsAtFailure("'bind 127.0.0.1:10300' in section 'frontend' : unable to load certificate from file '/c/garbage.pem'.", fixed.view), [{ Cert: '/c/garbage.pem', AppIds: ['/garbage'] }], 'certsAtFailure names a service port\'s certificate');
  t.same(certsAtFailure("No Private Key found in '/c/a.pem.key'.", fixed.view), [{ Cert: '/c/a.pem', AppIds: ['/a'] }], 'and one without its key');
});

t.test('a frontend left out for its certificate claims no port: another app on that service port is served', async (t) => {
  const check: CertCheck = (path) => ({ problem: path.includes('missing') ? 'no such file' : '', stamp: '1' });
  const refused = new Map([['/c/garbage.pem', "unable to load certificate from file '/c/garbage.pem'"]]);
  const cases: Array<{ desc: string; first: Record<string, string>; kept: string[]; clash: boolean }> = [
    { desc: 'a missing file', first: { HAPROXY_0_SSL_CERT: '/c/missing.pem' }, kept: ['::b-port-10100'], clash: false },
    { desc: 'a file HAProxy refuses', first: { HAPROXY_0_SSL_CERT: '/c/garbage.pem' }, kept: ['::b-port-10100'], clash: false },
    { desc: 'a usable file: the first by id keeps the port, as ever', first: { HAPROXY_0_SSL_CERT: '/c/a.pem' }, kept: ['::a-port-10100'], clash: true },
  ];
  for (const shape of SHAPES) {
    for (const c of cases) {
      const { view, text } = render([{ id: '/a', ports: [10100], labels: c.first }, { id: '/b', ports: [10100] }], shape, bound(false), check, refused);
      t.same(view.Listeners.map((l) => l.Name), c.kept, `${shape} ${c.desc}: the frontends bound`);
      if (c.clash) t.match(view.PortClashes['/b'], /port clash: port 0 \(service port 10100\) is already bound by app \/a port 0/, `${shape} ${c.desc}: /b left out for it`);
      else {
        t.same(view.PortClashes, {}, `${shape} ${c.desc}: no clash for /b`);
        t.ok(view.CertProblems.some((p) => p.AppId === '/a' && p.Frontend === '::a-port-10100'), `${shape} ${c.desc}: /a's frontend left out for its certificate`);
        t.match(section(text, 'frontend ::b-port-10100'), 'bind 127.0.0.1:10100', `${shape} ${c.desc}: /b's frontend written`);
      }
    }
  }
});

t.test('diff reasons for the bind line and HSTS', async (t) => {
  const before = render([{ id: '/web', ports: [10100] }], '1.5', bound(false)).view;
  const after = render([{ id: '/web', ports: [10100], labels: { HAPROXY_0_BIND_ADDR: '127.0.0.2', HAPROXY_0_USE_HSTS: 'true' } }], '1.5', bound(false)).view;
  t.match(diffViews(before, after), ['backend ::web-cluster: HSTS on', 'frontend ::web-port-10100: bind 127.0.0.2:10100']);
});

function haproxyAccepts(t: Test, text: string, dir: string): void {
  requireBinary('haproxy', 'apt-get install -y haproxy');
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(file, text);
  const r = spawnSync('haproxy', ['-c', '-f', file], { encoding: 'utf8' });
  t.match(r.stdout, /Configuration file is valid/, `haproxy -c accepts it\n${r.stderr}`);
  t.notMatch(r.stderr, /ALERT/, 'without an alert');
}

t.test('app certificates only with HAProxy.SslCerts, and never the edge\'s own', async (t) => {
  const { SslCerts: _none, HttpsBind: _bind, ...plain } = bound(false, '*');
  const specs: AppSpec[] = [
    { id: '/evil', ports: [10443], labels: { HAPROXY_0_SSL_CERT: '/etc/ssl/edge.pem', HAPROXY_0_MODE: 'tcp' } },
    { id: '/web', ports: [10100], labels: { HAPROXY_0_SSL_CERT: '/c/web.pem', HAPROXY_0_VHOST: 'web.example.com' } },
    { id: '/plain', ports: [10200] },
  ];
  const off = render(specs, '1.5', plain);
  t.same(off.view.Listeners.map((l) => l.Name), ['::plain-port-10200'], 'no HAProxy.SslCerts: no frontend terminates TLS with an app\'s file');
  t.notMatch(off.text, 'ssl crt', 'no certificate anywhere in the config');
  t.notMatch(off.text, /bind \*:10443|bind \*:10100/, 'and those ports are not served in clear either');
  t.match(off.view.CertProblems, [
    { AppId: '/evil', Cert: '/etc/ssl/edge.pem', Frontend: '::evil-port-10443', Ignored: true, Reason: /ignored: this edge honours app certificates only with HAProxy.SslCerts set: the frontend of service port 10443 left out/ },
    { AppId: '/web', Cert: '/c/web.pem', Frontend: '::web-port-10100', Ignored: true },
  ]);
  t.equal(off.view.NotServed['/web'], undefined, 'the app is served');
  t.match(section(off.text, 'frontend http-in'), 'web.example.com', 'and routed by http-in');

  const edge: HaproxyPaths = { ...bound(false, '*'), SslCerts: ['/etc/ssl/edge.pem', '/etc/ssl/edge.d/'] };
  const check: CertCheck = (path) => ({ problem: '', stamp: '1', ...(path === '/c/link.pem' ? { real: '/etc/ssl/edge.d/x.pem' } : {}) });
  const own = render([
    ...specs,
    { id: '/indir', ports: [10500], labels: { HAPROXY_0_SSL_CERT: '/etc/ssl/edge.d/other.pem', HAPROXY_0_MODE: 'tcp' } },
    { id: '/link', ports: [10600], labels: { HAPROXY_0_SSL_CERT: '/c/link.pem', HAPROXY_0_MODE: 'tcp' } },
    { id: '/near', ports: [10700], labels: { HAPROXY_0_SSL_CERT: '/etc/ssl/edge.d2/x.pem', HAPROXY_0_MODE: 'tcp' } },
  ], '1.5', edge, check);
  t.same(own.view.Listeners.map((l) => l.Name).sort(), ['::near-port-10700', '::plain-port-10200', '::web-port-10100'], 'with SslCerts: an app\'s own file is honoured, the edge\'s is not');
  const refused = own.view.CertProblems.filter((p) => p.Frontend);
  t.same(refused.map((p) => p.AppId).sort(), ['/evil', '/indir', '/link'], 'one of SslCerts, a file in its directory, a link to one: refused');
  t.ok(refused.every((p) => /the edge's own certificate \(HAProxy.SslCerts\), not an app's: the frontend of service port \d+ left out/.test(p.Reason) && !p.Ignored), 'saying why');
});

t.test('default template: golden file (UPDATE_GOLDEN=1 to refresh), and HAProxy accepts it with real certificates', async (t) => {
  requireBinary('openssl', 'apt-get install -y openssl');
  const golden = new URL('../fixtures/golden/bind-labels.cfg', import.meta.url).pathname;
  const specs: AppSpec[] = [
    { id: '/db', ports: [10200], labels: { HAPROXY_0_MODE: 'tcp', HAPROXY_0_SSL_CERT: '/run/culm/certs/db.pem', HAPROXY_0_BIND_ADDR: '127.0.0.2' }, tasks: 2 },
    { id: '/web', ports: [10100, 10101], labels: {
      HAPROXY_0_VHOST: 'web.example.com', HAPROXY_0_USE_HSTS: 'true', HAPROXY_0_SSL_CERT: '/run/culm/certs/web.pem', HAPROXY_0_BIND_OPTIONS: 'alpn h2,http/1.1',
      HAPROXY_1_BIND_ADDR: '::1', HAPROXY_1_USE_HSTS: 'true', HAPROXY_1_BACKEND_HSTS_OPTIONS: 'http-response set-header Strict-Transport-Security "max-age=31536000; includeSubDomains"',
    }, tasks: 2 },
    { id: '/web2', ports: [10100], labels: { HAPROXY_0_BIND_ADDR: '127.0.0.3' } },
  ];
  const texts = SHAPES.map((shape) => render(specs, shape, bound(true)).text);
  t.equal(texts[1], texts[0], '1.5 portDefinitions: the same config as 1.4 ports');
  t.equal(texts[2], texts[0], 'and as Docker portMappings (the tasks\' host ports serve)');
  const text = texts[0].replace(renderer.templatePath, 'templates/haproxy.cfg.eta');
  if (process.env.UPDATE_GOLDEN) writeFileSync(golden, text);
  t.equal(text, readFileSync(golden, 'utf8'), 'matches test/fixtures/golden/bind-labels.cfg');

  const dir = mkdtempSync(join(tmpdir(), 'culm-bind-labels-'));
  execFileSync('mkdir', ['-p', join(dir, 'certs')]);
  for (const name of ['db', 'web', 'default']) makeCert(join(dir, 'certs', `${name}.pem`), `${name}.example.com`);
  const local = text.replaceAll('/run/culm/', `${dir}/`);
  const view = render(specs, '1.4', bound(true)).view;
  if (view.RouteMap) writeFileSync(view.RouteMap.Path.replace('/run/culm/', `${dir}/`), view.RouteMap.Text);
  const list = view.Tls?.CrtList;
  if (list) writeFileSync(list.Path.replace('/run/culm/', `${dir}/`), list.Text.replaceAll('/run/culm/', `${dir}/`));
  haproxyAccepts(t, local, dir);
});

t.test('bind options HAProxy refuses: its check names the app\'s frontend, so the applier leaves that app out', async (t) => {
  requireBinary('haproxy', 'apt-get install -y haproxy');
  const dir = mkdtempSync(join(tmpdir(), 'culm-bind-options-'));
  const { SslCerts: _none, HttpsBind: _bind, ...plain } = bound(true);
  const { view, text } = render([{ id: '/other', ports: [10900] }, { id: '/web', ports: [10100], labels: { HAPROXY_0_BIND_OPTIONS: 'no-such-option 1' } }], '1.5', { ...plain, OutputPath: join(dir, 'haproxy.cfg') });
  t.match(section(text, 'frontend ::web-port-10100'), 'bind 127.0.0.1:10100 no-such-option 1\n', 'written, being trusted');
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(file, text);
  if (view.RouteMap) writeFileSync(view.RouteMap.Path, view.RouteMap.Text);
  const r = spawnSync('haproxy', ['-c', '-f', file], { encoding: 'utf8' });
  t.not(r.status, 0, 'haproxy -c refuses it');
  t.same(appAtFailure(r.stderr + r.stdout, text, view), { id: '/web', inRule: false }, 'and the failure points at /web');
});
