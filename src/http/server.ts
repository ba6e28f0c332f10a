/**
 * culm's HTTP server: Bamboo's REST API, probes, metrics and the operator page over node:http. It reads the
 * core and asks it to change rules; it never renders or reloads anything itself.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { CulmError, errorMessage, type ErrorCode } from '../core/errors.js';
import { ruleToBamboo } from '../core/rules.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { CulmCore } from '../pipeline/types.js';
import { auditRuleWrite } from './audit.js';
import { ApiAuth, type Principal } from './auth.js';
import { ConnectionGuard } from './connection-guard.js';
import { sendError, type Headers } from './io.js';
import { connectionLimits, openFileLimit, type ConnectionLimits } from './limits.js';
import { Router, splitUrl, type AuditNote, type Match, type Route } from './router.js';
import { marathonRoutes, type CallbackPolicy } from './routes/marathon.js';
import { appRoutes } from './routes/apps.js';
import { clusterRoutes, type ClusterSource } from './routes/cluster.js';
import { opsRoutes } from './routes/ops.js';
import { idFromPath, serviceRoutes } from './routes/services.js';
import { liveRoutes, liveStreamsOf } from './live-stream.js';
import { openApiRoutes } from './openapi.js';
import { stateRoutes } from './routes/state.js';
import { uiRoutes } from './ui.js';
import { uiOpsRoutes } from './ui-ops.js';
import { allowedHosts, refuseWrite, type AllowedHosts } from './write-origin.js';

export interface HttpServerOptions {
  core: CulmCore;
  metrics: Metrics;
  log: Logger;
  /** Shown on the operator page. */
  version: string;
  /** Who may POST Marathon events; absent: anyone (tests). */
  callbacks?: CallbackPolicy;
  /** The cluster view for /api/cluster. */
  cluster?: ClusterSource;
  /** Who may write (and read); absent: nobody is asked, as in Bamboo. */
  auth?: ApiAuth;
  /** The Host names a write may carry; absent: loopback names only. */
  hosts?: AllowedHosts;
  /** Connection limits; absent: from the process's open-file limit. */
  limits?: ConnectionLimits;
}

export interface HttpServer {
  server: Server;
  /** The routes served (the OpenAPI document's test compares them with the document). */
  routes: readonly Route[];
  /** Resolves with the bound port (useful with port 0). */
  listen(host: string, port: number): Promise<{ port: number }>;
  /** Stops accepting, lets requests in flight finish (at most CLOSE_GRACE_MS), then resolves. */
  close(): Promise<void>;
}

const CLOSE_GRACE_MS = 5_000;
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const LOOPBACK_HOSTS = allowedHosts(['localhost', '127.0.0.1', '[::1]']);

// Timeouts of a slow or stuck client. Node checks them every CHECK_MS (its default, 30 s, would let a
// slowloris client keep a socket 30 s past its deadline).
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;
const KEEP_ALIVE_TIMEOUT_MS = 5_000;
const CHECK_MS = 1_000;
// Node's default listen queue (511) overflows when a flood reopens whatever culm closes; the kernel then drops
// SYNs, a probe's or Marathon's among them, and their TCP retries only after a second. Measured (BENCHMARKS.md,
// Floods): 2,048 turns those 1 s waits into a queue a few ms to ~200 ms long. The kernel caps it at somaxconn.
const LISTEN_BACKLOG = 2048;
const ANONYMOUS: Principal = Object.freeze({ kind: 'anonymous' });

