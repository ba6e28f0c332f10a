/** A small router: exact paths or anchored patterns, one handler per method, 405 with Allow otherwise. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BambooRule } from '../pipeline/types.js';
import type { Principal } from './auth.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  /** The raw (still percent-encoded) path, without the query. */
  path: string;
  query: URLSearchParams;
  /** Captures of the route's pattern, raw: each handler decides how to decode its own. */
  params: string[];
  /** Who sent it (anonymous when authentication is off or not asked for). */
  principal: Principal;
  /** What a rule write changes, filled in by its handler as it learns it; the server writes the audit. */
  audit: AuditNote;
}

export interface AuditNote {
  id?: string;
  before?: BambooRule | null;
  after?: BambooRule | null;
}

export type Handler = (ctx: RequestContext) => void | Promise<void>;

export interface Route {
  /** A stable label for logs and metrics (the pattern, never the concrete path). */
  name: string;
  path: string | RegExp;
  handlers: Partial<Record<Method, Handler>>;
  /**
   * Who may call it. `probe`: anyone, always (health checks, load balancers). `marathon`: Marathon's callback,
   * governed by its own secret, not the API's credentials. Default: the API's (writes, and reads if configured).
   */
  access?: 'probe' | 'marathon';
  /** Writes here change rules: each one, accepted or refused, is audited. */
  audited?: boolean;
}

export type Match =
  | { kind: 'found'; route: Route; handler: Handler; params: string[] }
  | { kind: 'method'; route: Route; allow: string }
  | { kind: 'none' };

export class Router {
  /** Exact paths → their first route, and the route's position among all routes. */
  private readonly exact = new Map<string, { route: Route; at: number }>();
  /** Routes with a pattern, with their positions: tried in order. */
  private readonly patterns: Array<{ route: Route; pattern: RegExp; at: number }> = [];
  private count = 0;
  private readonly all: Route[] = [];

  add(route: Route): this {
    const at = this.count++;
    this.all.push(route);
    if (typeof route.path !== 'string') this.patterns.push({ route, pattern: route.path, at });
    else if (!this.exact.has(route.path)) this.exact.set(route.path, { route, at });
    return this;
  }

  /** Every route, in the order added (the OpenAPI document's test compares them). */
  routes(): readonly Route[] {
    return this.all;
  }

  /** The first route added that matches, as if every route were tried in order (without trying them all). */
  match(method: string, path: string): Match {
    const exact = this.exact.get(path);
    for (const { route, pattern, at } of this.patterns) {
      if (exact && at > exact.at) break;
      const m = pattern.exec(path);
      if (m) return this.resolve(route, method, m.slice(1));
    }
    return exact ? this.resolve(exact.route, method, []) : { kind: 'none' };
  }

  private resolve(route: Route, method: string, params: string[]): Match {
    // HEAD is GET without the body; node:http drops the body of a HEAD response itself.
    const handler = route.handlers[(method === 'HEAD' ? 'GET' : method) as Method];
    if (handler) return { kind: 'found', route, handler, params };
    return { kind: 'method', route, allow: allowed(route) };
  }
}

function allowed(route: Route): string {
  const methods = Object.keys(route.handlers);
  if (methods.includes('GET')) methods.splice(methods.indexOf('GET') + 1, 0, 'HEAD');
  return methods.join(', ');
}

/** Splits `req.url` by hand: `new URL()` would read a path such as `//grp/app` as a host. */
export function splitUrl(url: string): { path: string; query: URLSearchParams } {
  const q = url.indexOf('?');
  return q < 0 ? { path: url, query: new URLSearchParams() } : { path: url.slice(0, q), query: new URLSearchParams(url.slice(q + 1)) };
}
