import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** How a raw value (JSON from the file, a string from env/flags) is checked and converted. */
export type Kind =
  | 'urls' // comma-separated http(s) URLs (an array of strings is accepted in the file)
  | 'url' // one http(s) URL, or ''
  | 'text' // any string, '' allowed
  | 'secret' // like text, never echoed in messages, redacted by redactConfig
  | 'bool' // JSON boolean; env as Go's strconv.ParseBool
  | 'ms' // integer milliseconds
  | 'percent' // integer percent
  | 'seconds' // integer seconds (Bamboo's unit), stored as milliseconds
  | 'wholeSeconds' // integer seconds, stored as seconds
  | 'eventMode'
  | 'logLevel'
  | 'path' // a file: non-empty, resolved against the working directory
  | 'optionalPath' // like path, '' means "none"
  | 'dir' // a directory: non-empty, resolved against the working directory
  | 'optionalDir' // like dir, '' means "none"
  | 'mebibytes' // integer MiB
  | 'command' // non-empty shell command
  | 'optionalCommand' // shell command, '' means "run nothing"
  | 'account' // a POSIX user or group name, '' means "none"
  | 'listen' // Go-style listen address: ":8000", "127.0.0.1:8000", "[::1]:8000"
  | 'haproxyBind' // HAProxy bind address list: "*:80", ":80,:8080", "unix@/run/x.sock"
  | 'bindAddress' // `*` or an IP address a bind line takes before its port; '' means `*`
  | 'groups' // comma-separated marathon-lb group names
  | 'certPaths' // comma-separated certificate files or directories, resolved against the working directory (one HAProxy word each)
  | 'hostList' // host[:port] or origin list for the Host check (see asHostList)
  | 'zkHosts' // host[:port],… (port defaults to 2181 like go-zookeeper)
  | 'zkPath'; // absolute znode path

export interface Setting {
  /** Dotted path in the JSON file in Bamboo's spelling; matched case-insensitively like Go's encoding/json. */
  readonly file?: string;
  readonly env?: string;
  /**
   * Bamboo's flag name without dashes; `-x`, `--x`, `--x=v` and `--x v` are all accepted. Every setting with an
   * `env` also takes that name in lower case as a flag (`--marathon_endpoint`, as Dataman's Bamboo build): see flagNames.
   */
  readonly flag?: string;
  readonly kind: Kind;
  /** The lowest layer, written as an environment value would be; `derived` ones are computed after all layers. */
  readonly default: string | { readonly derived: string };
  readonly min?: number;
  readonly max?: number;
  readonly doc: string;
}

// Node's timers overflow above 2^31-1 ms and then fire after 1 ms: no duration may exceed it.
export const MAX_MS = 2_147_483_647;

/**
 * Built-in defaults, the lowest layer, one entry per setting. The `doc` string is the comment for the
 * key; it is also what `configReferenceMarkdown()` renders into the README. Keys that Bamboo did not
 * have extend the section of the thing they configure (Bamboo ignores unknown JSON fields, so a culm
 * file still loads in Bamboo); culm's process settings, which Bamboo only had as flags, live in `Culm`.
 */
