/** Shared by the benchmark scenarios: a cluster in the emulator, culm started on it, timing helpers. */
import { MarathonEmulator, type AppSpec } from '../../helpers/marathon-emulator.js';
import { startCulm, type CulmInstance } from '../../helpers/culm.js';
import { get, startBackend, type Backend } from '../../helpers/net.js';

export interface Bench {
  marathon: MarathonEmulator;
  culm: CulmInstance;
  pool: Backend[];
  /** ms from spawning culm to the first request routed through HAProxy. */
  startupMs: number;
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

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * `apps` apps × `tasksPerApp` tasks, all answering on a pool of backends; culm started on it, with extra env.
 * Apps are created before culm starts (no event flood at start).
 */
export async function setUp(apps: number, tasksPerApp: number, env: Record<string, string> = {}, spec: Partial<AppSpec> = {}, ports?: { api: number; frontend: number }): Promise<Bench> {
  const marathon = await MarathonEmulator.start({ version: env.CULM_EVENT_MODE === 'callback' ? '1.4' : '1.10', keepaliveMs: 5000, recordEvents: false });
  const pool: Backend[] = [];
  for (let i = 0; i < 8; i++) pool.push(await startBackend());
  for (let a = 0; a < apps; a++) {
    marathon.addApp({ id: `/app${a}`, ...spec });
    for (let k = 0; k < tasksPerApp; k++) marathon.addTask(`/app${a}`, { port: pool[k % 4].port, healthy: spec.healthChecks ? true : undefined });
  }
  const spawnAt = performance.now();
  const culm = await startCulm({
    marathon: marathon.url,
    ports,
    env: { CULM_EVENT_MODE: 'sse', CULM_LOG_LEVEL: 'warn', CULM_MARATHON_TIMEOUT_MS: '60000', ...env },
  });
  await timeUntil(async () => (await get(`${culm.frontend}/app0`)).status === 200, 120_000, 20);
  const startupMs = performance.now() - spawnAt;
  return {
    marathon, culm, pool, startupMs,
    async close() {
      await culm.destroy();
      await marathon.stop();
      await Promise.all(pool.map((b) => b.close()));
    },
  };
}
