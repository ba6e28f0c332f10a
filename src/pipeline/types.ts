/** What the edges (REST API, UI, metrics endpoint) may ask of the running daemon. They never render or reload. */
import type { ClusterState, Rule } from '../core/model.js';

/**
 * `skipped`: nothing known yet (no Marathon sync, no saved state): an empty config is never applied.
 * `deferred`: a reload is needed but the last one was less than the reload interval ago: run again at `retryAt`.
 */
export type ApplyResult = 'applied' | 'unchanged' | 'invalid' | 'reload-failed' | 'error' | 'skipped' | 'deferred';

export interface ApplyRecord {
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
  error?: { code: string; message: string };
  /** With `deferred`: when (ms since epoch) a reload is allowed again. */
  retryAt?: number;
  /**
   * With a reload: how long the validation command (0 when the very same config was checked just before, by a
   * rule's PUT) and the reload command took, in ms. The rest of `durationMs` is culm's own work.
   */
  validateMs?: number;
  reloadMs?: number;
}

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
  history(): readonly ApplyRecord[];
  /** The config text currently applied, if any. */
  appliedConfig(): string | undefined;
}
