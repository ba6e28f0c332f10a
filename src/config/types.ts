import type { LogLevel } from '../log/logger.js';

export type EventMode = 'auto' | 'callback' | 'sse';

/**
 * The validated, deep-frozen configuration. Paths are absolute (resolved against the working
 * directory, as Bamboo resolved them). Durations are milliseconds.
 */
export interface CulmConfig {
  readonly marathon: {
    /** Base URLs as configured (userinfo kept, trailing slash removed); the Marathon client lifts credentials. */
    readonly endpoints: readonly string[];
    readonly user?: string;
    readonly password?: string;
    readonly eventMode: EventMode;
    readonly requestTimeoutMs: number;
    /** 0 disables the periodic full resync. */
    readonly resyncIntervalMs: number;
    readonly settleMs: number;
    /** 0 disables the callback-subscription check. */
    readonly subscriptionCheckMs: number;
    /** 0 disables the SSE watchdog. */
    readonly sseWatchdogMs: number;
    /** Secret added to the registered callback URL; '' for none. */
    readonly callbackToken: string;
  };
  readonly bamboo: {
    /** The URL Marathon calls back (Bamboo.Endpoint); '' when not configured. */
    readonly endpoint: string;
    readonly zookeeper: {
      /** host:port list; empty means "no ZooKeeper": rules live in the embedded store under dataDir. */
      readonly hosts: readonly string[];
      readonly path: string;
      readonly reportingDelayMs: number;
      /** ZooKeeper session timeout: how fast a dead instance's nodes (and leadership) go. */
      readonly sessionTimeoutMs: number;
      /** ZooKeeper digest credentials "user:password". */
      readonly auth?: string;
    };
  };
  readonly haproxy: {
    readonly templatePath: string;
    readonly outputPath: string;
    readonly reloadCommand: string;
    /** Raw, with Bamboo's `{{.}}` placeholder for the candidate file; '' skips validation. */
    readonly validationCommand: string;
    /** '' runs nothing. */
    readonly cleanupCommand: string;
    readonly httpBind: string;
    /** HAProxy.SslCerts: absolute paths of certificate files or directories, checked readable at start; empty: no HTTPS. */
    readonly sslCerts: readonly string[];
    readonly httpsBind: string;
    readonly pidPath: string;
    readonly statsSocketPath: string;
    /** '' when HAProxy keeps culm's user. */
    readonly user: string;
    readonly group: string;
    /** HAProxy.Group: the marathon-lb groups this edge serves; empty: every app. */
    readonly serveGroups: readonly string[];
    /** Apps without a group label are left out (needs serveGroups). */
    readonly strictGroups: boolean;
    /** HAProxy.BindServicePorts: a frontend per service port (marathon-lb). */
    /** marathon-lb's VHOST/PATH labels route (false: Bamboo's routing). */
    readonly labelRouting: boolean;
    readonly bindServicePorts: boolean;
    /** HAProxy.TrustLabelConfig: raw HAProxy lines from marathon-lb's labels are written. */
    readonly trustLabelConfig: boolean;
    /** HAProxy.ServicePortBindAddress: `*`, an IPv4 or an IPv6 address. */
    readonly servicePortBindAddress: string;
    readonly commandTimeoutMs: number;
    /** Soft limits of each validation command; 0 = none. */
    readonly validationCpuSeconds: number;
    readonly validationMemoryMiB: number;
    /** Where rules may read `-f` pattern files from; '' = nowhere. */
    readonly aclFilesDir: string;
    readonly reloadIntervalMs: number;
    /** Server-only changes through the stats socket, without a reload. */
    readonly runtimeApi: boolean;
    /** On SIGTERM/SIGINT, soft-stop HAProxy too (a container), within `stopGraceMs`. */
    readonly stopOnExit: boolean;
    readonly stopGraceMs: number;
    /** HAProxy's syslog (and reload stderr) on culm's stdout; `requestLog` adds request lines. */
    readonly log: boolean;
    readonly requestLog: boolean;
  };
  /** REST listen address. host '' means every interface (Go's ":8000"): pass `host || undefined` to listen(). */
  readonly http: { readonly host: string; readonly port: number };
  /** Who may use the REST API. Off (no token, no users) by default, as in Bamboo. */
  readonly api: {
    /** Bearer token for writes; '' for none. */
    readonly token: string;
    /** Absolute path of the basic-auth users file (`user:scrypt-hash` lines), when configured. */
    readonly usersFile?: string;
    /** Reads need credentials too (probes never do). */
    readonly readAuth: boolean;
    /** Host names (optionally with a port, or an origin with a scheme) writes may name; absent: the derived default. */
    readonly allowedHosts?: readonly string[];
  };
  readonly dataDir: string;
  /** V8's --heap-growing-percent, set at start; 0 leaves V8's own policy. */
  readonly heapGrowingPercent: number;
  readonly logLevel: LogLevel;
  /** Bamboo's -log: also write logs to this file. */
  readonly logFile?: string;
  /** Things worth one log line at start (ignored StatsD settings, unknown file keys…). */
  readonly warnings: readonly string[];
  /** Informational lines for the start-up log (which address BAMBOO_DOCKER_AUTO_HOST took…). */
  readonly notices: readonly string[];
  readonly source: { readonly file?: string };
}

/** Where a raw value came from; named in error messages. */
export interface Origin {
  readonly layer: 'default' | 'file' | 'env' | 'flag' | 'docker';
  /** e.g. "file /etc/culm.json", "env MARATHON_ENDPOINT", "flag --bind", "default". */
  readonly where: string;
}

export interface RawValue {
  /** JSON-typed when from the file; a string from env, flags and the docker rule. */
  readonly value: unknown;
  readonly origin: Origin;
}
