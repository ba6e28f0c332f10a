/**
 * Rules in ZooKeeper, laid out exactly as Bamboo lays them out (services/service/zookeeper.go): one child of
 * the base path per rule, named url.QueryEscape(id), holding V2ServiceRepr JSON. Bamboo and culm can share
 * one tree in both directions.
 *
 * Reads are served from memory; memory follows ZooKeeper through watches (the children of the base path and
 * the data of each child) and is mirrored to a cache file, so list() answers while ZooKeeper is down, even
 * at a start before ZooKeeper was ever reached. Writes need ZooKeeper: they fail fast with 503 without it.
 * Watch refreshes and writes run one at a time, so memory never goes back to an older read.
 */
import type { ACL, Event } from 'node-zookeeper-client';
import { CulmError, errorMessage } from '../../core/errors.js';
import type { Rule } from '../../core/model.js';
import { normaliseRuleId } from '../../core/rules.js';
import { silentLogger, type Logger } from '../../log/logger.js';
import type { RuleStore } from '../types.js';
import { decodeRuleNode, encodeRule, ruleNodeName } from './representation.js';
import { RuleCache } from './rule-cache.js';
import { aclFor, unavailable, ZK, zkCode, ZkSession, type AclMode } from './session.js';
import { mapLimit } from './util.js';
import { byId } from '../../core/compare.js';

export interface ZooKeeperRuleStoreOptions {
  /** ZooKeeper "host:port,host:port" (or a list). Not needed when `session` is given. */
  hosts?: string | readonly string[];
  /** A session shared with the state store; the rule store then does not close it. */
  session?: ZkSession;
  /** Base path of the rules (Bamboo.Zookeeper.Path); created with its parents when missing. */
  path: string;
  /** Directory of the cache file (zookeeper-rules.json) that lets culm start while ZooKeeper is down. */
  cacheDir: string;
  /** Delay before listeners hear of a change; changes within it are delivered once (Bamboo's ReportingDelay). Default 0. */
  reportingDelayMs?: number;
  /** Digest credentials "user:password" for the session the store opens. */
  auth?: string;
  /** ACL of the nodes culm creates. Default: "creator-all-world-read" with auth, "open" (Bamboo's) without. */
  acl?: AclMode;
  /** Requested session timeout for the session the store opens. Default 10 s. */
  sessionTimeoutMs?: number;
  /** Upper bound for put/delete, waiting for a connection included. Default 2000 ms. */
  writeTimeoutMs?: number;
  /** Version conflicts a put retries before it fails with E_STORE_CONFLICT. Default 10. */
  maxWriteAttempts?: number;
  /** How long a write waits for a lost connection to come back before it fails with 503. Default 1000 ms. */
  connectWaitMs?: number;
  /** How long list() waits for the first read from ZooKeeper before it answers from the cache. Default 2000 ms. */
  startWaitMs?: number;
  log?: Logger;
  /** A node culm cannot read (its id or node name, and why); it is left alone and skipped. */
  onSkipped?: (id: string, reason: string) => void;
}

interface Entry {
  rule: Rule;
  version: number;
  data: Buffer;
}

export class ZooKeeperRuleStore implements RuleStore {
  readonly path: string;
  /** Writes that found the node changed by someone else since it was read, and were redone over it. */
  conflicts = 0;
  private readonly session: ZkSession;
  private readonly ownsSession: boolean;
  private readonly log: Logger;
  private readonly acl: ACL[];
  private readonly cache: RuleCache;
  private readonly writeTimeoutMs: number;
  private readonly maxWriteAttempts: number;
  private readonly reportingDelayMs: number;
  private readonly listeners = new Set<(rules: Rule[]) => void>();
  private readonly stopConnectListener: () => void;

