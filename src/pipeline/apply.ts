/**
 * One apply: state + rules → view → render → (unchanged? stop) → validate → write → reload.
 * One bad app or rule never blocks the rest: when validation fails and HAProxy's error names a line that
 * belongs to an app, that app's rule is ignored (or, failing that, the app is left out) and the render is
 * tried again, a bounded number of times. The isolation is remembered until that rule or app changes.
 */
import { SERVE_ALL, type GroupPolicy } from '../core/lb-labels.js';
import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import { CulmError, errorMessage } from '../core/errors.js';
import type { App, ClusterState, Rule } from '../core/model.js';
import { diffViews } from '../core/diff.js';
import { appView, buildView, type CertCheck, type CertProblem, type HaproxyPaths, type LabelConfigNote, type TemplateContext } from '../core/view.js';
import { appCertsOf, certCheckConfig, certsAtFailure, namesCert, type CertState, type CrtListEntry } from '../core/tls.js';
import { sectionOf } from '../haproxy/config-section.js';
import { readinessChangesAt } from '../core/readiness.js';
import type { SideFile } from '../haproxy/driver.js';
import { DeliveryError, type HaproxyDelivery } from '../haproxy/delivery.js';
import { AppRenderError, type Renderer } from '../haproxy/render.js';
import { cleanHaproxyOutput } from '../haproxy/haproxy-errors.js';
import { TEMPLATE_CONFIG_KEY } from '../core/backend-template.js';
import type { Logger } from '../log/logger.js';
import type { ApplyRecord, LeftOut } from './types.js';
import { ConfigDiffs } from './config-diffs.js';
import { searchStalls } from './stall-search.js';

const MAX_ISOLATION_ROUNDS = 5;
/**
 * At most this share of the apps may be left out: a fault that hits many apps is the template's, and
 * leaving them all out would "fix" the config by emptying it.
 */
const MAX_EXCLUDED_SHARE = 0.25;
/**
 * At most this many `haproxy -c` runs look for the app certificates a check stalls on (see `stallingCerts`):
 * enough to find one among 2^15; each that stalls costs the limit (HAProxy.CommandTimeoutMs or the CPU time).
 */
const MAX_CERT_PROBES = 16;
/** The search's time in all, in HAProxy.CommandTimeoutMs (see ApplierOptions). */
export const STALL_SEARCH_TIMEOUTS = 4;
/**
 * A certificate left out for a stall (or left untested when the search ran out) is tried again after this long,
 * doubled each time the same file stalls the check again, up to STALL_RETRY_MAX_MS: a fixed file beside it or a
 * mount that recovered changes nothing culm can see, and each retry that still stalls costs one search.
 */
export const STALL_RETRY_MS = 10 * 60_000;
export const STALL_RETRY_MAX_MS = 4 * 60 * 60_000;
/** A check stopped at its time, CPU-time or memory limit: it says nothing of the config, only that it stalled. */
const STALLED: ReadonlySet<string> = new Set(['E_VALIDATION_LIMIT', 'E_VALIDATION_TIMEOUT']);

/**
 * What one apply (or a rule's candidate) measured, for the metrics: the caller passes one and reads it after
 * (the daemon records them all in one place); the record is what the history shows.
 */
export interface ApplyMeasures {
  /** Each render, in seconds (an isolation round renders again). */
  renders: number[];
  /** `haproxy -c` refusals seen (each isolation round's, and the last). */
  validationFailures: number;
  /** The runtime API's time, when the change went through it. */
  runtimeSeconds?: number;
  /** A runtime change failed (then the change was reloaded). */
  runtimeFailed: boolean;
  /** The reload command's time, when it reloaded. */
  reloadSeconds?: number;
  /** Apps and rules left out in this apply, with the metric's reason (`port clash`, `invalid`). */
  skipped: Array<{ kind: 'app' | 'rule'; id: string; reason: string }>;
}

export const newMeasures = (): ApplyMeasures => ({ renders: [], validationFailures: 0, runtimeFailed: false, skipped: [] });

export const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** The app a failing line of the rendered config belongs to, from HAProxy's `[file:LINE]`. */
export function appAtFailure(message: string, text: string, view: TemplateContext): { id: string; inRule: boolean } | null {
  const m = /\[[^\]]*:(\d+)\]/.exec(message);
  if (!m) return appOfProxy(message, view);
  const lines = text.split('\n');
  const index = Number(m[1]) - 1;
  const line = lines[index] ?? '';
  for (const app of view.Apps) {
    if (line.includes(app.AclName)) return { id: app.Id, inRule: true };
  }
  // Otherwise: inside which backend section, or which app's service-port frontend?
  for (let i = index; i >= 0; i--) {
    const b = /^\s*backend\s+(\S+)/.exec(lines[i]);
    if (b) {
      const app = view.Apps.find((a) => a.Backend === b[1] || a.Backends?.some((own) => own.Name === b[1]));
      return app ? { id: app.Id, inRule: false } : null;
    }
    const f = /^\s*(?:frontend|listen)\s+(\S+)/.exec(lines[i]);
    if (f) {
      const listener = view.Listeners.find((l) => l.Name === f[1]);
      if (listener) return { id: listener.AppId, inRule: false };
      break;
    }
    if (/^\s*(defaults|global)\b/.test(lines[i])) break;
  }
  for (const app of view.Apps) if (line.includes(app.EscapedId)) return { id: app.Id, inRule: false };
  return null;
}

