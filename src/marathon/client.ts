import { performance } from 'node:perf_hooks';
import { Agent, request, type Dispatcher } from 'undici';
import { callHook, type Logger } from '../log/logger.js';
import type { ErrorCode } from '../core/errors.js';
import { buildUrl, parseEndpoints, type Endpoint, type Query } from './endpoints.js';
import {
  MarathonError,
  MarathonErrorCode as Code,
  describeError,
  errorBodyMessage,
  isJsonMediaType,
  isTimeoutError,
  mediaType,
  readCapped,
} from './http.js';
import { AppsBodyError, AppsSplitter } from './apps-splitter.js';

export type RequestOutcome = 'ok' | 'error';

export interface MarathonClientOptions {
  /** Marathon base URLs (http://host:port[/prefix]); entries may be comma-separated lists. */
  endpoints: readonly string[];
  user?: string;
  password?: string;
  /** Deadline for one attempt on one endpoint: connect + headers + the complete body. */
  timeoutMs: number;
  log: Logger;
  /** Called once per attempt (per endpoint tried), for metrics. Must not throw. */
  onRequest?: (endpoint: string, outcome: RequestOutcome, ms: number) => void;
}

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface MarathonRequestOptions {
  query?: Query;
  /** Sent as JSON. */
  body?: unknown;
  signal?: AbortSignal;
  /** Overrides the client's timeoutMs for this call. */
  timeoutMs?: number;
  /**
   * Checks the shape of a parsed 2xx body; returns a problem description or undefined. A problem counts
   * like an unparsable body (E_MARATHON_BODY, next endpoint tried).
   */
  validate?: (body: unknown) => string | undefined;
  /**
   * Reads a 2xx JSON body itself (instead of reading it whole and JSON.parse): returns the value, throws
   * AppsBodyError for a body that is not what it should be (E_MARATHON_BODY, next endpoint tried).
   */
  consume?: (body: AsyncIterable<Uint8Array>) => Promise<unknown>;
}

/** Receives the apps of one answer, one at a time; a fresh one is made for each endpoint tried. */
export interface AppsSink<T> {
  add(rawApp: unknown): void;
  result(): T;
}

export interface AppsResponse {
  apps: unknown[];
}

/** Bamboo's query (with the documented "apps." prefix): tasks, deployments and readiness in one call. */
export const APPS_PATH = '/v2/apps?embed=apps.tasks&embed=apps.deployments&embed=apps.readiness';

/** The same embeds for one app (`app.` prefix), so a single-app read carries what a resync does. */
export const APP_EMBEDS = ['app.tasks', 'app.deployments', 'app.readiness'];

const hasAppObject = (body: unknown): string | undefined => {
  const app = (body as { app?: unknown } | null)?.app;
  return typeof app === 'object' && app !== null && !Array.isArray(app) ? undefined : 'expected an object with an "app" object';
};

type Attempt = { ok: true; value: unknown } | { ok: false; error: MarathonError; failover: boolean };

/**
 * Marathon's REST API over a list of endpoints (all members of one cluster). Status handling:
 * - 2xx + JSON → parsed body. 2xx with another content type (an HTML page) or an unparsable body → next endpoint.
 * - connection error, timeout, 3xx, 408, 429, 5xx (502 "no leader", 503 during elections) → next endpoint.
 * - 401/403 → E_MARATHON_AUTH, next endpoint too (members may be configured differently; it costs one request);
 *   when every endpoint fails and one of them said 401/403, the error is E_MARATHON_AUTH: the config is the problem.
 * - 404 with a JSON body → E_MARATHON_NOT_FOUND at once: every member serves the same state, so Marathon's answer
 *   is definitive. A 404 that is not JSON is probably not Marathon (wrong prefix, a proxy) → next endpoint.
 * - other 4xx (400, 409, 422…) → E_MARATHON_HTTP at once: the request itself is wrong, another member says the same.
 * Error bodies `{"message": …}` (or an HTML title) end up in the error message.
 */
export class MarathonClient {
  private readonly endpoints: readonly Endpoint[];
  private readonly auth: string | undefined;
  private readonly timeoutMs: number;
  private readonly log: Logger;
  private readonly onRequest: MarathonClientOptions['onRequest'];
  private readonly agent: Agent;
  /** Index of the endpoint that answered last: why sticky — no flapping between members, the leader stays hot. */
  private current = 0;

  constructor(options: MarathonClientOptions) {
    const { endpoints, auth } = parseEndpoints(options.endpoints, options);
    this.endpoints = endpoints;
    this.auth = auth;
    this.timeoutMs = options.timeoutMs;
    this.log = options.log.child({ component: 'marathon-client' });
    this.onRequest = options.onRequest;
    // Why an own Agent: keep-alive connections to Marathon are pooled per client and closed with it.
    this.agent = new Agent({ connect: { timeout: options.timeoutMs } });
  }

