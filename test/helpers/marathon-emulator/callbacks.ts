// http_callback delivery as Marathon 1.4's HttpEventActor does it: one POST per event and subscriber, all at
// once, never retried; a failure (non-2xx, error, or an answer slower than the slow-consumer timeout) puts the
// subscriber in backoff for 2^n units after n consecutive failures, during which its events are skipped; the
// first success resets it; subscribers are never dropped.
import http from 'node:http';
import https from 'node:https';

export interface CallbackTiming {
  /** --http_event_callback_slow_consumer_timeout: a later (even 2xx) answer counts as a failure. */
  slowMs: number;
  /** --http_event_request_timeout: the request is abandoned after this long. */
  requestTimeoutMs: number;
  /** One backoff "second"; tests shrink it. */
  backoffUnitMs: number;
}

export interface Delivery {
  url: string;
  eventType: string;
  outcome: 'ok' | 'failed' | 'skipped';
  status?: number;
  error?: string;
}

interface Limit {
  failures: number;
  until: number;
}

export class CallbackSubscribers {
  private readonly urls: string[] = [];
  private readonly limits = new Map<string, Limit>();
  private readonly inflight = new Set<Promise<void>>();
  private readonly requests = new Set<http.ClientRequest>();
  readonly deliveries: Delivery[] = [];

  constructor(private readonly timing: CallbackTiming) {}

  list(): string[] {
    return [...this.urls];
  }

  /** Returns false when the URL was already subscribed (Marathon answers 200 all the same). */
  add(url: string): boolean {
    if (this.urls.includes(url)) return false;
    this.urls.push(url);
    return true;
  }

  remove(url: string): boolean {
    const i = this.urls.indexOf(url);
    if (i < 0) return false;
    this.urls.splice(i, 1);
    this.limits.delete(url);
    return true;
  }

  broadcast(eventType: string, json: string): void {
    const t = Date.now();
    for (const url of this.urls) {
      const limit = this.limits.get(url);
      if (limit && limit.until > t) {
        this.deliveries.push({ url, eventType, outcome: 'skipped' });
        continue;
      }
      const p = this.post(url, eventType, json).finally(() => this.inflight.delete(p));
      this.inflight.add(p);
    }
  }

  /** Resolves once every POST started so far has finished. */
  async settled(): Promise<void> {
    while (this.inflight.size > 0) await Promise.all([...this.inflight]);
  }

  close(): void {
    for (const r of this.requests) r.destroy();
  }

  private record(url: string, d: Delivery): void {
    this.deliveries.push(d);
    if (d.outcome === 'ok') {
      this.limits.delete(url);
      return;
    }
    const failures = (this.limits.get(url)?.failures ?? 0) + 1;
    this.limits.set(url, { failures, until: Date.now() + 2 ** failures * this.timing.backoffUnitMs });
  }

  private post(url: string, eventType: string, json: string): Promise<void> {
    return new Promise((resolve) => {
      const started = Date.now();
      let finished = false;
      let req: http.ClientRequest | undefined;
      const timer: { id?: NodeJS.Timeout } = {};
      const done = (d: Delivery): void => {
        if (finished) return;
        finished = true;
        clearTimeout(timer.id);
        if (req) this.requests.delete(req);
        if (this.urls.includes(url)) this.record(url, d);
        else this.deliveries.push(d);
        resolve();
      };
      try {
        req = (url.startsWith('https:') ? https : http).request(url, {
          method: 'POST',
          agent: false,
          headers: {
            'Content-Type': 'application/json',
            Accept: 'application/json',
            'Content-Length': String(Buffer.byteLength(json)),
          },
        });
      } catch (err) {
        // e.g. ftp:// passes Marathon's URL check but cannot be POSTed to.
        done({ url, eventType, outcome: 'failed', error: (err as Error).message });
        return;
      }
      const r = req;
      this.requests.add(r);
      timer.id = setTimeout(() => r.destroy(new Error('request timeout')), this.timing.requestTimeoutMs);
      req.on('response', (res) => {
        res.resume();
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const inTime = Date.now() - started < this.timing.slowMs;
          const ok = status >= 200 && status < 300 && inTime;
          done({ url, eventType, outcome: ok ? 'ok' : 'failed', status, ...(inTime ? {} : { error: 'slow consumer' }) });
        });
        res.on('error', () => undefined);
        res.on('close', () => done({ url, eventType, outcome: 'failed', error: 'response aborted' }));
      });
      req.on('error', (err) => done({ url, eventType, outcome: 'failed', error: err.message }));
      req.end(json);
    });
  }
}
