/**
 * One ZooKeeper session for culm's stores, over node-zookeeper-client: promise calls with deadlines, the
 * connection state for health checks, a new client when the session expires (the old one is dead for good),
 * and a heartbeat that notices a connection which stopped answering without closing.
 */
import zookeeper, { type ACL, type Client, type Event, type Stat } from 'node-zookeeper-client';
import type { Socket } from 'node:net';
import { CulmError, errorMessage } from '../../core/errors.js';
import type { Logger } from '../../log/logger.js';

const { Exception, Permission, Id, State } = zookeeper;

export const ZK = {
  NO_NODE: Exception.NO_NODE,
  NODE_EXISTS: Exception.NODE_EXISTS,
  BAD_VERSION: Exception.BAD_VERSION,
  NOT_EMPTY: Exception.NOT_EMPTY,
  NO_AUTH: Exception.NO_AUTH,
  CONNECTION_LOSS: Exception.CONNECTION_LOSS,
  SESSION_EXPIRED: Exception.SESSION_EXPIRED,
} as const;

/** The ZooKeeper error code of a failed call, if it is one. */
export function zkCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** Who may do what on the nodes culm creates. */
export type AclMode = 'open' | 'creator-all-world-read' | 'creator-all';

export function aclFor(mode: AclMode): ACL[] {
  const anyone = new Id('world', 'anyone');
  const creator = new Id('auth', '');
  switch (mode) {
    case 'open': return [new zookeeper.ACL(Permission.ALL, anyone)];
    case 'creator-all': return [new zookeeper.ACL(Permission.ALL, creator)];
    case 'creator-all-world-read': return [new zookeeper.ACL(Permission.ALL, creator), new zookeeper.ACL(Permission.READ, anyone)];
  }
}

export interface ZkConnectionOptions {
  /** "host:port,host:port" or a list of host:port. */
  hosts: string | readonly string[];
  /** Requested session timeout (the server bounds it). Default 10 s, like Bamboo. */
  sessionTimeoutMs?: number;
  /** Digest credentials "user:password", sent on every (re)connection. */
  auth?: string;
  /** Deadline for one request when the caller gives none. Default 5 s. */
  requestTimeoutMs?: number;
  log: Logger;
}

export type Watcher = (event: Event) => void;

export function unavailable(message: string, cause?: unknown): CulmError {
  return new CulmError('E_STORE_UNAVAILABLE', message, { status: 503, cause });
}

export class ZkSession {
  readonly hosts: string;
  /** Digest credentials are sent on this session (stores then default to creator-only write ACLs). */
  readonly authenticated: boolean;
  private client!: Client;
  private readonly sessionTimeoutMs: number;
  private readonly requestTimeoutMs: number;
  private connected = false;
  private closed = false;
  /** Since when culm has had no connection (the start counts: it had none before). */
  private downSince: number | null = Date.now();
  private problem = 'not connected yet';
  private everConnected = false;
  /** Bumped for each new client: a new session has none of the old watches. */
  private generation = 0;
  private connectedGeneration = -1;
  private readonly connectedListeners = new Set<(newSession: boolean) => void>();
  private waiters = new Set<() => void>();
  private heartbeat?: NodeJS.Timeout;
  private recreateTimer?: NodeJS.Timeout;
  private stopGuard: () => void = () => undefined;

  constructor(private readonly o: ZkConnectionOptions) {
    this.hosts = typeof o.hosts === 'string' ? o.hosts : o.hosts.join(',');
    this.authenticated = !!o.auth;
    if (!this.hosts) throw new CulmError('E_CONFIG', 'ZooKeeper hosts are empty');
    this.sessionTimeoutMs = o.sessionTimeoutMs ?? 10_000;
    this.requestTimeoutMs = o.requestTimeoutMs ?? 5000;
    this.open();
    this.heartbeat = setInterval(() => void this.beat(), Math.max(500, Math.floor(this.sessionTimeoutMs / 3)));
    this.heartbeat.unref();
  }