/**
 * The app owning the proxy a check names when it names no line: HAProxy's checks after parsing say
 * `Proxy '<name>': unable to find required use_backend: '…'` (a raw label's `use_backend` to nowhere).
 */
function appOfProxy(message: string, view: TemplateContext): { id: string; inRule: boolean } | null {
  const m = /Proxy '([^']+)'/.exec(message);
  if (!m) return null;
  const listener = view.Listeners.find((l) => l.Name === m[1]);
  if (listener) return { id: listener.AppId, inRule: false };
  const app = view.Apps.find((a) => a.Backend === m[1] || a.Backends?.some((own) => own.Name === m[1]));
  return app ? { id: app.Id, inRule: false } : null;
}

/**
 * An app left out stays out until this changes: its definition, or the partial its rule names (fixing a rule's
 * `Config.template` brings the app back).
 */
const isolationKey = (state: ClusterState, rules: ReadonlyMap<string, Rule>, id: string): string =>
  `${state.apps.get(id)?.version ?? ''}\u0000${rules.get(id)?.config[TEMPLATE_CONFIG_KEY] ?? ''}`;

/**
 * The files the rendered config names (the route map, the HTTPS frontend's crt-list): none for a template that
 * does not use them. Both lines sit in the frontends, near the top, so the search is short when they are there.
 */
export function sideFilesOf(view: TemplateContext, text: string): SideFile[] {
  const files: SideFile[] = view.RouteMap && text.includes(view.RouteMap.Path) ? [{ path: view.RouteMap.Path, text: view.RouteMap.Text, map: true }] : [];
  const list = view.Tls?.CrtList;
  if (list && text.includes(list.Path)) files.push({ path: list.Path, text: list.Text });
  return files;
}

/** HAProxy's whole output for a failed check, a line each (the error's message keeps a few, on one line). */
function fullOutput(err: CulmError): string {
  const result = err.cause as { stdout?: unknown; stderr?: unknown } | undefined;
  const parts = [result?.stderr, result?.stdout].filter((p): p is string => typeof p === 'string');
  return parts.length > 0 ? parts.join('\n') : err.message;
}

const round1 = (ms: number): number => Math.round(ms * 10) / 10;

/**
 * A rule's candidate is rendered to check it (`candidateWith`); the apply that follows the store's write would
 * render the same inputs again (at 1,000 apps that is most of culm's time from PUT to routed). It may use the
 * candidate instead while nothing it depends on changed: the same cluster state and rules objects (the daemon
 * adopts the candidate's rules map), the same isolations and template, and no time-driven change (readiness
 * deadlines) due; and only for a short while, once.
 */
const CANDIDATE_REUSE_MS = 250;

/** What the applier needs beyond its edges; every field has a default. */
export interface ApplierOptions {
  /** The clock (stall retries are timed by it). */
  now?: () => number;
  /**
   * HAProxy.CommandTimeoutMs: a search for the certificates a check stalls on may take STALL_SEARCH_TIMEOUTS of
   * it in all (16 stalling checks would be 8 minutes at 30 s), then the suspects not cleared are left out
   * unresolved; absent: no bound but the probes'.
   */
  commandTimeoutMs?: number;
  /** The stamp of a certificate left out: also changes with the files beside it (cert-files.ts `leftOutStamp`); absent: `certFiles`' stamp. */
  leftOutStamp?: (path: string) => string;
}

interface Candidate {
  state: ClusterState;
  rules: ReadonlyMap<string, Rule>;
  isolation: string;
  validUntil: number;
  view: TemplateContext;
  text: string;
  files: SideFile[];
}

export class Applier {
  /** Rule ids ignored, and app ids left out (with the app version that failed), after breaking validation. */
  readonly ignoredRules = new Map<string, string>();
  readonly excludedApps = new Map<string, string>();
  /**
   * App certificates left out after HAProxy's check, by path: why (HAProxy refuses it, or its check stalls on it),
   * the stamp of the file and those beside it then (a change tries it again) and, for a stall, when it is tried
   * again all the same (STALL_RETRY_MS).
   */
  readonly refusedCerts = new Map<string, { why: string; stamp: string; retryAt?: number }>();
  /** Files left out for a stall: how many times in a row, when last, and for how long (STALL_RETRY_MS). */
  private readonly stallHistory = new Map<string, { count: number; at: number; delayMs: number }>();
  private appliedView?: TemplateContext;
  private rejectedText?: string;
  private rejectedError?: CulmError;
  private templateVersion = '';
  /** Port clashes already logged and counted, by app id (view.ts settles them; each is told once). */
  private toldClashes: Readonly<Record<string, string>> = {};
  /** Certificates left out already logged and counted (each is told once while it stays out). */
  private toldCerts = new Set<string>();
  /** Apps whose certificate labels this edge ignores (no `HAProxy.SslCerts`), already warned of: by id, the labels told. */
  private toldIgnoredCerts = new Map<string, string>();
  /** Whether the last render named a service port's certificate (`HAPROXY_{n}_SSL_CERT`), usable or not: see `readsCertFiles`. */
  private namesPortCerts = false;
  /** Raw-label notes already logged, by app id (view.ts `LabelConfigNotes`: each is told once, not per render). */
  private toldLabelConfig = new Map<string, LabelConfigNote>();
  /** Isolations not yet shown in an apply record (a deferred apply is not kept in the history). */
  private unreported: LeftOut[] = [];
  /** The diff of each apply and rejected candidate, for the history (bounded). */
  readonly diffs = new ConfigDiffs();
  /** The last rule candidate, for the next apply to use when its inputs are the same (see CANDIDATE_REUSE_MS). */
  private candidate?: Candidate;

