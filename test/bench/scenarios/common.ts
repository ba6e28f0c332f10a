/** Shared by the benchmark scenarios: a cluster in the emulator, culm started on it, timing helpers. */
import { SETTINGS } from '../../../src/config/defaults.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { MarathonEmulator, type AppSpec } from '../../helpers/marathon-emulator.js';
import { startCulm, type CulmInstance } from '../../helpers/culm.js';
import { get, startBackend, type Backend } from '../../helpers/net.js';

/** Node flags culm is run with in production (README, `npm start`, Dockerfile). */
const NODE_FLAGS = '--max-semi-space-size=8';

export interface Bench {
  marathon: MarathonEmulator;
  culm: CulmInstance;
  pool: Backend[];
  /** ms from spawning culm to the first request routed through HAProxy. */
  startupMs: number;
  /** Date.now() of every full /v2/apps answer the emulator finished sending (culm's resyncs). */
  appsAnswers: number[];
  close(): Promise<void>;
}

export async function timeUntil(check: () => Promise<boolean> | boolean, timeoutMs = 30_000, everyMs = 2): Promise<number> {
  const started = performance.now();
  for (;;) {
    if (await check()) return performance.now() - started;
    if (performance.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Where culm writes a V8 CPU profile on exit (`run.ts --cpu-prof DIR`); unset: no profiling. */
export const profiling: { dir?: string } = {};
const PROFILER = new URL('../cpu-prof.mjs', import.meta.url).href;

/**
 * When profiling (`--cpu-prof`), ends culm's current profile and starts one named `name`, so each phase of
 * a scenario gets a profile of its own. No-op otherwise.
 */
export function profilePhase(b: Bench, name: string): void {
  const pid = b.culm.child.proc.pid;
  if (!profiling.dir || pid === undefined) return;
  mkdirSync(profiling.dir, { recursive: true });
  writeFileSync(join(profiling.dir, `phase-${pid}`), name);
  process.kill(pid, 'SIGUSR2');
}

/** GET a JSON document with a generous timeout (culm may be busy with a 100,000-task apply). */
export async function getJson<T>(url: string, timeoutMs = 60_000): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`GET ${url}: ${res.status}`);
  return (await res.json()) as T;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * `apps` apps × `tasksPerApp` tasks, all answering on a pool of backends; culm started on it, with extra env.
 * Apps are created before culm starts (no event flood at start).
 */
/** When the emulator finished sending each /v2/apps answer (its HTTP server is private: reached by name). */
function recordAppsAnswers(m: MarathonEmulator, into: number[]): void {
  const server = (m as unknown as { server: Server }).server;
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (req.method === 'GET' && req.url?.startsWith('/v2/apps?')) res.once('finish', () => into.push(Date.now()));
  });
}

export interface SetUpOptions {
  /**
   * Every task of every app on its own port (apps other than /app0 on ports nothing listens on), so each
   * task is a server of its own; otherwise tasks share the pool's 4 ports and an app has at most 4 servers.
   */
  distinctPorts?: boolean;
  /** Per app (by index): more of its definition (labels, service ports) and its tasks' further host ports. */
  mix?: (a: number) => { spec?: Partial<AppSpec>; extraPorts?: number[] };
}

export async function setUp(apps: number, tasksPerApp: number, env: Record<string, string> = {}, spec: Partial<AppSpec> = {}, ports?: { api: number; frontend: number }, opts: SetUpOptions = {}): Promise<Bench> {
  const marathon = await MarathonEmulator.start({ version: env.CULM_EVENT_MODE === 'callback' ? '1.4' : '1.10', keepaliveMs: 5000, recordEvents: false });
  const appsAnswers: number[] = [];
  recordAppsAnswers(marathon, appsAnswers);
  const pool: Backend[] = [];
  for (let i = 0; i < 8; i++) pool.push(await startBackend());
  for (let a = 0; a < apps; a++) {
    const mixed = opts.mix?.(a) ?? {};
    marathon.addApp({ id: `/app${a}`, ...spec, ...mixed.spec });
    for (let k = 0; k < tasksPerApp; k++) {
      const port = opts.distinctPorts && a > 0 ? 40_000 + k : pool[k % 4].port;
      marathon.addTask(`/app${a}`, { port, healthy: spec.healthChecks ? true : undefined, ...(mixed.extraPorts ? { extraPorts: mixed.extraPorts } : {}) });
    }
  }
  const spawnAt = performance.now();
  const culm = await startCulm({
    marathon: marathon.url,
    ports,
    env: {
      CULM_EVENT_MODE: 'sse', CULM_LOG_LEVEL: 'warn', CULM_MARATHON_TIMEOUT_MS: '60000',
      // culm's own defaults, not the shorter ones the integration tests use.
      CULM_RELOAD_INTERVAL_MS: SETTINGS['haproxy.reloadIntervalMs'].default,
      CULM_SETTLE_MS: SETTINGS['marathon.settleMs'].default,
      // culm settings given to the benchmark itself (e.g. CULM_HEAP_GROWING_PERCENT=30 npm run bench), to compare.
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('CULM_') && !k.startsWith('CULM_BENCH_'))),
      ...env,
      // --cpu-prof is not allowed in NODE_OPTIONS: a preloaded module runs the profiler instead.
      ...(profiling.dir ? { CULM_BENCH_PROFILE_DIR: profiling.dir } : {}),
      // As the README, `npm start` and the Docker image run culm; CULM_BENCH_NODE_OPTIONS replaces it.
      NODE_OPTIONS: [process.env.CULM_BENCH_NODE_OPTIONS ?? NODE_FLAGS, env.NODE_OPTIONS, profiling.dir ? `--import=${PROFILER}` : ''].filter(Boolean).join(' '),
    },
  });
  await timeUntil(async () => (await get(`${culm.frontend}/app0`)).status === 200, 120_000, 20);
  const startupMs = performance.now() - spawnAt;
  return {
    marathon, culm, pool, startupMs, appsAnswers,
    async close() {
      await culm.destroy();
      await marathon.stop();
      await Promise.all(pool.map((b) => b.close()));
    },
  };
}
