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
  private joining?: Promise<void>;
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
      // A new session lost our ephemeral nodes; a reconnect of the same one kept them (watches too).
      if (newSession) this.electionNode = undefined;
      this.rejoin();
    });
    if (this.o.session.isConnected()) this.rejoin();
  }

  private rejoin(): void {
    if (this.stopped) return;
    this.joining = this.join().catch((err) => {
      this.o.log.warn({ err: errorMessage(err) }, 'could not join the culm cluster in ZooKeeper; will retry on reconnect');
    });
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
    const s = this.o.session;
    for (const p of [this.instancesPath, this.electionPath, this.callbacksPath]) await s.mkdirp(p, this.o.acl);
    await this.writeSelf();
    if (!this.electionNode) {
      const created = await s.create(`${this.electionPath}/${ELECTION_PREFIX}`, Buffer.from(this.self.id), this.o.acl, undefined, 'ephemeral-sequential');
      this.electionNode = created.slice(created.lastIndexOf('/') + 1);
    }
    await this.elect();
  }

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
      await this.join();
      return;
    }
    if (mine === 0) {
      this.setLeader(true);
      return;
    }
    this.setLeader(false);
    const predecessor = `${this.electionPath}/${sorted[mine - 1]}`;
    const stat = await this.o.session.exists(predecessor, (event) => {
      if (event.getType() === 2 /* NODE_DELETED */) void this.elect().catch((err) => this.o.log.warn({ err: errorMessage(err) }, 'leader election failed'));
    });
    if (!stat) await this.elect(); // gone between the listing and the watch
  }

  /** Records this instance's last apply in its node (for /api/cluster). Failures are not fatal. */
  async report(lastApply: LastApply): Promise<void> {
    this.self.lastApply = lastApply;
    if (!this.o.session.isConnected()) return;
    await this.writeSelf().catch(() => undefined);
  }

  async setCallbackUrl(url: string | undefined): Promise<void> {
    this.self.callbackUrl = url;
    if (url && this.o.session.isConnected()) {
      // Remembered persistently: when this instance is gone, the leader removes the subscription.
      const node = `${this.callbacksPath}/${goQueryEscape(url)}`;
      const data = Buffer.from(JSON.stringify({ instance: this.self.id }));
      await this.o.session.create(node, data, this.o.acl).catch(async (err) => {
        if (zkCode(err) === ZK.NODE_EXISTS) await this.o.session.setData(node, data, -1);
        else throw err;
      });
    }
    if (this.o.session.isConnected()) await this.writeSelf().catch(() => undefined);
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
      try {
        const { data } = await s.getData(`${this.instancesPath}/${child}`);
        const info = JSON.parse(data?.toString('utf8') ?? '{}') as InstanceInfo;
        instances.push({ ...info, leader: info.id === leaderId });
      } catch {
        /* an instance that left while we listed */
      }
    }
    return { self: this.self.id, leader: leaderId, instances };
  }

  /**
   * Leader only: unsubscribe, in Marathon, every callback URL culm registered for an instance that is gone.
   * Only URLs culm recorded are touched, never another subscriber's.
   */
  async removeStaleCallbacks(unsubscribe: (url: string) => Promise<void>): Promise<string[]> {
    if (!this.isLeader()) return [];
    const s = this.o.session;
    const live = new Set((await this.view()).instances.map((i) => i.callbackUrl).filter((u): u is string => !!u));
    const removed: string[] = [];
    for (const child of (await s.getChildren(this.callbacksPath)).children) {
      let url: string;
      try {
        url = goQueryUnescape(child);
      } catch {
        continue;
      }
      if (live.has(url)) continue;
      try {
        await unsubscribe(url);
        await s.remove(`${this.callbacksPath}/${child}`, -1);
        removed.push(url);
        this.o.log.info({ callbackUrl: url.replace(/([?&]token=)[^&#]*/g, '$1[redacted]') }, 'removed the Marathon subscription of a culm instance that is gone');
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
    await this.joining;
    const s = this.o.session;
    if (!s.isConnected()) return;
    const nodes = [this.selfPath, ...(this.electionNode ? [`${this.electionPath}/${this.electionNode}`] : [])];
    for (const n of nodes) await s.remove(n, -1).catch(() => undefined);
    this.setLeader(false);
  }
}
