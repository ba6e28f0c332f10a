/**
 * The app/task snapshot in ZooKeeper, one node per app (ZooKeeper refuses a node near 1 MB; one node per app
 * fits 10,000 apps). It lives in its own subtree beside the rules, `<rules path>-culm/state/apps` by default:
 * Bamboo reads every child of its path as a rule, so nothing of culm's may live under it.
 *
 * A save writes only the apps whose JSON changed since the last save or load and removes the apps that are
 * gone, in transactions of bounded size.
 */
import type { ACL } from 'node-zookeeper-client';
import { CulmError, errorMessage } from '../../core/errors.js';
import type { App } from '../../core/model.js';
import { silentLogger, type Logger } from '../../log/logger.js';
import type { Snapshot, StateStore } from '../types.js';
import { goQueryEscape } from './escape.js';
import { aclFor, unavailable, ZK, zkCode, ZkSession, type AclMode, type MultiOp } from './session.js';
import { mapLimit } from './util.js';

/** Where culm keeps the snapshot for a given rules path: a sibling subtree Bamboo never lists. */
export function stateAppsPath(rulesPath: string): string {
  return `${rulesPath.replace(/\/+$/, '')}-culm/state/apps`;
}

export interface ZooKeeperStateStoreOptions {
  hosts?: string | readonly string[];
  /** A session shared with the rule store; the state store then does not close it. */
  session?: ZkSession;
  /** Parent of the app nodes, e.g. stateAppsPath(rulesPath). */
  path: string;
  auth?: string;
  acl?: AclMode;
  sessionTimeoutMs?: number;
  /** How long load/save wait for a connection before failing with 503. Default 2000 ms. */
  connectWaitMs?: number;
  /** Apps whose JSON is larger are not saved (their last saved node is kept). Default 900 KiB. */
  maxAppBytes?: number;
  log?: Logger;
  onSkipped?: (id: string, reason: string) => void;
  /**
   * The writer's fence: a node that exists at this version only while it may write (the leader's election
   * node). Every write transaction checks it, so a leader that lost its session writes nothing.
   * Returning undefined refuses the write.
   */
  fence?: () => { path: string; version: number } | undefined;
}

export interface SaveStats {
  written: number;
  deleted: number;
  unchanged: number;
  skipped: number;
  transactions: number;
}

interface Op {
  name: string;
  json?: string;
  op: MultiOp;
}

const BATCH_BYTES = 256 * 1024; // well under jute.maxbuffer (1 MiB), the limit of one request
const BATCH_OPS = 200;

export class ZooKeeperStateStore implements StateStore {
  readonly path: string;
  /** Totals since the store was made. */
  readonly totals: SaveStats = { written: 0, deleted: 0, unchanged: 0, skipped: 0, transactions: 0 };
  lastSave: SaveStats | null = null;
  private readonly session: ZkSession;
  private readonly ownsSession: boolean;
  private readonly log: Logger;
  private readonly acl: ACL[];
  private readonly maxAppBytes: number;
  /** The JSON each app node holds, by node name, as of the last load or save; null: not known, read first. */
  private known: Map<string, string> | null = null;
  private readonly tooLarge = new Set<string>();
  private queue: Promise<unknown> = Promise.resolve();
  private pathReady = false;
  private readonly stopConnectListener: () => void;

