/**
 * Where Marathon's events come from. `callback`: an http_callback subscription (Marathon ≤ 1.4) whose POSTs
 * reach the REST API; `sse`: GET /v2/events; `auto`: callbacks when this Marathon has them and culm has a
 * callback URL, the event stream otherwise (and when a later check finds callbacks gone, e.g. after an
 * upgrade to 1.5). Every (re)connect and registration is followed by a full resync: events are not replayed.
 */
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../log/logger.js';
import { CallbackSubscription, EventStream, MarathonErrorCode, type MarathonClient } from '../marathon/index.js';
import type { DependencyCheck } from './types.js';
import { redactUrl } from '../core/text.js';
import { Backoff } from '../core/backoff.js';

export type EventMode = 'auto' | 'callback' | 'sse';

export interface FeedOptions {
  mode: EventMode;
  client: MarathonClient;
  endpoints: readonly string[];
  user?: string;
  password?: string;
  /** culm's own base URL as Marathon reaches it (Bamboo.Endpoint); '' when unknown. */
  publicEndpoint: string;
  /** Added to the callback URL as `?token=`; '' for none. */
  callbackToken: string;
  /** 0: never check the subscription list. */
  subscriptionCheckMs: number;
  /** 0: no watchdog. */
  sseWatchdogMs: number;
  log: Logger;
  onEvent(eventType: string, data: string): void;
  resync(): Promise<unknown>;
  /** The callback URL registered in Marathon (the cluster remembers it, to clean up after this instance). */
  onRegistered?(callbackUrl: string): void;
}

export const CALLBACK_PATH = '/api/marathon/event_callback';

export class MarathonFeed {
  private stream?: EventStream;
  private subscription?: CallbackSubscription;
  private retryTimer?: NodeJS.Timeout;
  private readonly retry = new Backoff({ initialMs: 1000, maxMs: 30_000 });
  private stopped = false;
  private active: 'none' | 'callback' | 'sse' = 'none';
  private lastError = '';
  private registering?: Promise<void>;

  constructor(private readonly o: FeedOptions) {}

  callbackUrl(): string {
    const token = this.o.callbackToken ? `?token=${encodeURIComponent(this.o.callbackToken)}` : '';
    return `${this.o.publicEndpoint.replace(/\/+$/, '')}${CALLBACK_PATH}${token}`;
  }

  /** Whether event POSTs are expected (callback mode, or auto before the event stream was chosen). */
  acceptsCallbacks(): boolean {
    return this.active !== 'sse';
  }

  start(): void {
    if (this.o.mode === 'sse' || (this.o.mode === 'auto' && !this.o.publicEndpoint)) {
      this.startStream();
      return;
    }
    this.registering = this.startCallbacks();
  }

  private async startCallbacks(): Promise<void> {
    if (this.stopped) return;
    const subscription = new CallbackSubscription({
      client: this.o.client,
      callbackUrl: this.callbackUrl(),
      // 0 disables the periodic check (a timer that never fires in practice).
      checkIntervalMs: this.o.subscriptionCheckMs || 2 ** 31 - 1,
      onReregistered: () => {
        void this.o.resync();
        this.o.onRegistered?.(this.callbackUrl());
      },
      log: this.o.log,
      onUnavailable: (err) => {
        this.lastError = err.message;
        if (this.o.mode === 'auto') {
          this.o.log.warn('Marathon no longer offers event callbacks: switching to the event stream');
          void subscription.stop();
          this.subscription = undefined;
          this.startStream();
        }
      },
    });
    try {
      await subscription.start();
      this.subscription = subscription;
      if (this.stopped) return; // stop() is waiting and will unregister
      this.active = 'callback';
      this.o.onRegistered?.(this.callbackUrl());
      this.retry.reset();
      this.lastError = '';
      void this.o.resync();
    } catch (err) {
      const code = (err as { code?: string }).code;
      this.lastError = errorMessage(err);
      if (code === MarathonErrorCode.CALLBACKS_UNAVAILABLE && this.o.mode === 'auto') {
        this.o.log.info('Marathon has no event callbacks (1.5+, or 1.4 without http_callback): using the event stream');
        this.startStream();
        return;
      }
      const retryMs = this.retry.next();
      this.o.log.warn({ err: this.lastError, retryMs }, 'event callback registration failed; retrying');
      this.retryTimer = setTimeout(() => { this.registering = this.startCallbacks(); }, retryMs);
    }
  }

  private startStream(): void {
    if (this.stopped || this.stream) return;
    this.active = 'sse';
    this.stream = new EventStream({
      endpoints: this.o.endpoints,
      user: this.o.user,
      password: this.o.password,
      log: this.o.log,
      watchdogMs: this.o.sseWatchdogMs || 2 ** 31 - 1, // 0: no watchdog
      onEvent: (type, data) => this.o.onEvent(type, data),
      onConnected: async () => {
        this.lastError = '';
        await this.o.resync();
      },
      onDisconnected: (err) => {
        if (err) this.lastError = err.message;
      },
    });
    this.stream.start();
  }

  check(): DependencyCheck {
    if (this.active === 'callback') {
      return this.subscription?.registered
        ? { ok: true, detail: `callback ${redactUrl(this.callbackUrl())} registered` }
        : { ok: false, detail: `callback not registered: ${this.lastError}` };
    }
    if (this.active === 'sse') {
      return this.stream?.connected
        ? { ok: true, detail: 'event stream connected' }
        : { ok: false, detail: `event stream disconnected${this.lastError ? `: ${this.lastError}` : ''}` };
    }
    return { ok: false, detail: this.lastError || 'starting' };
  }

  mode(): string {
    return this.active;
  }

  /** Stops taking events; removes our own callback subscription (never anyone else's). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    // A registration in flight finishes first, so what it registered is removed below.
    await this.registering?.catch(() => undefined);
    await Promise.all([
      this.stream?.stop(),
      this.subscription?.stop({ unregister: true }),
    ]);
  }
}
