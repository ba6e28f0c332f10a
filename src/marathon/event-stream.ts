import { Agent, request, type Dispatcher } from 'undici';
import { callHook, type Logger } from '../log/logger.js';
import { buildUrl, parseEndpoints, type Endpoint } from './endpoints.js';
import {
  MarathonError,
  MarathonErrorCode as Code,
  describeError,
  errorBodyMessage,
  headerValue,
  isTimeoutError,
  mediaType,
  readCapped,
} from './http.js';
import { SseParser } from './sse.js';
import { Backoff } from '../core/backoff.js';
import { wallClockTimers, type Timers } from '../pipeline/hint-limiter.js';

export interface EventStreamBackoff {
  /** First delay before reconnecting (jittered down to half of it). Default 250 ms. */
  initialMs?: number;
  /** Cap of the doubling delay. Default 10 s. */
  maxMs?: number;
  /** A connection that lived longer than this resets the backoff. Default 10 s. */
  stableMs?: number;
}

export interface EventStreamOptions {
  endpoints: readonly string[];
  user?: string;
  password?: string;
  log: Logger;
  /**
   * No byte at all (not even Jetty's keepalive, sent every 10 s) for this long → abort and reconnect.
   * Also bounds connecting + waiting for headers. Pick well above 10 s (e.g. 30 s).
   */
  watchdogMs: number;
  /** Raw SSE message: the event type and its data (JSON text for Marathon). Must not throw (it is caught and logged). */
  onEvent: (eventType: string, data: string) => void;
  /**
   * After every successful (re)connect, before the first event of that connection is delivered. The caller
   * resyncs here: events missed while disconnected are gone (Marathon has no replay). Not awaited — reading
   * continues meanwhile (Marathon ≥1.8 drops slow consumers); a rejection is logged.
   */
  onConnected?: (info: { endpoint: string }) => void | Promise<void>;
  /** After a connection that was established is lost (or fails to establish): for metrics and readiness. */
  onDisconnected?: (error: MarathonError | undefined) => void;
  /** `?event_type=` filter (Marathon ≥1.3.7); empty or absent = every event. */
  eventTypes?: readonly string[];
  backoff?: EventStreamBackoff;
  /** Redirects (1.7+ non-leaders answer 302 to the leader) followed per connect. Default 5. */
  maxRedirects?: number;
  /** The watchdog, the reconnect delay and the times reported (`now()` in ms since epoch). Default: Node's timers. */
  timers?: Timers;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

interface ConnectResult {
  /** When the stream was established (200 + text/event-stream), if it was. */
  connectedAt?: number;
  /** Why it ended; undefined when Marathon closed a healthy stream or we were stopped. */
  error?: MarathonError;
}

/**
 * Marathon's SSE stream (GET /v2/events) with watchdog, redirects to the leader, reconnect with backoff and
 * failover across endpoints. One connection at a time; `stop()` leaves no timer and no socket behind.
 */
export class EventStream {
  private readonly endpoints: readonly Endpoint[];
  private readonly auth: string | undefined;
  private readonly log: Logger;
  private readonly opts: EventStreamOptions;
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly stableMs: number;
  private readonly maxRedirects: number;
  private readonly timers: Timers;
  private current = 0;
  private agent: Agent | undefined;
  private controller: AbortController | undefined;
  private wake: (() => void) | undefined;
  private loopDone: Promise<void> | undefined;
  private stopping = false;
  private isConnected = false;
  private connectedTo: string | undefined;
  private lastEvent: number | undefined;
  private lastByte: number | undefined;
  private connects = 0;

  constructor(options: EventStreamOptions) {
    const { endpoints, auth } = parseEndpoints(options.endpoints, options);
    this.endpoints = endpoints;
    this.auth = auth;
    this.opts = options;
    this.log = options.log.child({ component: 'marathon-events' });
    this.initialMs = options.backoff?.initialMs ?? 250;
    this.maxMs = options.backoff?.maxMs ?? 10_000;
    this.stableMs = options.backoff?.stableMs ?? 10_000;
    this.maxRedirects = options.maxRedirects ?? 5;
    this.timers = options.timers ?? wallClockTimers;
  }

  /** True while a stream is established (for readiness). */
  get connected(): boolean {
    return this.isConnected;
  }

  /** Epoch ms of the last event delivered, if any. */
  get lastEventAt(): number | undefined {
    return this.lastEvent;
  }

  /** Epoch ms of the last byte received (keepalives included), if any. */
  get lastByteAt(): number | undefined {
    return this.lastByte;
  }

