/**
 * culm's HTTP server: Bamboo's REST API, probes, metrics and the operator page over node:http. It reads the
 * core and asks it to change rules; it never renders or reloads anything itself.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { CulmError, errorMessage } from '../core/errors.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { CulmCore } from '../pipeline/types.js';
import { sendError } from './io.js';
import { Router, splitUrl } from './router.js';
import { marathonRoutes, type CallbackPolicy } from './routes/marathon.js';
import { clusterRoutes, type ClusterSource } from './routes/cluster.js';
import { opsRoutes } from './routes/ops.js';
import { serviceRoutes } from './routes/services.js';
import { stateRoutes } from './routes/state.js';
import { uiRoutes } from './ui.js';

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
}

export interface HttpServer {
  server: Server;
  /** Resolves with the bound port (useful with port 0). */
  listen(host: string, port: number): Promise<{ port: number }>;
  /** Stops accepting, lets requests in flight finish (at most CLOSE_GRACE_MS), then resolves. */
  close(): Promise<void>;
}

const CLOSE_GRACE_MS = 5_000;
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function createHttpServer({ core, metrics, log, version, callbacks, cluster }: HttpServerOptions): HttpServer {
  const router = new Router();
  for (const route of [
    ...opsRoutes(core, metrics),
    ...stateRoutes(core),
    ...serviceRoutes(core),
    ...marathonRoutes(core, metrics, log, callbacks),
    ...clusterRoutes(cluster),
    ...uiRoutes(core, version),
  ]) router.add(route);

  const debug = (): boolean => log.isLevelEnabled('debug');
  const record = (routeName: string, method: string, path: string, res: ServerResponse, started: number, aborted: boolean): void => {
    const seconds = (performance.now() - started) / 1000;
    // Method, path, status and time only: bodies and headers (auth) never reach the log.
    if (debug()) log.debug({ method, path, status: res.statusCode, ms: Math.round(seconds * 10_000) / 10, aborted: aborted || undefined }, 'http request');
    metrics.httpRequest(routeName, method, res.statusCode, seconds);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = performance.now();
    const method = req.method ?? 'GET';
    const { path, query } = splitUrl(req.url ?? '/');
    let routeName = 'unmatched';
    try {
      const match = router.match(method, path);
      if (match.kind === 'none') throw new CulmError('E_NOT_FOUND', `no route for ${method} ${path}`, { status: 404 });
      routeName = match.route.name;
      if (match.kind === 'method') {
        sendError(res, 405, 'E_METHOD_NOT_ALLOWED', `${method} is not allowed on ${match.route.name}; allowed: ${match.allow}`, { Allow: match.allow });
      } else {
        if (!SAFE_METHODS.has(method)) refuseCrossSite(req);
        await match.handler({ req, res, path, query, params: match.params });
      }
    } catch (err) {
      respondWithError(res, err, log, method, path);
    }
    // Nearly every response is complete when its handler returns: it is counted now, without a listener per
    // request. One still being written (or never answered) is counted when its connection lets go of it.
    const route = routeName;
    if (res.writableEnded || res.closed) record(route, method, path, res, started, !res.writableEnded || res.destroyed);
    else res.once('close', () => record(route, method, path, res, started, !res.writableFinished));
  };

  const server = createServer((req, res) => void handle(req, res));
  // A slow or stuck client cannot hold a request open for ever.
  server.requestTimeout = 60_000;
  server.headersTimeout = 15_000;

  return {
    server,
    listen: (host, port) => new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve({ port: (server.address() as AddressInfo).port });
      });
    }),
    close: () => new Promise((resolve) => {
      if (!server.listening) {
        resolve();
        return;
      }
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

/**
 * No authentication, as in Bamboo; but a browser page from elsewhere must not change rules or inject events
 * (a form post or `text/plain` fetch needs no preflight). Clients that send no Origin (curl, Marathon) pass.
 */
function refuseCrossSite(req: IncomingMessage): void {
  const origin = req.headers.origin;
  const crossSite = req.headers['sec-fetch-site'] === 'cross-site';
  if (origin === undefined && !crossSite) return;
  let host = '';
  try {
    host = origin === undefined ? '' : new URL(origin).host;
  } catch {
    // "null" and other opaque origins never match
  }
  if (crossSite || host !== req.headers.host) {
    throw new CulmError('E_CROSS_ORIGIN', 'requests from another origin may not change culm', { status: 403 });
  }
}

function respondWithError(res: ServerResponse, err: unknown, log: Logger, method: string, path: string): void {
  if (res.headersSent) {
    log.error({ method, path, err: errorMessage(err) }, 'http handler failed after the response started');
    res.destroy();
    return;
  }
  if (err instanceof CulmError) {
    const status = err.status >= 400 && err.status <= 599 ? err.status : 500;
    if (status >= 500) log.warn({ method, path, code: err.code, err: err.message }, 'http request failed');
    // The unread rest of an oversized body is not worth keeping the connection for.
    sendError(res, status, err.code, err.message, status === 413 ? { Connection: 'close' } : {});
    return;
  }
  log.error({ method, path, err: errorMessage(err), stack: err instanceof Error ? err.stack : undefined }, 'http handler failed');
  sendError(res, 500, 'E_INTERNAL', 'internal error');
}
