/**
 * The REST-port flood, shared by the integration test (small) and the bench (2 × 10,000): the real culm binary
 * in callback mode with the Marathon 1.4 emulator and real HAProxy; attacker processes (flood-client.mjs) hold
 * idle connections, slowloris heads and slow bodies and post forged events; meanwhile a probe GETs /healthz
 * on a fresh connection every few ms (as a load balancer would) and Marathon launches tasks, whose callbacks
 * must all be delivered and applied.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { MarathonEmulator } from './marathon-emulator.js';
import { startCulm } from './culm.js';
import { eventually, freePort, rawRequest, startBackend } from './net.js';

const CLIENT = new URL('./flood-client.mjs', import.meta.url).pathname;

export interface FloodOptions {
  /** Attacker processes. */
  attackers: number;
  /** Per attacker. */
  idle: number;
  slowHeaders: number;
  slow: number;
  posts: number;
  /** Tasks Marathon launches during the flood (each: three status_update_events by callback). */
  tasks: number;
  /** How long the probe runs once the flood is up. */
  floodMs: number;
  probeEveryMs?: number;
  /**
   * Run the attackers at the lowest CPU priority (default): in production they are other machines, whose CPU
   * is not culm's; on a 2-core test box at normal priority they would mostly measure the scheduler.
   */
  niceAttackers?: boolean;
}

export interface FloodResult {
  healthz: { probes: number; failed: number; p50: number; p99: number; max: number; over100ms: number };
  callbacks: { toCulm: number; ok: number; failed: number; skipped: number };
  tasks: { launched: number; inCulm: number };
  attackers: { opened: number; open: number; closed: number; posts: number; postStatuses: Record<string, number> };
  evicted: Record<string, number>;
}

interface AttackerCounters { open: number; opened: number; closed: number; posts: number; statuses: Record<string, number> }

function startAttacker(config: Record<string, unknown>, nice: boolean): { proc: ChildProcess; last: () => AttackerCounters | undefined } {
  const args = [CLIENT, JSON.stringify(config)];
  const proc = nice ? spawn('nice', ['-n', '19', process.execPath, ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
    : spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let last: AttackerCounters | undefined;
  let buffer = '';
  proc.stdout!.on('data', (d: Buffer) => {
    buffer += d.toString();
    const lines = buffer.split('\n');
    buffer = lines.pop() ?? '';
    for (const line of lines) if (line.trim()) last = JSON.parse(line) as AttackerCounters;
  });
  return { proc, last: () => last };
}

function stopAttacker(a: { proc: ChildProcess }): Promise<void> {
  return new Promise((resolve) => {
    if (a.proc.exitCode !== null) return resolve();
    const kill = setTimeout(() => a.proc.kill('SIGKILL'), 5000);
    a.proc.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    a.proc.kill('SIGTERM');
  });
}

const quantile = (sorted: number[], q: number): number => (sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]);
const round = (x: number): number => Math.round(x * 10) / 10;

export async function floodScenario(o: FloodOptions): Promise<FloodResult> {
  const marathon = await MarathonEmulator.start({ version: '1.4' });
  const backend = await startBackend();
  marathon.addApp({ id: '/f' });
  marathon.addTask('/f', { port: backend.port });
  const apiPort = await freePort();
  const culm = await startCulm({
    marathon: marathon.url,
    ports: { api: apiPort, frontend: await freePort() },
    env: {
      BAMBOO_ENDPOINT: `http://127.0.0.1:${apiPort}`, CULM_EVENT_MODE: 'callback', CULM_CALLBACK_TOKEN: 'flood-secret',
      // Only callbacks may bring the launched tasks in: no periodic resync to make up for a lost one.
      CULM_RESYNC_INTERVAL_MS: '0', CULM_LOG_LEVEL: 'info',
    },
  });
  const attackers: Array<ReturnType<typeof startAttacker>> = [];
  try {
    await culm.waitReady();
    for (let i = 0; i < o.attackers; i++) {
      attackers.push(startAttacker({ port: apiPort, idle: o.idle, slowHeaders: o.slowHeaders, slow: o.slow, posts: o.posts }, o.niceAttackers ?? true));
    }
    const wanted = o.idle + o.slowHeaders + o.slow;
    await eventually('the attackers have opened their connections', () =>
      attackers.every((a) => (a.last()?.opened ?? 0) >= wanted), 120_000, 100);

    const latencies: number[] = [];
    let failed = 0;
    let probing = true;
    const probe = (async () => {
      while (probing) {
        const t0 = performance.now();
        try {
          const res = await rawRequest(`${culm.api}/healthz`, 'GET', {});
          if (res.status === 200) latencies.push(performance.now() - t0);
          else failed++;
        } catch {
          failed++;
        }
        await new Promise((r) => setTimeout(r, o.probeEveryMs ?? 20));
      }
    })();
    const gap = o.floodMs / Math.max(1, o.tasks);
    for (let i = 0; i < o.tasks; i++) {
      marathon.addTask('/f', { port: backend.port });
      await new Promise((r) => setTimeout(r, gap));
    }
    probing = false;
    await probe;
    await marathon.callbacksSettled();
    const launched = marathon.tasksOf('/f').length;
    let inCulm = 0;
    await eventually('culm has every task Marathon launched', async () => {
      const state = await culm.json<{ Apps: Array<{ Id: string; Tasks: unknown[] }> }>('/api/state');
      inCulm = state.body.Apps.find((a) => a.Id === '/f')?.Tasks.length ?? 0;
      return inCulm === launched;
    }, 5000, 100).catch(() => undefined);

    const toCulm = marathon.deliveries.filter((d) => d.url.startsWith(culm.api));
    const evicted: Record<string, number> = {};
    for (const reason of ['waiting', 'slow-body', 'idle']) evicted[reason] = await culm.metric(`culm_http_connections_evicted_total{reason="${reason}"}`);
    const counters = attackers.map((a) => a.last());
    const sorted = [...latencies].sort((a, b) => a - b);
    return {
      healthz: {
        probes: latencies.length + failed, failed, p50: round(quantile(sorted, 0.5)), p99: round(quantile(sorted, 0.99)),
        max: round(sorted.at(-1) ?? 0), over100ms: latencies.filter((x) => x > 100).length,
      },
      callbacks: {
        toCulm: toCulm.length, ok: toCulm.filter((d) => d.outcome === 'ok').length,
        failed: toCulm.filter((d) => d.outcome === 'failed').length, skipped: toCulm.filter((d) => d.outcome === 'skipped').length,
      },
      tasks: { launched, inCulm },
      attackers: {
        opened: counters.reduce((s, c) => s + (c?.opened ?? 0), 0),
        open: counters.reduce((s, c) => s + (c?.open ?? 0), 0),
        closed: counters.reduce((s, c) => s + (c?.closed ?? 0), 0),
        posts: counters.reduce((s, c) => s + (c?.posts ?? 0), 0),
        postStatuses: counters.reduce<Record<string, number>>((s, c) => {
          for (const [k, v] of Object.entries(c?.statuses ?? {})) s[k] = (s[k] ?? 0) + v;
          return s;
        }, {}),
      },
      evicted,
    };
  } finally {
    await Promise.all(attackers.map(stopAttacker));
    await culm.destroy();
    await marathon.stop();
    await backend.close();
  }
}