  /** Base URL of the endpoint that will be tried first (the one that worked last). */
  currentEndpoint(): string {
    return this.endpoints[this.current].base;
  }

  /** All configured endpoints, credentials removed. */
  endpointList(): string[] {
    return this.endpoints.map((e) => e.base);
  }

  getJson(path: string, opts: Omit<MarathonRequestOptions, 'body'> = {}): Promise<unknown> {
    return this.request('GET', path, opts);
  }

  /** GET /v2/apps with tasks, deployments and readiness embedded; only checks that `apps` is an array. */
  getApps(opts: Pick<MarathonRequestOptions, 'signal' | 'timeoutMs'> = {}): Promise<AppsResponse> {
    return this.streamApps(() => {
      const apps: unknown[] = [];
      return { add: (raw) => apps.push(raw), result: () => ({ apps }) };
    }, opts);
  }

  /**
   * GET /v2/apps/{id} with the resync's embeds: Marathon's `app` object, or null when Marathon says the app
   * does not exist (a JSON 404, definitive). Any other failure throws. `id` must be a valid Marathon app id;
   * each segment is encoded all the same.
   */
  async getApp(id: string, opts: Pick<MarathonRequestOptions, 'signal' | 'timeoutMs'> = {}): Promise<unknown> {
    const path = `/v2/apps/${id.split('/').filter((s) => s !== '').map(encodeURIComponent).join('/')}`;
    try {
      const body = await this.request('GET', path, { ...opts, query: { embed: APP_EMBEDS }, validate: hasAppObject });
      return (body as { app: unknown }).app;
    } catch (err) {
      if (err instanceof MarathonError && err.code === Code.NOT_FOUND) return null;
      throw err;
    }
  }

  /**
   * GET /v2/apps like getApps, with each app handed to the sink as soon as it has arrived and been parsed, so
   * the whole answer (tens of MB at 10,000 apps) is never held at once. An answer that fails half-way (cut
   * short, malformed) is dropped with its sink and the next endpoint gets a fresh one.
   */
  async streamApps<T>(makeSink: () => AppsSink<T>, opts: Pick<MarathonRequestOptions, 'signal' | 'timeoutMs'> = {}): Promise<T> {
    return (await this.request('GET', APPS_PATH, {
      ...opts,
      consume: async (body) => {
        const sink = makeSink();
        const splitter = new AppsSplitter((raw) => sink.add(raw));
        for await (const chunk of body) splitter.push(chunk);
        splitter.end();
        return sink.result();
      },
    })) as T;
  }

  /**
   * One call, with failover across endpoints starting at the current one (each tried at most once).
   * Why failover also for POST/DELETE: the only writes culm makes (event subscriptions) are idempotent.
   */
  async request(method: HttpMethod, path: string, opts: MarathonRequestOptions = {}): Promise<unknown> {
    if (opts.signal?.aborted) throw abortedError(method, path);
    const n = this.endpoints.length;
    const start = this.current;
    const failures: MarathonError[] = [];
    for (let k = 0; k < n; k++) {
      const index = (start + k) % n;
      const endpoint = this.endpoints[index];
      const began = performance.now();
      const result = await this.attempt(endpoint, method, path, opts);
      this.report(endpoint.base, result.ok ? 'ok' : 'error', performance.now() - began);
      if (result.ok) {
        if (index !== this.current) {
          this.log.info({ endpoint: endpoint.base, previous: this.endpoints[this.current].base }, 'switched Marathon endpoint');
          this.current = index;
        }
        return result.value;
      }
      failures.push(result.error);
      const { code, httpStatus, message } = result.error;
      this.log.warn({ endpoint: endpoint.base, method, path, code, httpStatus, failover: result.failover && n > 1 }, message);
      if (!result.failover) throw result.error;
    }
    throw combine(failures);
  }

  /** Closes pooled connections; in-flight requests finish first. */
  async close(): Promise<void> {
    await this.agent.close();
  }

  private report(endpoint: string, outcome: RequestOutcome, ms: number): void {
    const hook = this.onRequest;
    if (hook) callHook(this.log, 'onRequest', () => hook(endpoint, outcome, ms), 'debug');
  }

