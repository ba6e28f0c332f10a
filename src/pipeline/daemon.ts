/**
 * The running daemon's heart: holds cluster state and rules, feeds Marathon events and resyncs through the
 * pure reducer, and asks the coalescer for applies. Edges (REST, UI, metrics) talk to it through CulmCore.
 */
import { CulmError, errorMessage } from '../core/errors.js';
import { eventLabel, toDomainEvent, type DomainEvent } from '../core/events.js';
import { normaliseAppId, type MappedApps } from '../core/marathon-map.js';
import { emptyState, type App, type ClusterState, type Rule } from '../core/model.js';
import { checkRule } from '../core/rules.js';
import { applySnapshot, reduce } from '../core/state.js';
import { countTasks } from '../core/eligibility.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { RuleStore, StateStore } from '../store/types.js';
import type { Applier } from './apply.js';
import { ApplyCoalescer } from './coalescer.js';
import { mergeHistory, RuleChangeLog } from './history.js';
import type { ApplyRecord, CulmCore, DependencyCheck, HistoryRecord, Readiness, RuleChangeRecord } from './types.js';
import type { HaproxyDriver, SideFile } from '../haproxy/driver.js';

export interface AppsSource {
  /**
   * `GET /v2/apps?embed=apps.tasks…`, mapped (see AppsMapper: malformed apps in `skipped`). Throws on any
   * failure, including an answer that is not an object with an `apps` array.
   */
  fetchApps(known: (id: string) => App | undefined): Promise<MappedApps>;
}

export interface DaemonOptions {
  applier: Applier;
  driver: HaproxyDriver;
  apps: AppsSource;
  rules: RuleStore;
  snapshots: StateStore;
  metrics: Metrics;
  log: Logger;
  settleMs: number;
  resyncIntervalMs: number;
  /** How long to wait between snapshot writes. */
  snapshotDelayMs?: number;
  /** Extra readiness checks from the edges (event stream, subscription, ZooKeeper). */
  extraChecks?: () => Record<string, DependencyCheck>;
  /** Told of every apply that did something (the cluster registry shows each instance's last one). */
  onApply?(record: ApplyRecord): void;
}

const HISTORY = 50;
/** A constant stream of app events must not postpone the resync forever. */
const MAX_SETTLE_FACTOR = 8;

export class Daemon implements CulmCore {
  private cluster: ClusterState = emptyState();
  private ruleMap = new Map<string, Rule>();
  private records: ApplyRecord[] = [];
  private readonly ruleChanges = new RuleChangeLog();
  private readonly coalescer: ApplyCoalescer;
  private settleTimer?: NodeJS.Timeout;
  private settleFirstAt = 0;
  private resyncTimer?: NodeJS.Timeout;
  private snapshotTimer?: NodeJS.Timeout;
  private resyncing?: Promise<boolean>;
  private resyncAgain = false;
  /** Events applied while a resync fetch is in flight, replayed on top of its answer. */
  private journal?: DomainEvent[];
  private marathonCheck: DependencyCheck = { ok: false, detail: 'not synced yet' };
  private restoredFromSnapshot = false;
  private firstApplyOk = false;
  private stopping = false;
  private unwatchRules?: () => void;
  private rulesLoaded = false;
  private lastSnapshotMs = 0;
  private rulesTimer?: NodeJS.Timeout;

  constructor(private readonly o: DaemonOptions) {
    // Counted when scraped, not on every event: walking 100,000 tasks per change is the hot path's biggest cost.
    o.metrics.clusterFrom(() => countTasks(this.cluster));
    this.coalescer = new ApplyCoalescer(() => this.applyNow(), { retryBaseMs: 1000, retryMaxMs: 30_000 });
  }

  // ---- life cycle ----

