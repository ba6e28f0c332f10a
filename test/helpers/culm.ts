/**
 * Starts the real culm binary (node dist/main.js, built by `npm test`) for integration tests, each with its
 * own data dir, output path, HAProxy frontend port, REST port and pid file on loopback.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MarathonEmulator, type AppSpec } from './marathon-emulator.js';
import { eventually, freePort, startBackend, type Backend } from './net.js';
import { PidFileWatcher, requireBinary, startChild, type Child } from './processes.js';

/** The binary; CULM_BENCH_MAIN points the benchmark at another build (A/B against an older commit's dist). */
export const MAIN = process.env.CULM_BENCH_MAIN || new URL('../../dist/main.js', import.meta.url).pathname;

export interface CulmInstance {
  dir: string;
  api: string;
  frontend: string;
  outputPath: string;
  child: Child;
  haproxy: PidFileWatcher;
  /** JSON from culm's REST API. */
  json<T = unknown>(path: string, init?: RequestInit): Promise<{ status: number; body: T }>;
  config(): string;
  /** The value of one Prometheus sample, e.g. metric('culm_applies_total{result="applied"}'); 0 when absent. */
  metric(sample: string): Promise<number>;
  waitReady(timeoutMs?: number): Promise<void>;
  /** SIGTERM culm (HAProxy keeps running). */
  stop(): Promise<number | null>;
  /** Stops culm and every HAProxy process it started. */
  /** Stops culm and its HAProxy; removes the directory the helper made unless `keepDir`. */
  destroy(keepDir?: boolean): Promise<void>;
}

export interface CulmStartOptions {
  marathon: string;
  env?: Record<string, string>;
  dir?: string;
  /** Reuse ports (restart scenarios). */
  ports?: { api: number; frontend: number };
  /** Working directory (default: the instance's own directory). */
  cwd?: string;
  /** A command line after `node dist/main.js`, run through `/bin/sh -c` exactly as written (quotes and all). */
  commandLine?: string;
}

export async function startCulm(o: CulmStartOptions): Promise<CulmInstance> {
  requireBinary('haproxy', 'apt-get install -y haproxy (see README, Set-up)');
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'culm-it-'));
  const apiPort = o.ports?.api ?? await freePort();
  const frontendPort = o.ports?.frontend ?? await freePort();
  const outputPath = join(dir, 'haproxy.cfg');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    MARATHON_ENDPOINT: o.marathon,
    BIND: `127.0.0.1:${apiPort}`,
    HAPROXY_HTTP_BIND: `127.0.0.1:${frontendPort}`,
    HAPROXY_OUTPUT_PATH: outputPath,
    CULM_DATA_DIR: join(dir, 'data'),
    CULM_RELOAD_INTERVAL_MS: '200',
    CULM_SETTLE_MS: '100',
    CULM_MARATHON_TIMEOUT_MS: '1500',
    CULM_LOG_LEVEL: 'debug',
    // The emulator gives every app a service port from 10000: tests that bind them ask for it (with free ports).
    CULM_BIND_SERVICE_PORTS: 'false',
    ...o.env,
  };
  const child = o.commandLine === undefined
    ? startChild(process.execPath, [MAIN], env, o.cwd ?? dir)
    : startChild('/bin/sh', ['-c', `exec '${process.execPath}' '${MAIN}' ${o.commandLine}`], env, o.cwd ?? dir);
  const haproxy = new PidFileWatcher(`${outputPath}.pid`);
  const api = `http://127.0.0.1:${apiPort}`;
  const instance: CulmInstance = {
    dir, api, frontend: `http://127.0.0.1:${frontendPort}`, outputPath, child, haproxy,
    async json<T>(path: string, init?: RequestInit) {
      const res = await fetch(`${api}${path}`, { ...init, signal: AbortSignal.timeout(5000) });
      const text = await res.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        /* plain text */
      }
      return { status: res.status, body: body as T };
    },
    config: () => readFileSync(outputPath, 'utf8'),
    async metric(sample: string) {
      const text = await fetch(`${api}/metrics`).then((r) => r.text());
      const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
      return line ? Number(line.slice(sample.length + 1)) : 0;
    },
    async waitReady(timeoutMs = 15_000) {
      try {
        await eventually('culm /readyz 200', async () => {
          if (child.proc.exitCode !== null) throw new Error(`culm exited ${child.proc.exitCode}`);
          return (await fetch(`${api}/readyz`).catch(() => null))?.status === 200;
        }, timeoutMs);
      } catch (err) {
        const ready = await fetch(`${api}/readyz`).then((r) => r.text()).catch(() => 'no answer');
        throw new Error(`${String(err)}\n/readyz: ${ready}\nculm output (tail):\n${child.output().slice(-4000)}`);
      }
    },
    stop: () => child.stop('SIGTERM'),
    async destroy(keepDir = false) {
      await child.stop('SIGTERM');
      await haproxy.stopAll();
      // The directory this helper made (config, pid file, snapshot: 50 MB at 10,000 apps) goes with it,
      // unless a test starts another culm on it.
      if (o.dir === undefined && !keepDir) rmSync(dir, { recursive: true, force: true });
    },
  };
  return instance;
}

