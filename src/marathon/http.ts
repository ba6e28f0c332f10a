import type { IncomingHttpHeaders } from 'node:http';
import { CulmError, type ErrorCode } from '../core/errors.js';

/** Error codes raised by src/marathon; tests and callers switch on these, never on messages. */
export const MarathonErrorCode = {
  /** Connection refused/reset, DNS failure, TLS error… (no HTTP answer at all). */
  CONNECT: 'E_MARATHON_CONNECT',
  /** An HTTP answer with a failing status that has no more specific code. */
  HTTP: 'E_MARATHON_HTTP',
  /** 401/403: wrong or missing credentials — a configuration problem. */
  AUTH: 'E_MARATHON_AUTH',
  /** 404: the resource does not exist (unknown app, or an API this Marathon version lacks). */
  NOT_FOUND: 'E_MARATHON_NOT_FOUND',
  /** No answer (headers or complete body) within the deadline; for the event stream: no byte within the watchdog. */
  TIMEOUT: 'E_MARATHON_TIMEOUT',
  /** A success status with a body that is not JSON / not an event stream (an HTML page, a proxy's login form…). */
  CONTENT_TYPE: 'E_MARATHON_CONTENT_TYPE',
  /** JSON that does not parse, or lacks the shape we need (`apps` not an array…). */
  BODY: 'E_MARATHON_BODY',
  /** More redirects than allowed (a loop between non-leaders). */
  REDIRECT: 'E_MARATHON_REDIRECT',
  /** The caller's AbortSignal fired. */
  ABORTED: 'E_MARATHON_ABORTED',
  /** Marathon has no callback (http_callback) event subscriptions: 1.4 without the flag, or 1.5+. */
  CALLBACKS_UNAVAILABLE: 'E_CALLBACKS_UNAVAILABLE',
} as const satisfies Record<string, ErrorCode>;

export interface MarathonErrorDetails {
  cause?: unknown;
  /** The endpoint base URL (never with credentials). */
  endpoint?: string;
  /** Marathon's HTTP status, when it answered. */
  httpStatus?: number;
}

export class MarathonError extends CulmError {
  readonly endpoint: string | undefined;
  readonly httpStatus: number | undefined;
  constructor(code: ErrorCode, message: string, details: MarathonErrorDetails = {}) {
    // Why 502/504: seen from culm's REST API, a failing Marathon is a bad/slow upstream.
    super(code, message, { cause: details.cause, status: code === MarathonErrorCode.TIMEOUT ? 504 : 502 });
    this.name = 'MarathonError';
    this.endpoint = details.endpoint;
    this.httpStatus = details.httpStatus;
  }
}

export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export function mediaType(headers: IncomingHttpHeaders): string {
  return (headerValue(headers, 'content-type') ?? '').split(';')[0].trim().toLowerCase();
}

export function isJsonMediaType(type: string): boolean {
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
}

/** Reads at most `cap` bytes of a body, then discards the rest — error pages are for messages, not for memory. */
export async function readCapped(body: AsyncIterable<Uint8Array> & { destroy(err?: Error): unknown }, cap = 64 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buf = Buffer.from(chunk);
    chunks.push(buf);
    size += buf.length;
    if (size >= cap) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(chunks).subarray(0, cap).toString('utf8');
}

/**
 * A short human message out of an error body: Marathon's `{"message": ...}`, an HTML page's <title>
 * (Jetty's 405 "HTTP method GET is not supported by this URL"), or the start of the text.
 */
export function errorBodyMessage(text: string, type: string): string | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  if (isJsonMediaType(type) || trimmed.startsWith('{')) {
    try {
      const parsed: unknown = JSON.parse(trimmed);
      if (parsed && typeof parsed === 'object' && typeof (parsed as { message?: unknown }).message === 'string') {
        return (parsed as { message: string }).message;
      }
    } catch {
      // not JSON after all: fall through to text
    }
  }
  if (type === 'text/html' || /^<(!doctype|html)/i.test(trimmed)) {
    const title = /<title[^>]*>([\s\S]*?)<\/title>/i.exec(trimmed)?.[1];
    const h = /<h[12][^>]*>([\s\S]*?)<\/h[12]>/i.exec(trimmed)?.[1];
    const picked = (title ?? h ?? trimmed.replace(/<[^>]*>/g, ' ')).replace(/\s+/g, ' ').trim();
    return picked.slice(0, 200) || undefined;
  }
  return trimmed.replace(/\s+/g, ' ').slice(0, 200);
}

/** undici error codes that mean "no HTTP answer from this endpoint". */
export function isTimeoutError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT';
}

export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}
