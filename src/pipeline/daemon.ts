/**
 * The running daemon's heart: holds cluster state and rules, feeds Marathon events and resyncs through the
 * pure reducer, and asks the coalescer for applies. Edges (REST, UI, metrics) talk to it through CulmCore.
 */
import { redactConfigText } from '../core/text.js';
import { reportLabelProblems, type GroupPolicy } from '../core/lb-labels.js';
import { CulmError, errorMessage } from '../core/errors.js';
import { eventLabel, toDomainEvent, type DomainEvent } from '../core/events.js';
import { normaliseAppId, type MappedApps } from '../core/marathon-map.js';
import { emptyState, type App, type ClusterState, type Rule } from '../core/model.js';
import { admitRules, checkRuleAcl, keepEqualRules, ruleCheckError, type RulePolicy } from '../core/rules.js';
import { TEMPLATE_CONFIG_KEY } from '../core/backend-template.js';
import { checkAclFilesOnDisk } from '../fs/acl-files.js';
import { checkApp, type InputError, type Rejection } from '../core/input-grammar.js';
import { applyAppRead, applySnapshot, reduce } from '../core/state.js';
import { appIdOf, hintAction } from '../core/hints.js';
import { countTasks } from '../core/eligibility.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { RuleStore, StateStore } from '../store/types.js';
import { newMeasures, type ApplyMeasures, type Applier } from './apply.js';
import { ApplyCoalescer } from './coalescer.js';
import { HintLimiter } from './hint-limiter.js';
import { ReadinessPoller } from './readiness-poller.js';
import { mergeHistory, RuleChangeLog } from './history.js';
import { appIdsOf, clusterChanges, EventBus, TouchedApps, type LiveListener } from './event-bus.js';
import type { ApplyRecord, CulmCore, DependencyCheck, HistoryRecord, Readiness, RuleChangeRecord, ServerStat } from './types.js';
import type { SideFile } from '../haproxy/driver.js';
import type { HaproxyDelivery } from '../haproxy/delivery.js';

export interface AppsSource {
  /**
   * `GET /v2/apps?embed=apps.tasks…`, mapped (see AppsMapper: malformed apps in `skipped`). Throws on any
   * failure, including an answer that is not an object with an `apps` array. `taken` is called with each app
   * as it is mapped, before the rest of the answer has arrived.
   */
  fetchApps(known: (id: string) => App | undefined, taken?: (app: App) => void): Promise<MappedApps>;
  /** `GET /v2/apps/{id}` with the same embeds, mapped; null when Marathon says there is no such app. Throws on failure. */
  fetchApp(id: string): Promise<App | null>;
}

export interface DaemonOptions {
  applier: Applier;
  /** The one way to HAProxy (rule checks, the applied config); the applier delivers through it too. */
  delivery: HaproxyDelivery;
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
  /** Whether HAProxy is running (the supervisor); not ready while it is not. */
  haproxyRunning?: () => DependencyCheck;
  /** What rules may contain beyond the grammar (the pattern-file directory); default: no pattern files. */
  rulePolicy?: RulePolicy;
  /**
   * Whether a rule that only changes route map entries may skip the validation command (true when that command
   * is HAProxy's own check, which a map entry cannot fail; an operator's own command may enforce more).
   */
  skipCheckOfMapOnlyRules?: boolean;
  /**
   * Render after every resync, even one that changed nothing: the config depends on files that change without
   * Marathon knowing (certificates, HAProxy.SslCerts); an unchanged render stops at the text comparison. Asked
   * at each resync (a service port's certificate comes and goes with its app's labels).
   */
  renderOnResync?: boolean | (() => boolean);
}

const HISTORY = 50;
/** Rule writes checked at once (each holds a candidate config in memory while it waits for `haproxy -c`). */
const MAX_PENDING_RULE_CHECKS = 8;
/** A constant stream of app events must not postpone the resync forever. */
const MAX_SETTLE_FACTOR = 8;