/** The common set-up: a Marathon 1.10 emulator (SSE) with `/web` on one backend, and culm on it, ready. */
export async function culmWithWebApp(env: Record<string, string> = {}): Promise<{ marathon: MarathonEmulator; backend: Backend; culm: CulmInstance; close(): Promise<void> }> {
  const marathon = await MarathonEmulator.start({ version: '1.10', keepaliveMs: 500 });
  const backend = await startBackend();
  marathon.addApp({ id: '/web' });
  marathon.addTask('/web', { port: backend.port });
  const culm = await startCulm({ marathon: marathon.url, env: { CULM_EVENT_MODE: 'sse', ...env } });
  await culm.waitReady();
  return {
    marathon, backend, culm,
    close: async () => {
      await culm.destroy();
      await marathon.stop();
      await backend.close();
    },
  };
}

/**
 * A Marathon 1.10 emulator (SSE) running each app with one task on a backend of its own (a backend answers with
 * its port; `port(id)` is that port as text), and culm on it with `env`, ready; `close` stops them all (then
 * `cleanup`, e.g. the test's certificate directory).
 */
export async function culmWithApps(apps: Record<string, Omit<AppSpec, 'id'>>, env: Record<string, string> = {}, cleanup?: () => void): Promise<{
  marathon: MarathonEmulator; backends: Record<string, Backend>; culm: CulmInstance; port(id: string): string; close(): Promise<void>;
}> {
  const marathon = await MarathonEmulator.start({ version: '1.10', keepaliveMs: 1000 });
  const backends: Record<string, Backend> = {};
  for (const [id, def] of Object.entries(apps)) {
    backends[id] = await startBackend();
    marathon.addApp({ id, ...def });
    marathon.addTask(id, { port: backends[id].port });
  }
  const culm = await startCulm({ marathon: marathon.url, env: { CULM_EVENT_MODE: 'sse', ...env } });
  const close = async (): Promise<void> => {
    await culm.destroy();
    await marathon.stop();
    await Promise.all(Object.values(backends).map((b) => b.close()));
    cleanup?.();
  };
  try {
    await culm.waitReady();
  } catch (err) {
    await close();
    throw err;
  }
  return { marathon, backends, culm, port: (id) => String(backends[id].port), close };
}

/** `culmWithApps` for apps that differ only by their labels. */
export function culmWithLabelledApps(apps: Record<string, Record<string, string>>, env: Record<string, string> = {}): ReturnType<typeof culmWithApps> {
  return culmWithApps(Object.fromEntries(Object.entries(apps).map(([id, labels]) => [id, { labels }])), env);
}

/** The console tests' Marathon: a 1.10 emulator (SSE) with `/web` and `/grp/api`, one task each on its own backend. */
export async function emulatorWithTwoApps(): Promise<{ marathon: MarathonEmulator; backends: Backend[] }> {
  const marathon = await MarathonEmulator.start({ version: '1.10', keepaliveMs: 500 });
  const backends = [await startBackend(), await startBackend()];
  marathon.addApp({ id: '/web' });
  marathon.addTask('/web', { port: backends[0].port });
  marathon.addApp({ id: '/grp/api' });
  marathon.addTask('/grp/api', { port: backends[1].port });
  return { marathon, backends };
}
