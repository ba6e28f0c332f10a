/**
 * `GET /api/events`: the daemon's event bus as a server-sent event stream (`text/event-stream`), for the
 * console and for scripts (`curl -N`). Each event is `id`, `event` (app, task, resync, apply, rule) and one
 * `data` line of JSON naming the app(s); a comment every KEEPALIVE_MS keeps proxies from closing an idle stream.
 *
 * Bounded both ways: at most MAX_STREAMS at once (the next one is a 429 with Retry-After), and a client that
 * does not read is dropped once MAX_BUFFERED bytes wait for it, never buffered without bound; it reconnects
 * and reads /api/state again, which is what it would need anyway after missing events.
 */
import type { ServerResponse } from 'node:http';
import { CulmError } from '../core/errors.js';
import type { LiveEvent } from '../pipeline/event-bus.js';
import type { CulmCore } from '../pipeline/types.js';
import type { Route } from './router.js';

export const MAX_STREAMS = 32;
export const MAX_BUFFERED = 256 * 1024;
export const KEEPALIVE_MS = 15_000;
/** What an EventSource waits before it reconnects (the `retry:` field). */
const RETRY_MS = 2_000;

/** One event in the stream's framing. JSON.stringify never writes a newline, so `data` is always one line. */
export function frameEvent(id: number, event: LiveEvent): string {
  return `id: ${id}\nevent: ${event.type}\ndata: ${JSON.stringify(event.data)}\n\n`;
}

export const KEEPALIVE_FRAME = ': keep-alive\n\n';
/** The stream's first bytes: the reconnect delay, and a comment so the client sees the stream open at once. */
export const PRELUDE = `retry: ${RETRY_MS}\n${KEEPALIVE_FRAME}`;

/** Where a stream writes: a response in production, a plain object in the unit tests. */
export interface StreamSink {
  write(chunk: string): void;
  /** Bytes written but not yet taken by the client (the response's and its socket's buffers). */
  buffered(): number;
  /** Ends the stream at once, whatever is still buffered. */
  drop(): void;
}

export function responseSink(res: ServerResponse): StreamSink {
  return {
    write: (chunk) => void res.write(chunk),
    buffered: () => res.writableLength + (res.socket?.writableLength ?? 0),
    drop: () => res.destroy(),
  };
}

export interface StreamStats {
  open: number;
  dropped: number;
}

/** The open streams: admits up to `max`, sends to each, drops the slow ones, ends them all at shutdown. */
export class LiveStreams {
  private readonly open = new Set<StreamSink>();
  private nextId = 1;
  private dropped = 0;
  private unsubscribe?: () => void;
  private keepalive?: NodeJS.Timeout;

  constructor(
    private readonly subscribe: ((listener: (e: LiveEvent) => void) => () => void) | undefined,
    private readonly limits = { maxStreams: MAX_STREAMS, maxBuffered: MAX_BUFFERED, keepaliveMs: KEEPALIVE_MS },
  ) {}

  get available(): boolean {
    return this.subscribe !== undefined;
  }

  stats(): StreamStats {
    return { open: this.open.size, dropped: this.dropped };
  }

  /** Adds a stream, or throws a 429 when MAX_STREAMS are open. Returns its removal (call it when the client goes). */
  add(sink: StreamSink): () => void {
    if (!this.subscribe) throw new CulmError('E_NOT_FOUND', 'this culm has no live event stream', { status: 404 });
    if (this.open.size >= this.limits.maxStreams) {
      throw new CulmError('E_TOO_MANY_STREAMS', `${this.open.size} event streams are open already (the most culm keeps); retry shortly`, { status: 429 });
    }
    this.open.add(sink);
    // Subscribed while someone listens, so that without a stream the daemon computes no events at all.
    if (!this.unsubscribe) {
      this.unsubscribe = this.subscribe((e) => this.send(e));
      this.keepalive = setInterval(() => this.broadcast(KEEPALIVE_FRAME), this.limits.keepaliveMs);
      this.keepalive.unref();
    }
    return () => this.remove(sink);
  }

  /** Ends every stream (culm stopping: the server would otherwise wait for them). */
  closeAll(): void {
    for (const sink of [...this.open]) {
      this.remove(sink);
      sink.drop();
    }
  }

  private send(event: LiveEvent): void {
    this.broadcast(frameEvent(this.nextId++, event));
  }

  private broadcast(chunk: string): void {
    for (const sink of this.open) {
      if (sink.buffered() + chunk.length > this.limits.maxBuffered) {
        this.dropped++;
        this.remove(sink);
        sink.drop();
        continue;
      }
      sink.write(chunk);
    }
  }

  private remove(sink: StreamSink): void {
    if (!this.open.delete(sink) || this.open.size > 0) return;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    clearInterval(this.keepalive);
  }
}

export function liveRoutes(streams: LiveStreams): Route[] {
  return [{
    name: '/api/events',
    path: '/api/events',
    handlers: {
      GET: ({ req, res }) => {
        const head = { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', 'X-Accel-Buffering': 'no' };
        if (req.method === 'HEAD') {
          res.writeHead(200, head).end();
          return;
        }
        const sink = responseSink(res);
        const remove = streams.add(sink);
        res.once('close', remove);
        res.writeHead(200, head);
        sink.write(PRELUDE);
      },
    },
  }];
}

/** Whether the core can be followed live. */
export function liveStreamsOf(core: CulmCore): LiveStreams {
  return new LiveStreams(core.subscribe?.bind(core));
}