  constructor(
    private readonly renderer: Renderer,
    private readonly delivery: HaproxyDelivery,
    private readonly paths: HaproxyPaths,
    private readonly log: Logger,
    /** Whether certificate files are usable (src/fs/cert-files.ts); absent: all are (unit tests). */
    private readonly certFiles?: (path: string, directory: boolean) => CertState,
    private readonly options: ApplierOptions = {},
  ) {}

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  /** The stamp kept with a certificate left out: a new one (the file or one beside it changed) tries it again. */
  private leftOutStamp(path: string): string {
    return this.options.leftOutStamp?.(path) ?? this.certFiles?.(path, false).stamp ?? '';
  }

  /** When a certificate left out for a stall now is tried again: later each time the same file stalls again. */
  private stallRetryAt(path: string, now: number): number {
    const before = this.stallHistory.get(path);
    // Left out again before its retry was due (a failed apply undid the isolation): the same schedule, not a
    // longer one: only a stall at its retry counts as stalling again.
    if (before && now < before.at + before.delayMs) return before.at + before.delayMs;
    // Stalled again at its retry (or soon after): a longer wait; long after, it counts as a first stall.
    const count = before && now - before.at <= before.delayMs + STALL_RETRY_MAX_MS ? before.count + 1 : 1;
    const delayMs = Math.min(STALL_RETRY_MS * 2 ** (count - 1), STALL_RETRY_MAX_MS);
    this.stallHistory.set(path, { count, at: now, delayMs });
    return now + delayMs;
  }

  /** Which apps the views serve (HAProxy.Group). */
  get servePolicy(): GroupPolicy {
    return this.paths.ServeGroups ?? SERVE_ALL;
  }

  /** Forget isolations that no longer apply: the rule changed, the app's definition changed, the template changed. */
  private refreshIsolation(state: ClusterState, rules: ReadonlyMap<string, Rule>): void {
    const version = this.renderer.version();
    if (version !== this.templateVersion) {
      this.templateVersion = version;
      this.ignoredRules.clear();
      this.excludedApps.clear();
      this.refusedCerts.clear();
      this.rejectedText = undefined;
    }
    for (const [id, acl] of this.ignoredRules) if (rules.get(id)?.acl !== acl) this.ignoredRules.delete(id);
    for (const [id, key] of this.excludedApps) if (isolationKey(state, rules, id) !== key) this.excludedApps.delete(id);
    const now = this.now();
    for (const [path, refused] of this.refusedCerts) {
      if ((refused.retryAt !== undefined && now >= refused.retryAt) || (this.certFiles && this.leftOutStamp(path) !== refused.stamp)) this.refusedCerts.delete(path);
    }
    for (const [path, h] of this.stallHistory) if (now - h.at > h.delayMs + STALL_RETRY_MAX_MS) this.stallHistory.delete(path);
  }

  /**
   * Builds `app`'s view ahead of the apply (views are cached by app, rule and policy: view.ts `appView`), so that
   * an app mapped while Marathon's answer still streams costs the apply after its last byte nothing: at 10,000
   * labelled apps the views were ~0.35 s of the start's full sync. Pure: a view the apply does not use is dropped.
   * `now`: the clock `view` uses (the cache holds a view until its readiness changes with time).
   */
  prepareView(app: App, rules: ReadonlyMap<string, Rule>, now = Date.now()): void {
    if (this.excludedApps.has(app.id)) return;
    try {
      appView(app, this.ignoredRules.has(app.id) ? undefined : rules.get(app.id), now, this.servePolicy);
    } catch {
      /* the apply builds it again and reports what is wrong */
    }
  }

  /** `heldOut`: app certificates left out of this view only, with why (a probe of `stallingCerts`). */
  view(state: ClusterState, rules: ReadonlyMap<string, Rule>, extra?: Rule, now = Date.now(), heldOut?: ReadonlyMap<string, string>): TemplateContext {
    let effective = rules;
    if (extra && rules.get(extra.id) !== extra) {
      const copy = new Map(rules);
      copy.set(extra.id, extra);
      effective = copy;
    }
    const certFiles = this.certFiles;
    // Each path is read once per view (an app certificate may be named by many apps).
    const seen = new Map<string, CertState>();
    const certCheck: CertCheck | undefined = certFiles && ((path, directory) => {
      let known = seen.get(path);
      if (known === undefined) seen.set(path, (known = certFiles(path, directory)));
      return known;
    });
    return buildView(state, effective, this.paths, {
      now,
      ...(certCheck ? { certCheck } : {}),
      ...(this.refusedCerts.size || heldOut?.size ? { refusedCerts: new Map([...[...this.refusedCerts].map(([path, r]) => [path, r.why] as const), ...heldOut ?? []]) } : {}),
      excludedApps: new Set(this.excludedApps.keys()),
      ignoredRules: new Set([...this.ignoredRules.keys()].filter((id) => id !== extra?.id)),
      ...(extra ? { checkedApp: extra.id } : {}),
    });
  }