  private async attempt(endpoint: Endpoint, method: HttpMethod, path: string, opts: MarathonRequestOptions): Promise<Attempt> {
    const url = buildUrl(endpoint.base, path, opts.query);
    // Query values stay out of messages (they reach logs and /readyz): callbackUrl carries the callback secret.
    const what = `${method} ${url.pathname}${redactQuery(url.searchParams)} on ${endpoint.base}`;
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    // Why an own deadline on top of undici's headersTimeout/bodyTimeout: those are idle timeouts; a Marathon
    // trickling a huge /v2/apps byte by byte would never trip them. This one bounds the whole attempt.
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    const onCallerAbort = (): void => controller.abort();
    opts.signal?.addEventListener('abort', onCallerAbort, { once: true });
    const fail = (code: ErrorCode, message: string, failover: boolean, extra: { httpStatus?: number; cause?: unknown } = {}): Attempt => ({
      ok: false,
      failover,
      error: new MarathonError(code, message, { endpoint: endpoint.base, ...extra }),
    });
    try {
      const headers: Record<string, string> = { accept: 'application/json' };
      if (this.auth) headers.authorization = this.auth;
      let body: string | undefined;
      if (opts.body !== undefined) {
        body = JSON.stringify(opts.body);
        headers['content-type'] = 'application/json';
      }
      const res = await request(url, {
        method,
        headers,
        body,
        signal: controller.signal,
        dispatcher: this.agent,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      return await this.readResponse(res, what, fail, opts);
    } catch (err) {
      if (opts.signal?.aborted) return { ok: false, failover: false, error: abortedError(method, path, err) };
      if (timedOut || isTimeoutError(err)) {
        return fail(Code.TIMEOUT, `${what}: no complete answer within ${timeoutMs} ms`, true, { cause: err });
      }
      return fail(Code.CONNECT, `${what}: ${describeError(err)}`, true, { cause: err });
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onCallerAbort);
    }
  }

  private async readResponse(
    res: Dispatcher.ResponseData,
    what: string,
    fail: (code: ErrorCode, message: string, failover: boolean, extra?: { httpStatus?: number; cause?: unknown }) => Attempt,
    { validate, consume }: Pick<MarathonRequestOptions, 'validate' | 'consume'>,
  ): Promise<Attempt> {
    const status = res.statusCode;
    const type = mediaType(res.headers);
    if (status >= 200 && status < 300) {
      if (status === 204) {
        await res.body.dump();
        return { ok: true, value: undefined };
      }
      if (!isJsonMediaType(type)) {
        const hint = errorBodyMessage(await readCapped(res.body), type);
        return fail(Code.CONTENT_TYPE, `${what}: expected JSON, got ${type || 'no content type'}${hint ? ` (${hint})` : ''}`, true, {
          httpStatus: status,
        });
      }
      if (consume) {
        try {
          return { ok: true, value: await consume(res.body) };
        } catch (err) {
          if (!(err instanceof AppsBodyError)) throw err;
          res.body.destroy();
          return fail(Code.BODY, `${what}: ${err.message}`, true, { httpStatus: status, cause: err });
        }
      }
      const text = await res.body.text();
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (cause) {
        return fail(Code.BODY, `${what}: unparsable JSON body (${text.length} chars)`, true, { httpStatus: status, cause });
      }
      const problem = validate?.(value);
      if (problem !== undefined) return fail(Code.BODY, `${what}: ${problem}`, true, { httpStatus: status });
      return { ok: true, value };
    }

    const hint = errorBodyMessage(await readCapped(res.body), type);
    const message = `${what}: HTTP ${status}${hint ? ` ${hint}` : ''}`;
    if (status === 401 || status === 403) {
      return fail(Code.AUTH, `${message} (check the Marathon user/password)`, true, { httpStatus: status });
    }
    if (status === 404) return fail(Code.NOT_FOUND, message, !isJsonMediaType(type), { httpStatus: status });
    const transient = status < 400 || status >= 500 || status === 408 || status === 429;
    return fail(Code.HTTP, message, transient, { httpStatus: status });
  }
}

function abortedError(method: string, path: string, cause?: unknown): MarathonError {
  return new MarathonError(Code.ABORTED, `${method} ${path}: aborted`, { cause });
}

/** Every endpoint failed: one error naming them all; its code says what to fix first (auth beats the rest). */
function combine(failures: MarathonError[]): MarathonError {
  if (failures.length === 1) return failures[0];
  const picked = failures.find((f) => f.code === Code.AUTH) ?? failures[failures.length - 1];
  return new MarathonError(
    picked.code,
    `all ${failures.length} Marathon endpoints failed: ${failures.map((f) => f.message).join('; ')}`,
    { cause: new AggregateError(failures), endpoint: picked.endpoint, httpStatus: picked.httpStatus },
  );
}

/** `?key=[redacted]&…`: which parameters a request had, never their values. */
export function redactQuery(params: URLSearchParams): string {
  const keys = [...params.keys()];
  return keys.length === 0 ? '' : `?${keys.map((k) => `${encodeURIComponent(k)}=[redacted]`).join('&')}`;
}
