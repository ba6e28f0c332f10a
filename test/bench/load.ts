/**
 * A raw HTTP/1.1 load generator for loopback benchmarks: requests are pre-built bytes, written on keep-alive
 * sockets with up to `depth` requests in flight per socket (pipelining), and answers are counted by status.
 * A client library costs tens of microseconds per request, as much as culm's own work: this costs a few, so
 * the figure measures the server.
 */
import { connect, type Socket } from 'node:net';

export interface LoadOptions {
  port: number;
  host?: string;
  /** Complete requests (head and body), sent in turn. */
  requests: readonly Buffer[];
  /** How many requests to send in all. */
  total: number;
  connections: number;
  /** Requests in flight per connection: 1 is one request at a time, more is HTTP pipelining. */
  depth: number;
  timeoutMs?: number;
}

export interface LoadResult {
  sent: number;
  answered: number;
  /** Answers by status code. */
  statuses: Record<string, number>;
  /** Sockets that failed (reset, closed early, timed out). */
  socketErrors: number;
  seconds: number;
}

/** `POST path` with a JSON body, as bytes. */
export function postRequest(host: string, path: string, body: string): Buffer {
  const payload = Buffer.from(body, 'utf8');
  const head = `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: ${payload.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), payload]);
}

const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');

/**
 * Counts the complete responses at the start of `buf`; returns where the unparsed rest begins. Responses
 * are expected with a Content-Length (culm always sends one); a chunked or close-delimited answer is an error.
 */
function takeResponses(buf: Buffer, onStatus: (status: string) => void): number {
  let at = 0;
  for (;;) {
    const end = buf.indexOf(HEAD_END, at);
    if (end < 0) return at;
    const head = buf.toString('latin1', at, end);
    const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (!m) throw new Error(`response without Content-Length: ${head.split('\r\n')[0]}`);
    const next = end + 4 + Number(m[1]);
    if (next > buf.length) return at;
    onStatus(head.slice(9, 12));
    at = next;
  }
}

export async function load(o: LoadOptions): Promise<LoadResult> {
  const host = o.host ?? '127.0.0.1';
  const statuses: Record<string, number> = {};
  let sent = 0;
  let answered = 0;
  let socketErrors = 0;
  const started = performance.now();

  const one = (): Promise<void> => new Promise((resolve) => {
    const socket: Socket = connect(o.port, host);
    socket.setNoDelay(true);
    socket.setTimeout(o.timeoutMs ?? 30_000);
    let inFlight = 0;
    let pending: Buffer = Buffer.alloc(0);
    let done = false;
    const finish = (failed: boolean): void => {
      if (done) return;
      done = true;
      if (failed) socketErrors++;
      socket.destroy();
      resolve();
    };
    const pump = (): void => {
      const n = Math.min(o.depth - inFlight, o.total - sent);
      if (n <= 0) {
        if (inFlight === 0) finish(false);
        return;
      }
      const batch: Buffer[] = [];
      for (let i = 0; i < n; i++) batch.push(o.requests[(sent + i) % o.requests.length]);
      sent += n;
      inFlight += n;
      socket.write(n === 1 ? batch[0] : Buffer.concat(batch));
    };
    socket.on('connect', pump);
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      let rest: number;
      try {
        rest = takeResponses(pending, (status) => {
          statuses[status] = (statuses[status] ?? 0) + 1;
          answered++;
          inFlight--;
        });
      } catch {
        finish(true);
        return;
      }
      pending = pending.subarray(rest);
      pump();
    });
    socket.on('timeout', () => finish(true));
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(inFlight > 0));
  });

  await Promise.all(Array.from({ length: o.connections }, one));
  return { sent, answered, statuses, socketErrors, seconds: (performance.now() - started) / 1000 };
}
