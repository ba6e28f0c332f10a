/**
 * Reloads under load (issue 10): a bounded load generator, the rule changes that force reloads, and the count of
 * reloads in `/api/history`. Shared by test/integration/seamless-reload.test.ts and the "zerodrop" benchmark.
 */
import { request, Agent } from 'node:http';
import type { CulmInstance } from './culm.js';

export interface Load {
  ok: number;
  failed: number;
  /** Failures by kind (an error code, `status 503`, `timeout`). */
  errors: Map<string, number>;
  stop(): Promise<void>;
}

/**
 * About `rate` requests/s to `url`, alternating a keep-alive agent (its idle connections reused, as a browser
 * does) and a new connection per request. A failure: a connection error or reset, a timeout, any status but 200
 * (the backends only send 200).
 */
export function load(url: string, rate: number): Load {
  const keepAlive = new Agent({ keepAlive: true, maxSockets: 4 });
  const result: Load = { ok: 0, failed: 0, errors: new Map(), stop: async () => undefined };
  const inflight = new Set<Promise<void>>();
  let n = 0;
  const one = (agent: Agent | false): Promise<void> => new Promise((resolve) => {
    const fail = (why: string) => {
      result.failed++;
      result.errors.set(why, (result.errors.get(why) ?? 0) + 1);
      resolve();
    };
    const req = request(url, { agent, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode === 200) result.ok++;
        else fail(`status ${res.statusCode}`);
        resolve();
      });
      res.on('error', (err) => fail(err.message));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => fail((err as NodeJS.ErrnoException).code ?? err.message));
    req.end();
  });
  const timer = setInterval(() => {
    const p = one(n++ % 2 === 0 ? keepAlive : false);
    inflight.add(p);
    void p.then(() => inflight.delete(p));
  }, Math.round(1000 / rate));
  result.stop = async () => {
    clearInterval(timer);
    await Promise.all(inflight);
    keepAlive.destroy();
  };
  return result;
}

/** How many reloads culm ran (the reload-duration histogram's count: `/api/history` keeps the last 50 only). */
export const reloads = (culm: CulmInstance): Promise<number> => culm.metric('culm_haproxy_reload_duration_seconds_count');

/** How many of the entries `/api/history` keeps are reloads (`mode: "reload"`). */
export const reloadsInHistory = async (culm: CulmInstance): Promise<number> =>
  (await culm.json<Array<{ mode?: string }>>('/api/history')).body.filter((h) => h.mode === 'reload').length;

/** Stores a rule for `app` (`path_beg -i <app><i>`): a change only a reload applies. */
export async function putRule(culm: CulmInstance, app: string, i: number): Promise<void> {
  const r = await culm.json(`/api/services/${app}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ acl: `path_beg -i /${app}${i}` }) });
  if (r.status >= 300) throw new Error(`PUT rule ${i}: ${r.status}`);
}