  async start(): Promise<void> {
    await this.loadRules();
    this.unwatchRules = this.o.rules.watch((rules) => {
      this.ruleMap = new Map(rules.map((r) => [r.id, r]));
      this.rulesLoaded = true;
      void this.coalescer.request();
    });
    const snap = await this.o.snapshots.load().catch((err) => {
      this.o.log.warn({ err: errorMessage(err) }, 'state snapshot unreadable; starting empty');
      return null;
    });
    // The saved state is the baseline: a resync carries its health forward (a new Marathon leader has no
    // health results yet), and when Marathon cannot be reached it is what gets served.
    const saved = snap ? snap.apps.filter(isPlausibleApp) : [];
    if (snap) this.cluster = { ...applySnapshot(emptyState(), saved, snap.savedAt), syncedAt: 0 };
    const synced = await this.resync();
    if (!synced && snap) {
      this.restoredFromSnapshot = true;
      this.o.log.warn({ apps: saved.length, savedAt: new Date(snap.savedAt).toISOString() }, 'Marathon unreachable: serving the last saved state');
    }
    void this.coalescer.request();
    this.resyncTimer = setInterval(() => void this.resync(), this.o.resyncIntervalMs);
    this.resyncTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.resyncTimer);
    clearTimeout(this.settleTimer);
    clearTimeout(this.rulesTimer);
    this.unwatchRules?.();
    await this.coalescer.stop();
    if (this.snapshotTimer) {
      clearTimeout(this.snapshotTimer);
      await this.saveSnapshot();
    }
  }

  /** Resolves with the record of the next apply that includes everything known now. */
  applyNowAndWait(): Promise<ApplyRecord> {
    return this.coalescer.request();
  }

  /**
   * Rules must be known before anything is applied: applying without them would drop every custom ACL.
   * Until the store answers, applies wait and loading is retried.
   */
  private async loadRules(): Promise<void> {
    try {
      const rules = await this.o.rules.list();
      this.ruleMap = new Map(rules.map((r) => [r.id, r]));
      this.rulesLoaded = true;
      clearTimeout(this.rulesTimer);
    } catch (err) {
      this.o.log.error({ err: errorMessage(err) }, 'rules cannot be read; nothing is applied until they can (retrying)');
      if (this.stopping) return;
      this.rulesTimer = setTimeout(() => {
        void this.loadRules().then(() => { if (this.rulesLoaded) void this.coalescer.request(); });
      }, 2000);
      this.rulesTimer.unref();
    }
  }

  // ---- Marathon ----

  /** Full resync from Marathon. Never throws; false when Marathon could not be read (state unchanged). */
  resync(): Promise<boolean> {
    if (this.resyncing) {
      this.resyncAgain = true;
      return this.resyncing;
    }
    this.resyncing = (async () => {
      let ok = false;
      do {
        this.resyncAgain = false;
        ok = await this.resyncOnce();
      } while (this.resyncAgain && !this.stopping);
      return ok;
    })().finally(() => { this.resyncing = undefined; });
    return this.resyncing;
  }

  private async resyncOnce(): Promise<boolean> {
    let mapped: MappedApps;
    this.journal = [];
    try {
      const held = this.cluster.apps;
      mapped = await this.o.apps.fetchApps((id) => held.get(id));
    } catch (err) {
      this.journal = undefined;
      this.o.metrics.resync('error');
      this.marathonCheck = { ok: false, detail: `last fetch failed: ${errorMessage(err)}` };
      this.o.log.warn({ err: errorMessage(err) }, 'Marathon resync failed; keeping the last known state');
      return false;
    }
    const journal = this.journal;
    this.journal = undefined;
    const apps = mapped.apps;
    for (const s of mapped.skipped) {
      this.o.metrics.appSkipped('unparsable');
      this.o.log.warn({ app: s.id, reason: s.reason }, 'app skipped; its last known state is kept');
      // One malformed app in Marathon's answer must not take its backend away.
      const known = this.cluster.apps.get(normaliseAppId(s.id));
      if (known && !apps.some((a) => a.id === known.id)) apps.push(known);
    }
    this.o.metrics.resync('ok');
    this.marathonCheck = { ok: true, detail: `synced ${apps.length} apps` };
    this.restoredFromSnapshot = false;
    const now = Date.now();
    let next = applySnapshot(this.cluster, apps, now);
    let replayedHealth = false;
    for (const event of journal ?? []) {
      next = reduce(next, event, now).state;
      if (event.kind === 'health') replayedHealth = true;
    }
    this.setState(next, true);
    // A replayed health event may be older than the answer: a settle resync confirms.
    if (replayedHealth) this.settleResync();
    return true;
  }

  /** An SSE message or callback body. */
  acceptMarathonEvent(body: unknown, sseType?: string): { accepted: boolean; kind: string } {
    if (this.stopping) return { accepted: false, kind: 'stopping' };
    const event = toDomainEvent(body, sseType);
    this.onEvent(event);
    return { accepted: event.kind !== 'invalid', kind: event.kind };
  }

  private onEvent(event: DomainEvent): void {
    if (event.kind === 'invalid') {
      this.o.metrics.eventRejected(event.reason);
      this.o.log.debug({ type: event.eventType, reason: event.reason }, 'event not understood');
      return;
    }
    this.o.metrics.eventReceived(eventLabel(event));
    if (event.kind === 'ignored') return;
    if (event.kind === 'resync') {
      this.settleResync();
      return;
    }
    // A resync answer fetched before this event must not wipe it out: it is replayed on top.
    this.journal?.push(event);
    const { state, needsResync } = reduce(this.cluster, event, Date.now());
    if (needsResync) this.settleResync();
    if (event.kind === 'app-removed' || event.kind === 'app-upsert') this.settleResync();
    if (state !== this.cluster) this.setState(state, false);
  }

  /** Resync shortly after a burst of app-level events settles (and at the latest after 8 settle periods). */
  private settleResync(): void {
    const now = Date.now();
    if (!this.settleTimer) this.settleFirstAt = now;
    clearTimeout(this.settleTimer);
    const deadline = this.settleFirstAt + this.o.settleMs * MAX_SETTLE_FACTOR;
    const wait = Math.max(0, Math.min(this.o.settleMs, deadline - now));
    this.settleTimer = setTimeout(() => {
      this.settleTimer = undefined;
      void this.resync();
    }, wait);
  }

  private setState(next: ClusterState, fromResync: boolean): void {
    const changed = next.apps !== this.cluster.apps;
    this.cluster = next;
    if (!changed) {
      // A resync that changed nothing needs no render and no snapshot, unless nothing was applied yet.
      if (fromResync && !this.firstApplyOk) void this.coalescer.request();
      return;
    }
    void this.coalescer.request();
    this.scheduleSnapshot();
  }

  /** Writes the snapshot shortly (a new leader writes the shared one whole). */
  saveSnapshotSoon(): void {
    this.scheduleSnapshot();
  }

  private scheduleSnapshot(): void {
    if (this.snapshotTimer) return;
    // A big cluster's snapshot costs hundreds of ms: save at most ~5% of the time.
    const delay = Math.max(this.o.snapshotDelayMs ?? 1000, 20 * this.lastSnapshotMs);
    this.snapshotTimer = setTimeout(() => {
      this.snapshotTimer = undefined;
      void this.saveSnapshot();
    }, delay);
    this.snapshotTimer.unref();
  }

  private async saveSnapshot(): Promise<void> {
    const started = performance.now();
    try {
      await this.o.snapshots.save({ savedAt: Date.now(), apps: [...this.cluster.apps.values()] });
      this.lastSnapshotMs = performance.now() - started;
    } catch (err) {
      this.o.metrics.storeError('snapshot');
      this.o.log.warn({ err: errorMessage(err) }, 'state snapshot not saved');
    }
  }

  // ---- apply ----

  private hasState(): boolean {
    return this.marathonCheck.ok || this.restoredFromSnapshot || this.cluster.syncedAt > 0;
  }

  private async applyNow(): Promise<ApplyRecord> {
    if (!this.hasState()) {
      // Rendering now would replace whatever HAProxy serves with a config without apps.
      return { at: Date.now(), result: 'skipped', reasons: ['waiting for the first Marathon sync'], durationMs: 0 };
    }
    if (!this.rulesLoaded) {
      return { at: Date.now(), result: 'skipped', reasons: ['waiting for the rules'], durationMs: 0 };
    }
    const record = await this.o.applier.apply(this.cluster, this.ruleMap);
    if (record.result === 'deferred') return record;
    this.o.metrics.apply(record.result, record.durationMs / 1000);
    if (record.result === 'applied' || record.result === 'unchanged') {
      this.firstApplyOk = true;
      this.o.metrics.lastApplySuccess(Date.now() / 1000);
    }
    if (record.result !== 'unchanged' && record.result !== 'skipped') {
      this.records.push(record);
      if (this.records.length > HISTORY) this.records.shift();
      this.o.onApply?.(record);
    }
    return record;
  }

  // ---- CulmCore ----

  state(): ClusterState {
    return this.cluster;
  }

  rules(): ReadonlyMap<string, Rule> {
    return this.ruleMap;
  }

  /** A rule write while the store cannot take it fails at once, before any work (503, nothing written). */
  private requireWritableStore(): void {
    if (this.o.rules.writable && !this.o.rules.writable()) {
      throw new CulmError('E_STORE_UNAVAILABLE', `rules cannot be written now: ${this.o.rules.health().detail}`, { status: 503 });
    }
  }

  async putRule(input: Rule): Promise<Rule> {
    const rule = checkRule(input);
    this.requireWritableStore();
    let candidate: { text: string; files: SideFile[] };
    try {
      candidate = this.o.applier.candidateWith(this.cluster, this.ruleMap, rule);
    } catch (err) {
      throw new CulmError('E_RULE_RENDER', `the template cannot render this rule: ${errorMessage(err)}`, { status: 400, cause: err });
    }
    try {
      await this.o.driver.check(candidate.text, candidate.files);
    } catch (err) {
      if (err instanceof CulmError && err.code === 'E_CONFIG_INVALID') {
        throw new CulmError('E_RULE_INVALID', `HAProxy rejects the config with this rule: ${err.message}`, { status: 400, cause: err });
      }
      throw err;
    }
    await this.o.rules.put(rule);
    this.ruleMap = new Map(this.ruleMap).set(rule.id, rule);
    void this.coalescer.request();
    return rule;
  }

  async deleteRule(id: string): Promise<boolean> {
    this.requireWritableStore();
    const existed = await this.o.rules.delete(id);
    if (existed || this.ruleMap.has(id)) {
      const next = new Map(this.ruleMap);
      next.delete(id);
      this.ruleMap = next;
      void this.coalescer.request();
    }
    return existed;
  }

  readiness(): Readiness {
    const store = this.o.rules.health();
    const checks: Record<string, DependencyCheck> = {
      marathon: this.restoredFromSnapshot
        ? { ok: false, detail: `unreachable; serving the saved state (${this.marathonCheck.detail})` }
        : this.marathonCheck,
      haproxy: this.firstApplyOk
        ? { ok: true, detail: 'config applied' }
        : { ok: false, detail: this.records.at(-1)?.error?.message ?? 'no config applied yet' },
      store,
      ...(this.o.extraChecks?.() ?? {}),
    };
    return { ready: this.hasState() && this.firstApplyOk, checks };
  }

  history(): readonly HistoryRecord[] {
    return mergeHistory(this.records, this.ruleChanges.list());
  }

  recordRuleChange(record: RuleChangeRecord): void {
    this.ruleChanges.add(record);
  }

  appliedConfig(): string | undefined {
    return this.o.driver.lastApplied();
  }
}

function isPlausibleApp(v: unknown): v is App {
  const a = v as App;
  return typeof a === 'object' && a !== null && typeof a.id === 'string' && typeof a.tasks === 'object' && a.tasks !== null
    && Array.isArray(a.healthChecks) && Array.isArray(a.servicePorts) && Array.isArray(a.containerPorts);
}
