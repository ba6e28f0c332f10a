import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import {
  CONFIG_KEYS, configReferenceMarkdown, loadConfig, packageRoot, redactConfig, type CulmConfig,
} from '../../src/config/index.js';

// Short, so that socket paths derived from it stay under the 107-byte Unix limit.
const dir = mkdtempSync(join(tmpdir(), 'culm-cfg-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

interface Input { file?: unknown; env?: Record<string, string>; argv?: string[] }
let n = 0;
/** cwd = dir; the file (JSON value or raw text) is written to dir and named with --config. */
function load(c: Input): CulmConfig {
  const argv = [...(c.argv ?? [])];
  if (c.file !== undefined) {
    const path = join(dir, `c${++n}.json`);
    writeFileSync(path, typeof c.file === 'string' ? c.file : JSON.stringify(c.file));
    argv.unshift('--config', path);
  }
  return loadConfig({ argv, env: c.env ?? {}, cwd: dir });
}

t.test('precedence: defaults < file < env < flag', async (t) => {
  const cases: Array<Input & { desc: string; pick: (c: CulmConfig) => unknown; want: unknown }> = [
    { desc: 'default endpoint', pick: (c) => c.marathon.endpoints, want: ['http://localhost:8080'] },
    { desc: 'file beats default', file: { Marathon: { Endpoint: 'http://f:8080' } }, pick: (c) => c.marathon.endpoints, want: ['http://f:8080'] },
    {
      desc: 'env beats file', file: { Marathon: { Endpoint: 'http://f:8080' } }, env: { MARATHON_ENDPOINT: 'http://e:8080' },
      pick: (c) => c.marathon.endpoints, want: ['http://e:8080'],
    },
    { desc: 'empty env is unset, as in Bamboo', file: { Marathon: { Endpoint: 'http://f:8080' } }, env: { MARATHON_ENDPOINT: '' }, pick: (c) => c.marathon.endpoints, want: ['http://f:8080'] },
    { desc: 'default bind', pick: (c) => c.http, want: { host: '', port: 8000 } },
    { desc: 'file bind', file: { Culm: { Bind: ':7000' } }, pick: (c) => c.http.port, want: 7000 },
    { desc: 'BIND beats file', file: { Culm: { Bind: ':7000' } }, env: { BIND: ':7001' }, pick: (c) => c.http.port, want: 7001 },
    { desc: '--bind beats BIND', file: { Culm: { Bind: ':7000' } }, env: { BIND: ':7001' }, argv: ['--bind', ':7002'], pick: (c) => c.http.port, want: 7002 },
    { desc: '-bind=v (Go style)', argv: ['-bind=127.0.0.1:7003'], pick: (c) => c.http, want: { host: '127.0.0.1', port: 7003 } },
    { desc: 'last flag wins', argv: ['--bind=:1', '-bind', ':2'], pick: (c) => c.http.port, want: 2 },
    { desc: '-- ends flags', argv: ['--bind', ':3', '--'], pick: (c) => c.http.port, want: 3 },
    { desc: '--log beats CULM_LOG_FILE', env: { CULM_LOG_FILE: 'a.log' }, argv: ['-log', 'b.log'], pick: (c) => c.logFile, want: join(dir, 'b.log') },
    { desc: 'no log file by default', pick: (c) => c.logFile, want: undefined },
    { desc: 'ms from file', file: { HAProxy: { ReloadIntervalMs: 50 } }, pick: (c) => c.haproxy.reloadIntervalMs, want: 50 },
    { desc: 'heap growth: default 50, 0 allowed', env: {}, pick: (c) => c.heapGrowingPercent, want: 50 },
    { desc: 'heap growth from the file', file: { Culm: { HeapGrowingPercent: 0 } }, pick: (c) => c.heapGrowingPercent, want: 0 },
    { desc: 'ms from env beats file', file: { HAProxy: { ReloadIntervalMs: 50 } }, env: { CULM_RELOAD_INTERVAL_MS: '70' }, pick: (c) => c.haproxy.reloadIntervalMs, want: 70 },
    { desc: 'ReportingDelay is seconds', file: { Bamboo: { Zookeeper: { ReportingDelay: 5 } } }, pick: (c) => c.bamboo.zookeeper.reportingDelayMs, want: 5000 },
    { desc: 'null in the file leaves the default (Go)', file: { Marathon: { Endpoint: null } }, pick: (c) => c.marathon.endpoints, want: ['http://localhost:8080'] },
    { desc: 'log level from env', env: { CULM_LOG_LEVEL: 'DEBUG' }, pick: (c) => c.logLevel, want: 'debug' },
    { desc: 'credentials', env: { MARATHON_USER: 'u', MARATHON_PASSWORD: 'p' }, pick: (c) => [c.marathon.user, c.marathon.password], want: ['u', 'p'] },
    { desc: 'no credentials by default', pick: (c) => 'user' in c.marathon || 'password' in c.marathon, want: false },
  ];
  for (const c of cases) t.same(c.pick(load(c)), c.want, c.desc);
});

t.test('--config beats CONFIG_PATH; relative paths resolve against cwd', async (t) => {
  writeFileSync(join(dir, 'rel.json'), JSON.stringify({ Marathon: { Endpoint: 'http://rel:8080' } }));
  const viaEnv = loadConfig({ argv: [], env: { CONFIG_PATH: 'rel.json' }, cwd: dir });
  t.same(viaEnv.marathon.endpoints, ['http://rel:8080'], 'CONFIG_PATH');
  t.equal(viaEnv.source.file, join(dir, 'rel.json'), 'source.file is absolute');
  const viaFlag = loadConfig({ argv: ['-config', 'rel.json'], env: { CONFIG_PATH: 'missing.json' }, cwd: dir });
  t.same(viaFlag.marathon.endpoints, ['http://rel:8080'], 'the flag wins, the env file is never read');
  t.same(loadConfig({ argv: [], env: {}, cwd: dir }).source, {}, 'no file');
});

t.test('file keys match case-insensitively, like Go encoding/json', async (t) => {
  const cases = [
    { desc: 'lower case', file: { marathon: { endpoint: 'http://a:1' } }, want: ['http://a:1'] },
    { desc: 'upper case', file: { MARATHON: { ENDPOINT: 'http://b:1' } }, want: ['http://b:1'] },
    { desc: 'mixed', file: { mArAtHoN: { EndPoint: 'http://c:1' } }, want: ['http://c:1'] },
    { desc: 'last matching key wins', file: { Marathon: { Endpoint: 'http://d:1', endpoint: 'http://e:1' } }, want: ['http://e:1'] },
  ];
  for (const c of cases) t.same(load(c).marathon.endpoints, c.want, c.desc);
  t.equal(load({ file: { haproxy: { outputpath: 'x/out.cfg' } } }).haproxy.outputPath, join(dir, 'x/out.cfg'), 'HAProxy section');
  t.equal(load({ file: { bamboo: { zookeeper: { path: '/zz' } } } }).bamboo.zookeeper.path, '/zz', 'nested section');
  t.equal(load({ file: { Marathon: { Pa\u017f\u017fword: 'p' } } }).marathon.password, 'p', 'Unicode folding: long s is s');
  const unknown = load({ file: { DomainMapping: {}, Marathon: { Zookeeper: {} } } }).warnings;
  t.match(unknown, [/unknown key DomainMapping/, /unknown key Marathon\.Zookeeper/], 'unknown keys are warnings, not errors');
});

t.test('comma-separated endpoints', async (t) => {
  const cases = [
    { desc: 'Bamboo style', env: { MARATHON_ENDPOINT: 'http://m1:8080,http://m2:8080,http://m3:8080' }, want: ['http://m1:8080', 'http://m2:8080', 'http://m3:8080'] },
    { desc: 'spaces, trailing slash and empty entries', env: { MARATHON_ENDPOINT: ' http://m1:8080/ , ,http://m2:8080,' }, want: ['http://m1:8080', 'http://m2:8080'] },
    { desc: 'path prefix kept', env: { MARATHON_ENDPOINT: 'https://lb.example.com/marathon/' }, want: ['https://lb.example.com/marathon'] },
    { desc: 'an array in the file', file: { Marathon: { Endpoint: ['http://a:1', 'http://b:1,http://c:1'] } }, want: ['http://a:1', 'http://b:1', 'http://c:1'] },
    { desc: 'userinfo kept for the client', env: { MARATHON_ENDPOINT: 'http://u:p@m1:8080' }, want: ['http://u:p@m1:8080'] },
  ];
  for (const c of cases) t.same(load(c).marathon.endpoints, c.want, c.desc);
  t.same(load({ env: { BAMBOO_ZK_HOST: 'zk1,zk2:2182, 10.0.0.1:2181,[::1]' } }).bamboo.zookeeper.hosts,
    ['zk1:2181', 'zk2:2182', '10.0.0.1:2181', '[::1]:2181'], 'ZooKeeper hosts get the default port like go-zookeeper');
  t.same(load({}).bamboo.zookeeper.hosts, [], 'no ZooKeeper by default (embedded store)');
});

t.test('BIND forms', async (t) => {
  const cases = [
    { desc: 'all interfaces', bind: ':8000', want: { host: '', port: 8000 } },
    { desc: 'IPv4 loopback', bind: '127.0.0.1:8000', want: { host: '127.0.0.1', port: 8000 } },
    { desc: 'host name', bind: 'localhost:9000', want: { host: 'localhost', port: 9000 } },
    { desc: 'IPv6 in brackets', bind: '[::1]:8000', want: { host: '::1', port: 8000 } },
    { desc: 'IPv6 any', bind: '[::]:8000', want: { host: '::', port: 8000 } },
    { desc: 'bare port', bind: '8001', want: { host: '', port: 8001 } },
    { desc: 'port 0: the OS picks one', bind: '127.0.0.1:0', want: { host: '127.0.0.1', port: 0 } },
  ];
  for (const c of cases) t.same(load({ env: { BIND: c.bind } }).http, c.want, c.desc);
});

t.test('BAMBOO_DOCKER_AUTO_HOST (Bamboo run.sh rewrites the placeholder endpoint to http://$HOST:8000)', async (t) => {
  const placeholder = { Bamboo: { Endpoint: 'http://haproxy-ip-address:8000' } };
  const cases: Array<Input & { desc: string; want: string }> = [
    { desc: 'placeholder replaced', file: placeholder, env: { BAMBOO_DOCKER_AUTO_HOST: 'true', HOST: '10.0.0.5' }, want: 'http://10.0.0.5:8000' },
    { desc: 'any value counts, as [[ -n ]]', file: placeholder, env: { BAMBOO_DOCKER_AUTO_HOST: 'false', HOST: 'agent1' }, want: 'http://agent1:8000' },
    { desc: 'unset endpoint filled (no file)', env: { BAMBOO_DOCKER_AUTO_HOST: '1', HOST: 'agent1' }, want: 'http://agent1:8000' },
    { desc: 'IPv6 HOST bracketed', env: { BAMBOO_DOCKER_AUTO_HOST: '1', HOST: 'fd00::5' }, want: 'http://[fd00::5]:8000' },
    { desc: 'a real endpoint is left alone', file: { Bamboo: { Endpoint: 'http://lb1:8000' } }, env: { BAMBOO_DOCKER_AUTO_HOST: '1', HOST: 'agent1' }, want: 'http://lb1:8000' },
    { desc: 'BAMBOO_ENDPOINT wins', file: placeholder, env: { BAMBOO_DOCKER_AUTO_HOST: '1', HOST: 'agent1', BAMBOO_ENDPOINT: 'http://e:8000' }, want: 'http://e:8000' },
    { desc: 'without it the placeholder stays', file: placeholder, env: { HOST: 'agent1' }, want: 'http://haproxy-ip-address:8000' },
    { desc: 'no endpoint by default', want: '' },
  ];
  for (const c of cases) t.equal(load(c).bamboo.endpoint, c.want, c.desc);
});

t.test('UseEventStream maps to sse unless the event mode is explicit', async (t) => {
  const cases: Array<Input & { desc: string; want: string }> = [
    { desc: 'default', want: 'auto' },
    { desc: 'file true', file: { Marathon: { UseEventStream: true } }, want: 'sse' },
    { desc: 'file false', file: { Marathon: { UseEventStream: false } }, want: 'auto' },
    { desc: 'env true', env: { MARATHON_USE_EVENT_STREAM: 'true' }, want: 'sse' },
    { desc: 'env 1 (Go ParseBool)', env: { MARATHON_USE_EVENT_STREAM: '1' }, want: 'sse' },
    { desc: 'env beats file', file: { Marathon: { UseEventStream: true } }, env: { MARATHON_USE_EVENT_STREAM: 'F' }, want: 'auto' },
    { desc: 'explicit mode wins', env: { MARATHON_USE_EVENT_STREAM: 'true', CULM_EVENT_MODE: 'auto' }, want: 'auto' },
    { desc: 'explicit in file wins over env switch', file: { Marathon: { EventMode: 'callback' }, Bamboo: { Endpoint: 'http://b:8000' } }, env: { MARATHON_USE_EVENT_STREAM: 'true' }, want: 'callback' },
    { desc: 'mode is case-insensitive', env: { CULM_EVENT_MODE: 'SSE' }, want: 'sse' },
  ];
  for (const c of cases) t.equal(load(c).marathon.eventMode, c.want, c.desc);
});

t.test('HAProxy paths: pid and socket beside the output path', async (t) => {
  const a = load({ env: { HAPROXY_OUTPUT_PATH: '/srv/a/haproxy.cfg' } }).haproxy;
  const b = load({ env: { HAPROXY_OUTPUT_PATH: '/srv/b/haproxy.cfg' } }).haproxy;
  t.equal(a.pidPath, '/srv/a/haproxy.cfg.pid');
  t.equal(a.statsSocketPath, '/srv/a/haproxy.cfg.sock');
  t.not(a.pidPath, b.pidPath, 'two instances never share a pid file');
  t.not(a.statsSocketPath, b.statsSocketPath, 'or a socket');
  t.equal(a.reloadCommand, '{ kill -0 $(cat /srv/a/haproxy.cfg.pid 2>/dev/null) 2>/dev/null && [ -S /srv/a/haproxy.cfg.sock ] && '
    + 'haproxy -f /srv/a/haproxy.cfg -p /srv/a/haproxy.cfg.pid -D -x /srv/a/haproxy.cfg.sock -sf $(cat /srv/a/haproxy.cfg.pid 2>/dev/null) 2>/dev/null; } '
    + '|| haproxy -f /srv/a/haproxy.cfg -p /srv/a/haproxy.cfg.pid -D -sf $(cat /srv/a/haproxy.cfg.pid 2>/dev/null)', 'listeners passed with -x while a live process holds the socket, else plain -sf');
  t.equal(a.validationCommand, 'haproxy -c -f {{.}}', 'raw placeholder kept');
  t.equal(a.cleanupCommand, 'exit 0');

  const d = load({ env: { CULM_DATA_DIR: 'state' } });
  t.equal(d.dataDir, join(dir, 'state'));
  t.equal(d.haproxy.outputPath, join(dir, 'state', 'haproxy.cfg'), 'output defaults into the data dir');
  t.equal(d.haproxy.templatePath, join(packageRoot(), 'templates', 'haproxy.cfg.eta'));
  t.equal(packageRoot(), join(import.meta.dirname, '..', '..'), 'package root is the dir with package.json');

  const explicit = load({ env: { HAPROXY_PID_PATH: '/run/h.pid', HAPROXY_STATS_SOCKET: '/run/h.sock' } }).haproxy;
  t.match(explicit, { pidPath: '/run/h.pid', statsSocketPath: '/run/h.sock' });
  t.match(explicit.reloadCommand, '-p /run/h.pid -D -x /run/h.sock -sf $(cat /run/h.pid 2>/dev/null)');
  t.match(explicit.reloadCommand, '|| haproxy -f');

  const bambooCmd = load({ env: { HAPROXY_RELOAD_CMD: 'haproxy -f /etc/haproxy/haproxy.cfg -p /var/run/haproxy.pid -D -sf $(cat /var/run/haproxy.pid)' } }).haproxy;
  t.equal(bambooCmd.pidPath, '/var/run/haproxy.pid', "a configured reload command's -p is the pid path");
  t.equal(bambooCmd.reloadCommand, 'haproxy -f /etc/haproxy/haproxy.cfg -p /var/run/haproxy.pid -D -sf $(cat /var/run/haproxy.pid)');

  const spaced = load({ env: { HAPROXY_OUTPUT_PATH: "/srv/it's here/h.cfg" } }).haproxy;
  t.match(spaced.reloadCommand, `|| haproxy -f '/srv/it'\\''s here/h.cfg' -p '/srv/it'\\''s here/h.cfg.pid' -D -sf $(cat '/srv/it'\\''s here/h.cfg.pid' 2>/dev/null)`, 'paths are shell-quoted');
  t.match(spaced.reloadCommand, `-x '/srv/it'\\''s here/h.cfg.sock'`);
  t.equal(load({ env: { HAPROXY_RELOAD_VALIDATION_CMD: '' }, file: { HAProxy: { ReloadValidationCommand: '' } } }).haproxy.validationCommand, '', "'' in the file skips validation");
  t.match(load({ env: { HAPROXY_RELOAD_VALIDATION_CMD: 'true' } }).warnings, [/ReloadValidationCommand .*no \{\{\.\}\}/], 'a check that ignores the candidate is a warning');
});

t.test('StatsD settings give exactly one warning', async (t) => {
  const statsd = (c: CulmConfig) => c.warnings.filter((w) => /StatsD/.test(w));
  const cases: Array<Input & { desc: string; want: number }> = [
    { desc: 'none', want: 0 },
    { desc: 'file section', file: { StatsD: { Enabled: false, Host: 'localhost:8125' } }, want: 1 },
    { desc: 'lower-case section', file: { statsd: {} }, want: 1 },
    { desc: 'env', env: { STATSD_ENABLED: 'true', STATSD_HOST: 'h:8125', STATSD_PREFIX: 'p.' }, want: 1 },
    { desc: 'file and env', file: { StatsD: {} }, env: { STATSD_HOST: 'h:8125' }, want: 1 },
  ];
  for (const c of cases) t.equal(statsd(load(c)).length, c.want, c.desc);
  t.match(statsd(load({ file: { StatsD: {} }, env: { STATSD_HOST: 'x' } }))[0], /Prometheus metrics at \/metrics/);
});

t.test('redactConfig', async (t) => {
  const c = load({
    env: {
      MARATHON_ENDPOINT: 'http://admin:s3cret-a@m1:8080,http://m2:8080', MARATHON_USER: 'u', MARATHON_PASSWORD: 's3cret-b',
      BAMBOO_ENDPOINT: 'http://cb:s3cret-c@lb1:8000', BAMBOO_ZK_AUTH: 'zk:s3cret-d',
    },
  });
  const r = redactConfig(c) as CulmConfig;
  t.notMatch(JSON.stringify(r), /s3cret/, 'no secret survives');
  t.same(r.marathon.endpoints, ['http://admin:[redacted]@m1:8080', 'http://m2:8080']);
  t.equal(r.marathon.user, 'u', 'user names are not secrets');
  t.equal(r.marathon.password, '[redacted]');
  t.equal(r.bamboo.endpoint, 'http://cb:[redacted]@lb1:8000');
  t.equal(r.bamboo.zookeeper.auth, '[redacted]');
  t.equal(c.marathon.password, 's3cret-b', 'the config itself is untouched');
  t.notOk(Object.isFrozen(r), 'a plain copy');
  t.notOk('password' in (redactConfig(load({})) as CulmConfig).marathon, 'absent stays absent');
});

t.test('the result is deep-frozen', async (t) => {
  const c = load({ file: { StatsD: {} } });
  for (const [desc, v] of Object.entries({ c, marathon: c.marathon, endpoints: c.marathon.endpoints, zk: c.bamboo.zookeeper, http: c.http, warnings: c.warnings, source: c.source })) {
    t.ok(Object.isFrozen(v), desc);
  }
  t.throws(() => { (c as { dataDir: string }).dataDir = 'x'; }, TypeError);
  t.throws(() => { (c.warnings as string[]).push('x'); }, TypeError);
});

t.test('shipped example configs load', async (t) => {
  const root = packageRoot();
  const bamboo = loadConfig({ argv: ['--config', join(root, 'config/bamboo-production.json')], env: {}, cwd: dir });
  t.match(bamboo, {
    marathon: { endpoints: ['http://marathon1:8080', 'http://marathon2:8080', 'http://marathon3:8080'], eventMode: 'sse' },
    bamboo: { endpoint: 'http://haproxy-ip-address:8000', zookeeper: { path: '/marathon-haproxy/state', reportingDelayMs: 5000 } },
    haproxy: { outputPath: '/etc/haproxy/haproxy.cfg', pidPath: '/var/run/haproxy.pid', statsSocketPath: '/etc/haproxy/haproxy.cfg.sock' },
  });
  t.equal(bamboo.warnings.length, 1, 'only the StatsD warning');
  const docker = loadConfig({ argv: [], env: { CONFIG_PATH: join(root, 'config/bamboo-production.json'), BAMBOO_DOCKER_AUTO_HOST: 'true', HOST: '10.1.2.3' }, cwd: dir });
  t.equal(docker.bamboo.endpoint, 'http://10.1.2.3:8000', 'the Docker placeholder works as in Bamboo');

  const culm = loadConfig({ argv: ['--config', join(root, 'config/culm.example.json')], env: {}, cwd: dir });
  t.same(culm.warnings, [], 'no unknown keys, no StatsD');
  t.match(culm, {
    marathon: { user: 'culm', eventMode: 'auto', sseWatchdogMs: 30000 },
    bamboo: { zookeeper: { auth: 'culm:change-me', hosts: ['zk01.example.com:2181', 'zk02.example.com:2181', 'zk03.example.com:2181'] } },
    haproxy: { pidPath: '/run/haproxy/haproxy.pid', statsSocketPath: '/run/haproxy/admin.sock', httpBind: '*:80' },
    http: { host: '', port: 8000 }, dataDir: '/var/lib/culm', logLevel: 'info',
  });
  const text = readFileSync(join(root, 'config/culm.example.json'), 'utf8');
  for (const k of CONFIG_KEYS) {
    if (k.file === undefined || k.file === 'StatsD' || k.file === 'HAProxy.TemplatePath' || k.file === 'Marathon.UseEventStream') continue;
    t.match(text, `"${k.file.split('.').pop()}"`, `culm.example.json shows ${k.file}`);
  }
});

t.test('CONFIG_KEYS and the reference table', async (t) => {
  const envs = CONFIG_KEYS.flatMap((k) => (k.env === undefined ? [] : k.env.split(', ')));
  t.equal(new Set(envs).size, envs.length, 'env names are unique');
  for (const name of ['MARATHON_ENDPOINT', 'MARATHON_USER', 'MARATHON_PASSWORD', 'MARATHON_USE_EVENT_STREAM', 'BAMBOO_ENDPOINT', 'BAMBOO_ZK_HOST',
    'BAMBOO_ZK_PATH', 'HAPROXY_TEMPLATE_PATH', 'HAPROXY_OUTPUT_PATH', 'HAPROXY_RELOAD_CMD', 'HAPROXY_RELOAD_VALIDATION_CMD',
    'HAPROXY_RELOAD_CLEANUP_CMD', 'BIND', 'CONFIG_PATH', 'BAMBOO_DOCKER_AUTO_HOST', 'HAPROXY_HTTP_BIND', 'CULM_DATA_DIR',
    'CULM_RELOAD_INTERVAL_MS', 'CULM_COMMAND_TIMEOUT_MS', 'CULM_MARATHON_TIMEOUT_MS', 'CULM_RESYNC_INTERVAL_MS', 'CULM_SETTLE_MS',
    'CULM_EVENT_MODE', 'CULM_SUBSCRIPTION_CHECK_MS', 'CULM_SSE_WATCHDOG_MS', 'CULM_LOG_LEVEL', 'HAPROXY_PID_PATH', 'HAPROXY_STATS_SOCKET', 'STATSD_HOST']) {
    t.ok(envs.includes(name), name);
  }
  t.ok(CONFIG_KEYS.every((k) => k.doc.length > 10), 'every key is documented');
  const md = configReferenceMarkdown();
  t.equal(md.trim().split('\n').length, CONFIG_KEYS.length + 2, 'one row per key');
  t.match(md, '| `HAProxy.HttpBind` | `HAPROXY_HTTP_BIND` |  | `*:80` |');
  t.match(md, '| `Culm.Bind` | `BIND` | `--bind` | `:8000` |');
});

t.test('validation limits and the pattern-file directory', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'culm-cfg-limits-'));
  const d = loadConfig({ argv: [], env: {}, cwd: dir }).haproxy;
  t.same([d.validationCpuSeconds, d.validationMemoryMiB, d.aclFilesDir], [30, 2048, ''], 'defaults: the command timeout, 2 GiB, no directory');
  t.equal(loadConfig({ argv: [], env: { CULM_COMMAND_TIMEOUT_MS: '4500' }, cwd: dir }).haproxy.validationCpuSeconds, 5, 'follows the command timeout, rounded up');
  const set = loadConfig({ argv: [], env: { CULM_VALIDATION_CPU_SECONDS: '0', CULM_VALIDATION_MEMORY_MIB: '512', CULM_ACL_FILES_DIR: 'acl/' }, cwd: dir }).haproxy;
  t.same([set.validationCpuSeconds, set.validationMemoryMiB, set.aclFilesDir], [0, 512, join(dir, 'acl')], '0 = no limit; the directory resolved against the working directory');
  t.throws(() => loadConfig({ argv: [], env: { CULM_VALIDATION_MEMORY_MIB: 'lots' }, cwd: dir }), /HAProxy\.ValidationMemoryMiB \/ CULM_VALIDATION_MEMORY_MIB: "lots" is not a whole number of MiB/);
  t.throws(() => loadConfig({ argv: [], env: { CULM_VALIDATION_CPU_SECONDS: '-1' }, cwd: dir }), /HAProxy\.ValidationCpuSeconds/);
});

