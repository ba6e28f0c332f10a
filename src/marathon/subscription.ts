import { callHook, type Logger } from '../log/logger.js';
import type { MarathonClient } from './client.js';
import { MarathonError, MarathonErrorCode as Code, describeError } from './http.js';
import { redactUrl } from '../core/text.js';

export const SUBSCRIPTIONS_PATH = '/v2/eventSubscriptions';

/** The callback URL as culm records it (ZooKeeper is world-readable): without the secret token. */
export function withoutToken(url: string): string {
  return url.replace(/([?&])token=[^&#]*&?/g, '$1').replace(/[?&]$/, '');
}

/** The callback URLs Marathon lists (GET /v2/eventSubscriptions); E_CALLBACKS_UNAVAILABLE where there are none. */
export async function listSubscriptions(client: Pick<MarathonClient, 'request'>): Promise<string[]> {
  let body: unknown;
  try {
    body = await client.request('GET', SUBSCRIPTIONS_PATH);
  } catch (err) {
    throw unavailableOr(err);
  }
  const urls = (body as { callbackUrls?: unknown } | null)?.callbackUrls;
  if (!Array.isArray(urls)) {
    throw new MarathonError(Code.BODY, `GET ${SUBSCRIPTIONS_PATH}: expected an object with a "callbackUrls" array`);
  }
  return urls.filter((u): u is string => typeof u === 'string');
}

/**
 * Removes every subscription whose URL, without its token, is `tokenFree` (an instance that is gone; each
 * instance registers its own secret, which only it knows). Nothing to remove on a Marathon without
 * callbacks (1.5+). Returns the number removed.
 */
export async function removeSubscriptionsOf(client: Pick<MarathonClient, 'request'>, tokenFree: string): Promise<number> {
  let urls: string[];
  try {
    urls = await listSubscriptions(client);
  } catch (err) {
    if (err instanceof MarathonError && err.code === Code.CALLBACKS_UNAVAILABLE) return 0;
    throw err;
  }
  const theirs = urls.filter((u) => withoutToken(u) === tokenFree);
  for (const callbackUrl of theirs) await client.request('DELETE', SUBSCRIPTIONS_PATH, { query: { callbackUrl } });
  return theirs.length;
}

export interface CallbackSubscriptionOptions {
  client: Pick<MarathonClient, 'request'>;
  /** The URL Marathon POSTs events to (culm's callback receiver), registered verbatim. */
  callbackUrl: string;
  /** How often to verify that Marathon still lists our URL. */
  checkIntervalMs: number;
  log: Logger;
  /** A periodic check found callbacks gone (Marathon restarted without the flag or upgraded to 1.5+). */
  onUnavailable?: (error: MarathonError) => void;
  /** Our URL was missing and has been registered again: events were missed meanwhile (resync). */
  onReregistered?: () => void;
}

/**
 * http_callback event subscription, Marathon ≤ 1.4 only (removed in 1.5). Marathon never drops a subscriber
 * by itself, but its list lives in ZooKeeper and can be lost or edited, so we check it periodically and
 * re-register. POST is idempotent on Marathon's side, which is why re-registering is always safe.
 */
export class CallbackSubscription {
  private readonly client: Pick<MarathonClient, 'request'>;
  private readonly callbackUrl: string;
  private readonly checkIntervalMs: number;
  private readonly log: Logger;
  private readonly onUnavailable: CallbackSubscriptionOptions['onUnavailable'];
  private readonly onReregistered: CallbackSubscriptionOptions['onReregistered'];
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private running = false;
  private lastCheck: number | undefined;
  private isRegistered = false;

  constructor(options: CallbackSubscriptionOptions) {
    this.client = options.client;
    this.callbackUrl = options.callbackUrl;
    this.checkIntervalMs = options.checkIntervalMs;
    this.log = options.log.child({ component: 'marathon-subscription' });
    this.onUnavailable = options.onUnavailable;
    this.onReregistered = options.onReregistered;
  }

  /** True after a successful registration, false once a check found our URL missing or after unregistering. */
  get registered(): boolean {
    return this.isRegistered;
  }

  /** Epoch ms of the last successful check of Marathon's subscriber list. */
  get lastCheckAt(): number | undefined {
    return this.lastCheck;
  }

  /**
   * POST /v2/eventSubscriptions?callbackUrl=… Throws E_CALLBACKS_UNAVAILABLE when this Marathon has no
   * callback system (the caller then uses SSE); other MarathonErrors as they come (422: invalid URL).
   */
  async register(): Promise<'registered'> {
    try {
      await this.client.request('POST', SUBSCRIPTIONS_PATH, { query: { callbackUrl: this.callbackUrl } });
    } catch (err) {
      throw unavailableOr(err);
    }
    this.isRegistered = true;
    this.log.info({ callbackUrl: redactUrl(this.callbackUrl) }, 'registered Marathon event callback');
    return 'registered';
  }

  /** The callback URLs Marathon currently lists. */
  subscribers(): Promise<string[]> {
    return listSubscriptions(this.client);
  }

  /** Registers, then checks every checkIntervalMs. Throws (leaving nothing running) if the first registration fails. */
  async start(): Promise<void> {
    if (this.running) return;
    await this.register();
    this.running = true;
    this.schedule();
  }

  /** Stops checking; with `unregister`, DELETEs our own URL (only ours: other subscribers are someone else's). */
  async stop(opts: { unregister?: boolean } = {}): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.inFlight;
    if (!opts.unregister) return;
    try {
      await this.client.request('DELETE', SUBSCRIPTIONS_PATH, { query: { callbackUrl: this.callbackUrl } });
      this.isRegistered = false;
      this.log.info({ callbackUrl: redactUrl(this.callbackUrl) }, 'unregistered Marathon event callback');
    } catch (err) {
      // Why not throw: this runs on shutdown; a leftover subscriber only costs Marathon failed POSTs (with backoff).
      this.log.warn({ callbackUrl: redactUrl(this.callbackUrl), err: describeError(err) }, 'could not unregister Marathon event callback');
    }
  }

  /** One check: re-registers when our URL is missing. Errors are logged, never thrown (next check retries). */
  async check(): Promise<void> {
    try {
      const urls = await this.subscribers();
      this.lastCheck = Date.now();
      if (urls.includes(this.callbackUrl)) {
        this.isRegistered = true;
        return;
      }
      this.isRegistered = false;
      this.log.warn({ callbackUrl: redactUrl(this.callbackUrl), listed: urls.length }, 'our event callback is no longer registered; registering again');
      await this.register();
      callHook(this.log, 'onReregistered', () => this.onReregistered?.());
    } catch (err) {
      if (err instanceof MarathonError && err.code === Code.CALLBACKS_UNAVAILABLE) {
        this.isRegistered = false;
        this.log.error({ err: err.message }, 'Marathon no longer offers event callbacks');
        callHook(this.log, 'onUnavailable', () => this.onUnavailable?.(err));
        return;
      }
      this.log.warn({ err: describeError(err) }, 'event callback check failed; will retry');
    }
  }

  // Why a setTimeout chain and not setInterval: a slow Marathon must not pile up overlapping checks.
  private schedule(): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.inFlight = this.check().finally(() => {
        this.inFlight = undefined;
        this.schedule();
      });
    }, this.checkIntervalMs);
  }
}

const NOT_RUNNING = /callback system is not running/i;

/** 404 (1.5+, endpoint removed) or 400 "http event callback system is not running" (1.4 without the flag). */
function unavailableOr(err: unknown): unknown {
  if (!(err instanceof MarathonError)) return err;
  const notRunning = err.httpStatus === 400 && NOT_RUNNING.test(err.message);
  if (err.code !== Code.NOT_FOUND && !notRunning) return err;
  return new MarathonError(
    Code.CALLBACKS_UNAVAILABLE,
    notRunning
      ? 'Marathon event callbacks are not enabled (start Marathon with --event_subscriber http_callback, or use SSE)'
      : 'this Marathon has no /v2/eventSubscriptions (removed in 1.5): use SSE',
    { cause: err, endpoint: err.endpoint, httpStatus: err.httpStatus },
  );
}
