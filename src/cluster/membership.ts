/**
 * Several culm instances on one ZooKeeper: each registers itself (ephemeral node with its endpoint, callback
 * URL, version and last apply), one is elected leader (lowest ephemeral sequential node; each follower
 * watches only its predecessor, so a leader's death wakes one instance, not all). The leader writes the
 * shared state snapshot and removes Marathon callback subscriptions culm registered for instances that are
 * gone. Everything lives under `<rules path>-culm/`, beside Bamboo's rules, never among them.
 */
import type { ACL } from 'node-zookeeper-client';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../log/logger.js';
import { goQueryEscape, goQueryUnescape } from '../store/zookeeper/escape.js';
import { ZK, zkCode, type ZkSession } from '../store/zookeeper/session.js';
import { withoutToken } from '../marathon/subscription.js';
import { redactUrl } from '../core/text.js';
import { Backoff } from '../core/backoff.js';

export { withoutToken };

export interface LastApply {
  at: number;
  result: string;
  configHash?: string;
}

export interface InstanceInfo {
  id: string;
  /** culm's REST endpoint, as others reach it. */
  endpoint: string;
  callbackUrl?: string;
  version: string;
  startedAt: number;
  lastApply?: LastApply;
}

export interface ClusterView {
  self: string;
  leader: string | null;
  instances: Array<InstanceInfo & { leader: boolean }>;
}

export interface MembershipOptions {
  session: ZkSession;
  /** `<rules path>-culm` */
  basePath: string;
  self: InstanceInfo;
  acl: ACL[];
  log: Logger;
  onLeadership?(leader: boolean): void;
}

const ELECTION_PREFIX = 'n_';

export class Membership {
  private leader = false;
  private electionNode?: string;
  private stopped = false;
  private unsubscribe?: () => void;
  /** Joins and elections run one at a time (overlapping ones created duplicate election nodes). */
  private queue: Promise<void> = Promise.resolve();
  private retryTimer?: NodeJS.Timeout;
  private readonly retry = new Backoff({ initialMs: 500, maxMs: 10_000 });
  /** When each recorded callback URL was first seen without a live instance (the leader waits a grace period). */
  private readonly orphanSince = new Map<string, number>();
  private readonly self: InstanceInfo;

  constructor(private readonly o: MembershipOptions) {
    this.self = { ...o.self };
  }

  private get instancesPath(): string { return `${this.o.basePath}/instances`; }
  private get electionPath(): string { return `${this.o.basePath}/election`; }
  private get callbacksPath(): string { return `${this.o.basePath}/callbacks`; }
  private get selfPath(): string { return `${this.instancesPath}/${goQueryEscape(this.self.id)}`; }

  id(): string {
    return this.self.id;
  }

  start(): void {
    this.unsubscribe = this.o.session.onConnect((newSession) => {
      if (newSession) {
        // A new session lost our ephemeral nodes: whatever leadership the old one held is gone, at once.
        this.electionNode = undefined;
        this.setLeader(false);
      }
      this.rejoin();
    });
    if (this.o.session.isConnected()) this.rejoin();
  }

  private serial(fn: () => Promise<void>): Promise<void> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private rejoin(): void {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    this.serial(() => this.join()).then(() => { this.retry.reset(); }, (err) => {
      const retryMs = this.retry.next();
      this.o.log.warn({ err: errorMessage(err), retryMs }, 'could not join the culm cluster in ZooKeeper; retrying');
      if (this.stopped) return;
      this.retryTimer = setTimeout(() => this.rejoin(), retryMs);
      this.retryTimer.unref();
    });
  }

  /** What a shared-state write must check: our election node, while we lead. */
  fence(): { path: string; version: number } | undefined {
    return this.isLeader() && this.electionNode ? { path: `${this.electionPath}/${this.electionNode}`, version: 0 } : undefined;
  }

  isLeader(): boolean {
    return this.leader && this.o.session.isConnected();
  }

  private setLeader(leader: boolean): void {
    if (leader === this.leader) return;
    this.leader = leader;
    this.o.log.info({ instance: this.self.id }, leader ? 'elected leader of the culm cluster' : 'no longer leader');
    this.o.onLeadership?.(leader);
  }

