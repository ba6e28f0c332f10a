// HTTP plumbing of the emulator: Marathon/Jetty style answers, basic auth, fault injection, leader proxying.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** Marathon's CacheDisablingFilter headers, also shown on the /v2/events example in rest-api.md. */
export const NO_CACHE = {
  'Cache-Control': 'no-cache, no-store, must-revalidate',
  Pragma: 'no-cache',
  Expires: '0',
};

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'application/json',
    'Content-Length': String(Buffer.byteLength(text)),
  });
  res.end(text);
}

/** Jersey's answer for a method the resource has no handler for. */
export const notAllowed = (res: ServerResponse, h: Record<string, string>): void =>
  sendJson(res, 405, { message: 'HTTP 405 Method Not Allowed' }, h);

/** Jetty's default error page (HttpServletResponse.sendError). */
export function sendJettyError(
  res: ServerResponse,
  status: number,
  reason: string,
  uri: string,
  headers: Record<string, string> = {},
): void {
  const page =
    `<html>\n<head>\n<meta http-equiv="Content-Type" content="text/html;charset=utf-8"/>\n` +
    `<title>Error ${status} ${reason}</title>\n</head>\n<body><h2>HTTP ERROR ${status}</h2>\n` +
    `<p>Problem accessing ${uri}. Reason:\n<pre>    ${reason}</pre></p><hr>` +
    `<a href="http://eclipse.org/jetty">Powered by Jetty:// 9.4.8.v20171121</a><hr/>\n\n</body>\n</html>\n`;
  res.writeHead(status, {
    ...headers,
    'Cache-Control': 'must-revalidate,no-cache,no-store',
    'Content-Type': 'text/html;charset=utf-8',
    'Content-Length': String(Buffer.byteLength(page)),
  });
  res.end(page);
}

export function authorized(req: IncomingMessage, auth: { user: string; password: string }): boolean {
  const m = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  if (!m) return false;
  return Buffer.from(m[1], 'base64').toString('utf8') === `${auth.user}:${auth.password}`;
}

export interface Fault {
  /**
   * error-body: 500 {"message": body}; html: 200 text/html page; slow: answer normally after `ms`;
   * dead: accept and never answer; status: `status` (default 503) with `body` as JSON; reset: destroy the socket.
   */
  kind: 'error-body' | 'html' | 'slow' | 'dead' | 'status' | 'reset';
  /** Path prefix; default: every path. The longest matching prefix wins. */
  path?: string;
  ms?: number;
  status?: number;
  body?: string;
  /** Applies to this many requests, then clears itself; default: until fault(null). */
  times?: number;
}

export class Faults {
  private list: Fault[] = [];

  set(f: Fault | null): void {
    if (f === null) {
      this.list = [];
      return;
    }
    const path = f.path ?? '';
    this.list = [...this.list.filter((x) => (x.path ?? '') !== path), { ...f, path }];
  }

  /** The fault for this path, consuming one of its `times`. */
  take(path: string): Fault | undefined {
    const f = this.list
      .filter((x) => path.startsWith(x.path ?? ''))
      .sort((a, b) => (b.path ?? '').length - (a.path ?? '').length)[0];
    if (f?.times !== undefined && --f.times <= 0) this.list = this.list.filter((x) => x !== f);
    return f;
  }
}

const DEFAULT_HTML =
  '<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body><h1>Please sign in</h1></body></html>\n';

/**
 * Applies a fault; resolves true when the request has been dealt with (or must stay unanswered).
 * 'slow' resolves false after its delay so the request is then served normally.
 */
export async function applyFault(
  f: Fault,
  req: IncomingMessage,
  res: ServerResponse,
  hung: Set<Socket>,
  timers: Set<NodeJS.Timeout>,
): Promise<boolean> {
  switch (f.kind) {
    case 'slow':
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          timers.delete(t);
          resolve();
        }, f.ms ?? 1000);
        timers.add(t);
      });
      return res.destroyed;
    case 'dead':
      hung.add(req.socket);
      req.socket.once('close', () => hung.delete(req.socket));
      return true;
    case 'reset':
      req.socket.destroy();
      return true;
    case 'error-body':
      sendJson(res, f.status ?? 500, { message: f.body ?? 'An unexpected server error occurred.' });
      return true;
    case 'html': {
      const page = f.body ?? DEFAULT_HTML;
      res.writeHead(f.status ?? 200, {
        'Content-Type': 'text/html; charset=utf-8',
        'Content-Length': String(Buffer.byteLength(page)),
      });
      res.end(page);
      return true;
    }
    case 'status': {
      const body = f.body ?? JSON.stringify({ message: `injected status ${f.status ?? 503}` });
      res.writeHead(f.status ?? 503, {
        'Content-Type': 'application/json',
        'Content-Length': String(Buffer.byteLength(body)),
      });
      res.end(body);
      return true;
    }
  }
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'host', 'upgrade', 'proxy-connection']);

/**
 * LeaderProxyFilter + JavaUrlConnectionRequestForwarder: forward the request to the leader with
 * X-Marathon-Via / X-Forwarded-For, copy status, headers and body back (streams included), add X-Marathon-Via.
 */
export function proxyToLeader(
  leaderUrl: string,
  selfHostPort: string,
  req: IncomingMessage,
  res: ServerResponse,
  requests: Set<http.ClientRequest>,
): void {
  const via = `1.1 ${selfHostPort}`;
  const uri = (req.url ?? '/').split('?')[0];
  const seen = req.headers['x-marathon-via'];
  if ((Array.isArray(seen) ? seen : [seen ?? '']).some((v) => v.split(',').map((s) => s.trim()).includes(via))) {
    sendJettyError(res, 502, 'Detected proxying loop.', uri);
    return;
  }
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
  headers['x-marathon-via'] = via;
  const xff = req.headers['x-forwarded-for'];
  headers['x-forwarded-for'] = [xff, req.socket.remoteAddress].filter(Boolean).join(',');
  const upstream = http.request(new URL(req.url ?? '/', leaderUrl), { method: req.method, headers, agent: false });
  requests.add(upstream);
  upstream.on('close', () => requests.delete(upstream));
  upstream.on('response', (up) => {
    const out: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
    out['X-Marathon-Via'] = via;
    if (up.headers['content-length'] === undefined) {
      // Unknown length (an event stream): pass bytes through untouched and end with the connection.
      res.useChunkedEncodingByDefault = false;
      out.Connection = 'close';
    }
    res.writeHead(up.statusCode ?? 502, out);
    res.flushHeaders();
    up.pipe(res);
    res.on('close', () => upstream.destroy());
  });
  upstream.on('error', (err: NodeJS.ErrnoException) => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (err.code === 'ECONNREFUSED') sendJettyError(res, 502, 'Connection to leader refused.', uri);
    else sendJettyError(res, 502, 'Failed to successfully establish a connection to the leader.', uri);
  });
  req.pipe(upstream);
}
