/**
 * Untrusted events (a callback without the subscription's secret) are hints, never facts: what a hint may
 * cause is a re-read of the app it names (or a resync), so routing follows Marathon's answer, not the
 * sender's. Pure: the decision only; reading and rate-limiting are the pipeline's.
 */
import type { DomainEvent } from './events.js';
import type { ClusterState } from './model.js';
import { reduce } from './state.js';

export type HintAction =
  /** The event would change nothing culm holds (a repeat, a kill of a task culm never had): no work. */
  | { kind: 'none' }
  /** The event names something that is not a Marathon app id: no request is built from it. */
  | { kind: 'invalid'; reason: string }
  /** Re-read this app (one culm holds) from Marathon. */
  | { kind: 'read'; appId: string }
  /**
   * An app-level change (deployments, groups), or an app culm does not hold: a (rate-limited) full resync,
   * as for trusted events. Made-up app ids thus cost one resync per window together, not a read each.
   */
  | { kind: 'resync' };

/** One path segment of a Marathon id (Marathon's PathId validation): lower-case letters, digits, dots, dashes. */
const SEGMENT = /^(([a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])$/;

/** An absolute Marathon app id (`/grp/app`), so a URL built from it stays `/v2/apps/<segments>`. */
export function isMarathonAppId(id: string): boolean {
  if (!id.startsWith('/') || id.length > 512) return false;
  const segments = id.slice(1).split('/');
  return segments.every((s) => SEGMENT.test(s));
}

/** The app an event is about, if it names one. */
export function appIdOf(event: DomainEvent): string | undefined {
  switch (event.kind) {
    case 'task':
    case 'health':
    case 'app-removed':
      return event.appId;
    case 'app-upsert':
      return event.app.id;
    default:
      return undefined;
  }
}

/**
 * What a hint calls for: the trusted reducer is asked what the event would do; only an event that would
 * change an app (or that names an app culm does not know) is worth a read. Tombstones do not count: a hint
 * never makes one, so a forged kill of a task culm does not hold costs nothing.
 */
export function hintAction(state: ClusterState, event: DomainEvent, now: number): HintAction {
  // A deployment named by a hint is not believed: the resync reads Marathon's deployments.
  if (event.kind === 'resync' || event.kind === 'deployment') return { kind: 'resync' };
  const appId = appIdOf(event);
  if (appId === undefined) return { kind: 'none' };
  if (!isMarathonAppId(appId)) return { kind: 'invalid', reason: 'not a Marathon app id' };
  const { state: next, needsResync } = reduce(state, event, now);
  if (next.apps === state.apps && !needsResync) return { kind: 'none' };
  return state.apps.has(appId) ? { kind: 'read', appId } : { kind: 'resync' };
}
