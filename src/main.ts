#!/usr/bin/env node
/**
 * Wiring only: config → edges (stores, HAProxy, Marathon, HTTP) → pipeline → signals.
 * Exit codes: 0 after a graceful stop, 2 for a bad configuration, 1 when start-up fails.
 */
import { mkdirSync, readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { hostname } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { loadConfig, packageRoot, redactConfig, type CulmConfig } from './config/index.js';
import { checkTemplate } from './config/template-check.js';
import { CulmError, errorMessage } from './core/errors.js';
import { AppsMapper, mapApp } from './core/marathon-map.js';
import { HaproxySupervisor } from './haproxy/supervisor.js';
import { HaproxyDriver } from './haproxy/driver.js';
import { HaproxyDelivery } from './haproxy/delivery.js';
import { stopHaproxy } from './haproxy/stop.js';
import { firstStartUnchecked, nothingServes, PLAIN_CHECK } from './haproxy/first-start.js';
import { startHaproxyLog } from './haproxy/syslog.js';
import { Renderer } from './haproxy/render.js';
import { apiAccess } from './http/access.js';
import { hashPasswordCommand } from './http/hash-password.js';
import { createHttpServer } from './http/server.js';
import { createLogger, type Logger } from './log/logger.js';
import { MarathonClient } from './marathon/index.js';
import { loadOrCreateCallbackToken } from './marathon/callback-token.js';
import { startCallbackJanitor } from './cluster/callback-janitor.js';
import { PrometheusMetrics } from './metrics/metrics.js';
import { Applier } from './pipeline/apply.js';
import { Daemon } from './pipeline/daemon.js';
import { certState, leftOutStamp } from './fs/cert-files.js';
import { MarathonFeed } from './pipeline/marathon-feed.js';
import type { DependencyCheck } from './pipeline/types.js';
import { createStores } from './cluster/stores.js';

/** How often HAProxy's pid is probed: a death is acted on at the second probe that sees it (< 0.5 s). */
const SUPERVISE_INTERVAL_MS = 200;

function version(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export interface Running {
  stop(): Promise<void>;
  port: number;
}

export async function run(config: CulmConfig, log: Logger): Promise<Running> {
  for (const w of config.warnings) log.warn(w);
  for (const n of config.notices) log.info(n);
  checkTemplate(config.haproxy.templatePath);
  if (/haproxy-ip-address/.test(config.bamboo.endpoint)) {
    log.warn({ endpoint: config.bamboo.endpoint }, 'Bamboo.Endpoint is still the placeholder of Bamboo\'s sample config: Marathon cannot call it back (set BAMBOO_ENDPOINT, or BAMBOO_DOCKER_AUTO_HOST)');
  }
  log.info({ config: redactConfig(config), version: version() }, 'culm starting');
  const access = apiAccess(config);
  for (const w of access.warnings) log.warn(w);
  log.info({ writeAuth: access.auth.enabled, readAuth: config.api.readAuth, allowedHosts: access.hostList }, 'REST access');
  mkdirSync(config.dataDir, { recursive: true });
  mkdirSync(dirname(config.haproxy.outputPath), { recursive: true });

  const metrics = new PrometheusMetrics();
  const client = new MarathonClient({
    endpoints: config.marathon.endpoints,
    user: config.marathon.user,
    password: config.marathon.password,
    timeoutMs: config.marathon.requestTimeoutMs,
    log,
    onRequest: (endpoint, outcome, ms) => metrics.marathonRequest(endpoint, outcome, ms / 1000),
  });
  const publicEndpoint = config.bamboo.endpoint || `http://${config.http.host || hostname()}:${config.http.port}`;
  const stores = createStores(config, log, metrics, version(), publicEndpoint);
  const { rules, snapshots, membership } = stores;
  // Beside the output: `show servers state` saved before each reload, loaded by the new process.
  const serverStatePath = `${config.haproxy.outputPath}.state`;
  const haproxyLog = config.haproxy.log ? await startHaproxyLog(log, (n) => metrics.haproxyLogDropped(n)) : undefined;
  const driver = new HaproxyDriver({
    outputPath: config.haproxy.outputPath,
    validationCommand: config.haproxy.validationCommand,
    reloadCommand: config.haproxy.reloadCommand,
    statsSocketPath: config.haproxy.statsSocketPath,
    serverStatePath,
    cleanupCommand: config.haproxy.cleanupCommand,
    commandTimeoutMs: config.haproxy.commandTimeoutMs,
    validationLimits: { cpuSeconds: config.haproxy.validationCpuSeconds, memoryMiB: config.haproxy.validationMemoryMiB },
    log,
    ...(haproxyLog ? { onOutput: haproxyLog.output } : {}),
    ...(firstStartUnchecked(config) ? { nothingServes: () => nothingServes(config.haproxy.pidPath, config.haproxy.outputPath) } : {}),
  });
  // The one owner of what reaches HAProxy: runtime servers, runtime maps, reloads, restarts.
  const delivery = new HaproxyDelivery({
    driver, log,
    socketPath: config.haproxy.runtimeApi ? config.haproxy.statsSocketPath : undefined,
    statsSocketPath: config.haproxy.statsSocketPath,
    reloadIntervalMs: config.haproxy.reloadIntervalMs,
  });
  const applier = new Applier(new Renderer(config.haproxy.templatePath), delivery, {
    HttpBind: config.haproxy.httpBind,
    StatsSocket: config.haproxy.statsSocketPath,
    PidFile: config.haproxy.pidPath,
    OutputPath: config.haproxy.outputPath,
    ServerStateFile: serverStatePath,
    User: config.haproxy.user,
    Group: config.haproxy.group,
    ...(haproxyLog ? { LogTarget: haproxyLog.target, RequestLog: config.haproxy.requestLog } : {}),
    ...(config.haproxy.sslCerts.length ? { SslCerts: config.haproxy.sslCerts, HttpsBind: config.haproxy.httpsBind } : {}),
    ServeGroups: {
      groups: config.haproxy.serveGroups, strict: config.haproxy.strictGroups, labelRouting: config.haproxy.labelRouting,
      ...(config.haproxy.bindServicePorts ? { servicePortBind: config.haproxy.servicePortBindAddress } : {}),
      ...(config.haproxy.trustLabelConfig ? { trustLabelConfig: true } : {}),
    },
  }, log, certState, { commandTimeoutMs: config.haproxy.commandTimeoutMs, leftOutStamp });

  const supervisor = new HaproxySupervisor({
    pidPath: config.haproxy.pidPath,
    intervalMs: SUPERVISE_INTERVAL_MS,
    started: () => delivery.lastApplied() !== undefined,
    restart: () => delivery.restart(),
    restarted: () => metrics.haproxyRestarted(),
    statsSocketPath: config.haproxy.statsSocketPath,
    log,
  });

  // Callbacks without this secret are hints, never applied: safe by default, so a made-up token when none is set.
  const callbackToken = config.marathon.callbackToken
    || (config.marathon.eventMode === 'sse' ? '' : loadOrCreateCallbackToken(config.dataDir, log));
  const daemon = new Daemon({
    applier, delivery, rules, snapshots, metrics, log,
    rulePolicy: { aclFilesDir: config.haproxy.aclFilesDir },
    renderOnResync: () => applier.readsCertFiles(),
    skipCheckOfMapOnlyRules: PLAIN_CHECK.test(config.haproxy.validationCommand.trim()) || config.haproxy.validationCommand.trim() === '',
    haproxyRunning: () => supervisor.check(),
    apps: {
      fetchApps: (known, taken) => client.streamApps(() => new AppsMapper(known, config.haproxy.bindServicePorts, taken)),
      fetchApp: async (id) => {
        const raw = await client.getApp(id);
        return raw === null ? null : mapApp(raw);
      },
    },
    settleMs: config.marathon.settleMs,
    resyncIntervalMs: config.marathon.resyncIntervalMs || 2 ** 31 - 1,
    // Called only after start-up, when the feed exists.
    extraChecks: (): Record<string, DependencyCheck> => {
      const zk = stores.zookeeperCheck();
      return { events: feed.check(), ...(zk ? { zookeeper: zk } : {}) };
    },
    onApply: (r) => void membership?.report({ at: r.at, result: r.result, configHash: r.configHash }),
  });
  const feed: MarathonFeed = new MarathonFeed({
    mode: config.marathon.eventMode,
    client,
    endpoints: config.marathon.endpoints,
    user: config.marathon.user,
    password: config.marathon.password,
    publicEndpoint: config.bamboo.endpoint,
    callbackToken,
    subscriptionCheckMs: config.marathon.subscriptionCheckMs,
    sseWatchdogMs: config.marathon.sseWatchdogMs,
    log,
    onEvent: (type, data) => {
      let body: unknown;
      try {
        body = JSON.parse(data);
      } catch {
        metrics.eventRejected('not JSON');
        return;
      }
      daemon.acceptMarathonEvent(body, type);
    },
    resync: () => daemon.resync(),
    onRegistered: (url) => void membership?.setCallbackUrl(url).catch((err) => log.warn({ err: errorMessage(err) }, 'callback URL not recorded in ZooKeeper')),
  });

  // The leader removes the Marathon subscriptions of culm instances that are gone (never anyone else's).
  const stopJanitor = membership
    ? startCallbackJanitor({ membership, client, intervalMs: config.marathon.subscriptionCheckMs || 30_000, log })
    : undefined;
  stores.onLeader(() => daemon.saveSnapshotSoon());

  // The REST API (and /healthz) is up first, so probes answer while the first sync runs.
  const http = createHttpServer({
    core: daemon, metrics, log, version: version(),
    callbacks: { enabled: () => feed.acceptsCallbacks(), token: callbackToken || undefined },
    cluster: () => stores.cluster(),
    auth: access.auth,
    hosts: access.hosts,
  });
  const { port } = await http.listen(config.http.host, config.http.port);
  log.info({ host: config.http.host || '*', port }, 'REST API listening');
  await daemon.start();
  supervisor.start();
  feed.start();

  return {
    port,
    async stop() {
      const began = Date.now();
      log.info('stopping: no more events; finishing the apply in flight');
      stopJanitor?.();
      supervisor.stop();
      // Marathon is told in parallel (an unregister may wait for its timeout): events meanwhile are ignored.
      const feedStopped = feed.stop();
      await daemon.stop();
      // In a container HAProxy ends with culm: it finishes its requests first (HAProxy.StopOnExit), at once
      // after the last apply, within the grace counted from the signal (the container's kill timeout is).
      const graceMs = Math.max(1000, config.haproxy.stopGraceMs - (Date.now() - began));
      const haproxyStopped = config.haproxy.stopOnExit
        ? stopHaproxy({ pidPath: config.haproxy.pidPath, outputPath: config.haproxy.outputPath, graceMs, log, known: supervisor.pidsSeen })
        : undefined;
      await feedStopped;
      await http.close();
      await stores.close();
      await haproxyStopped;
      await haproxyLog?.close();
      log.info(haproxyStopped ? 'stopped, HAProxy too' : 'stopped; HAProxy keeps serving the last applied config');
    },
  };
}

async function main(): Promise<void> {
  if (process.argv[2] === 'hash-password') {
    process.exit(await hashPasswordCommand(process.stdin, process.stdout, process.stderr));
  }
  let config: CulmConfig;
  try {
    config = loadConfig({ argv: process.argv.slice(2), env: process.env, cwd: process.cwd() });
  } catch (err) {
    process.stderr.write(`culm: ${err instanceof CulmError ? err.message : errorMessage(err)}\n`);
    process.exit(2);
  }
  // Before the first big allocation: a V8 GC heuristic (how far the heap grows between full collections),
  // read by V8 at each collection, so setting it now is enough (measured: see BENCHMARKS.md, "Memory").
  if (config.heapGrowingPercent > 0) setFlagsFromString(`--heap-growing-percent=${config.heapGrowingPercent}`);
  const log = createLogger(config.logLevel, undefined, config.logFile);
  process.on('unhandledRejection', (err) => log.error({ err: errorMessage(err) }, 'unhandled rejection (kept running)'));
  // Signals are handled from the start: a SIGTERM during the first sync still stops gracefully.
  let running: Running | undefined;
  let stopping: string | undefined;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = signal;
    log.info({ signal }, 'signal received');
    const force = setTimeout(() => process.exit(1), 30_000);
    force.unref();
    if (!running) return; // start-up finishes first, then stops (below)
    running.stop().then(() => process.exit(0), (err) => {
      log.error({ err: errorMessage(err) }, 'error while stopping');
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  try {
    running = await run(config, log);
  } catch (err) {
    if (err instanceof CulmError && err.code === 'E_CONFIG') {
      process.stderr.write(`culm: ${err.message}\n`);
      process.exit(2);
    }
    log.fatal({ err: errorMessage(err) }, 'culm could not start');
    process.exit(1);
  }
  if (stopping) {
    const signal = stopping;
    stopping = undefined;
    shutdown(signal);
  }
}

/** True when this file is the program (node dist/main.js, npx culm through a symlink), not an import. */
function invokedDirectly(): boolean {
  try {
    return !!process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}
if (invokedDirectly()) void main();
