/**
 * Picks the stores: the embedded file store when no ZooKeeper is configured; with ZooKeeper, Bamboo's rule
 * layout, the shared state snapshot (leader writes) layered over a local one, and cluster membership.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { CulmConfig } from '../config/index.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import { FileRuleStore, FileStateStore } from '../store/file.js';
import { LayeredStateStore } from '../store/layered.js';
import type { RuleStore, StateStore } from '../store/types.js';
import { aclFor, stateAppsPath, ZkSession, ZooKeeperRuleStore, ZooKeeperStateStore } from '../store/zookeeper/index.js';
import type { DependencyCheck } from '../pipeline/types.js';
import { Membership, type ClusterView } from './membership.js';

export interface Stores {
  rules: RuleStore;
  snapshots: StateStore;
  membership?: Membership;
  /** /api/cluster */
  cluster(): Promise<ClusterView & { mode: 'standalone' | 'zookeeper' }>;
  zookeeperCheck(): DependencyCheck | undefined;
  /** Called when this instance becomes leader (the daemon writes a full snapshot then). */
  onLeader(listener: () => void): void;
  close(): Promise<void>;
}

export function createStores(config: CulmConfig, log: Logger, metrics: Metrics, version: string, endpoint: string): Stores {
  const onSkipped = (id: string, reason: string): void => {
    metrics.ruleSkipped(reason);
    log.warn({ id, reason }, 'stored rule skipped');
  };
  const localSnapshots = new FileStateStore(config.dataDir);
  const self = {
    id: `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
    endpoint, version, startedAt: Date.now(),
  };
  const zk = config.bamboo.zookeeper;
  if (zk.hosts.length === 0) {
    const rules = new FileRuleStore(config.dataDir, onSkipped);
    return {
      rules,
      snapshots: localSnapshots,
      cluster: async () => ({ mode: 'standalone', self: self.id, leader: self.id, instances: [{ ...self, leader: true }] }),
      zookeeperCheck: () => undefined,
      onLeader: () => undefined,
      close: async () => { await Promise.all([rules.close(), localSnapshots.close()]); },
    };
  }
  const session = new ZkSession({ hosts: zk.hosts, auth: zk.auth, sessionTimeoutMs: zk.sessionTimeoutMs, log });
  const acl = aclFor(zk.auth ? 'creator-all-world-read' : 'open');
  const rules = new ZooKeeperRuleStore({
    session, path: zk.path, cacheDir: config.dataDir, reportingDelayMs: zk.reportingDelayMs, auth: zk.auth, log, onSkipped,
  });
  const leaderListeners: Array<() => void> = [];
  // eslint-disable-next-line prefer-const -- the membership's callback needs the store made after it
  let shared: ZooKeeperStateStore;
  const membership = new Membership({
    session, basePath: `${zk.path.replace(/\/+$/, '')}-culm`, self, acl, log,
    onLeadership: (leader) => {
      if (!leader) return;
      // What this instance believed the shared snapshot held, as a follower, is stale: write it whole.
      shared.forgetKnown();
      for (const l of leaderListeners) l();
    },
  });
  shared = new ZooKeeperStateStore({ session, path: stateAppsPath(zk.path), auth: zk.auth, log, fence: () => membership.fence() });
  const snapshots = new LayeredStateStore(shared, localSnapshots, () => membership.isLeader(), log);
  membership.start();
  return {
    rules, snapshots, membership,
    cluster: async () => ({ mode: 'zookeeper', ...(await membership.view()) }),
    zookeeperCheck: () => ({ ok: session.isConnected(), detail: session.downMessage() }),
    onLeader: (listener) => { leaderListeners.push(listener); },
    async close() {
      await membership.stop();
      await Promise.all([rules.close(), snapshots.close()]);
      await session.close();
    },
  };
}