  /** What ZooKeeper held at the last read, by node name (null until the first read: the cache stands in). */
  private entries: Map<string, Entry> | null = null;
  private cached: Rule[] | null;
  private dirtyAll = true;
  private readonly dirtyNodes = new Set<string>();
  private refreshQueued = false;
  private publishForced = false;
  private lastPublished = '';
  private readonly skippedSeen = new Map<string, string>();
  private chain: Promise<unknown> = Promise.resolve();
  private firstRead: Promise<void>;
  private firstReadDone!: () => void;
  private notifyTimer?: NodeJS.Timeout;
  private retryTimer?: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly o: ZooKeeperRuleStoreOptions) {
    this.path = o.path.replace(/\/+$/, '') || '/';
    if (!this.path.startsWith('/') || this.path === '/') throw new CulmError('E_CONFIG', `ZooKeeper path ${JSON.stringify(o.path)} must be absolute and not the root`);
    this.log = o.log ?? silentLogger();
    this.writeTimeoutMs = o.writeTimeoutMs ?? 2000;
    this.maxWriteAttempts = o.maxWriteAttempts ?? 10;
    this.reportingDelayMs = o.reportingDelayMs ?? 0;
    this.ownsSession = !o.session;
    this.session = o.session ?? new ZkSession({ hosts: o.hosts ?? '', auth: o.auth, sessionTimeoutMs: o.sessionTimeoutMs, log: this.log });
    this.acl = aclFor(o.acl ?? (this.session.authenticated ? 'creator-all-world-read' : 'open'));
    this.cache = new RuleCache(o.cacheDir, this.path, this.session.hosts, this.log);
    this.cached = this.cache.loadSync();
    this.firstRead = new Promise((resolve) => { this.firstReadDone = resolve; });
    this.stopConnectListener = this.session.onConnect(() => {
      // After any reconnection everything is read again and every watch set again; listeners hear the result.
      this.dirtyAll = true;
      this.publishForced = true;
      this.scheduleRefresh();
    });
    if (this.session.isConnected()) this.scheduleRefresh();
  }

  // ---- reads ----

  async list(): Promise<Rule[]> {
    if (!this.entries && !this.closed) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.firstRead, new Promise((r) => { timer = setTimeout(r, this.o.startWaitMs ?? 2000); })]);
      clearTimeout(timer);
    }
    if (this.entries) return this.rules();
    if (this.cached) return [...this.cached];
    throw unavailable(`${this.session.downMessage()}, and no cached rules in ${this.cache.file}`);
  }

  watch(listener: (rules: Rule[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  writable(): boolean {
    return this.session.isConnected();
  }

  health(): { ok: boolean; detail: string } {
    const outage = this.session.outage();
    const count = this.entries ? this.rules().length : this.cached?.length;
    if (outage) {
      const serving = count === undefined ? 'no cached rules' : `serving ${count} cached rules`;
      return { ok: false, detail: `zookeeper disconnected since ${new Date(outage.since).toISOString()} (${outage.problem}); ${serving}` };
    }
    return { ok: true, detail: `zookeeper ${this.session.hosts}${this.path}: ${count ?? 0} rules` };
  }

  /** Rules by id; a rule stored under its canonical name wins over an alias (e.g. a v1 node named without the slash). */
  private rules(): Rule[] {
    const seen = new Map<string, { rule: Rule; canonical: boolean }>();
    for (const [name, entry] of this.entries ?? []) {
      const canonical = name === ruleNodeName(entry.rule.id);
      const was = seen.get(entry.rule.id);
      if (!was || (canonical && !was.canonical)) seen.set(entry.rule.id, { rule: entry.rule, canonical });
    }
    return [...seen.values()].map((v) => v.rule).sort(byId);
  }

  // ---- following ZooKeeper ----

  private readonly childWatcher = (): void => {
    this.dirtyAll = true;
    this.scheduleRefresh();
  };

  private readonly dataWatcher = (event: Event): void => {
    const prefix = `${this.path}/`;
    if (event.path.startsWith(prefix)) this.dirtyNodes.add(event.path.slice(prefix.length));
    else this.dirtyAll = true;
    this.scheduleRefresh();
  };

  private scheduleRefresh(): void {
    if (this.refreshQueued || this.closed) return;
    this.refreshQueued = true;
    void this.exclusive(() => this.refresh()).catch(() => undefined);
  }

  private async refresh(): Promise<void> {
    this.refreshQueued = false;
    if (this.closed || !this.session.isConnected()) return; // the next connection starts a full read
    const all = this.dirtyAll || !this.entries;
    const nodes = [...this.dirtyNodes];
    this.dirtyAll = false;
    this.dirtyNodes.clear();
    try {
      if (all) await this.readAll();
      else await this.readSome(nodes);
    } catch (err) {
      this.dirtyAll = true;
      // A reconnect starts a full read by itself; a timeout on a live connection does not: retry it too,
      // or the watches of the nodes that failed are never armed again.
      if (!(err instanceof CulmError && err.code === 'E_STORE_UNAVAILABLE') || this.session.isConnected()) {
        this.log.warn({ path: this.path, err: errorMessage(err) }, 'zookeeper rules unreadable; retrying');
        clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => this.scheduleRefresh(), 1000);
      }
      return;
    }
    this.publish();
  }

  private async readAll(): Promise<void> {
    let listed;
    try {
      listed = await this.session.getChildren(this.path, this.childWatcher);
    } catch (err) {
      if (zkCode(err) !== ZK.NO_NODE) throw err;
      await this.session.mkdirp(this.path, this.acl);
      listed = await this.session.getChildren(this.path, this.childWatcher);
    }
    const next = new Map<string, Entry>();
    await mapLimit(listed.children, 32, async (name) => {
      const entry = await this.readNode(name);
      if (entry) next.set(name, entry);
    });
    for (const name of this.skippedSeen.keys()) if (!listed.children.includes(name)) this.skippedSeen.delete(name);
    this.entries = next;
    this.firstReadDone();
  }

  private async readSome(names: string[]): Promise<void> {
    const entries = new Map(this.entries);
    await mapLimit(names, 32, async (name) => {
      const entry = await this.readNode(name);
      if (entry) entries.set(name, entry);
      else entries.delete(name);
    });
    this.entries = entries;
  }

  /** Reads one rule node and watches it; null when it is gone or unreadable (reported once per version). */
  private async readNode(name: string): Promise<Entry | null> {
    let read;
    try {
      read = await this.session.getData(`${this.path}/${name}`, this.dataWatcher);
    } catch (err) {
      if (zkCode(err) === ZK.NO_NODE) return null; // deleted meanwhile: the children watch says so too
      throw err;
    }
    const data = read.data ?? Buffer.alloc(0);
    const decoded = decodeRuleNode(name, data);
    if (decoded.ok) {
      this.skippedSeen.delete(name);
      return { rule: decoded.rule, version: read.stat.version, data };
    }
    const key = `${read.stat.version}:${decoded.reason}`;
    if (this.skippedSeen.get(name) !== key) {
      this.skippedSeen.set(name, key);
      this.log.warn({ node: `${this.path}/${name}`, id: decoded.id, reason: decoded.reason }, 'zookeeper rule skipped');
      this.o.onSkipped?.(decoded.id, decoded.reason);
    }
    return null;
  }

  /** Mirrors the list to the cache file and tells listeners, when it changed (or after a reconnection). */
  private publish(): void {
    if (!this.entries) return;
    const rules = this.rules();
    const key = JSON.stringify(rules);
    const forced = this.publishForced;
    this.publishForced = false;
    if (key === this.lastPublished && !forced) return;
    this.lastPublished = key;
    this.cached = rules;
    void this.cache.save(rules);
    if (this.reportingDelayMs <= 0) this.deliver();
    else this.notifyTimer ??= setTimeout(() => {
      this.notifyTimer = undefined;
      this.deliver();
    }, this.reportingDelayMs);
  }

  private deliver(): void {
    if (this.closed || !this.entries) return;
    const rules = this.rules();
    for (const listener of this.listeners) {
      try {
        listener([...rules]);
      } catch (err) {
        this.log.error({ err: errorMessage(err) }, 'rule listener failed');
      }
    }
  }

  // ---- writes ----

  /** Runs refreshes and writes one at a time; a write still waiting at its deadline gives up and does nothing. */
  private exclusive<T>(fn: () => Promise<T>, deadline?: number): Promise<T> {
    const run = async (): Promise<T> => {
      if (deadline !== undefined && Date.now() >= deadline) throw unavailable('zookeeper store busy: the write timed out before it started');
      return fn();
    };
    const result = this.chain.then(run, run);
    this.chain = result.catch(() => undefined);
    if (deadline === undefined) return result;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(unavailable(`zookeeper write did not finish within ${this.writeTimeoutMs} ms (it may still be applied)`)), Math.max(0, deadline - Date.now()));
    });
    return Promise.race([result, expired]).finally(() => clearTimeout(timer));
  }

  private async beginWrite(): Promise<number> {
    if (this.closed) throw unavailable('zookeeper store is closed');
    const deadline = Date.now() + this.writeTimeoutMs;
    await this.session.whenConnected(Math.min(this.o.connectWaitMs ?? 1000, this.writeTimeoutMs));
    return deadline;
  }

  put(rule: Rule): Promise<void> {
    return this.beginWrite().then((deadline) => this.exclusive(() => this.write(rule, deadline).catch((err: unknown) => {
      throw this.writeError(rule.id, err);
    }), deadline));
  }

  private async write(rule: Rule, deadline: number): Promise<void> {
    const left = (): number => Math.max(1, deadline - Date.now());
    if (!this.entries) await this.readAll(); // memory must hold the whole tree before a write is added to it
    const name = this.nodeNamesOf(rule.id)[0] ?? ruleNodeName(rule.id);
    const nodePath = `${this.path}/${name}`;
    const data = encodeRule(rule);
    let version = this.entries?.get(name)?.version;
    for (let attempt = 1; ; attempt++) {
      if (attempt > this.maxWriteAttempts) {
        throw new CulmError('E_STORE_CONFLICT', `rule ${rule.id} kept changing in ZooKeeper (${this.maxWriteAttempts} attempts); not written`, { status: 409 });
      }
      try {
        if (version === undefined) {
          await this.session.create(nodePath, data, this.acl, left());
          version = 0;
        } else {
          version = (await this.session.setData(nodePath, data, version, left())).version;
          // Bamboo watches only the children it saw at its start, plus the base node: touch it, as Bamboo does.
          await this.session.setData(this.path, Buffer.alloc(0), -1, left()).catch((err) => {
            this.log.debug({ err: errorMessage(err) }, 'zookeeper base node not touched');
          });
        }
        break;
      } catch (err) {
        const code = zkCode(err);
        if (code === ZK.NO_NODE && version === undefined) {
          await this.session.mkdirp(this.path, this.acl, left()); // base path deleted under us
        } else if (code === ZK.NO_NODE) {
          version = undefined; // deleted meanwhile: create it
        } else if (code === ZK.NODE_EXISTS || code === ZK.BAD_VERSION) {
          // Someone else wrote it since we read it: read again and write over it (last write wins).
          this.conflicts++;
          const current = await this.session.getData(nodePath, this.dataWatcher, left()).catch((e) => {
            if (zkCode(e) === ZK.NO_NODE) return null;
            throw e;
          });
          if (current && current.data?.equals(data)) {
            version = current.stat.version;
            break;
          }
          version = current?.stat.version;
        } else {
          throw this.writeError(rule.id, err);
        }
      }
    }
    const entries = new Map(this.entries ?? []);
    entries.set(name, { rule, version, data });
    this.entries = entries;
    this.publish();
  }

  delete(id: string): Promise<boolean> {
    const ruleId = normaliseRuleId(id);
    return this.beginWrite().then((deadline) => this.exclusive(async () => {
      if (!this.entries) await this.readAll().catch((err: unknown) => { throw this.writeError(ruleId, err); });
      const names = new Set([ruleNodeName(ruleId), ...this.nodeNamesOf(ruleId)]);
      let existed = false;
      for (const name of names) {
        try {
          await this.session.remove(`${this.path}/${name}`, -1, Math.max(1, deadline - Date.now()));
          existed = true;
        } catch (err) {
          if (zkCode(err) !== ZK.NO_NODE) throw this.writeError(ruleId, err);
        }
      }
      if (this.entries) {
        const entries = new Map(this.entries);
        for (const name of names) entries.delete(name);
        this.entries = entries;
        this.publish();
      }
      return existed;
    }, deadline));
  }

  /** Names of the nodes holding `id`, the canonical one first (Bamboo v1 trees may name a rule without its slash). */
  private nodeNamesOf(id: string): string[] {
    const canonical = ruleNodeName(id);
    const names = [...(this.entries ?? [])].filter(([, e]) => e.rule.id === id).map(([name]) => name);
    return names.sort((a, b) => (a === canonical ? -1 : b === canonical ? 1 : 0));
  }

  private writeError(id: string, err: unknown): Error {
    if (err instanceof CulmError) return err;
    if (zkCode(err) === ZK.NO_AUTH) {
      return new CulmError('E_STORE_FORBIDDEN', `zookeeper refuses to write rule ${id}: not authorised (check Bamboo.Zookeeper.Auth and the node ACLs)`, { status: 503, cause: err });
    }
    return unavailable(`zookeeper write of rule ${id} failed: ${errorMessage(err)}`, err);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.notifyTimer);
    clearTimeout(this.retryTimer);
    this.listeners.clear();
    this.stopConnectListener();
    this.firstReadDone();
    await this.chain;
    await this.cache.flush();
    if (this.ownsSession) await this.session.close();
  }
}