export class Daemon implements CulmCore {
  private cluster: ClusterState = emptyState();
  private ruleMap: ReadonlyMap<string, Rule> = new Map<string, Rule>();
  private records: ApplyRecord[] = [];
  private readonly ruleChanges = new RuleChangeLog();
  /** The live stream's one source: app, task, apply and rule events are published here and nowhere else. */
  readonly events = new EventBus();
  /** Apps changed since the last apply, named by the next apply event. */
  private readonly touched = new TouchedApps();
  private readonly coalescer: ApplyCoalescer;
  private settleTimer?: NodeJS.Timeout;
  private settleFirstAt = 0;
  private resyncTimer?: NodeJS.Timeout;
  private snapshotTimer?: NodeJS.Timeout;
  private resyncing?: Promise<boolean>;
  private resyncAgain = false;
  /** Events applied while a fetch (resync or one app) is in flight, one list per fetch, replayed on its answer. */
  private readonly journals = new Set<DomainEvent[]>();
  private readonly hints: HintLimiter;
  private readonly readinessPoller: ReadinessPoller;
  private marathonCheck: DependencyCheck = { ok: false, detail: 'not synced yet' };
  private restoredFromSnapshot = false;
  private firstApplyOk = false;
  private pendingRuleChecks = 0;
  private stopping = false;
  private unwatchRules?: () => void;
  private rulesLoaded = false;
  private lastSnapshotMs = 0;
  private rulesTimer?: NodeJS.Timeout;
  /** Stored rules already reported as refused (id and text), so a watch does not log them again. */
  private readonly refusedRules = new Set<string>();

  constructor(private readonly o: DaemonOptions) {
    // Counted when scraped, not on every event: walking 100,000 tasks per change is the hot path's biggest cost.
    o.metrics.clusterFrom(() => countTasks(this.cluster, Date.now()));
    this.coalescer = new ApplyCoalescer(() => this.applyNow(), { retryBaseMs: 1000, retryMaxMs: 30_000 });
    this.hints = new HintLimiter({ windowMs: o.settleMs, readApp: (id) => this.readApp(id, 'hint'), resync: () => this.settleResync() });
    this.readinessPoller = new ReadinessPoller({
      apps: () => this.cluster.apps.values(),
      readApp: (id) => this.readApp(id, 'readiness'),
      reevaluate: () => void this.coalescer.request(),
    });
  }

  // ---- life cycle ----

