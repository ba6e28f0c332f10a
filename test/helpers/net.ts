/** Loopback helpers for integration tests: free ports, tiny backends that answer with their own port. */
import { createServer, request as httpRequest, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';

/** A port that was free a moment ago (bound to 127.0.0.1:0 and released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface Backend {
  port: number;
  hits: number;
  /** performance.now() of the last request it answered (benchmarks time changes by it). */
  lastHitAt: number;
  /** performance.now() of the first request that was not a health check (`/health…`); 0: none yet. */
  firstRequestAt: number;
  /** Requests being answered now (a `?slow=<ms>` request is in flight for that long). */
  inflight: number;
  /** Stops all connections at once (requests in flight fail). */
  close(): Promise<void>;
  /**
   * As a task that got SIGTERM and shuts down cleanly: accepts no new connection, answers the requests in
   * flight, then resolves.
   */
  drain(): Promise<void>;
}

/**
 * An HTTP server on 127.0.0.1 whose body is its own port ("31001\n"), so a test sees who answered. A request
 * with `?slow=<ms>` is answered after that long; `delayMs` makes every request a slow one (a request in flight
 * for that long; `hits` counts it on arrival).
 */
export async function startBackend(opts: { delayMs?: number } = {}): Promise<Backend> {
  const backend = { port: 0, hits: 0, lastHitAt: 0, firstRequestAt: 0, inflight: 0 } as Backend;
  const server: Server = createServer((req, res) => {
    backend.hits++;
    backend.lastHitAt = performance.now();
    if (!backend.firstRequestAt && !req.url?.startsWith('/health')) backend.firstRequestAt = backend.lastHitAt;
    const slow = Number(/[?&]slow=(\d+)/.exec(req.url ?? '')?.[1] ?? 0) || (opts.delayMs ?? 0);
    backend.inflight++;
    const answer = (): void => {
      backend.inflight--;
      // What reached the task (for label rewrites: PROXYPASS, Host), and a Location on request (REVPROXY).
      const location = /[?&]location=([^&]+)/.exec(req.url ?? '')?.[1];
      res.writeHead(200, {
        'content-type': 'text/plain', connection: 'close', 'x-path': req.url ?? '', 'x-host': req.headers.host ?? '',
        ...(location ? { location: decodeURIComponent(location) } : {}),
      });
      res.end(`${backend.port}\n`);
    };
    if (slow > 0) setTimeout(answer, slow);
    else answer();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  backend.port = typeof address === 'object' && address ? address.port : 0;
  backend.close = () => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
  backend.drain = () => new Promise<void>((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeIdleConnections();
  });
  return backend;
}

/** GET through HAProxy (a new connection each time); resolves `{status, body}`, never throws. */
export async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  try {
    const res = await fetch(url, { headers: { connection: 'close', ...headers }, signal: AbortSignal.timeout(3000) });
    return { status: res.status, body: (await res.text()).trim() };
  } catch (err) {
    return { status: 0, body: String(err) };
  }
}

/** Polls `check` until it returns true or `timeoutMs` passes; resolves the elapsed ms, or throws. */
export async function eventually(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 10_000, everyMs = 25): Promise<number> {
  const started = Date.now();
  let last: unknown;
  for (;;) {
    try {
      if (await check()) return Date.now() - started;
    } catch (err) {
      last = err;
    }
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}${last ? ` (${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The set of backend ports that answered `n` requests to `url`. */
export async function whoAnswers(url: string, n = 6): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    const r = await get(url);
    seen.add(r.status === 200 ? r.body : `status ${r.status}`);
  }
  return seen;
}

/** One HTTP request with exactly these headers (fetch will not send a Host of our choosing); never pools. */
export function rawRequest(url: string, method: string, headers: Record<string, string>, body = ''): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, agent: false, headers: { ...headers, 'Content-Length': String(Buffer.byteLength(body)) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.setTimeout(5000, () => req.destroy(new Error(`${method} ${url}: no answer in 5 s`)));
    req.on('error', reject);
    req.end(body);
  });
}