t.test('which apps this edge serves: HAProxy.Group / HAPROXY_GROUP, HAProxy.StrictGroups / CULM_STRICT_GROUPS', async (t) => {
  const d = load({}).haproxy;
  t.same([d.serveGroups, d.strictGroups], [[], false], 'default: every app (Bamboo)');
  const env = load({ env: { HAPROXY_GROUP: ' external, internal ,', CULM_STRICT_GROUPS: 'true' } }).haproxy;
  t.same([env.serveGroups, env.strictGroups], [['external', 'internal'], true], 'a comma list, trimmed; strict on');
  const file = load({ file: { HAProxy: { Group: '*', StrictGroups: true } } }).haproxy;
  t.same([file.serveGroups, file.strictGroups], [['*'], true], 'from the file');
  t.same(load({ argv: ['--haproxy_group=edge'] }).haproxy.serveGroups, ['edge'], 'and as a flag');
});

t.test('service ports: HAProxy.BindServicePorts / CULM_BIND_SERVICE_PORTS, HAProxy.ServicePortBindAddress / CULM_SERVICE_PORT_BIND', async (t) => {
  const d = load({}).haproxy;
  t.same([d.bindServicePorts, d.servicePortBindAddress], [true, '*'], 'default: every service port, on every address (marathon-lb)');
  const env = load({ env: { CULM_BIND_SERVICE_PORTS: 'false', CULM_SERVICE_PORT_BIND: ' 127.0.0.1 ' } }).haproxy;
  t.same([env.bindServicePorts, env.servicePortBindAddress], [false, '127.0.0.1'], 'from env, trimmed');
  t.equal(load({ file: { HAProxy: { ServicePortBindAddress: '::1' } } }).haproxy.servicePortBindAddress, '::1', 'an IPv6 address');
});

