/**
 * `npm run bench [-- --quick] [-- --only latency,storm,scale,ingest,flood,zerodrop,ha,labels] [-- --cpu-prof [DIR]] [-- --json]`:
 * culm end to end with real HAProxy, the Marathon emulator and backends that answer with their own port, all
 * on loopback. Prints a table per scenario (each figure with its target) and writes
 * bench-results/latest.json (quick.json with --quick); with --only, the other scenarios' last results in
 * that file are kept. --cpu-prof writes culm's CPU profiles per phase to DIR (bench-results/profiles).
 * Not part of `npm test`: figures, not pass/fail.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { execSync } from 'node:child_process';
import { latency } from './scenarios/latency.js';
import { storm } from './scenarios/storm.js';
import { scale } from './scenarios/scale.js';
import { ingest } from './scenarios/ingest.js';
import { flood } from './scenarios/flood.js';
import { zerodrop } from './scenarios/zerodrop.js';
import { ha } from './scenarios/ha.js';
import { profiling } from './scenarios/common.js';
import { report } from './report.js';

const args = process.argv.slice(2);
const valueOf = (flag: string): string | undefined => {
  const inline = args.find((a) => a.startsWith(`${flag}=`));
  if (inline) return inline.slice(flag.length + 1);
  const i = args.indexOf(flag);
  return i >= 0 && args[i + 1] && !args[i + 1].startsWith('--') ? args[i + 1] : undefined;
};
const quick = args.includes('--quick');
const only = valueOf('--only')?.split(',');
const want = (name: string): boolean => !only || only.includes(name);
if (args.some((a) => a === '--cpu-prof' || a.startsWith('--cpu-prof='))) profiling.dir = resolve(valueOf('--cpu-prof') ?? 'bench-results/profiles');

const scenarios: Array<[string, () => Promise<Record<string, unknown>>]> = [
  ['latency', () => latency(quick ? 100 : 1000, quick ? 10 : 50)],
  ['storm', () => storm(quick ? 100 : 500, quick ? 2000 : 10_000, quick ? 4 : 10)],
  ['scale', () => scale(quick ? 1000 : 10_000, 10)],
  ['ingest', () => ingest(quick ? 40_000 : 200_000)],
  ['flood', () => flood(quick ? 2000 : 10_000)],
  ['zerodrop', () => zerodrop(quick ? { reloads: 10, readyDelayMs: 500, slowMs: 1000 } : { reloads: 50, readyDelayMs: 1500, slowMs: 1500 })],
  ['ha', () => ha(quick ? 100 : 1000, quick ? 10 : 30)],
  // Issue 12: the scale scenario with marathon-lb's labels, with and without a frontend per service port.
  ['labels', async () => ({
    bound: await scale(quick ? 1000 : 10_000, 10, { labels: { bindServicePorts: true } }),
    unbound: await scale(quick ? 1000 : 10_000, 10, { labels: { bindServicePorts: false } }),
  })],
];

const rounded = (_k: string, v: unknown): unknown => (typeof v === 'number' && !Number.isInteger(v) ? Math.round(v * 10) / 10 : v);

async function main(): Promise<void> {
  const haproxy = execSync('haproxy -v').toString().split('\n')[0];
  const machine = { cores: cpus().length, cpu: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, haproxy };
  console.log(`culm benchmark${quick ? ' (quick)' : ''}: ${machine.cores} × ${machine.cpu}, ${machine.memoryGiB} GiB, node ${machine.node}, ${haproxy}`);
  const dir = join(new URL('../..', import.meta.url).pathname, 'bench-results');
  const file = join(dir, quick ? 'quick.json' : 'latest.json');
  // --only refreshes some scenarios: the others keep their last figures (each says when it ran).
  const previous = only && existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { results?: Record<string, unknown>; ranAt?: Record<string, string> }) : {};
  const results: Record<string, unknown> = { ...previous.results };
  const ranAt: Record<string, string> = { ...previous.ranAt };
  const began = performance.now();
  for (const [name, run] of scenarios) {
    if (!want(name)) continue;
    const started = performance.now();
    try {
      results[name] = await run();
    } catch (err) {
      results[name] = { error: String(err) };
    }
    ranAt[name] = new Date().toISOString();
    const result = results[name] as Record<string, unknown>;
    console.log(`\n== ${name} (${((performance.now() - started) / 1000).toFixed(0)} s) ==\n${report(name, result)}`);
    if (args.includes('--json')) console.log(JSON.stringify(result, rounded, 2));
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(file, `${JSON.stringify({ at: new Date().toISOString(), quick, machine, ranAt, results }, null, 2)}\n`);
  console.log(`\ntotal ${((performance.now() - began) / 1000).toFixed(0)} s; results: ${file}${profiling.dir ? `; culm CPU profiles: ${profiling.dir}` : ''}`);
  process.exit(0);
}

void main();