  constructor(private readonly o: ZooKeeperStateStoreOptions) {
    this.path = o.path.replace(/\/+$/, '');
    if (!this.path.startsWith('/')) throw new CulmError('E_CONFIG', `ZooKeeper state path ${JSON.stringify(o.path)} must be absolute`);
    this.log = o.log ?? silentLogger();
    this.maxAppBytes = o.maxAppBytes ?? 900 * 1024;
    this.ownsSession = !o.session;
    this.session = o.session ?? new ZkSession({ hosts: o.hosts ?? '', auth: o.auth, sessionTimeoutMs: o.sessionTimeoutMs, log: this.log });
    this.acl = aclFor(o.acl ?? (this.session.authenticated ? 'creator-all-world-read' : 'open'));
    // A new session may follow a long outage during which another instance changed the tree.
    this.stopConnectListener = this.session.onConnect((newSession) => { if (newSession) this.known = null; });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  load(): Promise<Snapshot | null> {
    return this.serial(async () => {
      await this.session.whenConnected(this.o.connectWaitMs ?? 2000);
      const { nodes, savedAt } = await this.readTree();
      const apps: App[] = [];
      for (const [name, text] of nodes) {
        try {
          const app = JSON.parse(text) as App;
          if (typeof app !== 'object' || app === null || typeof app.id !== 'string') throw new Error('not an app');
          apps.push(app);
        } catch (err) {
          this.log.warn({ node: `${this.path}/${name}`, err: errorMessage(err) }, 'saved app unreadable; skipped');
        }
      }
      return apps.length === 0 ? null : { savedAt, apps };
    });
  }

  save(snapshot: Snapshot): Promise<void> {
    return this.serial(async () => {
      await this.session.whenConnected(this.o.connectWaitMs ?? 2000);
      if (this.o.fence && !this.o.fence()) throw unavailable('not the leader: the shared snapshot is not written');
      const known = this.known ?? (await this.readTree()).nodes;
      const stats: SaveStats = { written: 0, deleted: 0, unchanged: 0, skipped: 0, transactions: 0 };
      const ops: Op[] = [];
      const wanted = new Set<string>();
      for (const app of snapshot.apps) {
        const name = goQueryEscape(app.id);
        wanted.add(name);
        const json = JSON.stringify(app);
        if (Buffer.byteLength(json) > this.maxAppBytes) {
          stats.skipped++;
          if (!this.tooLarge.has(name)) {
            this.tooLarge.add(name);
            const reason = `app JSON is ${Buffer.byteLength(json)} bytes, over the ${this.maxAppBytes} bytes a ZooKeeper node takes`;
            this.log.warn({ id: app.id, reason }, 'app not saved in the snapshot');
            this.o.onSkipped?.(app.id, reason);
          }
          continue;
        }
        this.tooLarge.delete(name);
        if (known.get(name) === json) {
          stats.unchanged++;
          continue;
        }
        const path = `${this.path}/${name}`;
        const data = Buffer.from(json);
        ops.push({ name, json, op: known.has(name) ? { op: 'set', path, data, version: -1 } : { op: 'create', path, data, acl: this.acl } });
      }
      for (const name of known.keys()) {
        if (!wanted.has(name)) ops.push({ name, op: { op: 'remove', path: `${this.path}/${name}`, version: -1 } });
      }
      if (ops.length > 0) {
        const meta = Buffer.from(JSON.stringify({ savedAt: snapshot.savedAt, apps: snapshot.apps.length }));
        ops.push({ name: '', op: { op: 'set', path: this.path, data: meta, version: -1 } });
        try {
          await this.apply(ops, known, stats);
        } catch (err) {
          this.known = null; // some writes may have happened: read the tree again before the next save
          throw err instanceof CulmError ? err : unavailable(`zookeeper snapshot save failed: ${errorMessage(err)}`, err);
        }
      }
      this.known = known;
      this.lastSave = stats;
      for (const k of Object.keys(stats) as (keyof SaveStats)[]) this.totals[k] += stats[k];
    });
  }

  /** Transactions of bounded size; a transaction refused because the tree moved is redone one write at a time. */
  private async apply(ops: Op[], known: Map<string, string>, stats: SaveStats): Promise<void> {
    const batches: Op[][] = [];
    let batch: Op[] = [];
    let bytes = 0;
    for (const op of ops) {
      const size = ('data' in op.op ? op.op.data.length : 0) + op.op.path.length + 64;
      if (batch.length > 0 && (bytes + size > BATCH_BYTES || batch.length >= BATCH_OPS)) {
        batches.push(batch);
        batch = [];
        bytes = 0;
      }
      batch.push(op);
      bytes += size;
    }
    if (batch.length > 0) batches.push(batch);
    await mapLimit(batches, 4, async (ops) => {
      try {
        await this.session.multi(this.fenced(ops.map((o) => o.op)));
        stats.transactions++;
      } catch (err) {
        if (zkCode(err) === undefined) throw err;
        await this.assertFence();
        await mapLimit(ops, 16, (o) => this.upsert(o.op));
      }
      for (const o of ops) {
        if (!o.name) continue;
        if (o.op.op === 'remove') {
          known.delete(o.name);
          stats.deleted++;
        } else {
          known.set(o.name, o.json ?? '');
          stats.written++;
        }
      }
    });
  }

  /** Writes go in transactions that first check the fence (the writer's own election node). */
  private fenced(ops: MultiOp[]): MultiOp[] {
    const fence = this.o.fence?.();
    return fence ? [{ op: 'check', path: fence.path, version: fence.version }, ...ops] : ops;
  }

  private async assertFence(): Promise<void> {
    const fence = this.o.fence?.();
    if (!this.o.fence) return;
    if (!fence || !(await this.session.exists(fence.path))) {
      throw unavailable('no longer the leader: the shared snapshot is not written');
    }
  }

  /** One write, fenced; a create of an existing node becomes a set, a set of a missing node a create. */
  private async upsert(op: MultiOp): Promise<void> {
    try {
      await this.session.multi(this.fenced([op.op === 'set' ? { ...op, version: -1 } : op]));
    } catch (err) {
      const code = zkCode(err);
      if (code === undefined) throw err;
      await this.assertFence();
      if (op.op === 'create' && code === ZK.NODE_EXISTS) await this.session.multi(this.fenced([{ op: 'set', path: op.path, data: op.data, version: -1 }]));
      else if (op.op === 'set' && code === ZK.NO_NODE) await this.session.multi(this.fenced([{ op: 'create', path: op.path, data: op.data, acl: this.acl }]));
      else if (!(op.op === 'remove' && code === ZK.NO_NODE)) throw err;
    }
  }

  /** Forget what the tree was believed to hold (a new leader must not trust what it saw as a follower). */
  forgetKnown(): void {
    this.known = null;
  }

  /** Every app node's text, and when the snapshot was saved; remembers the texts for the next save. */
  private async readTree(): Promise<{ nodes: Map<string, string>; savedAt: number }> {
    if (!this.pathReady) {
      await this.session.mkdirp(this.path, this.acl);
      this.pathReady = true;
    }
    let listed;
    try {
      listed = await this.session.getChildren(this.path);
    } catch (err) {
      if (zkCode(err) === ZK.NO_NODE) this.pathReady = false;
      throw err;
    }
    const nodes = new Map<string, string>();
    let newest = 0;
    await mapLimit(listed.children, 64, async (name) => {
      try {
        const { data, stat } = await this.session.getData(`${this.path}/${name}`);
        nodes.set(name, data?.toString('utf8') ?? '');
        newest = Math.max(newest, Number(stat.mtime.readBigInt64BE(0)));
      } catch (err) {
        if (zkCode(err) !== ZK.NO_NODE) throw err;
      }
    });
    let savedAt = newest;
    const meta = await this.session.getData(this.path);
    try {
      const parsed = JSON.parse(meta.data?.toString('utf8') ?? '') as { savedAt?: unknown };
      if (typeof parsed.savedAt === 'number') savedAt = parsed.savedAt;
    } catch {
      // no meta yet: the newest node's time stands in
    }
    this.known = nodes;
    return { nodes, savedAt };
  }

  async close(): Promise<void> {
    await this.queue;
    this.stopConnectListener();
    if (this.ownsSession) await this.session.close();
  }
}