  private open(): void {
    const client = zookeeper.createClient(this.hosts, { sessionTimeout: this.sessionTimeoutMs, spinDelay: 500, retries: 0 });
    this.client = client;
    this.stopGuard();
    this.stopGuard = guardHandshake(client, Math.min(5000, Math.max(2000, Math.floor(this.sessionTimeoutMs / 3))), () => {
      this.o.log.warn({ hosts: this.hosts }, 'zookeeper accepted the connection but did not answer the handshake; trying again');
    });
    this.generation++;
    const generation = this.generation;
    if (this.o.auth) client.addAuthInfo('digest', Buffer.from(this.o.auth));
    client.on('state', (state) => {
      if (this.closed || generation !== this.generation) return;
      if (state === State.SYNC_CONNECTED) this.onConnected();
      else if (state === State.DISCONNECTED) this.onDisconnected('connection lost');
      else if (state === State.EXPIRED) this.replace('session expired');
      else if (state === State.AUTH_FAILED) this.replace('authentication failed', 5000);
    });
    client.connect();
  }

  private onConnected(): void {
    const newSession = this.connectedGeneration !== this.generation;
    this.connectedGeneration = this.generation;
    if (this.downSince !== null && this.everConnected) {
      this.o.log.info({ hosts: this.hosts, downMs: Date.now() - this.downSince, newSession }, 'zookeeper connected again');
    } else if (!this.everConnected) {
      this.o.log.info({ hosts: this.hosts }, 'zookeeper connected');
    }
    this.connected = true;
    this.everConnected = true;
    this.downSince = null;
    this.problem = '';
    for (const wake of this.waiters) wake();
    this.waiters.clear();
    for (const listener of this.connectedListeners) {
      try {
        listener(newSession);
      } catch (err) {
        this.o.log.error({ err: errorMessage(err) }, 'zookeeper connection listener failed');
      }
    }
  }

  private onDisconnected(problem: string): void {
    if (this.connected) this.o.log.warn({ hosts: this.hosts, problem }, 'zookeeper disconnected');
    this.connected = false;
    this.problem = problem;
    this.downSince ??= Date.now();
  }

  /** The session is gone (or cannot authenticate): a client never recovers from that, so make a new one. */
  private replace(problem: string, delayMs = 0): void {
    this.o.log.warn({ hosts: this.hosts, problem }, 'zookeeper session lost; opening a new one');
    this.onDisconnected(problem);
    const old = this.client;
    this.generation++; // the old client's events are ignored from now on
    old.removeAllListeners();
    void closeClient(old, 0);
    clearTimeout(this.recreateTimer);
    this.recreateTimer = setTimeout(() => {
      if (!this.closed) this.open();
    }, delayMs);
  }

  /** A connection that stops answering without closing is never noticed by the client: drop it ourselves. */
  private async beat(): Promise<void> {
    if (!this.connected || this.closed) return;
    const client = this.client;
    try {
      await this.call<Stat>('heartbeat', (c, cb) => c.exists('/', cb), Math.floor((this.sessionTimeoutMs * 2) / 3));
    } catch (err) {
      if (client === this.client && this.connected && err instanceof CulmError && /did not answer/.test(err.message)) {
        this.o.log.warn({ hosts: this.hosts }, 'zookeeper stopped answering; reconnecting');
        socketOf(client)?.destroy();
      }
    }
  }

  isConnected(): boolean {
    return this.connected;
  }

  /** "since when and why" while disconnected; null while connected. */
  outage(): { since: number; problem: string } | null {
    return this.connected ? null : { since: this.downSince ?? Date.now(), problem: this.problem };
  }

  /** Called on every (re)connection; newSession is true when the watches set before are gone. */
  onConnect(listener: (newSession: boolean) => void): () => void {
    this.connectedListeners.add(listener);
    return () => this.connectedListeners.delete(listener);
  }