  /**
   * Whether the config depends on certificate files that change without Marathon knowing: the operator's
   * (`HAProxy.SslCerts`, with the apps' in the HTTPS frontend) or a service port's own. Then every resync renders.
   */
  readsCertFiles(): boolean {
    return (this.paths.SslCerts?.length ?? 0) > 0 || this.namesPortCerts;
  }

  /** Why a rule's `Config.template` cannot be used ('' when it can): the partial must be in the template directory. */
  partialProblem(name: string): string {
    if (name === basename(this.renderer.templatePath)) return `${name} is the main template, not a partial`;
    return this.renderer.hasPartial(name) ? '' : `${name} is not a partial in the template directory (HAProxy.TemplatePath's folder)`;
  }

  render(view: TemplateContext, measures: ApplyMeasures = newMeasures()): string {
    const started = performance.now();
    const text = this.renderer.render(view);
    measures.renders.push((performance.now() - started) / 1000);
    return text;
  }

  /**
   * The config that would be applied with `rule` added, and its side files: to check a rule before storing it.
   * `rules` is the rules map with `rule` in it: the caller that stores the rule adopts it, so that the apply
   * that follows can use this render (`apply` checks that every input is still the same).
   */
  candidateWith(state: ClusterState, rules: ReadonlyMap<string, Rule>, rule: Rule, measures: ApplyMeasures = newMeasures()): { text: string; files: SideFile[]; mapOnly: boolean; rules: ReadonlyMap<string, Rule> } {
    const effective = new Map(rules).set(rule.id, rule);
    this.candidate = undefined;
    // A rule for an app Marathon does not run yet is checked all the same, against an empty backend of that
    // name: unchecked, it would break the config the moment the app appears.
    const placeholder = !state.apps.has(rule.id);
    const checked = placeholder ? { ...state, apps: new Map(state.apps).set(rule.id, placeholderApp(rule.id)) } : state;
    const now = Date.now();
    const view = this.view(checked, effective, rule, now);
    const text = this.render(view, measures);
    const files = sideFilesOf(view, text);
    // Reusable only when the apply's view would be this one: the app is Marathon's (no placeholder), served (not
    // only kept in for the check), and nothing is left out (isolations change between the two: the rule's own
    // one is forgotten by the apply).
    const isolation = this.isolationSignature();
    const own = placeholder ? undefined : view.Apps.find((a) => a.Id === rule.id);
    if (own && !own.NotServed && isolation !== undefined) {
      let validUntil = now + CANDIDATE_REUSE_MS;
      for (const app of state.apps.values()) if (app.deployments.length > 0) validUntil = Math.min(validUntil, readinessChangesAt(app, now));
      this.candidate = { state, rules: effective, isolation, validUntil, view, text, files };
    }
    return { text, files, mapOnly: this.delivery.mapOnly(text, files), rules: effective };
  }

  /** What the views depend on beyond state and rules (the template's version) when nothing is left out; else undefined. */
  private isolationSignature(): string | undefined {
    return this.ignoredRules.size + this.excludedApps.size + this.refusedCerts.size === 0 ? this.renderer.version() : undefined;
  }

  /** The rule candidate's view and text, when this apply's inputs are exactly its inputs (used once). */
  private reusableCandidate(state: ClusterState, rules: ReadonlyMap<string, Rule>): Candidate | undefined {
    const c = this.candidate;
    this.candidate = undefined;
    if (!c || c.state !== state || c.rules !== rules || Date.now() >= c.validUntil || this.isolationSignature() !== c.isolation) return undefined;
    return c;
  }

