/**
 * A pure Server-Sent Events parser (WHATWG "event stream interpretation"): bytes in, messages out.
 * No sockets, no timers — the event stream feeds it chunks, tests feed it chunks split at every byte.
 */

export interface SseMessage {
  /** The `event:` field, or "message" when the event had none (WHATWG default). */
  event: string;
  /** All `data:` lines of the event joined with "\n". */
  data: string;
  /** The last `id:` seen on this stream, when there was one (Marathon sends none; kept for completeness). */
  id?: string;
}

const LF = 0x0a;
const CR = 0x0d;

export class SseParser {
  // Why a streaming TextDecoder: a multi-byte UTF-8 character may be split across two TCP chunks.
  private readonly decoder = new TextDecoder('utf-8');
  /** Text of the current, unterminated line (may span many chunks: Marathon's api_post_event lines are large). */
  private partial = '';
  /**
   * A chunk ended with CR: if the next chunk starts with LF it belongs to the same line end.
   * Why this matters: Jetty's heartbeat writes "\r" and "\n" in two separate writes.
   */
  private skipLeadingLf = false;
  private eventType = '';
  private dataLines: string[] = [];
  private hasData = false;
  private lastEventId: string | undefined;
  private byteCount = 0;

  /** Total bytes pushed so far (keepalives included): lets the caller see that the connection is alive. */
  get bytesReceived(): number {
    return this.byteCount;
  }

  /** Feed one chunk; returns the messages completed by it (often none). */
  push(chunk: Uint8Array | string): SseMessage[] {
    let text: string;
    if (typeof chunk === 'string') {
      this.byteCount += Buffer.byteLength(chunk);
      text = chunk;
    } else {
      this.byteCount += chunk.byteLength;
      text = this.decoder.decode(chunk, { stream: true });
    }
    const out: SseMessage[] = [];
    let start = 0;
    if (this.skipLeadingLf && text.length > 0) {
      if (text.charCodeAt(0) === LF) start = 1;
      this.skipLeadingLf = false;
    }
    for (let i = start; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== LF && c !== CR) continue;
      const line = this.partial + text.slice(start, i);
      this.partial = '';
      if (c === CR) {
        if (i + 1 < text.length) {
          if (text.charCodeAt(i + 1) === LF) i++;
        } else {
          this.skipLeadingLf = true;
        }
      }
      start = i + 1;
      const message = this.processLine(line);
      if (message) out.push(message);
    }
    if (start < text.length) this.partial += text.slice(start);
    return out;
  }

  private processLine(line: string): SseMessage | undefined {
    if (line === '') return this.dispatch();
    if (line.charCodeAt(0) === 0x3a /* ':' */) return undefined; // comment
    const colon = line.indexOf(':');
    let field: string;
    let value: string;
    if (colon === -1) {
      field = line;
      value = '';
    } else {
      field = line.slice(0, colon);
      value = line.charCodeAt(colon + 1) === 0x20 ? line.slice(colon + 2) : line.slice(colon + 1);
    }
    switch (field) {
      case 'event':
        this.eventType = value;
        break;
      case 'data':
        this.dataLines.push(value);
        this.hasData = true;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastEventId = value;
        break;
      default:
        // "retry" and unknown fields: ignored (reconnect timing is ours, Marathon sends no retry).
        break;
    }
    return undefined;
  }

  private dispatch(): SseMessage | undefined {
    const { hasData, eventType, dataLines } = this;
    this.eventType = '';
    this.dataLines = [];
    this.hasData = false;
    // Why drop data-less events: an empty line alone is Jetty's keepalive, not an event.
    if (!hasData) return undefined;
    const message: SseMessage = { event: eventType === '' ? 'message' : eventType, data: dataLines.join('\n') };
    if (this.lastEventId !== undefined) message.id = this.lastEventId;
    return message;
  }
}