  /** Resolves once connected; rejects E_STORE_UNAVAILABLE after `timeoutMs` without a connection. */
  whenConnected(timeoutMs: number): Promise<void> {
    if (this.connected) return Promise.resolve();
    if (this.closed) return Promise.reject(unavailable('zookeeper store is closed'));
    return new Promise((resolve, reject) => {
      const wake = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(wake);
        reject(unavailable(this.downMessage()));
      }, Math.max(0, timeoutMs));
      this.waiters.add(wake);
    });
  }

  downMessage(): string {
    const outage = this.outage();
    if (!outage) return `zookeeper ${this.hosts} connected`;
    return `zookeeper disconnected since ${new Date(outage.since).toISOString()} (${this.hosts}: ${outage.problem})`;
  }

  /**
   * One request. Fails fast (E_STORE_UNAVAILABLE) when not connected, so nothing is queued to run later;
   * a ZooKeeper error is passed on as is (callers test zkCode); no answer within timeoutMs is 503 too.
   */
  call<T>(what: string, fn: (client: Client, cb: (err: unknown, result: T) => void) => void, timeoutMs = this.requestTimeoutMs): Promise<T> {
    if (!this.connected) return Promise.reject(unavailable(`${what}: ${this.downMessage()}`));
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(unavailable(`${what}: zookeeper ${this.hosts} did not answer within ${timeoutMs} ms`)), Math.max(1, timeoutMs));
      fn(this.client, (err, result) => {
        clearTimeout(timer);
        if (!err) resolve(result);
        else if (zkCode(err) === ZK.CONNECTION_LOSS || zkCode(err) === ZK.SESSION_EXPIRED) {
          reject(unavailable(`${what}: zookeeper connection lost (${errorMessage(err)})`, err));
        } else reject(err);
      });
    });
  }

  getChildren(path: string, watcher?: Watcher, timeoutMs?: number): Promise<{ children: string[]; stat: Stat }> {
    return this.call('list ' + path, (c, cb) => {
      const done = (err: unknown, children: string[], stat: Stat): void => cb(err, { children, stat });
      if (watcher) c.getChildren(path, watcher, done);
      else c.getChildren(path, done);
    }, timeoutMs);
  }

  getData(path: string, watcher?: Watcher, timeoutMs?: number): Promise<{ data: Buffer | null; stat: Stat }> {
    return this.call('read ' + path, (c, cb) => {
      const done = (err: unknown, data: Buffer, stat: Stat): void => cb(err, { data, stat });
      if (watcher) c.getData(path, watcher, done);
      else c.getData(path, done);
    }, timeoutMs);
  }

  /** Creates a node; `ephemeral` nodes go with this session, `sequential` ones get a counter suffix. */
  create(path: string, data: Buffer, acl: ACL[], timeoutMs?: number, mode: 'persistent' | 'ephemeral' | 'ephemeral-sequential' = 'persistent'): Promise<string> {
    const m = mode === 'ephemeral' ? zookeeper.CreateMode.EPHEMERAL
      : mode === 'ephemeral-sequential' ? zookeeper.CreateMode.EPHEMERAL_SEQUENTIAL : zookeeper.CreateMode.PERSISTENT;
    return this.call('create ' + path, (c, cb) => c.create(path, data, acl, m, cb), timeoutMs);
  }

  /** Whether `path` exists (null when not); the watcher fires on its creation, deletion or change. */
  exists(path: string, watcher?: Watcher, timeoutMs?: number): Promise<Stat | null> {
    return this.call('stat ' + path, (c, cb) => {
      const done = (err: unknown, stat: Stat): void => cb(err, stat ?? null);
      if (watcher) c.exists(path, watcher, done);
      else c.exists(path, done);
    }, timeoutMs);
  }

  setData(path: string, data: Buffer, version: number, timeoutMs?: number): Promise<Stat> {
    return this.call('write ' + path, (c, cb) => c.setData(path, data, version, cb), timeoutMs);
  }

  remove(path: string, version: number, timeoutMs?: number): Promise<void> {
    return this.call('delete ' + path, (c, cb) => c.remove(path, version, (err) => cb(err, undefined)), timeoutMs);
  }

  /** Creates `path` and its missing parents (existing nodes are left as they are). */
  mkdirp(path: string, acl: ACL[], timeoutMs?: number): Promise<void> {
    return this.call('create ' + path, (c, cb) => c.mkdirp(path, acl, (err) => cb(err, undefined)), timeoutMs);
  }

  /** Several writes in one transaction: all or none. */
  multi(ops: MultiOp[], timeoutMs?: number): Promise<void> {
    return this.call(`transaction of ${ops.length}`, (c, cb) => {
      const tx = c.transaction();
      for (const op of ops) {
        if (op.op === 'create') tx.create(op.path, op.data, op.acl, zookeeper.CreateMode.PERSISTENT);
        else if (op.op === 'set') tx.setData(op.path, op.data, op.version);
        else if (op.op === 'check') tx.check(op.path, op.version);
        else tx.remove(op.path, op.version);
      }
      tx.commit((err) => cb(err, undefined));
    }, timeoutMs);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    clearTimeout(this.recreateTimer);
    this.stopGuard();
    this.connected = false;
    this.problem = 'closed';
    for (const wake of this.waiters) wake();
    this.waiters.clear();
    this.connectedListeners.clear();
    const client = this.client;
    client.removeAllListeners();
    await closeClient(client);
  }
}

