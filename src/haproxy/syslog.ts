/**
 * HAProxy's own log on culm's stdout (HAProxy.Log). HAProxy started with `-D` has no stdout or stderr once
 * it has forked, and a container has no syslog: culm listens for HAProxy's syslog datagrams on 127.0.0.1 (a
 * port of its own) and writes each as one JSON line with `source: "haproxy"`, HAProxy's severity kept.
 * The parsing is pure (a datagram in, a line out); the receiver is the effect.
 *
 * Bounded: datagrams wait in a queue of fixed size and are written in slices between other work; when
 * stdout cannot keep up with a flood of request logs, what does not fit is dropped and counted, never queued.
 * (While a write to stdout blocks the process, the kernel's socket buffer fills and drops the rest itself,
 * uncounted: memory stays bounded either way.)
 */
import { createSocket, type Socket } from 'node:dgram';
import type { Logger } from '../log/logger.js';

/** Syslog severities (RFC 5424), 0 = emerg … 7 = debug. */
const SEVERITIES = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'] as const;
export type Severity = (typeof SEVERITIES)[number];
export type LineLevel = 'error' | 'warn' | 'info' | 'debug';

export interface HaproxyLogLine {
  /** culm's (pino's) level for the line. */
  level: LineLevel;
  /** HAProxy's severity, as it sent it. */
  severity: Severity;
  /** The process that sent it, when the header names one. */
  pid?: number;
  message: string;
}

export function levelOf(severity: number): LineLevel {
  if (severity <= 3) return 'error';
  if (severity === 4) return 'warn';
  return severity === 7 ? 'debug' : 'info';
}

// `Dec  2 00:55:26 ` then an optional host (log-send-hostname) and `tag[pid]: ` (RFC 3164, HAProxy's default).
const RFC3164 = /^[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} (?:\S+ )?([^\s[:]+)(?:\[(\d+)\])?: /;
// `1 <timestamp> <host> <app> <procid> <msgid> <structured data|-> ` (RFC 5424, `format rfc5424`).
const RFC5424 = /^1 \S+ \S+ \S+ (\S+) \S+ (?:-|(?:\[(?:[^\]\\]|\\.)*\])+) ?/;

/**
 * One datagram of HAProxy's syslog: `<PRI>` then an RFC 3164 or RFC 5424 header, or none (`format raw`);
 * the header is stripped, the severity kept. Without a `<PRI>` the line is taken as it is, at info.
 */
export function parseSyslog(datagram: string): HaproxyLogLine {
  let rest = datagram.replace(/[\r\n\0]+$/, '');
  let severity = 6;
  const pri = /^<(\d{1,3})>/.exec(rest);
  if (pri && Number(pri[1]) <= 191) {
    severity = Number(pri[1]) % 8;
    rest = rest.slice(pri[0].length);
  }
  let pid: number | undefined;
  const old = RFC3164.exec(rest);
  const modern = old ? null : RFC5424.exec(rest);
  if (old) {
    if (old[2] !== undefined) pid = Number(old[2]);
    rest = rest.slice(old[0].length);
  } else if (modern) {
    if (/^\d+$/.test(modern[1])) pid = Number(modern[1]);
    rest = rest.slice(modern[0].length);
  }
  return { level: levelOf(severity), severity: SEVERITIES[severity], ...(pid === undefined ? {} : { pid }), message: rest };
}

/**
 * What a `haproxy` command printed (reload, restart): its `[ALERT]`/`[WARNING]`/`[NOTICE]` lines at their
 * level, anything else at info; blank lines left out.
 */
export function parseCommandOutput(text: string): HaproxyLogLine[] {
  const lines: HaproxyLogLine[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (line.trim() === '') continue;
    const tag = /^\[(ALERT|WARNING|NOTICE)\]\s*(?:\((\d+)\)\s*:\s*)?/.exec(line);
    const severity: Severity = tag?.[1] === 'ALERT' ? 'alert' : tag?.[1] === 'WARNING' ? 'warning' : 'notice';
    const pid = tag?.[2] === undefined ? undefined : Number(tag[2]);
    lines.push({
      level: levelOf(SEVERITIES.indexOf(severity)), severity, ...(pid === undefined ? {} : { pid }),
      message: tag ? line.slice(tag[0].length) : line,
    });
  }
  return lines;
}