  private async join(): Promise<void> {
    if (this.stopped) return;
    const s = this.o.session;
    for (const p of [this.instancesPath, this.electionPath, this.callbacksPath]) await s.mkdirp(p, this.o.acl);
    await this.writeSelf();
    if (this.self.callbackUrl) await this.recordCallback(this.self.callbackUrl);
    if (!this.electionNode) this.electionNode = await this.adoptOrCreateElectionNode();
    await this.elect();
  }

  /**
   * Our election node: one this session already made (a create whose answer was lost to a disconnect still
   * happened) is adopted, and extra ones are removed; otherwise a new one is created.
   */
  private async adoptOrCreateElectionNode(): Promise<string> {
    const s = this.o.session;
    const ours: string[] = [];
    for (const child of (await s.getChildren(this.electionPath)).children.filter((c) => c.startsWith(ELECTION_PREFIX)).sort()) {
      const { data } = await s.getData(`${this.electionPath}/${child}`).catch(() => ({ data: null }));
      if (data?.toString('utf8') === this.self.id) ours.push(child);
    }
    for (const extra of ours.slice(1)) await s.remove(`${this.electionPath}/${extra}`, -1).catch(() => undefined);
    if (ours.length > 0) return ours[0];
    const created = await s.create(`${this.electionPath}/${ELECTION_PREFIX}`, Buffer.from(this.self.id), this.o.acl, undefined, 'ephemeral-sequential');
    return created.slice(created.lastIndexOf('/') + 1);
  }

  /** One watcher for "our predecessor is gone", whatever the number of elections (watches do not pile up). */
  private readonly onPredecessorEvent = (event: { getType(): number }): void => {
    if (event.getType() !== 2 /* NODE_DELETED */ || this.stopped) return;
    void this.serial(() => this.elect()).catch((err) => {
      this.o.log.warn({ err: errorMessage(err) }, 'leader election failed; retrying');
      this.rejoin();
    });
  };

  private async writeSelf(): Promise<void> {
    const data = Buffer.from(JSON.stringify(this.self));
    try {
      await this.o.session.create(this.selfPath, data, this.o.acl, undefined, 'ephemeral');
    } catch (err) {
      if (zkCode(err) !== ZK.NODE_EXISTS) throw err;
      await this.o.session.setData(this.selfPath, data, -1);
    }
  }

  /** Leader when our election node is the lowest; else watch the one just before ours. */
  private async elect(): Promise<void> {
    if (this.stopped || !this.electionNode) return;
    const { children } = await this.o.session.getChildren(this.electionPath);
    const sorted = children.filter((c) => c.startsWith(ELECTION_PREFIX)).sort();
    const mine = sorted.indexOf(this.electionNode);
    if (mine === -1) {
      // Our node is gone (session replaced under us): take a new one.
      this.electionNode = undefined;
      this.setLeader(false);
      this.electionNode = await this.adoptOrCreateElectionNode();
      await this.elect();
      return;
    }
    if (mine === 0) {
      this.setLeader(true);
      return;
    }
    this.setLeader(false);
    const predecessor = `${this.electionPath}/${sorted[mine - 1]}`;
    const stat = await this.o.session.exists(predecessor, this.onPredecessorEvent);
    if (!stat) await this.elect(); // gone between the listing and the watch
  }

  /** Records this instance's last apply in its node (for /api/cluster). Failures are not fatal. */
  async report(lastApply: LastApply): Promise<void> {
    this.self.lastApply = lastApply;
    if (!this.o.session.isConnected()) return;
    await this.writeSelf().catch(() => undefined);
  }

  /**
   * The callback URL this instance registered in Marathon (called after every registration). Kept without
   * its token (ZooKeeper nodes are world-readable); recorded again on every join, so an instance that
   * registered while ZooKeeper was down is recorded once it is back.
   */
  async setCallbackUrl(url: string | undefined): Promise<void> {
    this.self.callbackUrl = url === undefined ? undefined : withoutToken(url);
    if (!this.o.session.isConnected()) return;
    if (this.self.callbackUrl) await this.recordCallback(this.self.callbackUrl);
    await this.writeSelf().catch(() => undefined);
  }