export type MultiOp =
  | { op: 'create'; path: string; data: Buffer; acl: ACL[] }
  | { op: 'set'; path: string; data: Buffer; version: number }
  | { op: 'remove'; path: string; version: number }
  /** Fails the whole transaction unless `path` exists at `version` (fencing: "still the leader"). */
  | { op: 'check'; path: string; version: number };

interface ClientInternals {
  connectionManager?: {
    socket?: Socket;
    state?: number;
    connect?: () => void;
    connectTimeoutHandler?: NodeJS.Timeout | null;
  };
}

const CM_CLOSED = -2; // ConnectionManager.STATES.CLOSED in node-zookeeper-client

function socketOf(client: Client): Socket | undefined {
  return (client as unknown as ClientInternals).connectionManager?.socket;
}

/**
 * Closes a client for good. Connected: closes the session politely (the server drops it and its watches at
 * once). Not connected: client.close() would write the close request into a handshake in flight, and the
 * client then misreads the server's connect answer as a reply and throws; so stop its reconnecting and drop
 * its socket instead (the server expires that session by itself).
 */
export function closeClient(client: Client, graceMs = 1000): Promise<void> {
  const state = client.getState();
  const cm = (client as unknown as ClientInternals).connectionManager;
  if ((state !== State.SYNC_CONNECTED && state !== State.CONNECTED_READ_ONLY) || !cm) {
    if (cm) {
      cm.connect = () => undefined;
      cm.state = CM_CLOSED;
      if (cm.connectTimeoutHandler) clearTimeout(cm.connectTimeoutHandler);
    }
    socketOf(client)?.destroy();
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const socket = socketOf(client);
    const finish = (): void => {
      clearTimeout(timer);
      if (cm) cm.connect = () => undefined;
      socketOf(client)?.destroy();
      resolve();
    };
    const timer = setTimeout(finish, graceMs);
    socket?.once('close', finish);
    client.close();
  });
}

/**
 * node-zookeeper-client waits forever for the answer to its connect request once TCP is up; a server that
 * is starting (or stopping) can accept the connection and never answer. Drop such a connection after
 * `timeoutMs` so the client tries again. Returns the function that stops the guard.
 */
export function guardHandshake(client: Client, timeoutMs: number, onStuck?: () => void): () => void {
  let watched: Socket | undefined;
  let since = 0;
  const timer = setInterval(() => {
    const state = client.getState();
    const socket = socketOf(client);
    if (state === State.SYNC_CONNECTED || state === State.CONNECTED_READ_ONLY || !socket || socket.destroyed) {
      watched = undefined;
      return;
    }
    if (socket !== watched) {
      watched = socket;
      since = Date.now();
    } else if (Date.now() - since > timeoutMs) {
      watched = undefined;
      onStuck?.();
      socket.destroy();
    }
  }, 250);
  timer.unref();
  return () => clearInterval(timer);
}
