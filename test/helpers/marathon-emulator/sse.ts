// Open /v2/events connections, written the way Jetty's EventSourceServlet writes them: no chunked encoding
// (`Connection: close`, the stream ends when the connection does), a heartbeat of "\r" then "\n".
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sseFrame } from './events.js';

interface Stream {
  res: ServerResponse;
  /** event_type query values; empty means every event. */
  types: Set<string>;
  remoteAddress: string;
  silenced: boolean;
  heartbeat: NodeJS.Timeout;
}

export class SseHub {
  private readonly streams = new Set<Stream>();

  constructor(
    private readonly keepaliveMs: number,
    private readonly onDetached: (remoteAddress: string) => void,
  ) {}

  get size(): number {
    return this.streams.size;
  }

  /** Sends the 200 head and registers the stream; the caller then publishes event_stream_attached. */
  open(req: IncomingMessage, res: ServerResponse, headers: Record<string, string>, types: string[]): void {
    // Without this Node would chunk the body; Jetty's stream is raw bytes until the connection closes.
    res.useChunkedEncodingByDefault = false;
    res.writeHead(200, headers);
    res.flushHeaders();
    req.socket.setNoDelay(true);
    const stream: Stream = {
      res,
      types: new Set(types),
      remoteAddress: req.socket.remoteAddress ?? '127.0.0.1',
      silenced: false,
      heartbeat: setInterval(() => {
        if (stream.silenced || res.writableEnded) return;
        // Two writes, as Jetty's heartbeat does: a client must cope with a lone "\r".
        res.write('\r');
        res.write('\n');
      }, this.keepaliveMs),
    };
    this.streams.add(stream);
    res.on('close', () => {
      clearInterval(stream.heartbeat);
      if (this.streams.delete(stream)) this.onDetached(stream.remoteAddress);
    });
  }

  send(eventType: string, json: string): void {
    const frame = sseFrame(eventType, json);
    for (const s of this.streams) {
      if (s.silenced || s.res.writableEnded || s.res.destroyed) continue;
      if (s.types.size > 0 && !s.types.has(eventType)) continue;
      s.res.write(frame);
    }
  }

  /** Streams open now stop receiving anything (no heartbeat, no events) but stay open; later ones are normal. */
  silence(on: boolean): void {
    for (const s of this.streams) s.silenced = on;
  }

  /** Ends every stream server-side, as Marathon does when it loses leadership. */
  dropAll(): void {
    for (const s of this.streams) s.res.end();
  }

  destroyAll(): void {
    for (const s of this.streams) {
      clearInterval(s.heartbeat);
      s.res.destroy();
    }
    this.streams.clear();
  }
}