  private async recordCallback(url: string): Promise<void> {
    const node = `${this.callbacksPath}/${goQueryEscape(url)}`;
    const data = Buffer.from(JSON.stringify({ instance: this.self.id, at: Date.now() }));
    await this.o.session.create(node, data, this.o.acl).catch(async (err) => {
      if (zkCode(err) === ZK.NODE_EXISTS) await this.o.session.setData(node, data, -1);
      else throw err;
    });
  }

  async view(): Promise<ClusterView> {
    const s = this.o.session;
    const { children } = await s.getChildren(this.instancesPath);
    const instances: Array<InstanceInfo & { leader: boolean }> = [];
    let leaderId: string | null = null;
    const election = (await s.getChildren(this.electionPath)).children.filter((c) => c.startsWith(ELECTION_PREFIX)).sort();
    if (election.length > 0) {
      const data = (await s.getData(`${this.electionPath}/${election[0]}`).catch(() => ({ data: null }))).data;
      leaderId = data ? data.toString('utf8') : null;
    }
    for (const child of children.sort()) {
      let data: Buffer | null;
      try {
        ({ data } = await s.getData(`${this.instancesPath}/${child}`));
      } catch (err) {
        if (zkCode(err) === ZK.NO_NODE) continue; // it left while we listed
        throw err; // anything else: the view is incomplete, and nobody may act on it
      }
      let info: InstanceInfo;
      try {
        info = JSON.parse(data?.toString('utf8') ?? '') as InstanceInfo;
      } catch {
        info = { id: goQueryUnescapeSafe(child), endpoint: '', version: '?', startedAt: 0 };
      }
      instances.push({ ...info, leader: info.id === leaderId });
    }
    return { self: this.self.id, leader: leaderId, instances };
  }

  /**
   * Leader only: unsubscribe, in Marathon, every callback URL culm registered for an instance that is gone.
   * Only URLs culm recorded are touched, never another subscriber's.
   */
  async removeStaleCallbacks(
    unsubscribe: (url: string) => Promise<void>,
    opts: { graceMs: number; isAlive: (url: string) => Promise<boolean> },
  ): Promise<string[]> {
    if (!this.isLeader()) {
      this.orphanSince.clear();
      return [];
    }
    const s = this.o.session;
    const live = new Set((await this.view()).instances.map((i) => i.callbackUrl).filter((u): u is string => !!u));
    const removed: string[] = [];
    const now = Date.now();
    const recorded = (await s.getChildren(this.callbacksPath)).children;
    for (const url of this.orphanSince.keys()) if (!recorded.includes(goQueryEscape(url))) this.orphanSince.delete(url);
    for (const child of recorded) {
      let url: string;
      try {
        url = goQueryUnescape(child);
      } catch {
        continue;
      }
      if (live.has(url)) {
        this.orphanSince.delete(url);
        continue;
      }
      // An instance cut off from ZooKeeper loses its registration but still runs: wait, then ask it.
      const since = this.orphanSince.get(url) ?? now;
      this.orphanSince.set(url, since);
      if (now - since < opts.graceMs) continue;
      if (await opts.isAlive(url).catch(() => false)) continue;
      if (!this.isLeader()) break;
      try {
        await unsubscribe(url);
        await s.remove(`${this.callbacksPath}/${child}`, -1);
        this.orphanSince.delete(url);
        removed.push(url);
        this.o.log.info({ callbackUrl: redactUrl(url) }, 'removed the Marathon subscription of a culm instance that is gone');
      } catch (err) {
        this.o.log.warn({ err: errorMessage(err) }, 'could not remove a stale callback subscription; will retry');
      }
    }
    return removed;
  }

  /** Leaves the cluster at once (a follower takes over without waiting for the session timeout). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    clearTimeout(this.retryTimer);
    await this.queue;
    const s = this.o.session;
    if (!s.isConnected()) return;
    const nodes = [this.selfPath, ...(this.electionNode ? [`${this.electionPath}/${this.electionNode}`] : [])];
    for (const n of nodes) await s.remove(n, -1).catch(() => undefined);
    this.setLeader(false);
  }
}

function goQueryUnescapeSafe(name: string): string {
  try {
    return goQueryUnescape(name);
  } catch {
    return name;
  }
}