  async apply(state: ClusterState, rules: ReadonlyMap<string, Rule>, measures: ApplyMeasures = newMeasures()): Promise<ApplyRecord> {
    const at = Date.now();
    const started = performance.now();
    const record = (result: ApplyRecord['result'], reasons: string[], extra: Partial<ApplyRecord> = {}): ApplyRecord => {
      // What was left out is told by the first record that reaches the history (a deferred one does not).
      const told = result === 'deferred' ? [] : this.unreported.splice(0);
      const why = told.map((i) => (i.kind === 'cert' ? `certificate of app ${i.id} left out: ${i.stalled ? "HAProxy's check stalls on it" : 'HAProxy refuses it'}` : `${i.kind} ${i.id} left out: HAProxy refuses it`));
      return { at, result, reasons: [...why, ...reasons], durationMs: round1(performance.now() - started), ...extra, ...(told.length ? { leftOut: told } : {}) };
    };
    try {
      this.renderer.load(); // picks up a changed template before isolations are judged
    } catch {
      /* reported by render() below */
    }
    this.refreshIsolation(state, rules);
    const reused = this.reusableCandidate(state, rules);
    const isolatedNow: LeftOut[] = [];
    const stalledNow: string[] = [];
    let stallSearched = false;
    const undoIsolation = (): void => {
      // Leaving apps or rules out did not give a valid config: the fault is elsewhere (the template). A certificate
      // HAProxy named as one it cannot load stays out all the same: that is the file's fault, whatever else fails
      // (forgotten, six of them would each take a round again at every apply, and no apply would ever pass).
      for (const i of isolatedNow) if (i.kind !== 'cert') (i.kind === 'rule' ? this.ignoredRules : this.excludedApps).delete(i.id);
      for (const cert of stalledNow) this.refusedCerts.delete(cert);
      this.unreported = this.unreported.filter((u) => !isolatedNow.includes(u) || (u.kind === 'cert' && !u.stalled));
    };
    for (let round = 0; round <= MAX_ISOLATION_ROUNDS; round++) {
      let view: TemplateContext;
      let text: string;
      try {
        view = round === 0 && reused ? reused.view : this.view(state, rules);
        this.tellClashes(view.PortClashes, measures);
        this.tellLabelConfig(view.LabelConfigNotes, measures);
        this.tellCerts(view.CertProblems, measures);
        this.tellIgnoredCerts(view);
        this.namesPortCerts = view.Listeners.some((l) => l.SslCert !== '') || view.CertProblems.some((p) => p.Frontend !== undefined && !p.Ignored);
        text = round === 0 && reused ? reused.text : this.render(view, measures);
      } catch (err) {
        // Text of one app failed to render (its override partial throws, or is missing): that app is left out.
        const maxExcluded = Math.max(1, Math.floor(state.apps.size * MAX_EXCLUDED_SHARE));
        if (err instanceof AppRenderError && round < MAX_ISOLATION_ROUNDS && this.excludedApps.size < maxExcluded && !this.excludedApps.has(err.appId)) {
          const isolated = this.isolate({ id: err.appId, inRule: false }, state, rules, err.message, measures);
          isolatedNow.push(isolated);
          this.unreported.push(isolated);
          continue;
        }
        undoIsolation();
        const e = err instanceof CulmError ? err : new CulmError('E_RENDER', errorMessage(err), { cause: err });
        this.log.error({ code: e.code, err: e.message }, 'render failed; the applied config is unchanged');
        return record('error', ['render failed'], { error: { code: e.code, message: e.message } });
      }
      if (text === this.delivery.applied()) {
        this.appliedView = view;
        return record('unchanged', [], { configHash: sha256(text) });
      }
      if (text === this.rejectedText && this.rejectedError) {
        return record('invalid', ['config already rejected'], { configHash: sha256(text), error: { code: this.rejectedError.code, message: this.rejectedError.message } });
      }
      const reasons = diffViews(this.appliedView, view);
      const files = round === 0 && reused ? reused.files : sideFilesOf(view, text);
      try {
        const delivered = await this.delivery.deliver(text, files);
        if (delivered.runtimeFailed) measures.runtimeFailed = true;
        if (delivered.mode === 'deferred') {
          // Isolations found in this apply are kept: they were judged by `haproxy -c`, which reloads nothing.
          return record('deferred', reasons, { retryAt: delivered.retryAt });
        }
        this.appliedView = view;
        this.rejectedText = undefined;
        if (delivered.mode === 'runtime') {
          measures.runtimeSeconds = delivered.ms / 1000;
          this.log.info({ reasons, mode: 'runtime' }, 'config applied through the runtime API');
          return record('applied', reasons, {
            configHash: sha256(text), mode: 'runtime', runtimeMs: round1(delivered.ms), maps: delivered.maps, serverOps: delivered.serverOps,
            ...this.diffOf(text, files, true),
          });
        }
        const timings = delivered.timings;
        if (timings) measures.reloadSeconds = timings.reloadMs / 1000;
        this.log.info({ reasons, ms: timings?.reloadMs }, 'config applied');
        const spent = timings ? { validateMs: round1(timings.validateMs), reloadMs: round1(timings.reloadMs) } : {};
        return record('applied', reasons, { configHash: sha256(text), mode: 'reload', ...spent, ...this.diffOf(text, files, true) });
      } catch (err) {
        if (err instanceof DeliveryError && err.runtimeFailed) measures.runtimeFailed = true;
        const e = err instanceof DeliveryError ? err.error : err instanceof CulmError ? err : new CulmError('E_APPLY', errorMessage(err), { cause: err });
        // A service port another program holds: HAProxy cannot start at all, so that app is left out (its
        // frontend's line is named: `Binding [cfg:LINE] for frontend …: cannot bind socket`) and the rest applies.
        if (e.code === 'E_RELOAD_FAILED' && /cannot bind socket/.test(e.message) && round < MAX_ISOLATION_ROUNDS) {
          const culprit = appAtFailure(e.message, text, view);
          const maxExcluded = Math.max(1, Math.floor(state.apps.size * MAX_EXCLUDED_SHARE));
          if (culprit && !culprit.inRule && this.excludedApps.size < maxExcluded && !this.excludedApps.has(culprit.id)) {
            const isolated = this.isolate(culprit, state, rules, e.message, measures);
            isolatedNow.push(isolated);
            this.unreported.push(isolated);
            continue;
          }
        }
        if (e.code === 'E_CONFIG_INVALID') {
          measures.validationFailures++;
          // An app's certificate HAProxy cannot load: that certificate is left out, not the app or the config.
          const named = certsAtFailure(e.message, view).filter((c) => !this.refusedCerts.has(c.Cert));
          if (named.length > 0 && round < MAX_ISOLATION_ROUNDS) {
            for (const { entry: c, why } of await this.refusedAppCerts(view, text, named, e)) {
              this.refusedCerts.set(c.Cert, { why: `HAProxy refuses it (${why})`, stamp: this.leftOutStamp(c.Cert) });
              for (const id of c.AppIds) {
                const isolated: LeftOut = { kind: 'cert', id, error: `certificate ${c.Cert}: ${why}` };
                isolatedNow.push(isolated);
                this.unreported.push(isolated);
              }
            }
            continue;
          }
          const culprit = appAtFailure(e.message, text, view);
          const maxExcluded = Math.max(1, Math.floor(state.apps.size * MAX_EXCLUDED_SHARE));
          const wouldExclude = culprit && !(culprit.inRule && rules.has(culprit.id) && !this.ignoredRules.has(culprit.id));
          if (culprit && round < MAX_ISOLATION_ROUNDS && !(wouldExclude && this.excludedApps.size >= maxExcluded)) {
            const isolated = this.isolate(culprit, state, rules, e.message, measures);
            isolatedNow.push(isolated);
            this.unreported.push(isolated);
            continue;
          }
          undoIsolation();
          this.rejectedText = text;
          this.rejectedError = e;
          this.log.error({ err: e.message }, 'candidate config rejected; HAProxy keeps the last good one');
          return record('invalid', reasons, { configHash: sha256(text), error: { code: e.code, message: e.message }, ...this.diffOf(text, files, false) });
        }
        // A check stopped at its limit names no file: when app certificates are in the candidate (a file on a slow
        // mount, a FIFO beside one), those it stalls on are found by bisection and left out; the rest applies.
        // Suspects: every app certificate, the HTTPS frontend's and the service-port frontends' alike.
        const suspects = STALLED.has(e.code) && !stallSearched && round < MAX_ISOLATION_ROUNDS ? appCertsOf(view) : [];
        if (suspects.length > 0) {
          stallSearched = true;
          const left = await this.stallingCerts(state, rules, suspects, e, measures);
          if (left) {
            const now = this.now();
            for (const { entry, why } of left) {
              this.refusedCerts.set(entry.Cert, { why, stamp: this.leftOutStamp(entry.Cert), retryAt: this.stallRetryAt(entry.Cert, now) });
              stalledNow.push(entry.Cert);
              for (const id of entry.AppIds) {
                const isolated: LeftOut = { kind: 'cert', id, error: `certificate ${entry.Cert}: ${why}`, stalled: true };
                isolatedNow.push(isolated);
                this.unreported.push(isolated);
              }
            }
            continue;
          }
        }
        undoIsolation();
        const result = e.code === 'E_RELOAD_FAILED' ? 'reload-failed' : 'error';
        this.log.error({ code: e.code, err: e.message }, 'apply failed; will retry');
        return record(result, reasons, { configHash: sha256(text), error: { code: e.code, message: e.message }, ...this.diffOf(text, files, false) });
      }
    }
    undoIsolation();
    return record('invalid', ['too many bad apps or rules']);
  }

