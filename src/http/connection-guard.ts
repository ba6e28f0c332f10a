/**
 * Keeps the REST port answering under connection floods (idle sockets, slowloris headers, slow bodies).
 *
 * A cap on connections per client address would starve Marathon on loopback or behind a NAT, where it shares
 * the attacker's address: so the cap counts only connections that hold a slot without doing anything (no
 * complete request yet, a body still arriving, idle keep-alive), and when a client goes over it the OLDEST such
 * connection is closed, never the new one. A real client sends its request as soon as it connects and is
 * done in milliseconds; an attacker's connection ages. A request whose headers and body have arrived is never
 * closed here. The totals are capped below `server.maxConnections` (the fd limit), so a completing request
 * always finds a slot instead of being dropped by Node at accept.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

export interface GuardLimits {
  /** Held (unfinished or idle) connections one address keeps before its oldest is closed. */
  perClient: number;
  /** Held connections of all addresses together. */
  total: number;
}

interface Client {
  /** Connected, no complete request head yet, with when it connected. Maps iterate in insertion order: oldest first. */
  waiting: Map<Socket, number>;
  /** A request head arrived but not yet its whole body. */
  receiving: Map<Socket, { req: IncomingMessage; since: number }>;
  /** Keep-alive between requests. */
  idle: Set<Socket>;
}

export type EvictionReason = 'waiting' | 'idle' | 'slow-body';

export class ConnectionGuard {
  private readonly clients = new Map<string, Client>();
  private held = 0;

  constructor(server: Server, private readonly limits: GuardLimits, private readonly onEvict: (reason: EvictionReason) => void = () => {}) {
    server.on('connection', (socket: Socket) => this.connected(socket));
    server.on('request', (req: IncomingMessage, res: ServerResponse) => this.started(req, res));
  }

  /** Connections held now (for tests and metrics). */
  heldConnections(): number {
    return this.held;
  }

  private connected(socket: Socket): void {
    const addr = socket.remoteAddress ?? '?';
    let client = this.clients.get(addr);
    if (!client) {
      client = { waiting: new Map(), receiving: new Map(), idle: new Set() };
      this.clients.set(addr, client);
    }
    const c = client;
    c.waiting.set(socket, performance.now());
    this.held++;
    socket.once('close', () => {
      this.release(c, socket);
      if (c.waiting.size + c.receiving.size + c.idle.size === 0) this.clients.delete(addr);
    });
    if (this.size(c) > this.limits.perClient) this.evictFrom(c, socket);
    if (this.held > this.limits.total) this.evictFrom(this.busiest(), socket);
  }

  private started(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket;
    const client = this.clients.get(socket.remoteAddress ?? '?');
    if (!client || socket.destroyed) return;
    const since = client.waiting.get(socket) ?? performance.now();
    const wasHeld = client.waiting.delete(socket) || client.idle.delete(socket);
    if (req.complete) {
      // Head and body are in: the request is being served and never evicted.
      if (wasHeld) this.held--;
    } else {
      client.receiving.set(socket, { req, since });
      if (!wasHeld) this.held++;
      req.once('end', () => {
        if (client.receiving.delete(socket)) this.held--;
      });
    }
    res.once('finish', () => {
      // Answered before its body was read (a refused write): the rest still trickles in, so it stays held as
      // a slow body, not idle.
      if (socket.destroyed || !req.complete) return;
      if (client.receiving.delete(socket)) this.held--;
      client.idle.add(socket);
      this.held++;
    });
  }

  private release(c: Client, socket: Socket): void {
    if (c.waiting.delete(socket) || c.idle.delete(socket) || c.receiving.delete(socket)) this.held--;
  }

  private size(c: Client): number {
    return c.waiting.size + c.receiving.size + c.idle.size;
  }

  private busiest(): Client {
    let top: Client | undefined;
    for (const c of this.clients.values()) if (!top || this.size(c) > this.size(top)) top = c;
    return top as Client;
  }

  /**
   * Closes the client's connection that has held a slot longest without completing a request: silent, or
   * with a body still arriving (both aged from when they connected, so a slow body from long ago goes before a
   * fresh connection that has not spoken yet). Never the one that just arrived. Idle keep-alive sockets go
   * last: they belong to clients that completed a request (Marathon between two callbacks), and closing one
   * races that client's next request.
   */
  private evictFrom(c: Client, newcomer?: Socket): void {
    let victim: Socket | undefined;
    let since = Infinity;
    let reason: EvictionReason = 'waiting';
    for (const [socket, at] of c.waiting) {
      if (socket === newcomer) continue;
      [victim, since] = [socket, at];
      break;
    }
    for (const [socket, r] of c.receiving) {
      if (r.req.complete) {
        // Its body is in (the 'request' event comes before the body is parsed): it is being served, not held.
        c.receiving.delete(socket);
        this.held--;
        continue;
      }
      if (r.since < since) [victim, reason] = [socket, 'slow-body'];
      break;
    }
    if (!victim) [victim, reason] = [first(c.idle.keys()), 'idle'];
    if (!victim) return;
    this.release(c, victim);
    victim.destroy();
    this.onEvict(reason);
  }
}

function first<T>(items: Iterable<T>): T | undefined {
  for (const item of items) return item;
  return undefined;
}