  /** The URL origin of the established stream (after redirects: the leader), else undefined. */
  get connectedEndpoint(): string | undefined {
    return this.isConnected ? this.connectedTo : undefined;
  }

  /** Number of successful connects so far. */
  get connectCount(): number {
    return this.connects;
  }

  /** Starts connecting in the background; idempotent. */
  start(): void {
    if (this.loopDone) return;
    this.stopping = false;
    // Why bodyTimeout/headersTimeout 0: the watchdog is the one authority on silence, with one clear log line.
    this.agent = new Agent({ connect: { timeout: this.opts.watchdogMs }, headersTimeout: 0, bodyTimeout: 0 });
    this.loopDone = this.loop();
  }

  /** Aborts the stream, cancels any pending reconnect, closes sockets; resolves when all of it is done. */
  async stop(): Promise<void> {
    if (!this.loopDone) return;
    this.stopping = true;
    this.controller?.abort();
    this.wake?.();
    await this.loopDone;
    await this.agent?.destroy();
    this.agent = undefined;
    this.loopDone = undefined;
  }

  private async loop(): Promise<void> {
    const retry = new Backoff({ initialMs: this.initialMs, maxMs: this.maxMs, jitter: 'equal' });
    while (!this.stopping) {
      const endpoint = this.endpoints[this.current];
      const { connectedAt, error } = await this.connectOnce(endpoint);
      if (this.stopping) break;
      const lived = connectedAt === undefined ? 0 : this.timers.now() - connectedAt;
      if (lived > this.stableMs) retry.reset();
      // Why keep the endpoint after a stream that was up: Marathon closes streams on leader change and
      // the same member will redirect/proxy to the new leader. Failing to connect at all → next member.
      if (connectedAt === undefined && this.endpoints.length > 1) this.current = (this.current + 1) % this.endpoints.length;
      const delay = retry.next();
      const next = this.endpoints[this.current].base;
      if (error) {
        this.log.warn({ code: error.code, httpStatus: error.httpStatus, endpoint: endpoint.base, next, delayMs: delay }, `event stream: ${error.message}`);
      } else {
        this.log.info({ endpoint: endpoint.base, next, delayMs: delay, livedMs: lived }, 'event stream closed by Marathon; reconnecting');
      }
      callHook(this.log, 'onDisconnected', () => this.opts.onDisconnected?.(error));
      await this.sleep(delay);
    }
  }


  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.stopping) return resolve();
      const done = (): void => {
        this.timers.clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = this.timers.setTimeout(done, ms);
      this.wake = done;
    });
  }

  private async connectOnce(endpoint: Endpoint): Promise<ConnectResult> {
    const watchdogMs = this.opts.watchdogMs;
    const controller = new AbortController();
    this.controller = controller;
    let watchdogFired = false;
    // Rather than re-arming a timer on every chunk, the watchdog looks at the last activity when it fires.
    let lastActivity = this.timers.now();
    const refresh = (): void => {
      lastActivity = this.timers.now();
    };
    const bark = (): void => {
      const quietMs = this.timers.now() - lastActivity;
      if (quietMs < watchdogMs) {
        watchdog = this.timers.setTimeout(bark, watchdogMs - quietMs);
        return;
      }
      watchdogFired = true;
      controller.abort();
    };
    let watchdog = this.timers.setTimeout(bark, watchdogMs);
    let connectedAt: number | undefined;
    let body: Dispatcher.ResponseData['body'] | undefined;
    try {
      const query = this.opts.eventTypes?.length ? { event_type: this.opts.eventTypes } : undefined;
      let url = buildUrl(endpoint.base, '/v2/events', query);
      let res: Dispatcher.ResponseData;
      for (let hops = 0; ; hops++) {
        // Why exactly one Accept value: Jetty's EventSourceServlet compares each Accept header value with
        // "text/event-stream" as a whole string; anything else falls through to a 405 HTML page.
        const headers: Record<string, string> = { accept: 'text/event-stream' };
        if (this.auth) headers.authorization = this.auth;
        res = await request(url, { method: 'GET', headers, signal: controller.signal, dispatcher: this.agent });
        body = res.body;
        refresh();
        const location = headerValue(res.headers, 'location');
        if (!REDIRECTS.has(res.statusCode) || location === undefined) break;
        await res.body.dump();
        if (hops >= this.maxRedirects) {
          throw new MarathonError(Code.REDIRECT, `more than ${this.maxRedirects} redirects (last to ${location})`, {
            endpoint: endpoint.base,
            httpStatus: res.statusCode,
          });
        }
        const next = new URL(location, url);
        if (next.protocol !== 'http:' && next.protocol !== 'https:') {
          throw new MarathonError(Code.REDIRECT, `redirect to unsupported URL ${next.protocol}`, { endpoint: endpoint.base });
        }
        // Marathon puts the query in its Location; should a proxy drop it, our event_type filter must survive.
        if (next.search === '' && url.search !== '') next.search = url.search;
        next.username = '';
        next.password = '';
        // Why credentials follow the redirect: it points at the leader of the same cluster (same --http_credentials).
        this.log.debug({ from: url.origin, to: next.origin, status: res.statusCode }, 'event stream redirected (to the leader)');
        url = next;
      }

      const type = mediaType(res.headers);
      if (res.statusCode !== 200) {
        throw this.httpFailure(endpoint, url, res.statusCode, type, await readCapped(res.body));
      }
      if (type !== 'text/event-stream') {
        const hint = errorBodyMessage(await readCapped(res.body), type);
        throw new MarathonError(
          Code.CONTENT_TYPE,
          `GET ${url.origin}/v2/events answered 200 with ${type || 'no content type'} instead of text/event-stream${hint ? ` (${hint})` : ''}`,
          { endpoint: endpoint.base, httpStatus: 200 },
        );
      }

      connectedAt = this.timers.now();
      this.isConnected = true;
      this.connectedTo = url.origin;
      this.connects++;
      this.log.info({ endpoint: endpoint.base, leader: url.origin }, 'event stream connected');
      this.fireConnected(url.origin);

      const parser = new SseParser();
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        // Any byte, keepalive included, proves the connection is alive.
        refresh();
        this.lastByte = this.timers.now();
        for (const message of parser.push(chunk)) {
          this.lastEvent = this.timers.now();
          callHook(this.log, 'onEvent', () => this.opts.onEvent(message.event, message.data));
        }
        if (this.stopping) break;
      }
      return { connectedAt };
    } catch (err) {
      if (this.stopping) return { connectedAt };
      if (err instanceof MarathonError) return { connectedAt, error: err };
      if (watchdogFired || isTimeoutError(err)) {
        const phase = connectedAt === undefined ? 'while connecting' : 'on an established stream (Jetty sends a keepalive every 10 s)';
        return {
          connectedAt,
          error: new MarathonError(Code.TIMEOUT, `no byte from ${endpoint.base} for ${watchdogMs} ms ${phase}`, {
            endpoint: endpoint.base,
            cause: err,
          }),
        };
      }
      const code = connectedAt === undefined ? Code.CONNECT : Code.BODY;
      return { connectedAt, error: new MarathonError(code, `${endpoint.base}: ${describeError(err)}`, { endpoint: endpoint.base, cause: err }) };
    } finally {
      this.timers.clearTimeout(watchdog);
      this.isConnected = false;
      this.controller = undefined;
      // The body is consumed, dumped or aborted on every path above; destroy is a no-op then, a safety net otherwise.
      if (body && !body.destroyed) body.destroy();
    }
  }

  private httpFailure(endpoint: Endpoint, url: URL, status: number, type: string, text: string): MarathonError {
    const hint = errorBodyMessage(text, type);
    const base = `GET ${url.origin}/v2/events answered HTTP ${status}${hint ? ` (${hint})` : ''}`;
    const details = { endpoint: endpoint.base, httpStatus: status };
    if (status === 405) {
      return new MarathonError(
        Code.HTTP,
        `${base}: Marathon serves the event stream only when the Accept header is exactly "text/event-stream" — a proxy in between may rewrite it`,
        details,
      );
    }
    if (status === 401 || status === 403) return new MarathonError(Code.AUTH, `${base}: check the Marathon user/password`, details);
    if (status === 404) return new MarathonError(Code.NOT_FOUND, `${base}: is this a Marathon endpoint?`, details);
    return new MarathonError(Code.HTTP, base, details);
  }

  private fireConnected(endpoint: string): void {
    const hook = this.opts.onConnected;
    if (!hook) return;
    try {
      const result = hook({ endpoint });
      if (result && typeof (result as Promise<void>).then === 'function') {
        (result as Promise<void>).catch((err: unknown) => this.log.error({ err }, 'onConnected failed'));
      }
    } catch (err) {
      this.log.error({ err }, 'onConnected failed');
    }
  }

}
