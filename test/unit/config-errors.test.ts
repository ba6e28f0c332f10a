import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadConfig } from '../../src/config/index.js';

const dir = mkdtempSync(join(tmpdir(), 'culm-cfg-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

interface Input { file?: unknown; env?: Record<string, string>; argv?: string[] }
let n = 0;
function attempt(c: Input): { code?: string; message: string } {
  const argv = [...(c.argv ?? [])];
  if (c.file !== undefined) {
    const path = join(dir, `c${++n}.json`);
    writeFileSync(path, typeof c.file === 'string' ? c.file : JSON.stringify(c.file));
    argv.unshift('--config', path);
  }
  try {
    loadConfig({ argv, env: c.env ?? {}, cwd: dir });
  } catch (err) {
    return err as { code?: string; message: string };
  }
  return { code: 'NO_ERROR', message: '' };
}

t.test('each bad value is E_CONFIG naming the key (file key and env) and what is wrong', async (t) => {
  const cases: Array<Input & { desc: string; want: RegExp }> = [
    { desc: 'non-URL endpoint', env: { MARATHON_ENDPOINT: 'marathon1' }, want: /^config Marathon\.Endpoint \/ MARATHON_ENDPOINT: "marathon1" is not a URL.*\(from env MARATHON_ENDPOINT\)$/ },
    { desc: 'non-http endpoint', env: { MARATHON_ENDPOINT: 'http://ok:1,ftp://m:21' }, want: /Marathon\.Endpoint \/ MARATHON_ENDPOINT: "ftp:\/\/m:21" is not an http\(s\) URL/ },
    { desc: 'no endpoint at all', env: { MARATHON_ENDPOINT: ' , ' }, want: /Marathon\.Endpoint \/ MARATHON_ENDPOINT: must name at least one/ },
    { desc: 'endpoint of the wrong JSON type', file: { Marathon: { Endpoint: 8080 } }, want: /Marathon\.Endpoint \/ MARATHON_ENDPOINT: must be a string, got a number \(from file .*\.json\)/ },
    { desc: 'endpoint with a query', env: { MARATHON_ENDPOINT: 'http://m:1/?x=1' }, want: /must not carry a query/ },
    { desc: 'bad Bamboo endpoint', env: { BAMBOO_ENDPOINT: 'lb1:8000' }, want: /Bamboo\.Endpoint \/ BAMBOO_ENDPOINT: "lb1:8000" is not an http\(s\) URL/ },
    { desc: 'callback mode without endpoint', env: { CULM_EVENT_MODE: 'callback' }, want: /Bamboo\.Endpoint \/ BAMBOO_ENDPOINT: required when the event mode \(Marathon\.EventMode \/ CULM_EVENT_MODE\) is callback/ },
    { desc: 'bind without port', env: { BIND: 'localhost' }, want: /Culm\.Bind \/ BIND \/ --bind: "localhost" has no port/ },
    { desc: 'bind port out of range', argv: ['--bind', ':70000'], want: /Culm\.Bind \/ BIND \/ --bind: ":70000": port 70000 is out of range \(from flag --bind\)/ },
    { desc: 'bind IPv6 without brackets', env: { BIND: '::1:8000' }, want: /BIND.*brackets/ },
    { desc: 'bind garbage host', env: { BIND: 'a b:80' }, want: /BIND.*"a b" is not a host name/ },
    { desc: 'empty bind flag', argv: ['--bind='], want: /Culm\.Bind \/ BIND \/ --bind: must not be empty/ },
    { desc: 'strict groups without a group', env: { CULM_STRICT_GROUPS: 'true' }, want: /^config HAProxy\.StrictGroups \/ CULM_STRICT_GROUPS: is true but HAProxy\.Group \/ HAPROXY_GROUP names no group: no app would be served \(from env CULM_STRICT_GROUPS\)$/ },
    { desc: 'service-port bind address with a port', env: { CULM_SERVICE_PORT_BIND: '127.0.0.1:80' }, want: /HAProxy\.ServicePortBindAddress \/ CULM_SERVICE_PORT_BIND: "127\.0\.0\.1:80" is not \* or an IP address/ },
    { desc: 'service-port bind address a host name', env: { CULM_SERVICE_PORT_BIND: 'lb.example.com' }, want: /CULM_SERVICE_PORT_BIND: "lb\.example\.com" is not \* or an IP address/ },
    { desc: 'a group with a space', env: { HAPROXY_GROUP: 'external,in ternal' }, want: /HAProxy\.Group \/ HAPROXY_GROUP: group "in ternal" is not a group name/ },
    { desc: 'number not a number', env: { CULM_RELOAD_INTERVAL_MS: 'soon' }, want: /HAProxy\.ReloadIntervalMs \/ CULM_RELOAD_INTERVAL_MS: "soon" is not a whole number of milliseconds/ },
    { desc: 'fractional number in file', file: { HAProxy: { CommandTimeoutMs: 1.5 } }, want: /HAProxy\.CommandTimeoutMs \/ CULM_COMMAND_TIMEOUT_MS: 1\.5 is not a whole number/ },
    { desc: 'number below minimum', env: { CULM_MARATHON_TIMEOUT_MS: '0' }, want: /Marathon\.RequestTimeoutMs \/ CULM_MARATHON_TIMEOUT_MS: 0 is below the minimum of 1/ },
    { desc: 'negative number', env: { CULM_SETTLE_MS: '-5' }, want: /Marathon\.SettleMs \/ CULM_SETTLE_MS: -5 is below the minimum of 0/ },
    { desc: 'heap growth out of range', env: { CULM_HEAP_GROWING_PERCENT: '500' }, want: /Culm\.HeapGrowingPercent \/ CULM_HEAP_GROWING_PERCENT: 500 is above the maximum of 400 percent/ },
    { desc: 'heap growth negative', env: { CULM_HEAP_GROWING_PERCENT: '-1' }, want: /CULM_HEAP_GROWING_PERCENT: -1 is below the minimum of 0 percent/ },
    { desc: 'timer overflow', env: { CULM_RESYNC_INTERVAL_MS: '99999999999' }, want: /CULM_RESYNC_INTERVAL_MS: 99999999999 is above the maximum of 2147483647/ },
    { desc: 'bad seconds', file: { Bamboo: { Zookeeper: { ReportingDelay: '5s' } } }, want: /Bamboo\.Zookeeper\.ReportingDelay \/ BAMBOO_ZK_REPORTING_DELAY: "5s" is not a whole number of seconds/ },
    { desc: 'unknown event mode', env: { CULM_EVENT_MODE: 'poll' }, want: /Marathon\.EventMode \/ CULM_EVENT_MODE: "poll" is not one of auto, callback, sse/ },
    { desc: 'bad boolean', env: { MARATHON_USE_EVENT_STREAM: 'yes' }, want: /Marathon\.UseEventStream \/ MARATHON_USE_EVENT_STREAM: "yes" is not a boolean/ },
    { desc: 'boolean of the wrong JSON type', file: { Marathon: { UseEventStream: 'true' } }, want: /NO_ERROR/ },
    { desc: 'bad log level', env: { CULM_LOG_LEVEL: 'verbose' }, want: /Culm\.LogLevel \/ CULM_LOG_LEVEL: "verbose" is not one of fatal, error/ },
    { desc: 'empty output path', file: { HAProxy: { OutputPath: '' } }, want: /HAProxy\.OutputPath \/ HAPROXY_OUTPUT_PATH: must not be empty \(from file / },
    { desc: 'output path is a directory', env: { HAPROXY_OUTPUT_PATH: '/etc/haproxy/' }, want: /HAProxy\.OutputPath \/ HAPROXY_OUTPUT_PATH: "\/etc\/haproxy\/" must name a file, not a directory/ },
    { desc: 'output over the template', env: { HAPROXY_OUTPUT_PATH: 't.eta', HAPROXY_TEMPLATE_PATH: 't.eta' }, want: /HAPROXY_OUTPUT_PATH: is the template path/ },
    { desc: 'empty template path', file: { HAProxy: { TemplatePath: ' ' } }, want: /HAProxy\.TemplatePath \/ HAPROXY_TEMPLATE_PATH: must not be empty/ },
    { desc: 'empty reload command', file: { HAProxy: { ReloadCommand: '' } }, want: /HAProxy\.ReloadCommand \/ HAPROXY_RELOAD_CMD: must not be empty/ },
    { desc: 'socket path too long', env: { HAPROXY_OUTPUT_PATH: `/${'x'.repeat(120)}/h.cfg` }, want: /HAProxy\.StatsSocket \/ HAPROXY_STATS_SOCKET: .* longer than 107 bytes/ },
    { desc: 'HAProxy bind with options', env: { HAPROXY_HTTP_BIND: '*:443 ssl crt /x.pem' }, want: /HAProxy\.HttpBind \/ HAPROXY_HTTP_BIND: .*without spaces or options/ },
    { desc: 'HAProxy bind without port', env: { HAPROXY_HTTP_BIND: 'example.com' }, want: /HAPROXY_HTTP_BIND: "example\.com" is not a HAProxy bind address/ },
    { desc: 'HAProxy bind port 0', env: { HAPROXY_HTTP_BIND: '*:0' }, want: /HAPROXY_HTTP_BIND: "\*:0": port 0 is out of range/ },
    { desc: 'ZooKeeper URL', env: { BAMBOO_ZK_HOST: 'zk://zk1:2181/mesos' }, want: /Bamboo\.Zookeeper\.Host \/ BAMBOO_ZK_HOST: "zk:\/\/zk1:2181\/mesos": use host:port/ },
    { desc: 'ZooKeeper bad port', env: { BAMBOO_ZK_HOST: 'zk1:x' }, want: /BAMBOO_ZK_HOST: "zk1:x" has no valid port/ },
    { desc: 'relative znode', env: { BAMBOO_ZK_PATH: 'bamboo' }, want: /Bamboo\.Zookeeper\.Path \/ BAMBOO_ZK_PATH: "bamboo" is not an absolute znode path/ },
    { desc: 'znode trailing slash', env: { BAMBOO_ZK_PATH: '/bamboo/' }, want: /BAMBOO_ZK_PATH: "\/bamboo\/" is not an absolute znode path/ },
    { desc: 'section not an object', file: { HAProxy: 'x' }, want: /^config HAProxy: must be a JSON object, got a string \(from file / },
  ];
  for (const c of cases) {
    const err = attempt(c);
    if (c.want.source === 'NO_ERROR') {
      t.equal(err.code, 'NO_ERROR', `${c.desc}: accepted`);
      continue;
    }
    t.equal(err.code, 'E_CONFIG', `${c.desc}: code`);
    t.match(err.message, c.want, `${c.desc}: message`);
    t.notMatch(err.message, /\n/, `${c.desc}: one line`);
  }
});

t.test('secrets never appear in messages', async (t) => {
  const zk = attempt({ env: { BAMBOO_ZK_AUTH: 'hunter2-no-colon' } });
  t.equal(zk.code, 'E_CONFIG');
  t.match(zk.message, /Bamboo\.Zookeeper\.Auth \/ BAMBOO_ZK_AUTH: must be digest credentials user:password/);
  t.notMatch(zk.message, /hunter2/);
  const url = attempt({ env: { MARATHON_ENDPOINT: 'ftp://admin:hunter2@m:21' } });
  t.match(url.message, /"ftp:\/\/admin:\[redacted\]@m:21"/);
  t.notMatch(url.message, /hunter2/);
});

t.test('config file problems are clear errors', async (t) => {
  mkdirSync(join(dir, 'adir'));
  writeFileSync(join(dir, 'locked.json'), '{}');
  chmodSync(join(dir, 'locked.json'), 0o000);
  const cases: Array<Input & { desc: string; want: RegExp }> = [
    { desc: 'missing (flag)', argv: ['--config', 'nope.json'], want: /^config file .*nope\.json \(from flag --config\) does not exist$/ },
    { desc: 'missing (env)', env: { CONFIG_PATH: '/nonexistent/bamboo.json' }, want: /^config file \/nonexistent\/bamboo\.json \(from env CONFIG_PATH\) does not exist$/ },
    { desc: 'a directory', argv: ['-config=adir'], want: /adir \(from flag --config\) is a directory/ },
    { desc: 'invalid JSON', file: '{ "Marathon": { "Endpoint": "http://m:1", } }', want: /^config file .*\.json is not valid JSON: / },
    { desc: 'empty file', file: '', want: /is not valid JSON/ },
    { desc: 'not an object', file: '["Marathon"]', want: /must hold a JSON object/ },
    { desc: 'empty path', argv: ['--config='], want: /config file path from flag --config is empty/ },
  ];
  if (process.getuid?.() !== 0) cases.push({ desc: 'unreadable', argv: ['--config', 'locked.json'], want: /locked\.json \(from flag --config\) cannot be read/ });
  for (const c of cases) {
    const err = attempt(c);
    t.equal(err.code, 'E_CONFIG', `${c.desc}: code`);
    t.match(err.message, c.want, `${c.desc}: message`);
    t.notMatch(err.message, /\n/, `${c.desc}: one line`);
  }
  t.equal(attempt({ file: '\uFEFF{}' }).code, 'NO_ERROR', 'a UTF-8 BOM is tolerated');
});

t.test('bad command lines', async (t) => {
  const cases = [
    { desc: 'unknown flag', argv: ['--marathon', 'x'], want: /^unknown flag "--marathon" \(flags: --config, --config_from_flags, --haproxy_check, --bind, --log, and every setting's environment name in lower case, e\.g\. --marathon_endpoint; see the README, "Configuration"\)$/ },
    { desc: 'unknown Go-style flag', argv: ['-marathon_endpoints=http://m:1'], want: /^unknown flag "-marathon_endpoints" / },
    { desc: 'a boolean takes its value only with =', argv: ['-marathon_use_event_stream', 'false'], want: /unexpected argument "false"/ },
    { desc: 'bad boolean flag', argv: ['-haproxy_check=maybe'], want: /^flag --haproxy_check: "maybe" is not a boolean/ },
    { desc: 'bad boolean setting flag', argv: ['--culm_runtime_api=yes'], want: /HAProxy\.RuntimeApi \/ CULM_RUNTIME_API: "yes" is not a boolean .*\(from flag --culm_runtime_api\)/ },
    { desc: 'config file and config_from_flags', argv: ['-config', 'x.json', '-config_from_flags'], want: /^--config and --config_from_flags contradict each other/ },
    { desc: 'missing value', argv: ['--bind'], want: /flag needs an argument: --bind/ },
    { desc: 'positional', argv: ['serve'], want: /unexpected argument "serve"/ },
    { desc: 'after --', argv: ['--', 'x'], want: /unexpected argument "x"/ },
    { desc: 'triple dash', argv: ['---bind', ':1'], want: /unexpected argument "---bind"/ },
  ];
  for (const c of cases) {
    const err = attempt(c);
    t.equal(err.code, 'E_CONFIG', `${c.desc}: code`);
    t.match(err.message, c.want, `${c.desc}: message`);
  }
});
