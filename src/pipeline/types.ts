/** What the edges (REST API, UI, metrics endpoint) may ask of the running daemon. They never render or reload. */
import type { GroupPolicy } from '../core/lb-labels.js';
import type { ClusterState, Rule } from '../core/model.js';
import type { ErrorCode } from '../core/errors.js';
import type { LiveListener } from './event-bus.js';
import type { ServerStat } from '../haproxy/server-stats.js';

export type { ServerStat };

/**
 * `skipped`: nothing known yet (no Marathon sync, no saved state): an empty config is never applied.
 * `deferred`: a reload is needed but the last one was less than the reload interval ago: run again at `retryAt`.
 */
export type ApplyResult = 'applied' | 'unchanged' | 'invalid' | 'reload-failed' | 'error' | 'skipped' | 'deferred';

export interface ApplyRecord {
  /** Set in /api/history, which also lists rule changes; absent means an apply too. */
  kind?: 'apply';
  /** ms since epoch when the apply started. */
  at: number;
  result: ApplyResult;
  /** Why: from the diff ("app /web added", "backend /web: +2 servers", "rule /api changed"), or the error. */
  reasons: string[];
  durationMs: number;
  /** How an applied config reached HAProxy: a reload, or the runtime API (server changes only). */
  mode?: 'reload' | 'runtime';
  /** sha256 of the config text that was applied (or rejected). */
  configHash?: string;
  error?: { code: ErrorCode; message: string };
  /** With `deferred`: when (ms since epoch) a reload is allowed again. */
  retryAt?: number;
  /**
   * With a reload: how long the validation command (0 when the very same config was checked just before, by a
   * rule's PUT) and the reload command took, in ms. The rest of `durationMs` is culm's own work.
   */
  validateMs?: number;
  reloadMs?: number;
  /** With `runtime`: how long the socket commands took (ms), how many maps were swapped and server commands sent. */
  runtimeMs?: number;
  maps?: number;
  serverOps?: number;
  /**
   * The diff of this config against the one applied before (`GET /api/history/{diffId}/diff`), kept for the last
   * 50 records; absent for the first config and for records that tried no new config.
   */
  diffId?: number;
  /** Rules (or apps) this apply left out because HAProxy refused the config with them, and HAProxy's error. */
  leftOut?: LeftOut[];
}

export interface LeftOut {
  /** `cert`: the app's certificate (HAPROXY_{n}_SSL_CERT) was left out, the app itself is still served. */
  kind: 'rule' | 'app' | 'cert';
  id: string;
  error: string;
  /** With `cert`: HAProxy's check stopped at its limit with it (it names no file then: found by bisection). */
  stalled?: boolean;
}

/** A rule in Bamboo's JSON shape, as the REST API shows it. */
export interface BambooRule { Id: string; Acl: string; Config: Record<string, string> }

/**
 * The audit of one rule write through the REST API, accepted or refused. It carries `reasons` and
 * `durationMs` like an apply record, so a consumer that reads those of every history entry keeps working.
 */
export interface RuleChangeRecord {
  kind: 'rule';
  /** ms since epoch when the request arrived. */
  at: number;
  result: 'changed' | 'refused';
  action: 'set' | 'delete';
  /** The rule's id; absent when the request named none that could be read. */
  id?: string;
  /** A user of the users file, "token" or "anonymous". */
  who: string;
  /** The client's address. */
  from: string;
  before: BambooRule | null;
  after: BambooRule | null;
  /** With `refused`: the REST error sent (its code is stable). */
  error?: { code: ErrorCode; message: string };
  status: number;
  reasons: string[];
  durationMs: number;
}

export type HistoryRecord = ApplyRecord | RuleChangeRecord;

export interface DependencyCheck {
  ok: boolean;
  detail: string;
}

export interface Readiness {
  ready: boolean;
  checks: Record<string, DependencyCheck>;
}

export interface CulmCore {
  state(): ClusterState;
  rules(): ReadonlyMap<string, Rule>;
  /** Which apps this edge serves (HAProxy.Group); absent: all. */
  servePolicy?(): GroupPolicy;
  /**
   * Checks the rule (no control characters; the candidate config with it must pass the validation
   * command), stores it, and schedules an apply. Throws CulmError with status 400 (bad rule), 503
   * (store unavailable) or 500.
   */
  putRule(rule: Rule): Promise<Rule>;
  /** Resolves false when there was no such rule. */
  deleteRule(id: string): Promise<boolean>;
  /** A Marathon event body as POSTed to the callback URL. Never throws: bad bodies are counted. */
  acceptMarathonEvent(body: unknown): { accepted: boolean; kind: string };
  /**
   * A callback body without the subscription's secret: never applied, at most a (rate-limited) re-read of the
   * app it names. Never throws. `kind` is always `hint`; `outcome` says what it caused.
   */
  acceptMarathonHint(body: unknown): { accepted: boolean; kind: 'hint'; outcome: string };
  readiness(): Readiness;
  /** Applies and rule changes, oldest first; each kind keeps its own bound (a flood of one cannot evict the other). */
  history(): readonly HistoryRecord[];
  /** Keeps the audit of a rule write for `history()`; the HTTP layer, which knows who asked, records it. */
  recordRuleChange(record: RuleChangeRecord): void;
  /** The config text currently applied, if any. */
  appliedConfig(): string | undefined;
  /** The diff an apply record names by `diffId`; undefined once dropped (only the last 50 are kept). */
  applyDiff?(id: number): string | undefined;
  /**
   * HAProxy's live view of the servers of these backends (`show stat`), through the delivery owner. Rejects
   * when HAProxy cannot be asked. Absent: this core has no HAProxy to ask.
   */
  serverStats?(backends: readonly string[]): Promise<ServerStat[]>;
  /** What the last applies leave out because HAProxy refused it: stored rules (the app routes by default) and apps. */
  leftOut?(): { rules: ReadonlySet<string>; apps: ReadonlySet<string> };
  /** Follows app, task, apply and rule events (`GET /api/events`); returns the unsubscribe. Absent: no live stream. */
  subscribe?(listener: LiveListener): () => void;
}