export const SETTINGS = {
  'marathon.endpoints': {
    file: 'Marathon.Endpoint', env: 'MARATHON_ENDPOINT', kind: 'urls', default: 'http://localhost:8080',
    doc: 'Marathon base URLs, comma-separated; tried in order with failover. Userinfo in a URL is accepted (and redacted in logs).',
  },
  'marathon.user': {
    file: 'Marathon.User', env: 'MARATHON_USER', kind: 'text', default: '',
    doc: 'HTTP basic-auth user for Marathon.',
  },
  'marathon.password': {
    file: 'Marathon.Password', env: 'MARATHON_PASSWORD', kind: 'secret', default: '',
    doc: 'HTTP basic-auth password for Marathon. Redacted in logs.',
  },
  'marathon.useEventStream': {
    file: 'Marathon.UseEventStream', env: 'MARATHON_USE_EVENT_STREAM', kind: 'bool', default: 'false',
    doc: "Bamboo's switch: `true` means event mode `sse` unless the event mode is set explicitly; `false` leaves it at `auto`.",
  },
  'marathon.eventMode': {
    file: 'Marathon.EventMode', env: 'CULM_EVENT_MODE', kind: 'eventMode',
    default: { derived: '`auto` (`sse` when UseEventStream is true)' },
    doc: 'How Marathon events arrive: `sse` (GET /v2/events), `callback` (Marathon POSTs to Bamboo.Endpoint) or `auto`.',
  },
  'marathon.requestTimeoutMs': {
    file: 'Marathon.RequestTimeoutMs', env: 'CULM_MARATHON_TIMEOUT_MS', kind: 'ms', default: '5000', min: 1,
    doc: 'Timeout of one Marathon REST request, per endpoint, before failing over to the next.',
  },
  'marathon.resyncIntervalMs': {
    file: 'Marathon.ResyncIntervalMs', env: 'CULM_RESYNC_INTERVAL_MS', kind: 'ms', default: '60000', min: 0,
    doc: 'Periodic full resync from /v2/apps, a safety net for lost events. 0 disables it.',
  },
  'marathon.settleMs': {
    file: 'Marathon.SettleMs', env: 'CULM_SETTLE_MS', kind: 'ms', default: '250', min: 0,
    doc: 'After a burst of app-level events (deployments, app changes) goes quiet for this long, resync once.',
  },
  'marathon.subscriptionCheckMs': {
    file: 'Marathon.SubscriptionCheckMs', env: 'CULM_SUBSCRIPTION_CHECK_MS', kind: 'ms', default: '30000', min: 0,
    doc: 'In callback mode, how often to check that our callback URL is still subscribed (re-registering if not). 0 disables it.',
  },
  'marathon.sseWatchdogMs': {
    file: 'Marathon.SseWatchdogMs', env: 'CULM_SSE_WATCHDOG_MS', kind: 'ms', default: '30000', min: 0,
    doc: 'In SSE mode, reconnect when nothing at all (not even a keepalive) arrived for this long. 0 disables it.',
  },

  'bamboo.endpoint': {
    file: 'Bamboo.Endpoint', env: 'BAMBOO_ENDPOINT', kind: 'url', default: '',
    doc: "This instance's URL as Marathon reaches it, for event callbacks; required in `callback` mode. See BAMBOO_DOCKER_AUTO_HOST.",
  },
  'bamboo.zookeeper.hosts': {
    file: 'Bamboo.Zookeeper.Host', env: 'BAMBOO_ZK_HOST', kind: 'zkHosts', default: '',
    doc: 'ZooKeeper `host:port` list, comma-separated, where rules are shared with other instances (and Bamboo). Empty: rules live in the embedded store under the data directory.',
  },
  'bamboo.zookeeper.path': {
    file: 'Bamboo.Zookeeper.Path', env: 'BAMBOO_ZK_PATH', kind: 'zkPath', default: '/marathon-haproxy/state',
    doc: "Znode holding the rules (Bamboo's shipped example path); created if missing.",
  },
  'bamboo.zookeeper.reportingDelayMs': {
    file: 'Bamboo.Zookeeper.ReportingDelay', env: 'BAMBOO_ZK_REPORTING_DELAY', kind: 'seconds', default: '0', min: 0,
    doc: 'Seconds (Bamboo\'s unit) to wait before acting on a ZooKeeper change. Reloads are coalesced anyway, so 0 is fine.',
  },
  'bamboo.zookeeper.sessionTimeoutMs': {
    file: 'Bamboo.Zookeeper.SessionTimeoutMs', env: 'CULM_ZK_SESSION_TIMEOUT_MS', kind: 'ms', default: '10000', min: 1000,
    doc: 'ZooKeeper session timeout (culm addition): how long after an instance dies its registration and leadership go, so another instance takes over. ZooKeeper bounds it to 2–20 ticks.',
  },
  'bamboo.zookeeper.auth': {
    file: 'Bamboo.Zookeeper.Auth', env: 'BAMBOO_ZK_AUTH', kind: 'secret', default: '',
    doc: 'ZooKeeper digest credentials `user:password` (culm addition). Redacted in logs.',
  },

  'marathon.callbackToken': {
    file: 'Marathon.CallbackToken', env: 'CULM_CALLBACK_TOKEN', kind: 'secret', default: '',
    doc: 'The secret added to the callback URL culm registers (`?token=…`). Only event POSTs carrying it are applied; any other POST is a hint: answered 200, it makes culm re-read the app it names from Marathon (rate-limited), so nobody else can feed culm fake task events. Empty: culm makes a random one (256 bits) once and keeps it in `<dataDir>/callback-token` (mode 0600; each instance its own). Redacted in logs.',
  },

  'haproxy.templatePath': {
    file: 'HAProxy.TemplatePath', env: 'HAPROXY_TEMPLATE_PATH', kind: 'path',
    default: { derived: '`<package>/templates/haproxy.cfg.eta`' },
    doc: 'The Eta template rendered into the HAProxy configuration.',
  },
  'haproxy.outputPath': {
    file: 'HAProxy.OutputPath', env: 'HAPROXY_OUTPUT_PATH', kind: 'path',
    // Bamboo users set /etc/haproxy/haproxy.cfg explicitly; the default must work unprivileged.
    default: { derived: '`<dataDir>/haproxy.cfg`' },
    doc: 'Where the rendered configuration is written (atomically). Bamboo deployments use `/etc/haproxy/haproxy.cfg`.',
  },
  'haproxy.reloadCommand': {
    file: 'HAProxy.ReloadCommand', env: 'HAPROXY_RELOAD_CMD', kind: 'command',
    // `2>/dev/null` and an empty `-sf` make the first start work: haproxy accepts `-sf` with no pid. `-x` is
    // left out while no live process holds the socket (first start, restart after kill -9): haproxy exits 1.
    default: { derived: '`haproxy -f <OutputPath> -p <PidPath> -D -x <StatsSocketPath> -sf $(cat <PidPath> 2>/dev/null)`, `-x` only while the process in <PidPath> is alive and the socket exists (else, or if refused, without it)' },
    doc: 'Shell command that (re)starts HAProxy on the written configuration.',
  },
  'haproxy.validationCommand': {
    file: 'HAProxy.ReloadValidationCommand', env: 'HAPROXY_RELOAD_VALIDATION_CMD', kind: 'optionalCommand',
    default: 'haproxy -c -f {{.}}',
    doc: "Shell command that checks a candidate configuration before it is put in place; `{{.}}` is replaced by the candidate's path (Bamboo's convention). Empty skips the check.",
  },
  'haproxy.cleanupCommand': {
    file: 'HAProxy.ReloadCleanupCommand', env: 'HAPROXY_RELOAD_CLEANUP_CMD', kind: 'optionalCommand', default: 'exit 0',
    doc: 'Shell command run after every reload attempt, successful or not.',
  },
  'haproxy.httpBind': {
    file: 'HAProxy.HttpBind', env: 'HAPROXY_HTTP_BIND', kind: 'haproxyBind', default: '*:80',
    doc: "The default template's HTTP frontend `bind` address(es), HAProxy syntax, comma-separated.",
  },
  'haproxy.sslCerts': {
    file: 'HAProxy.SslCerts', env: 'HAPROXY_SSL_CERTS', kind: 'certPaths', default: '',
    doc: "Certificates of an HTTPS frontend with the same routing as the HTTP one (marathon-lb's `--ssl-certs`): PEM files (certificate and key) or directories of them, comma-separated; the first is the default certificate, SNI chooses among them and the apps' `HAPROXY_{n}_SSL_CERT` files. Each must be readable at start (else an error naming this key). Empty: no HTTPS frontend, and `HAPROXY_{n}_SSL_CERT` is not used.",
  },
  'haproxy.httpsBind': {
    file: 'HAProxy.HttpsBind', env: 'HAPROXY_HTTPS_BIND', kind: 'haproxyBind', default: '*:443',
    doc: "With `HAProxy.SslCerts`: the HTTPS frontend's `bind` address(es), HAProxy syntax, comma-separated.",
  },
  'haproxy.pidPath': {
    file: 'HAProxy.PidPath', env: 'HAPROXY_PID_PATH', kind: 'path',
    // Beside the output path, so two instances with different outputs never share one.
    default: { derived: '`<OutputPath>.pid`, or the `-p` path of a configured ReloadCommand' },
    doc: 'HAProxy pid file.',
  },
  'haproxy.statsSocketPath': {
    file: 'HAProxy.StatsSocket', env: 'HAPROXY_STATS_SOCKET', kind: 'path',
    default: { derived: '`<OutputPath>.sock`' },
    doc: 'HAProxy runtime API socket (at most 107 bytes, a Unix socket limit).',
  },
  'haproxy.user': {
    file: 'HAProxy.User', env: 'HAPROXY_USER', kind: 'account',
    default: { derived: '`haproxy` when culm runs as root and that user exists (Debian\'s package makes it), else empty' },
    doc: "The user HAProxy runs as once it has bound its ports and opened its socket (the default template's `user`): a process started as root drops root, so even a config injection would not run as root. Empty: HAProxy keeps culm's user.",
  },
  'haproxy.group': {
    // Not HAPROXY_GROUP: that is marathon-lb's name for the apps an edge serves.
    file: 'HAProxy.UserGroup', env: 'HAPROXY_USER_GROUP', kind: 'account',
    default: { derived: 'the user\'s name' },
    doc: 'The group HAProxy runs as with `HAProxy.User` (the default template\'s `group`).',
  },
  'haproxy.serveGroups': {
    file: 'HAProxy.Group', env: 'HAPROXY_GROUP', kind: 'groups', default: '',
    doc: "Which apps this edge serves, by marathon-lb's group labels (its `--group`): a comma list; an app (or one of its ports, `HAPROXY_{n}_GROUP`) whose `HAPROXY_GROUP` label names one of them is served, `*` serves every app. Apps without the label are served unless `HAProxy.StrictGroups` is on. Empty: every app, whatever its labels (Bamboo's behaviour). A left-out app has no backend; `/api/state` says why (`NotServed`).",
  },
  'haproxy.strictGroups': {
    file: 'HAProxy.StrictGroups', env: 'CULM_STRICT_GROUPS', kind: 'bool', default: 'false',
    doc: "With `HAProxy.Group`: serve only apps whose group label matches, as marathon-lb does (apps without `HAPROXY_GROUP` are left out). `false`: apps without the label are served too. Needs `HAProxy.Group`.",
  },
  'haproxy.labelRouting': {
    file: 'HAProxy.LabelRouting', env: 'CULM_LABEL_ROUTING', kind: 'bool', default: 'true',
    doc: "Route apps by marathon-lb's `HAPROXY_{n}_VHOST`, `_PATH` and `_REDIRECT_TO_HTTPS` labels (a REST rule still wins). `false`: Bamboo's routing whatever the labels (the rule, else `path_beg -i <id>`): for a cluster whose apps carry marathon-lb labels for another edge, so culm routes them exactly as Bamboo did. Groups, modes and service ports are not affected.",
  },
  'haproxy.bindServicePorts': {
    file: 'HAProxy.BindServicePorts', env: 'CULM_BIND_SERVICE_PORTS', kind: 'bool', default: 'true',
    doc: "Give every service port of every served app a frontend of its own, as marathon-lb does: `bind <ServicePortBindAddress>:<service port>` (or `HAPROXY_{n}_BIND_ADDR`, with `ssl crt <file>` for `HAPROXY_{n}_SSL_CERT`), `mode tcp` for `HAPROXY_{n}_MODE=tcp`, else `mode http`, to the backend of that port. A service port another app (first by app id) or HTTP bind already uses on the same address (or any, for `*`) is left out (log line, `culm_apps_skipped_total{reason=\"port clash\"}`, `/api/state` `NotServed`). `false`: only the HTTP frontend (Bamboo's behaviour); the labels only a port's own frontend reads, `HAPROXY_{n}_MODE`, `_BIND_ADDR`, `_BIND_OPTIONS`, `_FRONTEND_HEAD` and `_FRONTEND_BACKEND_GLUE`, are then ignored, a bad value too (it leaves nothing out). Bamboo's `BAMBOO_TCP_PORT` app env is honoured either way.",
  },
  'haproxy.trustLabelConfig': {
    file: 'HAProxy.TrustLabelConfig', env: 'CULM_TRUST_LABEL_CONFIG', kind: 'bool', default: 'false',
    doc: "Write the raw HAProxy lines of marathon-lb's labels `HAPROXY_{n}_BACKEND_HEAD`, `_BACKEND_HTTP_OPTIONS`, `_BACKEND_HSTS_OPTIONS`, `_FRONTEND_HEAD`, `_FRONTEND_BACKEND_GLUE` and `_BIND_OPTIONS` (words of the `bind` line) into the app's own backend and service-port frontend. A trust decision: whoever can label an app in Marathon then writes directives into this shared edge (headers, ACLs, servers, anything a backend or frontend section takes). A line that would open a section is refused (its port left out); lines HAProxy refuses leave the app out. `false`: such labels are ignored, one log line per app.",
  },
  'haproxy.servicePortBindAddress': {
    file: 'HAProxy.ServicePortBindAddress', env: 'CULM_SERVICE_PORT_BIND', kind: 'bindAddress', default: '*',
    doc: 'The address the service-port frontends (and `BAMBOO_TCP_PORT`) bind: `*` (all), an IPv4 or an IPv6 address. An app\'s `HAPROXY_{n}_BIND_ADDR` label binds its port n elsewhere.',
  },
  'haproxy.commandTimeoutMs': {
    file: 'HAProxy.CommandTimeoutMs', env: 'CULM_COMMAND_TIMEOUT_MS', kind: 'ms', default: '30000', min: 1,
    doc: 'Timeout for each validation, reload and cleanup command. An apply whose validation stops at it (or at `ValidationCpuSeconds`) with app certificates in the config looks for the ones it stalls on (it starts no check after 4 times this, not a hard cap: the check begun last may take one more timeout) and leaves them out for a while (see TLS and SNI). A command that does not end at its kill (a process stuck on a hung mount) is given up on 2 s after it, and may be left behind (stuck in the kernel).',
  },
  'haproxy.validationCpuSeconds': {
    file: 'HAProxy.ValidationCpuSeconds', env: 'CULM_VALIDATION_CPU_SECONDS', kind: 'wholeSeconds', min: 0,
    // A rule's pattern file (or a huge config) must not keep a core busy: soft RLIMIT_CPU, so HAProxy gets SIGXCPU.
    default: { derived: '`CommandTimeoutMs` in whole seconds (`30`)' },
    doc: 'CPU time one validation command (`haproxy -c`) may use (`ulimit -S -t` in its shell); past it the check is stopped and reported (a rule: 400 `E_RULE_ACL_LIMIT`). 0: no limit. Validations run one at a time.',
  },
  'haproxy.validationMemoryMiB': {
    file: 'HAProxy.ValidationMemoryMiB', env: 'CULM_VALIDATION_MEMORY_MIB', kind: 'mebibytes', default: '2048', min: 0,
    // Measured: `haproxy -c` of a 10,000-app config stays far below it (see BENCHMARKS.md); /dev/urandom as a
    // pattern file grew one by ~280 MB/s before this limit existed.
    doc: 'Address space one validation command may use, in MiB (`ulimit -S -v`); an allocation past it fails the check. 0: no limit.',
  },
  'haproxy.aclFilesDir': {
    file: 'HAProxy.AclFilesDir', env: 'CULM_ACL_FILES_DIR', kind: 'optionalDir', default: '',
    doc: "The only directory a rule's ACL may load pattern files from (`-f <file>`, `-M`): absolute paths inside it, regular files, symlinks resolved at the check. Empty: rules may not use pattern files.",
  },
  'haproxy.runtimeApi': {
    file: 'HAProxy.RuntimeApi', env: 'CULM_RUNTIME_API', kind: 'bool', default: 'true',
    doc: 'Apply changes that only add, remove or re-address servers of existing backends through the stats socket (HAProxy runtime API), without a reload; the file on disk is still rewritten. Falls back to a reload when a runtime command fails. `false`: always reload.',
  },
  'haproxy.reloadIntervalMs': {
    file: 'HAProxy.ReloadIntervalMs', env: 'CULM_RELOAD_INTERVAL_MS', kind: 'ms', default: '1000', min: 0,
    // Every -sf reload leaves old processes draining; more than one a second buys nothing.
    doc: 'Minimum time between two reloads (a bound on the rate, not a delay: a change goes at once when no reload ran within it); changes arriving meanwhile are coalesced into the next one.',
  },
  'haproxy.stopOnExit': {
    file: 'HAProxy.StopOnExit', env: 'CULM_HAPROXY_STOP_ON_EXIT', kind: 'bool', default: 'false',
    // A host (Bamboo's layout) keeps HAProxy serving across a culm restart; a container's HAProxy dies with it,
    // so it had better finish its requests first.
    doc: "On SIGTERM/SIGINT, also stop HAProxy gracefully: every process of its config (the current one and old ones still draining after reloads) gets SIGUSR1 (listeners closed, requests in flight finish), SIGTERM/SIGKILL after `HAProxy.StopGraceMs`; then culm exits 0. `false`: HAProxy keeps serving after culm stops (a host). The image sets `true`.",
  },
  'haproxy.stopGraceMs': {
    file: 'HAProxy.StopGraceMs', env: 'CULM_HAPROXY_STOP_GRACE_MS', kind: 'ms', default: '8000', min: 0, max: 25_000,
    // Docker's `stop` waits 10 s before SIGKILL; Marathon's taskKillGracePeriodSeconds becomes `docker stop --time`.
    doc: "With `HAProxy.StopOnExit`: how long requests in flight may take to finish after SIGTERM before the remaining HAProxy processes are killed. Keep it under the orchestrator's kill timeout (Docker: `stop -t`, 10 s by default; Marathon: the app's `taskKillGracePeriodSeconds`, set it to at least this + 2 s).",
  },
  'haproxy.log': {
    file: 'HAProxy.Log', env: 'CULM_HAPROXY_LOG', kind: 'bool', default: 'false',
    doc: "HAProxy's own messages (processes stopping after a reload or a stop, server state changes, alerts) on culm's stdout, one JSON line each with `\"source\":\"haproxy\"`: culm receives HAProxy's syslog on 127.0.0.1 (a UDP port of its own; the default template's `log` line, `it.HAProxy.LogTarget` in a template), and logs the stderr of reload commands. The image sets `true`.",
  },
  'haproxy.requestLog': {
    file: 'HAProxy.RequestLog', env: 'CULM_HAPROXY_REQUEST_LOG', kind: 'bool', default: 'false',
    doc: "With `HAProxy.Log`: also one line per HTTP request (`option httplog`). A flood beyond what culm can write is dropped and counted (`culm_haproxy_log_dropped_total`), never queued without bound.",
  },

  'http.bind': {
    file: 'Culm.Bind', env: 'BIND', flag: 'bind', kind: 'listen', default: ':8000',
    doc: 'REST API / UI listen address, Go style: `:8000` (all interfaces), `127.0.0.1:8000`, `[::1]:8000`.',
  },
  'api.token': {
    file: 'Culm.ApiToken', env: 'CULM_API_TOKEN', kind: 'secret', default: '',
    doc: 'A bearer token for REST writes: `Authorization: Bearer <token>`; a write without it (or a listed user) is 401. Empty (and no users file): writes are open, as in Bamboo. Redacted in logs.',
  },
  'api.usersFile': {
    file: 'Culm.ApiUsersFile', env: 'CULM_API_USERS_FILE', kind: 'optionalPath', default: '',
    doc: 'A file of basic-auth users for REST writes, one `user:hash` a line (`#` comments); make a hash with `node dist/main.js hash-password` (scrypt). Read at start.',
  },
  'api.readAuth': {
    file: 'Culm.ApiReadAuth', env: 'CULM_API_READ_AUTH', kind: 'bool', default: 'false',
    doc: 'Also require the token or a user for reads (GET of /api/*, /metrics, the UI). `/healthz`, `/readyz` and `/status` always stay open for probes.',
  },
  'api.allowedHosts': {
    file: 'Culm.AllowedHosts', env: 'CULM_ALLOWED_HOSTS', kind: 'hostList',
    default: { derived: 'the bind address, `localhost`, `127.0.0.1`, `[::1]`, this host\'s names and interface addresses, the host of Bamboo.Endpoint' },
    doc: 'Host names (optionally `:port`) a write may name in its `Host` header, comma-separated; any other is 403 (stops DNS rebinding). An entry with a scheme (`https://culm.example`) also allows that exact browser Origin (a TLS proxy in front). `*` turns the check off.',
  },
  'dataDir': {
    file: 'Culm.DataDir', env: 'CULM_DATA_DIR', kind: 'dir', default: './data',
    doc: 'Directory of the embedded store (rules when no ZooKeeper is configured, last-good configuration).',
  },
  'heapGrowingPercent': {
    file: 'Culm.HeapGrowingPercent', env: 'CULM_HEAP_GROWING_PERCENT', kind: 'percent', default: '50', max: 400,
    // Why: culm holds a large, stable model (≈90 MB at 10,000 apps / 100,000 tasks) and makes bursts of
    // short-lived garbage on each resync; V8's own growth lets the heap reach several times the live size
    // between collections (peak RSS ~700 MB at that scale), 1.5× keeps it near 400 MB at the same speed.
    doc: "How far Node's heap may grow past what was live at the last full collection before the next one, in percent (V8's `--heap-growing-percent`, set at start). Lower: less memory, more GC CPU. `0`: V8's own policy (grows up to 4×).",
  },
  'logLevel': {
    file: 'Culm.LogLevel', env: 'CULM_LOG_LEVEL', kind: 'logLevel', default: 'info',
    doc: 'One of fatal, error, warn, info, debug, trace, silent.',
  },
  'logFile': {
    file: 'Culm.LogFile', env: 'CULM_LOG_FILE', flag: 'log', kind: 'optionalPath', default: '',
    doc: "Also write logs to this file (Bamboo's `-log`). Empty: stdout only.",
  },
} as const satisfies Record<string, Setting>;