  async start(): Promise<void> {
    await this.loadRules();
    this.unwatchRules = this.o.rules.watch((rules) => {
      // The store tells every write, this instance's own too: rules that did not change keep their objects
      // (and the views cached by them), and an unchanged list applies nothing.
      const next = keepEqualRules(this.ruleMap, this.admitted(rules));
      const changed = next !== this.ruleMap || !this.rulesLoaded;
      this.ruleMap = next;
      this.rulesLoaded = true;
      if (changed) void this.coalescer.request();
    });
    const snap = await this.o.snapshots.load().catch((err) => {
      this.o.log.warn({ err: errorMessage(err) }, 'state snapshot unreadable; starting empty');
      return null;
    });
    // The saved state is the baseline: a resync carries its health forward (a new Marathon leader has no
    // health results yet), and when Marathon cannot be reached it is what gets served.
    const saved = snap ? restorable(snap.apps, this.o.log) : [];
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
    await this.hints.stop();
    await this.readinessPoller.stop();
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

  /** Stored rules that pass the grammar (see `admitRules`); the others are reported once per text. */
  private admitted(rules: readonly Rule[]): Map<string, Rule> {
    const { admitted, refused } = admitRules(rules, this.o.rulePolicy ?? { aclFilesDir: '' });
    for (const { rule, error } of refused) {
      const key = `${rule.id}\n${rule.acl}`;
      if (this.refusedRules.has(key)) continue;
      this.refusedRules.add(key);
      this.o.metrics.ruleSkipped('refused');
      this.o.log.warn({ app: rule.id, code: error.code, err: error.message }, 'stored rule refused by the rule grammar: the app keeps its default ACL');
    }
    return admitted;
  }

  /**
   * Rules must be known before anything is applied: applying without them would drop every custom ACL.
   * Until the store answers, applies wait and loading is retried.
   */
  private async loadRules(): Promise<void> {
    try {
      const rules = await this.o.rules.list();
      this.ruleMap = this.admitted(rules);
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
    const journal: DomainEvent[] = [];
    this.journals.add(journal);
    try {
      const held = this.cluster.apps;
      // Until a config is applied (the start), each app's view is built as the app arrives, while the rest of the
      // answer streams, not after its last byte. Later resyncs do not: new views beside the parse's garbage and
      // the old views raise the peak RSS of a resync in which every app changed.
      const prepare = this.firstApplyOk ? undefined : (app: App): void => this.o.applier.prepareView(app, this.ruleMap);
      mapped = await this.o.apps.fetchApps((id) => held.get(id), prepare);
    } catch (err) {
      this.o.metrics.resync('error');
      this.marathonCheck = { ok: false, detail: `last fetch failed: ${errorMessage(err)}` };
      this.o.log.warn({ err: errorMessage(err) }, 'Marathon resync failed; keeping the last known state');
      return false;
    } finally {
      this.journals.delete(journal);
    }
    const apps = mapped.apps;
    this.reportRejected(mapped.rejected);
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
    for (const event of journal) {
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

  /** A callback without the secret: Marathon is asked (rate-limited) instead of believing the sender. */
  acceptMarathonHint(body: unknown): { accepted: boolean; kind: 'hint'; outcome: string } {
    if (this.stopping) return { accepted: false, kind: 'hint', outcome: 'stopping' };
    const event = toDomainEvent(body);
    const action = hintAction(this.cluster, event, Date.now());
    let outcome: string;
    if (event.kind === 'invalid' || action.kind === 'invalid') outcome = 'invalid';
    else if (action.kind === 'read') outcome = this.hints.offerRead(action.appId);
    else if (action.kind === 'resync') outcome = this.hints.offerResync();
    else outcome = 'no-change';
    this.o.metrics.hint(outcome);
    return { accepted: outcome !== 'invalid', kind: 'hint', outcome };
  }

  private reportRejected(rejected: readonly Rejection[]): void {
    for (const r of rejected) {
      this.o.metrics.marathonDataRejected(r.field);
      this.o.log.warn({ app: r.appId, field: r.field, reason: r.reason }, 'value from Marathon refused');
    }
  }

  /**
   * One app re-read, because a hint named it or to follow its readiness during a deployment (a round every
   * 500 ms: logged at debug, not counted as hints); Marathon's answer is applied, a failed read changes nothing.
   */
  private async readApp(appId: string, why: 'hint' | 'readiness'): Promise<void> {
    const hint = why === 'hint';
    if (this.stopping) return;
    const journal: DomainEvent[] = [];
    this.journals.add(journal);
    let fresh: App | null | undefined;
    try {
      fresh = await this.o.apps.fetchApp(appId);
    } catch (err) {
      if (hint) this.o.metrics.hint('read-failed');
      this.o.log[hint ? 'warn' : 'debug']({ app: appId, err: errorMessage(err) }, `app re-read (for ${why}) failed; nothing changed`);
      return;
    } finally {
      this.journals.delete(journal);
    }
    if (fresh !== null) {
      // The same input grammar as a resync's: a value that fails it is left out, or the app keeps its state.
      const rejected: Rejection[] = [];
      try {
        fresh = checkApp(fresh, rejected);
        reportLabelProblems(fresh, rejected, this.servePolicy().servicePortBind !== undefined);
      } catch (err) {
        rejected.push({ appId, field: (err as InputError).field ?? 'app_id', reason: errorMessage(err) });
        fresh = undefined;
      } finally {
        this.reportRejected(rejected);
      }
      if (fresh === undefined) {
        if (hint) this.o.metrics.hint('read-failed');
        return;
      }
    }
    const now = Date.now();
    let next = applyAppRead(this.cluster, appId, fresh);
    // Trusted events about this app that arrived during the read are newer than its answer.
    for (const event of journal) if (appIdOf(event) === appId) next = reduce(next, event, now).state;
    if (hint) this.o.metrics.hint(fresh === null ? 'read-gone' : 'read-applied');
    if (next.apps !== this.cluster.apps) this.o.log[hint ? 'info' : 'debug']({ app: appId }, fresh === null ? `Marathon says the app is gone (re-read for ${why})` : `app re-read for ${why}: Marathon's answer applied`);
    this.setState(next, false);
  }

  private onEvent(event: DomainEvent): void {
    if (event.kind === 'invalid') {
      this.o.metrics.eventRejected(event.reason);
      if (event.field) this.o.metrics.marathonDataRejected(event.field);
      this.o.log.debug({ type: event.eventType, reason: event.reason, value: event.value }, 'event not understood');
      return;
    }
    this.o.metrics.eventReceived(eventLabel(event));
    if (event.kind === 'ignored') return;
    if (event.kind === 'resync') {
      this.settleResync();
      return;
    }
    // A resync (or app read) answer fetched before this event must not wipe it out: it is replayed on top.
    for (const journal of this.journals) journal.push(event);
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
    if (changed && this.events.listening()) this.publishChanges(this.cluster, next);
    this.cluster = next;
    if (!changed) {
      // A resync that changed nothing needs no render and no snapshot, unless nothing was applied yet.
      if (fromResync && (!this.firstApplyOk || (typeof this.o.renderOnResync === 'function' ? this.o.renderOnResync() : this.o.renderOnResync))) void this.coalescer.request();
      return;
    }
    void this.coalescer.request();
    this.scheduleSnapshot();
    this.readinessPoller.wake();
  }

  private publishChanges(before: ClusterState, after: ClusterState): void {
    const events = clusterChanges(before.apps, after.apps);
    this.touched.add(appIdsOf(events));
    for (const event of events) this.events.publish(event);
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

  /** The metrics of one apply or rule candidate: what the applier measured, recorded here only. */
  private recordMeasures(m: ApplyMeasures): void {
    const metrics = this.o.metrics;
    for (const s of m.renders) metrics.render(s);
    for (let i = 0; i < m.validationFailures; i++) metrics.validationFailed();
    if (m.runtimeFailed) metrics.runtimeFailed();
    if (m.runtimeSeconds !== undefined) metrics.runtimeApplied(m.runtimeSeconds);
    if (m.reloadSeconds !== undefined) metrics.reload(m.reloadSeconds);
    for (const s of m.skipped) {
      if (s.kind === 'app') metrics.appSkipped(s.reason);
      else metrics.ruleSkipped(s.reason);
    }
  }

  private async applyNow(): Promise<ApplyRecord> {
    if (!this.hasState()) {
      // Rendering now would replace whatever HAProxy serves with a config without apps.
      return { at: Date.now(), result: 'skipped', reasons: ['waiting for the first Marathon sync'], durationMs: 0 };
    }
    if (!this.rulesLoaded) {
      return { at: Date.now(), result: 'skipped', reasons: ['waiting for the rules'], durationMs: 0 };
    }
    const measures = newMeasures();
    const record = await this.o.applier.apply(this.cluster, this.ruleMap, measures);
    this.recordMeasures(measures);
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
      if (this.events.listening()) this.publishApply(record);
    }
    return record;
  }

  private publishApply(record: ApplyRecord): void {
    const { appIds, more } = this.touched.take();
    const ids = new Set(appIds);
    for (const left of record.leftOut ?? []) ids.add(left.id);
    this.events.publish({ type: 'apply', data: { ...record, appIds: [...ids].sort(), ...(more ? { moreAppIds: more } : {}) } });
  }

  // ---- CulmCore ----

  state(): ClusterState {
    return this.cluster;
  }

  rules(): ReadonlyMap<string, Rule> {
    return this.ruleMap;
  }

  servePolicy(): GroupPolicy {
    return this.o.applier.servePolicy;
  }

  /** A rule write while the store cannot take it fails at once, before any work (503, nothing written). */
  private requireWritableStore(): void {
    if (this.o.rules.writable && !this.o.rules.writable()) {
      throw new CulmError('E_STORE_UNAVAILABLE', `rules cannot be written now: ${this.o.rules.health().detail}`, { status: 503 });
    }
  }

  async putRule(rule: Rule): Promise<Rule> {
    const policy = this.o.rulePolicy ?? { aclFilesDir: '' };
    const parsed = checkRuleAcl(rule, policy);
    this.requireWritableStore();
    // Each check renders a whole candidate and waits for its turn at `haproxy -c`: a burst of writes must not
    // queue without bound (memory, and minutes of checks ahead of the next apply).
    if (this.pendingRuleChecks >= MAX_PENDING_RULE_CHECKS) {
      throw new CulmError('E_TOO_MANY_RULE_CHECKS', `${this.pendingRuleChecks} rule changes are being checked already; retry shortly`, { status: 429 });
    }
    this.pendingRuleChecks++;
    try {
      return await this.checkAndStoreRule(rule, parsed, policy);
    } finally {
      this.pendingRuleChecks--;
    }
  }

  private async checkAndStoreRule(rule: Rule, parsed: ReturnType<typeof checkRuleAcl>, policy: RulePolicy): Promise<Rule> {
    if (parsed) await checkAclFilesOnDisk(rule.id, parsed.files, policy.aclFilesDir);
    const template = rule.config[TEMPLATE_CONFIG_KEY]?.trim();
    const templateProblem = template ? this.o.applier.partialProblem(template) : '';
    if (templateProblem) throw new CulmError('E_RULE_INVALID', `Config.${TEMPLATE_CONFIG_KEY} for ${rule.id}: ${templateProblem}; nothing was stored`, { status: 400 });
    let candidate: { text: string; files: SideFile[]; mapOnly: boolean; rules: ReadonlyMap<string, Rule> };
    const rulesBefore = this.ruleMap;
    try {
      const measures = newMeasures();
      candidate = this.o.applier.candidateWith(this.cluster, rulesBefore, rule, measures);
      this.recordMeasures(measures);
    } catch (err) {
      throw new CulmError('E_RULE_RENDER', `the template cannot render this rule: ${errorMessage(err)}`, { status: 400, cause: err });
    }
    // A rule that only changes route map entries cannot break the config (its prefix was checked above by the
    // ACL grammar): no `haproxy -c`, which at 1,000 apps is most of the time from PUT to routed.
    if (!(candidate.mapOnly && (this.o.skipCheckOfMapOnlyRules ?? true))) await this.o.delivery.check(candidate.text, candidate.files).catch((err: unknown) => { throw ruleCheckError(err); });
    // The store's write and the apply run side by side (the write's fsyncs or ZooKeeper's round trip no longer
    // come before routing); the answer waits for both. A write that fails takes the rule back out again: the
    // edge then routes as the store says, and the PUT is a 503 (nothing stored).
    const stored = this.o.rules.put(rule);
    const previous = this.ruleMap.get(rule.id);
    // The candidate's rules map when nothing else changed the rules meanwhile: the apply can then use its render.
    this.ruleMap = this.ruleMap === rulesBefore ? candidate.rules : new Map(this.ruleMap).set(rule.id, rule);
    void this.coalescer.request();
    try {
      await stored;
    } catch (err) {
      if (this.ruleMap.get(rule.id) === rule) {
        const next = new Map(this.ruleMap);
        if (previous) next.set(rule.id, previous);
        else next.delete(rule.id);
        this.ruleMap = next;
        void this.coalescer.request();
      }
      throw err;
    }
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
    const running = this.o.haproxyRunning?.() ?? { ok: true, detail: '' };
    const checks: Record<string, DependencyCheck> = {
      marathon: this.restoredFromSnapshot
        ? { ok: false, detail: `unreachable; serving the saved state (${this.marathonCheck.detail})` }
        : this.marathonCheck,
      haproxy: this.firstApplyOk
        ? (running.ok ? { ok: true, detail: `config applied${running.detail ? `; ${running.detail}` : ''}` } : running)
        : { ok: false, detail: this.records.at(-1)?.error?.message ?? 'no config applied yet' },
      store,
      ...(this.o.extraChecks?.() ?? {}),
    };
    return { ready: this.hasState() && this.firstApplyOk && running.ok, checks };
  }

  history(): readonly HistoryRecord[] {
    return mergeHistory(this.records, this.ruleChanges.list());
  }

  recordRuleChange(record: RuleChangeRecord): void {
    this.ruleChanges.add(record);
    if (!this.events.listening()) return;
    if (record.result === 'changed' && record.id !== undefined) this.touched.add([record.id]);
    this.events.publish({ type: 'rule', data: { ...record, appId: record.id ?? null } });
  }

  subscribe(listener: LiveListener): () => void {
    return this.events.subscribe(listener);
  }

  appliedConfig(): string | undefined {
    const text = this.o.delivery.lastApplied();
    return text === undefined ? undefined : redactConfigText(text);
  }

  applyDiff(id: number): string | undefined {
    return this.o.applier.diffs.get(id);
  }

  serverStats(backends: readonly string[]): Promise<ServerStat[]> {
    return this.o.delivery.serverStats(backends);
  }

  leftOut(): { rules: ReadonlySet<string>; apps: ReadonlySet<string> } {
    return { rules: new Set(this.o.applier.ignoredRules.keys()), apps: new Set(this.o.applier.excludedApps.keys()) };
  }
}

/**
 * The saved apps that hold together, each checked by the input grammar like Marathon's own answers: the
 * snapshot lives in a file or in ZooKeeper, where something other than culm may have written it.
 */
function restorable(apps: readonly unknown[], log: Logger): App[] {
  const out: App[] = [];
  const rejected: Rejection[] = [];
  for (const app of apps) {
    if (!isPlausibleApp(app)) continue;
    try {
      out.push(checkApp(app, rejected));
    } catch (err) {
      log.warn({ app: app.id, err: errorMessage(err) }, 'saved app refused');
    }
  }
  for (const r of rejected) log.warn({ app: r.appId, field: r.field, reason: r.reason }, 'saved value refused');
  return out;
}

function isPlausibleApp(v: unknown): v is App {
  const a = v as App;
  return typeof a === 'object' && a !== null && typeof a.id === 'string' && typeof a.tasks === 'object' && a.tasks !== null
    && Array.isArray(a.healthChecks) && Array.isArray(a.servicePorts) && Array.isArray(a.containerPorts);
}