/** Writes HAProxy's lines through culm's logger, as JSON with `source: "haproxy"`. */
export function haproxyLogWriter(log: Logger): (line: HaproxyLogLine) => void {
  const out = log.child({ source: 'haproxy' });
  return (line) => out[line.level]({ severity: line.severity, ...(line.pid === undefined ? {} : { pid: line.pid }) }, line.message);
}

/** A first-in first-out queue of at most `capacity` items: `push` refuses (returns false) when full. */
export class BoundedQueue<T> {
  private items: T[] = [];
  private head = 0;

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.items.length - this.head;
  }

  push(item: T): boolean {
    if (this.size >= this.capacity) return false;
    this.items.push(item);
    return true;
  }

  /** Takes up to `max` items, oldest first. */
  take(max: number): T[] {
    const out = this.items.slice(this.head, this.head + max);
    this.head += out.length;
    // Compact once the taken part dominates, so the array never holds more than ~2 × capacity.
    if (this.head > this.capacity || this.head === this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return out;
  }
}

export interface ReceiverOptions {
  write(line: HaproxyLogLine): void;
  /** Lines that were dropped (the queue was full). */
  dropped?(n: number): void;
  /** Logs "n lines dropped", at most once per `dropReportMs`. */
  log: Logger;
  capacity?: number;
  /** Lines written per turn of the event loop before other work gets its turn. */
  slice?: number;
  dropReportMs?: number;
}

/** HAProxy's syslog on 127.0.0.1 (UDP, a free port): `target` goes into the template's `log` line. */
export class HaproxyLogReceiver {
  private socket?: Socket;
  private readonly queue: BoundedQueue<Buffer>;
  private scheduled = false;
  private droppedSinceReport = 0;
  private lastReport = 0;

  constructor(private readonly o: ReceiverOptions) {
    this.queue = new BoundedQueue(o.capacity ?? 2000);
  }

  async start(): Promise<string> {
    const socket = createSocket('udp4');
    socket.on('message', (msg) => this.receive(msg));
    socket.on('error', (err) => this.o.log.warn({ err: err.message }, 'HAProxy log receiver error'));
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, '127.0.0.1', () => {
        socket.off('error', reject);
        resolve();
      });
    });
    socket.unref();
    this.socket = socket;
    return `127.0.0.1:${socket.address().port}`;
  }

  private receive(msg: Buffer): void {
    if (!this.queue.push(msg)) {
      this.droppedSinceReport++;
      this.o.dropped?.(1);
      this.reportDrops();
      return;
    }
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.drain());
  }

  private drain(): void {
    this.scheduled = false;
    for (const msg of this.queue.take(this.o.slice ?? 200)) this.o.write(parseSyslog(msg.toString('utf8')));
    if (this.queue.size > 0) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  private reportDrops(force = false): void {
    const now = Date.now();
    if (this.droppedSinceReport === 0 || (!force && now - this.lastReport < (this.o.dropReportMs ?? 10_000))) return;
    this.o.log.warn({ dropped: this.droppedSinceReport }, 'HAProxy log lines dropped: more than culm could write (culm_haproxy_log_dropped_total)');
    this.lastReport = now;
    this.droppedSinceReport = 0;
  }

  /** Writes what is queued, then closes the socket. */
  async close(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    if (!socket) return;
    await new Promise<void>((resolve) => socket.close(() => resolve()));
    for (let batch = this.queue.take(1000); batch.length > 0; batch = this.queue.take(1000)) {
      for (const msg of batch) this.o.write(parseSyslog(msg.toString('utf8')));
    }
    this.reportDrops(true);
  }
}

export interface HaproxyLog {
  /** For the template's `log` line. */
  target: string;
  /** Logs what a reload or restart command printed. */
  output(text: string): void;
  close(): Promise<void>;
}

/** HAProxy.Log: the receiver started, and one writer for it and for the commands' output. */
export async function startHaproxyLog(log: Logger, dropped: (n: number) => void): Promise<HaproxyLog> {
  const write = haproxyLogWriter(log);
  const receiver = new HaproxyLogReceiver({ write, dropped, log });
  const target = await receiver.start();
  log.info({ target }, 'HAProxy log receiver listening');
  return {
    target,
    output: (text) => { for (const line of parseCommandOutput(text)) write(line); },
    close: () => receiver.close(),
  };
}