export type SettingId = keyof typeof SETTINGS;

/** The flags a setting answers to: its own `flag` (Bamboo's -bind, -log) and its environment name in lower case. */
export function flagNames(s: Setting): string[] {
  const names = [s.flag, s.env?.toLowerCase()].filter((n): n is string => n !== undefined);
  return [...new Set(names)];
}

/** Rows for things that are not settings themselves but belong in the reference table. */
export const EXTRA_KEYS = [
  {
    key: 'config', env: 'CONFIG_PATH', flag: 'config', default: '',
    doc: "JSON configuration file in Bamboo's format. No file: defaults and environment only. A missing or invalid file is an error.",
  },
  {
    key: 'config (from flags)', flag: 'config_from_flags', default: 'false',
    doc: "As Dataman's Bamboo build: read no config file (CONFIG_PATH is ignored); flags, environment and defaults only.",
  },
  {
    key: 'haproxy check', flag: 'haproxy_check', default: 'true',
    doc: "Dataman's switch for checking each candidate configuration with HAProxy before it is put in place. Accepted; culm always checks with `HAProxy.ReloadValidationCommand` (`-haproxy_check=false` only warns; an empty HAPROXY_RELOAD_VALIDATION_CMD skips the check).",
  },
  {
    key: 'bamboo.endpoint (docker)', env: 'BAMBOO_DOCKER_AUTO_HOST', default: '',
    doc: "Any non-empty value: as Bamboo's Docker run.sh, Bamboo.Endpoint becomes `http://$HOST:<BIND port>` (`:8000` in the image) when no layer sets it or it is the placeholder `http://haproxy-ip-address:8000`. Without HOST (a plain `docker run`): the container's own address, the first non-loopback IPv4 interface, else the host name, logged at start; finding none is an error only in `callback` mode. BAMBOO_ENDPOINT (or `--bamboo_endpoint`) still wins.",
  },
  {
    key: 'statsd', file: 'StatsD', env: 'STATSD_ENABLED, STATSD_HOST, STATSD_PREFIX', default: '',
    doc: 'Accepted for compatibility and ignored with one warning: culm exports Prometheus metrics at /metrics.',
  },
] as const;

/** The placeholder Bamboo's Docker image rewrote when BAMBOO_DOCKER_AUTO_HOST was set. */
export const DOCKER_ENDPOINT_PLACEHOLDER = 'http://haproxy-ip-address:8000';

/** The directory holding culm's package.json, found from this module's location (works from src/ and dist/). */
export function packageRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (let dir = here; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return join(here, '..', '..');
  }
}

export function defaultTemplatePath(): string {
  return join(packageRoot(), 'templates', 'haproxy.cfg.eta');
}
