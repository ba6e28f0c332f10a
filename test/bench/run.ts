/**
 * `npm run bench [-- --quick]`: culm end to end with real HAProxy, the Marathon emulator and backends that
 * answer with their own port, all on loopback. Prints tables and writes bench-results/latest.json.
 * Not part of `npm test`: figures, not pass/fail.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpus, totalmem } from 'node:os';
import { MarathonEmulator } from '../helpers/marathon-emulator.js';
import { startCulm } from '../helpers/culm.js';
import { get, startBackend, type Backend } from '../helpers/net.js';
import { runCommand } from '../../src/haproxy/command.js';
import { summarise, table, type Summary } from './stats.js';

const quick = process.argv.includes('--quick');
const results: Record<string, unknown> = {};

async function timeUntil(check: () => Promise<boolean>, timeoutMs = 20_000, everyMs = 2): Promise<number> {
  const started = performance.now();
  for (;;) {
    if (await check()) return performance.now() - started;
    if (performance.now() - started > timeoutMs) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Scenario: start-up, event → serving for task add/kill, HAProxy's own -c and reload times, burst of 200. */
async function pipeline(apps: number, tasksPerApp: number, changes: number): Promise<void> {
  const marathon = await MarathonEmulator.start({ version: '1.10', keepaliveMs: 2000 });
  const pool: Backend[] = [];
  for (let i = 0; i < 8; i++) pool.push(await startBackend());
  for (let a = 0; a < apps; a++) {
    marathon.addApp({ id: `/app${a}` });
    for (let k = 0; k < tasksPerApp; k++) marathon.addTask(`/app${a}`, { port: pool[k % 4].port });
  }
  const spawnAt = performance.now();
  const culm = await startCulm({ marathon: marathon.url, env: { CULM_EVENT_MODE: 'sse', CULM_LOG_LEVEL: 'warn', CULM_RELOAD_INTERVAL_MS: '1000' } });
  try {
    await timeUntil(async () => (await get(`${culm.frontend}/app0`)).status === 200, 60_000, 10);
    const startup = performance.now() - spawnAt;
    results[`startup_${apps}x${tasksPerApp}`] = { firstRouteMs: startup };

    // HAProxy's own limit for this config, measured in the same run.
    const cfg = culm.outputPath;
    const checks: number[] = [];
    for (let i = 0; i < 5; i++) checks.push((await runCommand(`haproxy -c -f ${cfg}`, 30_000)).ms);
    const reloads: number[] = [];
    for (let i = 0; i < 5; i++) {
      reloads.push((await runCommand(`haproxy -f ${cfg} -p ${cfg}.pid -D -sf $(cat ${cfg}.pid)`, 30_000)).ms);
      culm.haproxy.poll();
      await new Promise((r) => setTimeout(r, 300));
    }
    const limit = { check: summarise(checks), reload: summarise(reloads) };

    // Event → serving: a task added on a backend that serves no app yet, until a request reaches it; then killed.
    const add: number[] = [];
    const kill: number[] = [];
    const target = pool[5];
    for (let i = 0; i < changes; i++) {
      const app = `/app${i % apps}`;
      const url = `${culm.frontend}${app}`;
      const t0 = performance.now();
      const id = marathon.addTask(app, { port: target.port });
      await timeUntil(async () => (await get(url)).body === String(target.port));
      add.push(performance.now() - t0);
      // Measured alone: the reload interval after the add has passed.
      await new Promise((r) => setTimeout(r, 1100));
      const t1 = performance.now();
      marathon.killTask(id, { withKilling: true });
      // Gone when 8 requests in a row avoid it (leastconn spreads over tasksPerApp + 1 servers).
      await timeUntil(async () => {
        for (let k = 0; k < 8; k++) if ((await get(url)).body === String(target.port)) return false;
        return true;
      });
      kill.push(performance.now() - t1);
      await new Promise((r) => setTimeout(r, 1100)); // let the reload interval pass: each change measured alone
    }
    results[`event_to_serving_${apps}x${tasksPerApp}`] = { add: summarise(add), kill: summarise(kill), haproxyLimit: limit };
    printLatency(`${apps} apps × ${tasksPerApp} tasks`, startup, add, kill, limit);

    // Burst: 200 task changes as fast as the emulator emits them.
    const metric = (): Promise<number> => culm.metric('culm_applies_total{result="applied"}');
    const before = await metric();
    const t0 = performance.now();
    const ids: string[] = [];
    for (let i = 0; i < 200; i++) {
      if (i < 150) ids.push(marathon.addTask('/app0', { port: 41000 + i }));
      else marathon.killTask(ids[i - 150]);
    }
    const want = 100;
    const count = (): number => [...culm.config().matchAll(/127\.0\.0\.1:41\d\d\d/g)].length;
    try {
      await timeUntil(async () => count() === want, 30_000, 10);
    } catch {
      throw new Error(`burst: ${count()} servers in the config, want ${want}`);
    }
    const burstMs = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 1500));
    const reloadsUsed = (await metric()) - before;
    results.burst_200 = { reloads: reloadsUsed, finalStateMs: burstMs };
    console.log(`\nBurst of 200 task changes: final state applied in ${burstMs.toFixed(0)} ms with ${reloadsUsed} reload(s)\n`);
  } finally {
    await culm.destroy();
    await marathon.stop();
    await Promise.all(pool.map((b) => b.close()));
  }
}

function printLatency(label: string, startup: number, add: number[], kill: number[], limit: { check: Summary; reload: Summary }): void {
  const a = summarise(add);
  const k = summarise(kill);
  console.log(`\n== ${label} ==  (culm spawn → first request routed: ${startup.toFixed(0)} ms)`);
  console.log(table([
    { change: 'task added → serving', n: a.n, 'p50 ms': a.p50, 'p99 ms': a.p99, 'max ms': a.max },
    { change: 'task killed → not serving', n: k.n, 'p50 ms': k.p50, 'p99 ms': k.p99, 'max ms': k.max },
    { change: 'haproxy -c (HAProxy alone)', n: limit.check.n, 'p50 ms': limit.check.p50, 'p99 ms': limit.check.p99, 'max ms': limit.check.max },
    { change: 'reload -sf (HAProxy alone)', n: limit.reload.n, 'p50 ms': limit.reload.p50, 'p99 ms': limit.reload.p99, 'max ms': limit.reload.max },
  ]));
  const ratio = a.p50 / (limit.check.p50 + limit.reload.p50);
  console.log(`add p50 / (check + reload p50) = ${ratio.toFixed(2)}`);
}

async function main(): Promise<void> {
  console.log(`culm benchmark ${quick ? '(quick)' : ''} on ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`);
  await pipeline(10, 3, quick ? 10 : 50);
  if (!quick) await pipeline(1000, 3, 50);
  const dir = join(new URL('../..', import.meta.url).pathname, 'bench-results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'latest.json'), `${JSON.stringify({ at: new Date().toISOString(), quick, results }, null, 2)}\n`);
  console.log(`results: ${join(dir, 'latest.json')}`);
  process.exit(0);
}

void main();
