/** Reading request bodies and writing responses: the only place that touches node:http streams directly. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CulmError } from '../core/errors.js';

export const JSON_TYPE = 'application/json; charset=utf-8';
export const TEXT_TYPE = 'text/plain; charset=utf-8';
export const HTML_TYPE = 'text/html; charset=utf-8';

/** The REST error shape: `{ "error": { "code", "message" } }`. */
export interface ErrorBody { error: { code: string; message: string } }

export function send(res: ServerResponse, status: number, contentType: string, body: string | Buffer, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  const payload = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  res.writeHead(status, { ...headers, 'Content-Type': contentType, 'Content-Length': String(payload.length) });
  res.end(payload);
}

export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  send(res, status, JSON_TYPE, JSON.stringify(value), headers);
}

export function sendText(res: ServerResponse, status: number, text: string, contentType = TEXT_TYPE): void {
  send(res, status, contentType, text);
}

export function sendError(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  const body: ErrorBody = { error: { code, message } };
  sendJson(res, status, body, headers);
}

export function badRequest(code: string, message: string): CulmError {
  return new CulmError(code, message, { status: 400 });
}

/**
 * The whole body, at most `limit` bytes. A declared Content-Length over the limit is refused before a byte is
 * read; a chunked body is counted as it arrives and the rest is discarded once the limit is passed.
 */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    throw tooLarge(limit);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > limit) over = true;
    if (!over) chunks.push(buf);
  }
  if (over) throw tooLarge(limit);
  return Buffer.concat(chunks, size);
}

function tooLarge(limit: number): CulmError {
  return new CulmError('E_BODY_TOO_LARGE', `request body is larger than ${limit} bytes`, { status: 413 });
}

/** JSON.parse with the failure turned into a 400 that names no parser internals. */
export function parseJson(body: Buffer): unknown {
  const text = body.toString('utf8');
  if (!text.trim()) throw badRequest('E_BAD_JSON', 'request body is empty; a JSON object is expected');
  try {
    return JSON.parse(text) as unknown;
  } catch {
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
