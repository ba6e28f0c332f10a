/**
 * Bamboo's and the tutorials' conventions: Go-style flags named after every environment name (Dataman's
 * build), -config_from_flags and -haproxy_check, config/production.example.json, BAMBOO_DOCKER_AUTO_HOST
 * without HOST, a Bamboo Go template named in the config, and the Marathon app definition under deploy/.
 */
import { execFileSync } from 'node:child_process';
import type { NetworkInterfaceInfo } from 'node:os';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import t from 'tap';
import { CONFIG_KEYS, loadConfig, packageRoot, type CulmConfig, type LoadInput } from '../../src/config/index.js';
import { defaultTemplatePath, flagNames, SETTINGS, type Setting } from '../../src/config/defaults.js';
import { ownAddress, type OwnNetwork } from '../../src/config/docker.js';
import { flagTable } from '../../src/config/load.js';
import { asListen } from '../../src/config/parse.js';
import { checkTemplate } from '../../src/config/template-check.js';

const dir = mkdtempSync(join(tmpdir(), 'culm-bb-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const root = packageRoot();

const settings = Object.entries(SETTINGS) as Array<[string, Setting]>;
const load = (input: Partial<LoadInput>): CulmConfig => loadConfig({ argv: [], env: {}, cwd: dir, ...input });
function attempt(input: Partial<LoadInput>): { code?: string; message: string } {
  try {
    load(input);
  } catch (err) {
    return err as { code?: string; message: string };
  }
  return { code: 'NO_ERROR', message: '' };
}

t.test('every setting with an environment name takes it in lower case as a flag; no name sets two things', async (t) => {
  const table = flagTable();
  let withEnv = 0;
  for (const [id, s] of settings) {
    if (s.flag !== undefined) t.equal(table.get(s.flag)?.key, id, `--${s.flag} (Bamboo's) still sets ${id}`);
    if (s.env === undefined) continue;
    withEnv++;
    t.equal(table.get(s.env.toLowerCase())?.key, id, `--${s.env.toLowerCase()} sets ${id}`);
    t.equal(table.get(s.env.toLowerCase())?.bool, s.kind === 'bool', `--${s.env.toLowerCase()} is boolean iff the setting is`);
  }
  t.ok(withEnv > 30, 'the table was enumerated');
  const owners = new Map<string, string>();
  for (const [id, s] of settings) {
    for (const name of flagNames(s)) {
      t.notOk(owners.has(name) && owners.get(name) !== id, `--${name} belongs to one setting only`);
      owners.set(name, id);
    }
  }
  for (const control of ['config', 'config_from_flags', 'haproxy_check']) {
    t.notOk(owners.has(control), `--${control} is no setting's name`);
    t.equal(table.get(control)?.key, control);
  }
});

t.test('Go flag syntax for the derived flags, and precedence file < env < flag', async (t) => {
  const file = join(dir, 'p.json');
  writeFileSync(file, JSON.stringify({ Marathon: { Endpoint: 'http://file:1' }, Bamboo: { Zookeeper: { Path: '/from-file' } } }));
  const cases: Array<{ desc: string; argv: string[]; env?: Record<string, string>; pick: (c: CulmConfig) => unknown; want: unknown }> = [
    { desc: '-x v', argv: ['-marathon_endpoint', 'http://m:1'], pick: (c) => c.marathon.endpoints, want: ['http://m:1'] },
    { desc: '-x=v', argv: ['-marathon_endpoint=http://m:2'], pick: (c) => c.marathon.endpoints, want: ['http://m:2'] },
    { desc: '--x v', argv: ['--bamboo_zk_path', '/bb'], pick: (c) => c.bamboo.zookeeper.path, want: '/bb' },
    { desc: '--x=v', argv: ['--haproxy_output_path=out/h.cfg'], pick: (c) => c.haproxy.outputPath, want: join(dir, 'out/h.cfg') },
    { desc: 'a boolean alone is true', argv: ['-marathon_use_event_stream'], pick: (c) => c.marathon.eventMode, want: 'sse' },
    { desc: 'a boolean =false', argv: ['-culm_runtime_api=false'], pick: (c) => c.haproxy.runtimeApi, want: false },
    { desc: 'Go ParseBool spelling', argv: ['-culm_runtime_api=F'], pick: (c) => c.haproxy.runtimeApi, want: false },
    { desc: 'Bamboo\'s -bind and BIND\'s flag are one', argv: ['-bind', ':7001'], pick: (c) => c.http.port, want: 7001 },
    { desc: 'two names of one setting: the last wins', argv: ['--log=a.log', '--culm_log_file', 'b.log'], pick: (c) => c.logFile, want: join(dir, 'b.log') },
    { desc: 'env beats file', argv: ['--config', file], env: { MARATHON_ENDPOINT: 'http://env:1' }, pick: (c) => c.marathon.endpoints, want: ['http://env:1'] },
    { desc: 'flag beats env', argv: ['--config', file, '-marathon_endpoint=http://flag:1'], env: { MARATHON_ENDPOINT: 'http://env:1' }, pick: (c) => c.marathon.endpoints, want: ['http://flag:1'] },
    { desc: 'file still read without the flag', argv: ['--config', file], pick: (c) => c.bamboo.zookeeper.path, want: '/from-file' },
  ];
  for (const c of cases) t.same(c.pick(load({ argv: c.argv, env: c.env ?? {} })), c.want, c.desc);
  const err = attempt({ argv: ['-marathon_endpoint=ftp://m:1'] });
  t.match(err.message, /Marathon\.Endpoint \/ MARATHON_ENDPOINT: .* \(from flag --marathon_endpoint\)$/, 'a bad value names the flag it came from');
});

t.test('-config_from_flags reads no file; -haproxy_check is accepted', async (t) => {
  const missing = { CONFIG_PATH: join(dir, 'no-such-file.json') };
  t.equal(attempt({ env: missing }).code, 'E_CONFIG', 'without it, a missing CONFIG_PATH file is an error');
  const c = load({ argv: ['-config_from_flags'], env: missing });
  t.same(c.source, {}, 'no file read');
  t.match(c.notices, [/CONFIG_PATH is not read/], 'said once at start');
  t.same(load({ argv: ['-config_from_flags=false'], env: { CONFIG_PATH: 'config/production.example.json' }, cwd: root }).source,
    { file: join(root, 'config/production.example.json') }, '=false reads the file as usual');
  const checked = load({ argv: ['-haproxy_check'] });
  t.equal(checked.haproxy.validationCommand, 'haproxy -c -f {{.}}', 'validation stays on');
  t.same(checked.warnings, [], 'no warning for -haproxy_check');
  const unchecked = load({ argv: ['-haproxy_check=false'] });
  t.equal(unchecked.haproxy.validationCommand, 'haproxy -c -f {{.}}', '=false does not turn validation off');
  t.match(unchecked.warnings, [/--haproxy_check=false is ignored.*HAPROXY_RELOAD_VALIDATION_CMD/]);
});

// The Dataman tutorial's command line after `bamboo`, as written there.
const DATAMAN = '-config_from_flags -haproxy_check -bamboo_endpoint="http://localhost:8000" -bamboo_zk_host="zk1:2181,zk2:2181,zk3:2181" -marathon_endpoint="http://marathon:8080"';

t.test("the Dataman tutorial's command line, split by a real shell", async (t) => {
  const argv = execFileSync('/bin/sh', ['-c', `printf '%s\\0' ${DATAMAN}`], { encoding: 'utf8' }).split('\0').slice(0, -1);
  t.equal(argv.length, 5, 'five arguments');
  const c = load({ argv, env: { CONFIG_PATH: join(dir, 'ignored.json') } });
  t.same(c.marathon.endpoints, ['http://marathon:8080']);
  t.equal(c.bamboo.endpoint, 'http://localhost:8000');
  t.same(c.bamboo.zookeeper.hosts, ['zk1:2181', 'zk2:2181', 'zk3:2181']);
  t.equal(c.bamboo.zookeeper.path, '/marathon-haproxy/state', "rules under Bamboo's default path");
  t.same(c.warnings, []);
});

t.test('config/production.example.json: Bamboo\'s file name, culm\'s defaults inside', async (t) => {
  const viaEnv = load({ env: { CONFIG_PATH: 'config/production.example.json' }, cwd: root });
  const none = load({ cwd: root });
  t.same(viaEnv.warnings, [], 'no unknown keys, no StatsD');
  t.equal(viaEnv.source.file, join(root, 'config/production.example.json'));
  t.same({ ...viaEnv, source: {} }, { ...none, source: {} }, 'every value is culm\'s default');
  t.equal(viaEnv.haproxy.templatePath, defaultTemplatePath(), "culm's template");
  const json = JSON.parse(readFileSync(join(root, 'config/production.example.json'), 'utf8')) as { HAProxy: Record<string, unknown> };
  t.notOk('ReloadCommand' in json.HAProxy, "no ReloadCommand: culm's default reload (with -x) applies");
  t.notOk('TemplatePath' in json.HAProxy, 'no TemplatePath: a Go template path is what breaks Bamboo files');
});

t.test("a Bamboo Go template gets one line saying what to do", async (t) => {
  const goCfg = join(dir, 'custom.cfg');
  writeFileSync(goCfg, 'global\n  daemon\n{{ range $index, $app := .Apps }}backend {{ $app.EscapedId }}\n{{ end }}\n');
  const goEta = join(dir, 'custom.eta');
  writeFileSync(goEta, 'frontend f\n{{ range .Apps }}x{{ end }}\n');
  const cases = [
    { desc: "Bamboo's file name, missing", path: join(root, 'config/haproxy_template.cfg'), want: /is Bamboo's Go template haproxy_template\.cfg/ },
    { desc: "Bamboo's file name, present", path: (() => { const p = join(dir, 'haproxy_template.cfg'); writeFileSync(p, 'global\n{{ range .Apps }}x{{ end }}\n'); return p; })(), want: /is Bamboo's Go template/ },
    { desc: 'a .cfg with {{', path: goCfg, want: /holds Go template syntax/ },
    { desc: 'Go actions in any file', path: goEta, want: /holds Go template syntax/ },
  ];
  for (const c of cases) {
    let err: { code?: string; message: string } | undefined;
    try {
      checkTemplate(c.path);
    } catch (e) {
      err = e as { code?: string; message: string };
    }
    t.equal(err?.code, 'E_CONFIG', `${c.desc}: E_CONFIG (exit 2)`);
    t.match(err?.message, c.want, `${c.desc}: says why`);
    t.match(err?.message, /^config HAProxy\.TemplatePath \/ HAPROXY_TEMPLATE_PATH: .*culm renders Eta templates, and its default templates\/haproxy\.cfg\.eta does what Bamboo's default template did: drop the key \(or set it to .*templates\/haproxy\.cfg\.eta\)/, `${c.desc}: what to do`);
    t.notMatch(err?.message, /\n|ENOENT/, `${c.desc}: one line, no ENOENT`);
  }
  t.doesNotThrow(() => checkTemplate(defaultTemplatePath()), "culm's default template passes");
  const ported = join(dir, 'ported', 'haproxy_template.cfg');
  mkdirSync(dirname(ported), { recursive: true });
  writeFileSync(ported, 'global\n<% for (const app of it.Apps) { %>backend <%= app.Backend %>\n<% } %>\n');
  t.doesNotThrow(() => checkTemplate(ported), 'a Bamboo template ported to Eta in place (same name) passes');
});

const iface = (address: string, internal: boolean, family: 'IPv4' | 'IPv6' = 'IPv4'): NetworkInterfaceInfo =>
  ({ address, internal, family, netmask: '', mac: '', cidr: null, ...(family === 'IPv6' ? { scopeid: 0 } : {}) }) as NetworkInterfaceInfo;
const net = (interfaces: Record<string, NetworkInterfaceInfo[]>, name = 'c0ffee'): OwnNetwork => ({ interfaces: () => interfaces, hostname: () => name });

t.test('BAMBOO_DOCKER_AUTO_HOST without HOST: the container\'s own address', async (t) => {
  const choices = [
    { desc: 'first non-internal IPv4', net: net({ lo: [iface('127.0.0.1', true)], eth0: [iface('fe80::1', false, 'IPv6'), iface('172.17.0.5', false)], eth1: [iface('10.0.0.9', false)] }), want: { host: '172.17.0.5', how: 'the address of interface eth0' } },
    { desc: 'only loopback and IPv6: the host name', net: net({ lo: [iface('127.0.0.1', true)], eth0: [iface('fd00::5', false, 'IPv6')] }, 'agent7'), want: { host: 'agent7', how: 'the host name' } },
    { desc: 'nothing usable', net: net({ lo: [iface('127.0.0.1', true)] }, 'localhost'), want: undefined },
  ];
  for (const c of choices) t.same(ownAddress(c.net), c.want, c.desc);

  const eth0 = net({ eth0: [iface('172.17.0.5', false)] });
  const auto = { BAMBOO_DOCKER_AUTO_HOST: 'true' };
  const c = load({ env: auto, network: eth0 });
  t.equal(c.bamboo.endpoint, 'http://172.17.0.5:8000', 'no HOST: the interface address, Bamboo\'s port');
  t.match(c.notices, [/Bamboo\.Endpoint is http:\/\/172\.17\.0\.5:8000 \(the address of interface eth0, HOST is unset\)/], 'logged which');
  t.equal(load({ env: { ...auto, BIND: '127.0.0.1:9123' }, network: eth0 }).bamboo.endpoint, 'http://172.17.0.5:9123', 'the BIND port');
  t.equal(load({ env: auto, argv: ['-bind', ':9124'], network: eth0 }).bamboo.endpoint, 'http://172.17.0.5:9124', 'the -bind port');
  t.match(c.warnings, [/Marathon will call back http:\/\/172\.17\.0\.5:8000, an address BAMBOO_DOCKER_AUTO_HOST took from this container without HOST/], 'a guessed callback address is warned about (auto or callback mode)');
  t.same(load({ env: { ...auto, CULM_EVENT_MODE: 'sse' }, network: eth0 }).warnings, [], 'not in SSE mode, which needs no callback');
  t.same(load({ env: { ...auto, HOST: 'agent1' }, network: eth0 }).warnings, [], 'nor with HOST');
  t.equal(load({ env: { ...auto, HOST: 'agent1' }, network: eth0 }).bamboo.endpoint, 'http://agent1:8000', 'HOST still wins over the interface');
  t.equal(load({ env: auto, argv: ['-bamboo_endpoint=http://lb:1'], network: eth0 }).bamboo.endpoint, 'http://lb:1', '--bamboo_endpoint wins');

  const nothing = net({ lo: [iface('127.0.0.1', true)] }, '');
  const sse = load({ env: { ...auto, CULM_EVENT_MODE: 'sse' }, network: nothing });
  t.equal(sse.bamboo.endpoint, '', 'no address: no endpoint, and SSE mode starts');
  t.match(sse.notices, [/no non-loopback IPv4 address or host name: Bamboo\.Endpoint stays unset/]);
  t.equal(load({ env: auto, network: nothing }).marathon.eventMode, 'auto', 'auto mode starts too (it uses SSE without an endpoint)');
  const err = attempt({ env: { ...auto, CULM_EVENT_MODE: 'callback' }, network: nothing });
  t.equal(err.code, 'E_CONFIG', 'callback mode with no address: exit 2');
  t.match(err.message, /^config Bamboo\.Endpoint \/ BAMBOO_ENDPOINT: required when the event mode .* is callback; .*\(BAMBOO_DOCKER_AUTO_HOST is set, HOST is empty and this container has no non-loopback IPv4 address or host name: set HOST or BAMBOO_ENDPOINT\)$/);
});

interface MarathonApp {
  id: string;
  instances: number;
  constraints: string[][];
  container: { type: string; docker: { image: string; network: string } };
  portDefinitions: Array<{ port: number }>;
  healthChecks: Array<{ protocol: string; path: string; portIndex: number }>;
  env: Record<string, string>;
}

t.test('deploy/culm.marathon.json: a Marathon app definition naming only real settings', async (t) => {
  const app = JSON.parse(readFileSync(join(root, 'deploy/culm.marathon.json'), 'utf8')) as MarathonApp;
  t.match(app.id, /^\/[a-z0-9][a-z0-9.-]*$/, 'an absolute app id');
  t.ok(Number.isInteger(app.instances) && app.instances >= 1, 'instances');
  t.same(app.container.type, 'DOCKER');
  t.equal(app.container.docker.image, 'culm');
  t.equal(app.container.docker.network, 'HOST', 'host networking');
  t.ok(app.constraints.some((c) => c[0] === 'hostname' && c[1] === 'UNIQUE'), 'one per node');
  const envNames = new Set(CONFIG_KEYS.flatMap((k) => (k.env === undefined ? [] : k.env.split(', '))));
  for (const name of Object.keys(app.env)) t.ok(envNames.has(name), `${name} is a setting`);
  t.equal(app.env.CULM_EVENT_MODE, 'sse');
  const config = load({ env: app.env });
  const check = app.healthChecks.find((h) => h.path === '/healthz');
  t.ok(check && ['HTTP', 'MESOS_HTTP'].includes(check.protocol), 'an HTTP health check on /healthz');
  t.equal(app.portDefinitions[check?.portIndex ?? -1]?.port, config.http.port, 'on the BIND port');
  t.equal(asListen(app.env.BIND).host, '', 'BIND on every interface, so the agent-side check reaches it');
  t.equal(config.marathon.eventMode, 'sse');
});
