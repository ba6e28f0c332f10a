/**
 * Marathon's HTTP callback (`POST /api/marathon/event_callback`). Marathon backs off a subscriber whose
 * callbacks fail and drops its events meanwhile, so anything that parses as JSON is answered 200 at once;
 * what the event means is the core's business. A POST carrying the subscription's secret is Marathon's and
 * applied; any other (a forged one, or Bamboo's old token-less subscription) is a hint, answered 200 too.
 */
import { CulmError, errorMessage } from '../../core/errors.js';
import { sameToken } from '../../marathon/callback-token.js';
import type { Logger } from '../../log/logger.js';
import type { Metrics } from '../../metrics/metrics.js';
import type { CulmCore } from '../../pipeline/types.js';
import { parseJson, readBody, sendJson } from '../io.js';
import type { Route } from '../router.js';

/**
 * Deployment events carry the whole group plan and reach megabytes on big clusters; they still must not be
 * refused. Past this size an event is dropped (counted, logged) but still answered 200.
 */
export const EVENT_BODY_LIMIT = 16 * 1024 * 1024;

/**
 * Who may post events: callbacks only while culm uses them. With a token, only POSTs carrying it are
 * applied; the others are hints. Without one (in-process tests), every POST is applied.
 */
export interface CallbackPolicy {
  enabled(): boolean;
  token?: string;
}

export function marathonRoutes(core: CulmCore, metrics: Metrics, log: Logger, policy?: CallbackPolicy): Route[] {
  return [{
    name: '/api/marathon/event_callback',
    path: '/api/marathon/event_callback',
    access: 'marathon',
    handlers: {
      POST: async ({ req, res, query }) => {
        if (policy && !policy.enabled()) {
          // Reading the event stream: a POST here is not Marathon's, and must not change routing.
          throw new CulmError('E_CALLBACKS_DISABLED', 'culm reads Marathon\'s event stream; event callbacks are not accepted', { status: 404 });
        }
        // With a policy (always, in culm) only a POST carrying the subscription's secret takes the fast path; no
        // secret configured (the event stream is read, or callbacks are not set up yet) means nothing posted here is
        // trusted. No policy at all: in-process tests of the route.
        const trusted = policy === undefined || (!!policy.token && sameToken(query.get('token'), policy.token));
        let body: Buffer;
        try {
          body = await readBody(req, EVENT_BODY_LIMIT);
        } catch (err) {
          if (!(err instanceof CulmError) || err.code !== 'E_BODY_TOO_LARGE') throw err;
          metrics.eventRejected('too-large');
          log.warn({ limit: EVENT_BODY_LIMIT }, 'marathon event dropped: body too large');
          sendJson(res, 200, { accepted: false, kind: 'too-large' });
          return;
        }
        let event: unknown;
        try {
          event = parseJson(body);
        } catch (err) {
          metrics.eventRejected('invalid-json');
          throw err;
        }
        let outcome: { accepted: boolean; kind: string; outcome?: string };
        try {
          outcome = trusted ? core.acceptMarathonEvent(event) : core.acceptMarathonHint(event);
        } catch (err) {
          // The core promises not to throw; if it does, Marathon must still not back off.
          log.error({ err: errorMessage(err) }, 'marathon event handler failed');
          outcome = { accepted: false, kind: 'error' };
        }
        sendJson(res, 200, outcome);
      },
    },
  }];
}
