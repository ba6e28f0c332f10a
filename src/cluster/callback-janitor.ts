/**
 * The leader's clean-up of Marathon event subscriptions left by culm instances that are gone (HA mode): every
 * `intervalMs`, the callback URLs culm recorded in ZooKeeper for instances no longer there are unsubscribed in
 * Marathon (never another subscriber's). An instance cut off from ZooKeeper is not gone: it gets three rounds,
 * then is asked directly (`/healthz`).
 */
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../log/logger.js';
import type { MarathonClient } from '../marathon/client.js';
import { removeSubscriptionsOf } from '../marathon/subscription.js';
import type { Membership } from './membership.js';

export interface CallbackJanitorOptions {
  membership: Pick<Membership, 'removeStaleCallbacks'>;
  client: Pick<MarathonClient, 'request'>;
  intervalMs: number;
  log: Logger;
  /** Whether the instance behind a recorded callback URL still answers; default: its `/healthz`, 1 s. */
  isAlive?: (url: string) => Promise<boolean>;
}

/** The base URL of a culm instance, from the callback URL it registered. */
export const instanceBase = (callbackUrl: string): string => callbackUrl.replace(/\/api\/marathon\/event_callback.*$/, '');

async function answersHealthz(url: string): Promise<boolean> {
  const res = await fetch(`${instanceBase(url)}/healthz`, { signal: AbortSignal.timeout(1000) });
  await res.body?.cancel();
  return res.ok;
}

/** Starts the rounds; returns the function that stops them. */
export function startCallbackJanitor(o: CallbackJanitorOptions): () => void {
  const timer = setInterval(() => {
    // Recorded without the token, and each instance has its own: Marathon's list says which URLs were its.
    void o.membership.removeStaleCallbacks(async (url) => { await removeSubscriptionsOf(o.client, url); }, {
      graceMs: 3 * o.intervalMs,
      isAlive: o.isAlive ?? answersHealthz,
    }).catch((err) => o.log.warn({ err: errorMessage(err) }, 'stale callback clean-up failed'));
  }, o.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
