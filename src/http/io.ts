/** Reading request bodies and writing responses: the only place that touches node:http streams directly. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CulmError, type ErrorCode } from '../core/errors.js';

export const JSON_TYPE = 'application/json; charset=utf-8';
export const TEXT_TYPE = 'text/plain; charset=utf-8';
export const HTML_TYPE = 'text/html; charset=utf-8';

/** The REST error shape: `{ "error": { "code", "message" } }`, and `detail` when the message is a short form of it. */
export interface ErrorBody { error: { code: string; message: string; detail?: string } }

/**
 * Every culm response goes through here, with `X-Content-Type-Options: nosniff`. Headers are handed to
 * writeHead as one flat list (node's fast path: no per-header bookkeeping), and a string body is written
 * as is (node sends it in one piece with the head).
 */
/** Header values; a list sends the header once per value (several WWW-Authenticate challenges). */
export type Headers = Record<string, string | readonly string[]>;

export function send(res: ServerResponse, status: number, contentType: string, body: string | Buffer, headers: Headers = {}): void {
  if (res.headersSent) return;
  const length = typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : body.length;
  const list: string[] = ['X-Content-Type-Options', 'nosniff'];
  for (const name in headers) {
    const lower = name.toLowerCase();
    if (lower === 'content-type' || lower === 'content-length' || lower === 'x-content-type-options') continue;
    const value = headers[name];
    if (typeof value === 'string') list.push(name, value);
    else for (const v of value) list.push(name, v);
  }
  list.push('Content-Type', contentType, 'Content-Length', String(length));
  res.writeHead(status, list);
  res.end(body);
}

export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Headers = {}): void {
  send(res, status, JSON_TYPE, JSON.stringify(value), headers);
}

export function sendText(res: ServerResponse, status: number, text: string, contentType = TEXT_TYPE): void {
  send(res, status, contentType, text);
}

export function sendError(res: ServerResponse, status: number, code: ErrorCode, message: string, headers: Headers = {}, detail?: string): void {
  const body: ErrorBody = { error: detail === undefined ? { code, message } : { code, message, detail } };
  sendJson(res, status, body, headers);
}

export function badRequest(code: ErrorCode, message: string): CulmError {
  return new CulmError(code, message, { status: 400 });
}

/**
 * The whole body, at most `limit` bytes. A declared Content-Length over the limit is refused before a byte is
 * read; a chunked body is counted as it arrives and the rest is discarded once the limit is passed.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    return Promise.reject(tooLarge(limit));
  }
  if (req.destroyed) return Promise.reject(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
  // Listeners rather than `for await`: an async iterator per request costs more than the rest of a callback.
  // Whichever of end, error and close comes first settles the promise; the others are no-ops then.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) over = true;
      if (!over) chunks.push(chunk);
    });
    let ended = false;
    req.on('end', () => {
      ended = true;
      if (over) reject(tooLarge(limit));
      else resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
    });
    req.on('error', reject);
    // Closed before the end: the client went away.
    req.on('close', () => {
      if (!ended) reject(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
    });
  });
}

function tooLarge(limit: number): CulmError {
  return new CulmError('E_BODY_TOO_LARGE', `request body is larger than ${limit} bytes`, { status: 413 });
}

/** JSON.parse with the failure turned into a 400 that names no parser internals. */
export function parseJson(body: Buffer): unknown {
  const text = body.toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // Judged only on failure: trimming every body costs a copy.
    if (!text.trim()) throw badRequest('E_BAD_JSON', 'request body is empty; a JSON object is expected');
    throw badRequest('E_BAD_JSON', 'request body is not valid JSON');
  }
}

/**
 * Bodies culm reads as JSON whatever they are labelled: no type, JSON types, and the two a plain
 * `curl -d '{…}'` sends (Bamboo's README documents exactly that call, so scripts rely on it).
 */
export function isJsonish(contentType: string | undefined): boolean {
  if (!contentType) return true;
  const type = contentType.split(';')[0].trim().toLowerCase();
  return type === '' || type === 'application/json' || /^application\/[\w.-]+\+json$/.test(type)
    || type === 'application/x-www-form-urlencoded' || type === 'text/plain';
}

export function requireJsonish(req: IncomingMessage): void {
  if (!isJsonish(req.headers['content-type'])) {
    throw new CulmError('E_UNSUPPORTED_MEDIA_TYPE', `content type ${JSON.stringify(req.headers['content-type'])} is not supported; send JSON`, { status: 415 });
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