export function createHttpServer(o: HttpServerOptions): HttpServer {
  const { core, metrics, log, version, callbacks, cluster } = o;
  const auth = o.auth ?? new ApiAuth();
  const hosts = o.hosts ?? LOOPBACK_HOSTS;
  const router = new Router();
  const streams = liveStreamsOf(core);
  for (const route of [
    ...opsRoutes(core, metrics),
    ...stateRoutes(core),
    ...appRoutes(core),
    ...serviceRoutes(core),
    ...marathonRoutes(core, metrics, log, callbacks),
    ...clusterRoutes(cluster),
    ...liveRoutes(streams),
    ...openApiRoutes(version),
    ...uiRoutes(core, version),
    ...uiOpsRoutes(core, metrics, cluster, version),
  ]) router.add(route);

  const debug = (): boolean => log.isLevelEnabled('debug');
  const record = (routeName: string, method: string, path: string, res: ServerResponse, started: number, aborted: boolean): void => {
    const seconds = (performance.now() - started) / 1000;
    // Method, path, status and time only: bodies and headers (auth) never reach the log.
    if (debug()) log.debug({ method, path, status: res.statusCode, ms: Math.round(seconds * 10_000) / 10, aborted: aborted || undefined }, 'http request');
    metrics.httpRequest(routeName, method, res.statusCode, seconds);
  };

  /**
   * Host and Origin for writes, then credentials; the caller, or a 401/403 thrown. Without credentials to check
   * (probes, Marathon's callbacks) the answer is not a promise: a callback costs no await here.
   */
  const admit = (req: IncomingMessage, match: Extract<Match, { kind: 'found' }>, write: boolean): Principal | Promise<Principal> => {
    // Reads too (but probes and /metrics, which monitoring reaches by whatever name it uses): a DNS-rebinding page
    // must not read the config, the rules or the history through an operator's browser.
    if (write || (match.route.access !== 'probe' && match.route.name !== '/metrics')) {
      // The Origin rule is the writes' (a read's answer reaches a foreign page only through CORS, which culm never grants).
      const refusal = write
        ? refuseWrite({ host: req.headers.host, origin: req.headers.origin, secFetchSite: header(req, 'sec-fetch-site') }, hosts)
        : refuseWrite({ host: req.headers.host, origin: undefined, secFetchSite: undefined }, hosts);
      if (refusal) throw new CulmError(refusal.code, refusal.message, { status: 403 });
    }
    const access = match.route.access;
    if (access === 'probe' || access === 'marathon') return ANONYMOUS;
    return auth.identify(req.headers.authorization, auth.required(write));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = performance.now();
    const at = Date.now();
    const method = req.method ?? 'GET';
    const { path, query } = splitUrl(req.url ?? '/');
    const write = !SAFE_METHODS.has(method);
    let routeName = 'unmatched';
    let audited = false;
    let principal: Principal = ANONYMOUS;
    const note: AuditNote = {};
    let failure: { status: number; code: ErrorCode; message: string } | undefined;
    try {
      const match = router.match(method, path);
      if (match.kind === 'none') throw new CulmError('E_NOT_FOUND', `no route for ${method} ${path}`, { status: 404 });
      routeName = match.route.name;
      if (match.kind === 'method') {
        sendError(res, 405, 'E_METHOD_NOT_ALLOWED', `${method} is not allowed on ${match.route.name}; allowed: ${match.allow}`, { Allow: match.allow });
      } else {
        audited = write && match.route.audited === true;
        if (audited && match.params[0] !== undefined) {
          // Known before anything is checked, so a refused write's audit says what it would have changed.
          note.id = idOrUndefined(match.params[0]);
          const current = note.id === undefined ? undefined : core.rules().get(note.id);
          note.before = current ? ruleToBamboo(current) : null;
        }
        const admitted = admit(req, match, write);
        principal = admitted instanceof Promise ? await admitted : admitted;
        await match.handler({ req, res, path, query, params: match.params, principal, audit: note });
      }
    } catch (err) {
      failure = respondWithError(res, err, log, method, path, auth);
    }
    if (audited) {
      auditRuleWrite(core, log, {
        at, method, note, principal, from: req.socket.remoteAddress ?? 'unknown',
        status: failure?.status ?? res.statusCode, durationMs: performance.now() - started,
        ...(failure ? { error: { code: failure.code, message: failure.message } } : {}),
      });
    }
    // Nearly every response is complete when its handler returns: it is counted now, without a listener per
    // request. One still being written (or never answered) is counted when its connection lets go of it.
    const route = routeName;
    if (res.writableEnded || res.closed) record(route, method, path, res, started, !res.writableEnded || res.destroyed);
    else res.once('close', () => record(route, method, path, res, started, !res.writableFinished));
  };

  const limits = o.limits ?? connectionLimits(openFileLimit());
  const server = createServer({ connectionsCheckingInterval: CHECK_MS }, (req, res) => void handle(req, res));
  // A slow or stuck client cannot hold a request open for ever; the guard closes the oldest idle ones first.
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.maxConnections = limits.maxConnections;
  new ConnectionGuard(server, limits, (reason) => metrics.httpConnectionEvicted(reason));

  return {
    server,
    routes: router.routes(),
    listen: (host, port) => new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port, host, backlog: LISTEN_BACKLOG }, () => {
        server.off('error', reject);
        resolve({ port: (server.address() as AddressInfo).port });
      });
    }),
    close: () => new Promise((resolve) => {
      if (!server.listening) {
        resolve();
        return;
      }
      streams.closeAll();
      const force = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
      force.unref();
      server.close(() => {
        clearTimeout(force);
        resolve();
      });
      server.closeIdleConnections();
    }),
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The rule id a refused write named, for its audit line; a path too broken to decode names none. */
function idOrUndefined(raw: string): string | undefined {
  try {
    return idFromPath(raw);
  } catch {
    return undefined;
  }
}

/** Sends the error as JSON and says what was sent (the audit of a refused rule write records it). */
function respondWithError(res: ServerResponse, err: unknown, log: Logger, method: string, path: string, auth: ApiAuth): { status: number; code: ErrorCode; message: string } {
  if (res.headersSent) {
    log.error({ method, path, err: errorMessage(err) }, 'http handler failed after the response started');
    res.destroy();
    return { status: res.statusCode, code: 'E_INTERNAL', message: 'failed after the response started' };
  }
  if (err instanceof CulmError) {
    const status = err.status >= 400 && err.status <= 599 ? err.status : 500;
    if (status >= 500) log.warn({ method, path, code: err.code, err: err.message }, 'http request failed');
    // The unread rest of an oversized body is not worth keeping the connection for.
    const headers: Headers = status === 413 ? { Connection: 'close' }
      : status === 401 ? { 'WWW-Authenticate': auth.challenges() }
        : status === 429 ? { 'Retry-After': '1' } : {};
    sendError(res, status, err.code, err.message, headers, err.detail);
    return { status, code: err.code, message: err.message };
  }
  log.error({ method, path, err: errorMessage(err), stack: err instanceof Error ? err.stack : undefined }, 'http handler failed');
  sendError(res, 500, 'E_INTERNAL', 'internal error');
  return { status: 500, code: 'E_INTERNAL', message: 'internal error' };
}
