/**
 * Reloads under load (issue 10): a bounded load generator, the rule changes that force reloads, and the count of
 * reloads in `/api/history`. Shared by test/integration/seamless-reload.test.ts and the "zerodrop" benchmark.
 */
import { request, Agent } from 'node:http';
import type { CulmInstance } from './culm.js';

export interface Load {
  ok: number;
  failed: number;
  /** Failures by kind (an error code, `status 503`, `timeout`) and connection (new, keep-alive, idle one reused). */
  errors: Map<string, number>;
  /** performance.now() at which each failed request was sent. */
  failedAt: number[];
  /** Requests sent on a new connection / on a reused keep-alive connection (answered or not). */
  sent: { fresh: number; keepAlive: number };
  stop(): Promise<void>;
}

export interface LoadOptions {
  /** Each request waits this long at the backend (`?slow=<ms>`, see net.ts); default: none. */
  slowMs?: number;
  /** Client timeout per request (default 5000 ms). */
  timeoutMs?: number;
}

/** A browser's pause between two requests on one keep-alive connection (ms, uniformly in this range). */
const IDLE_PAUSE_MS = [100, 400] as const;

/**
 * About `rate` requests/s to `url`: half on a new connection each, half from keep-alive clients that each hold
 * one connection and reuse it after an idle pause, as a browser does (the race a reload's soft stop must not
 * lose). A failure: a connection error or reset, a timeout, any status but 200 (the backends only send 200).
 */
export function load(url: string, rate: number, o: LoadOptions = {}): Load {
  const result: Load = { ok: 0, failed: 0, errors: new Map(), failedAt: [], sent: { fresh: 0, keepAlive: 0 }, stop: async () => undefined };
  const target = o.slowMs ? `${url}${url.includes('?') ? '&' : '?'}slow=${o.slowMs}` : url;
  const inflight = new Set<Promise<void>>();
  let stopped = false;
  const one = (agent: Agent | false): Promise<void> => new Promise((resolve) => {
    const at = performance.now();
    const reused = agent !== false && agent.freeSockets && Object.keys(agent.freeSockets).length > 0;
    const fail = (kind: string) => {
      const why = `${kind} (${agent === false ? 'new connection' : reused ? 'idle keep-alive reused' : 'keep-alive'})`;
      result.failed++;
      result.failedAt.push(at);
      result.errors.set(why, (result.errors.get(why) ?? 0) + 1);
      resolve();
    };
    if (agent) result.sent.keepAlive++;
    else result.sent.fresh++;
    const req = request(target, { agent, timeout: o.timeoutMs ?? 5000 }, (res) => {
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
  const track = (p: Promise<void>): Promise<void> => {
    inflight.add(p);
    void p.then(() => inflight.delete(p));
    return p;
  };
  // New connections: sent in small batches against the clock, so the rate holds even when timers run late.
  const freshRate = rate / 2;
  const began = performance.now();
  let freshSent = 0;
  const timer = setInterval(() => {
    const due = Math.floor(((performance.now() - began) / 1000) * freshRate);
    for (; freshSent < due; freshSent++) void track(one(false));
  }, 10);
  // Keep-alive clients: enough of them that, with their idle pauses, they send the other half.
  const meanCycleS = (IDLE_PAUSE_MS[0] + IDLE_PAUSE_MS[1]) / 2 / 1000 + (o.slowMs ?? 0) / 1000;
  const agents: Agent[] = [];
  const clients: Array<Promise<void>> = [];
  for (let i = 0; i < Math.max(1, Math.round((rate / 2) * meanCycleS)); i++) {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(agent);
    clients.push((async () => {
      await new Promise((r) => setTimeout(r, Math.random() * IDLE_PAUSE_MS[1]));
      while (!stopped) {
        await track(one(agent));
        await new Promise((r) => setTimeout(r, IDLE_PAUSE_MS[0] + Math.random() * (IDLE_PAUSE_MS[1] - IDLE_PAUSE_MS[0])));
      }
    })());
  }
  result.stop = async () => {
    stopped = true;
    clearInterval(timer);
    await Promise.all(clients);
    await Promise.all(inflight);
    for (const a of agents) a.destroy();
  };
  return result;
}

/** How many reloads culm ran (the reload-duration histogram's count: `/api/history` keeps the last 50 only). */
export const reloads = (culm: CulmInstance): Promise<number> => culm.metric('culm_haproxy_reload_duration_seconds_count');

/** How many of the entries `/api/history` keeps are reloads (`mode: "reload"`). */
export const reloadsInHistory = async (culm: CulmInstance): Promise<number> =>
  (await culm.json<Array<{ mode?: string }>>('/api/history')).body.filter((h) => h.mode === 'reload').length;

/**
 * Stores a rule for `app` (`path_beg /<app><i>`): a change only a reload applies. Case-sensitive on purpose: a
 * `path_beg -i` prefix is a route map entry, which goes in through the runtime API without a reload.
 */
export async function putRule(culm: CulmInstance, app: string, i: number): Promise<void> {
  const r = await culm.json(`/api/services/${app}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ acl: `path_beg /${app}${i}` }) });
  if (r.status >= 300) throw new Error(`PUT rule ${i}: ${r.status}`);
}