  /**
   * The app certificates HAProxy refuses, with its reason: those `named` by the failed check `failure` and, when one
   * of them is in the crt-list, every other crt-list certificate that one more check, of them alone on a bind line
   * each (`certCheckConfig`), names: HAProxy 2.6 names only the first crt-list line it cannot load, so one round
   * each would take as many rounds as bad files (more than MAX_ISOLATION_ROUNDS: no apply would pass). That check
   * failing otherwise (stopped at its limit) leaves the named ones only.
   */
  private async refusedAppCerts(view: TemplateContext, text: string, named: readonly CrtListEntry[], failure: CulmError): Promise<Array<{ entry: CrtListEntry; why: string }>> {
    const found = named.map((entry) => ({ entry, why: failure.message }));
    const listed = view.Tls?.CrtList?.Entries ?? [];
    const others = listed.filter((e) => !this.refusedCerts.has(e.Cert) && !named.some((n) => n.Cert === e.Cert));
    if (others.length === 0 || !named.some((n) => listed.some((e) => e.Cert === n.Cert))) return found;
    try {
      await this.delivery.check(certCheckConfig(others.map((e) => e.Cert), sectionOf(text, 'global')));
      return found;
    } catch (err) {
      if (!(err instanceof CulmError) || err.code !== 'E_CONFIG_INVALID') {
        this.log.warn({ err: errorMessage(err) }, 'checking the other app certificates of the crt-list failed: only those HAProxy named are left out');
        return found;
      }
      // The message keeps a few of HAProxy's lines; its whole output (the error's cause) names every bad file.
      const output = fullOutput(err);
      const users = new Map(appCertsOf(view).map((e) => [e.Cert, e] as const));
      for (const entry of others.filter((e) => namesCert(output, e.Cert))) {
        const line = output.split('\n').find((l) => namesCert(l, entry.Cert)) ?? '';
        const why = cleanHaproxyOutput(line).replace(/^parsing \[[^\]]*\] : 'bind [^']*' in section '[^']*' : /, '');
        found.push({ entry: users.get(entry.Cert) ?? entry, why: `${why || 'refused'} (checked alone, on a bind line)` });
      }
      this.log.warn({ certificates: found.map((f) => f.entry.Cert) }, 'app certificates HAProxy cannot load: left out');
      return found;
    }
  }

  /**
   * The app certificates a check that stopped at its limit (`stalled`) stalls on, each with why: found by
   * bisection (stall-search.ts), each probe a `haproxy -c` of this state's config with some certificates held
   * out. Bisection rather than leaving them all out: that would give every HTTPS app the default certificate
   * for one bad file. Undefined when the check stalls with all of them out (the fault is elsewhere, and the
   * apply fails as before) or a probe fails otherwise.
   */
  private async stallingCerts(state: ClusterState, rules: ReadonlyMap<string, Rule>, entries: readonly CrtListEntry[], stalled: CulmError, measures: ApplyMeasures): Promise<Array<{ entry: CrtListEntry; why: string }> | undefined> {
    const limit = `haproxy -c stops at its limit with it (${stalled.message})`;
    this.log.warn({ err: stalled.message, certificates: entries.length }, 'validation stopped at its limit with app certificates in the config: looking for those it stalls on');
    const probing = 'held out while culm looks for the certificate haproxy -c stalls on';
    const searchMs = this.options.commandTimeoutMs === undefined ? undefined : STALL_SEARCH_TIMEOUTS * this.options.commandTimeoutMs;
    const deadline = searchMs === undefined ? Infinity : this.now() + searchMs;
    try {
      const found = await searchStalls(entries, async (heldOut) => {
        const view = this.view(state, rules, undefined, Date.now(), new Map([...heldOut].map((e) => [e.Cert, probing])));
        const text = this.render(view, measures);
        try {
          await this.delivery.check(text, sideFilesOf(view, text));
          return false;
        } catch (err) {
          if (err instanceof CulmError && STALLED.has(err.code)) return true;
          // The check ran to its end: the stall is gone (what HAProxy refuses is isolated by the next round).
          if (err instanceof CulmError && err.code === 'E_CONFIG_INVALID') return false;
          throw err;
        }
      }, MAX_CERT_PROBES, () => this.now() >= deadline);
      if (!found) {
        this.log.warn({ err: stalled.message }, 'validation stops at its limit without the app certificates too: none is left out');
        return undefined;
      }
      const unresolved = `left out untested: haproxy -c stops at its limit (${stalled.message}) with some app certificates, `
        + `and ${found.probes} checks${found.probes < MAX_CERT_PROBES ? ` (all the search's ${Math.round((searchMs ?? 0) / 1000)} s allowed)` : ''} did not tell whether this is one`;
      this.log.warn({ culprits: found.culprits.map((e) => e.Cert), unresolved: found.unresolved.map((e) => e.Cert), checks: found.probes }, 'app certificates haproxy -c stalls on: left out');
      return [...found.culprits.map((entry) => ({ entry, why: limit })), ...found.unresolved.map((entry) => ({ entry, why: unresolved }))];
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'looking for the app certificates haproxy -c stalls on failed');
      return undefined;
    }
  }

  /** The id of the diff kept for this config (against the one applied before), as a record's field. */
  private diffOf(text: string, files: readonly SideFile[], applied: boolean): { diffId?: number } {
    const id = this.diffs.record(text, files, applied);
    return id === undefined ? {} : { diffId: id };
  }

  /** A service port left out for a clash: one log line and `culm_apps_skipped_total{reason="port clash"}`, when it starts. */
  private tellClashes(clashes: Readonly<Record<string, string>>, measures: ApplyMeasures): void {
    if (clashes === this.toldClashes) return;
    for (const [id, why] of Object.entries(clashes)) {
      if (this.toldClashes[id] === why) continue;
      measures.skipped.push({ kind: 'app', id, reason: 'port clash' });
      this.log.warn({ app: id, err: why }, 'service port left out: another app or the HTTP bind has it');
    }
    this.toldClashes = clashes;
  }

  /**
   * Certificates left out (a file missing or unreadable, refused by HAProxy), of the HTTPS frontend or of a service
   * port's own: one log line each and, for an app's, `culm_apps_skipped_total{reason="tls cert"}` once per app and
   * file (an HTTP port's file is in both frontends), when it starts being left out. A label this edge ignores
   * (no `HAProxy.SslCerts`) is told by `tellIgnoredCerts`.
   */
  private tellCerts(problems: readonly CertProblem[], measures: ApplyMeasures): void {
    const now = new Set<string>();
    const counted = new Set<string>();
    for (const p of problems) {
      const key = `${p.AppId}\0${p.Cert}\0${p.Frontend ?? ''}`;
      now.add(key);
      if (this.toldCerts.has(key)) continue;
      const once = `${p.AppId}\0${p.Cert}`;
      const count = p.AppId !== '' && !p.Ignored && !counted.has(once) && !this.toldCerts.has(once);
      if (count) {
        counted.add(once);
        measures.skipped.push({ kind: 'app', id: p.AppId, reason: 'tls cert' });
      }
      if (p.Ignored) continue;
      if (p.Frontend) this.log.warn({ app: p.AppId, cert: p.Cert, frontend: p.Frontend, err: p.Reason }, 'service port left out: its certificate (HAPROXY_{n}_SSL_CERT) cannot be used');
      else if (p.AppId) this.log.warn({ app: p.AppId, cert: p.Cert, err: p.Reason }, 'app certificate left out of the HTTPS frontend');
      else this.log.error({ cert: p.Cert, err: p.Reason }, 'certificate of HAProxy.SslCerts / HAPROXY_SSL_CERTS left out of the HTTPS frontend');
    }
    // A file counted stays counted while any of its problems remains.
    for (const p of problems) if (p.AppId && !p.Ignored) now.add(`${p.AppId}\0${p.Cert}`);
    this.toldCerts = now;
  }

  /**
   * App certificate labels this edge ignores (`HAProxy.SslCerts` empty): one warning per app, naming its labels,
   * when it starts naming them (or names others), whatever the port (with a frontend of its own, left out, or
   * without one: served by `http-in` in clear); not counted, the app is served.
   */
  private tellIgnoredCerts(view: TemplateContext): void {
    if ((this.paths.SslCerts?.length ?? 0) > 0) {
      this.toldIgnoredCerts.clear();
      return;
    }
    const now = new Map<string, string>();
    for (const app of view.Apps) {
      const labels = app.Ports.filter((p) => p.SslCert && !p.NotServed).map((p) => `HAPROXY_${p.Index}_SSL_CERT=${p.SslCert}`);
      if (labels.length === 0) continue;
      const told = labels.join(' ');
      now.set(app.Id, told);
      if (this.toldIgnoredCerts.get(app.Id) === told) continue;
      const frontends = view.CertProblems.filter((c) => c.Ignored && c.AppId === app.Id && c.Frontend).map((c) => c.Frontend!);
      this.log.warn({ app: app.Id, labels, ...(frontends.length ? { frontendsLeftOut: frontends } : {}) },
        'app certificate labels (HAPROXY_{n}_SSL_CERT) ignored: HAProxy.SslCerts is empty, so this edge terminates no app\'s TLS; a service port naming one gets no frontend of its own');
    }
    this.toldIgnoredCerts = now;
  }

  /**
   * Raw HAProxy labels ignored (HAProxy.TrustLabelConfig off) or refused: one log line per app and note, when
   * it first shows (a refusal also counts `culm_apps_skipped_total{reason="bad label"}`).
   */
  private tellLabelConfig(notes: Readonly<Record<string, LabelConfigNote>>, measures: ApplyMeasures): void {
    for (const [id, told] of Object.entries(notes)) {
      const before = this.toldLabelConfig.get(id);
      if (before === told || (before?.refused === told.refused && before.note === told.note)) continue;
      this.toldLabelConfig.set(id, told);
      if (told.refused) {
        measures.skipped.push({ kind: 'app', id, reason: 'bad label' });
        this.log.warn({ app: id, err: told.note }, 'raw HAProxy label refused: its port is left out');
      } else {
        this.log.info({ app: id, labels: told.note }, 'raw HAProxy labels ignored: HAProxy.TrustLabelConfig is off');
      }
    }
    for (const id of this.toldLabelConfig.keys()) if (!(id in notes)) this.toldLabelConfig.delete(id);
  }

  private isolate(culprit: { id: string; inRule: boolean }, state: ClusterState, rules: ReadonlyMap<string, Rule>, why: string, measures: ApplyMeasures): LeftOut {
    const rule = rules.get(culprit.id);
    if (culprit.inRule && rule && !this.ignoredRules.has(culprit.id)) {
      this.ignoredRules.set(culprit.id, rule.acl);
      measures.skipped.push({ kind: 'rule', id: culprit.id, reason: 'invalid' });
      this.log.warn({ app: culprit.id, acl: rule.acl, err: why }, 'rule breaks the config: left out (its app gets the default route) until it changes');
      return { kind: 'rule', id: culprit.id, error: why };
    }
    this.excludedApps.set(culprit.id, isolationKey(state, rules, culprit.id));
    measures.skipped.push({ kind: 'app', id: culprit.id, reason: 'invalid' });
    this.log.warn({ app: culprit.id, err: why }, 'app breaks the config: left out until it changes');
    return { kind: 'app', id: culprit.id, error: why };
  }
}

/** An app with no task, standing in for one Marathon does not run yet, so its rule renders and is checked. */
function placeholderApp(id: string): App {
  return { id, labels: {}, env: {}, instances: 0, healthChecks: [], servicePorts: [], containerPorts: [], network: 'host', deployments: [], tasks: {} };
}