t.test('REST access settings: parsed, checked, and every secret-kind setting redacted', async (t) => {
  const c = load({ env: { CULM_API_TOKEN: 's3cret-t', CULM_API_USERS_FILE: 'users', CULM_API_READ_AUTH: 'true', CULM_ALLOWED_HOSTS: 'LB.example.com:8000,https://culm.example.com' } });
  t.match(c.api, { token: 's3cret-t', readAuth: true, allowedHosts: ['lb.example.com:8000', 'https://culm.example.com'] });
  t.match(c.api.usersFile, /\/users$/, 'the users file is resolved against the working directory');
  t.same(load({}).api, { token: '', readAuth: false }, 'off by default; allowed hosts derived at start');
  t.notMatch(JSON.stringify(redactConfig(c)), /s3cret/, 'the API token is redacted like every secret');
  t.throws(() => load({ env: { CULM_API_READ_AUTH: 'true' } }), /CULM_API_READ_AUTH: is true but neither .*CULM_API_TOKEN nor .*CULM_API_USERS_FILE is set/);
  t.throws(() => load({ env: { CULM_ALLOWED_HOSTS: 'a b' } }), /CULM_ALLOWED_HOSTS: "a b" is not a host name or address \(from env CULM_ALLOWED_HOSTS\)/);
});
