/**
 * `npm run bench [-- --quick] [-- --only latency,storm,scale,ingest]`: culm end to end with real HAProxy, the
 * Marathon emulator and backends that answer with their own port, all on loopback. Prints each scenario's
 * figures and writes bench-results/latest.json. Not part of `npm test`: figures, not pass/fail.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { execSync } from 'node:child_process';
import { latency } from './scenarios/latency.js';
import { storm } from './scenarios/storm.js';
import { scale } from './scenarios/scale.js';
import { ingest } from './scenarios/ingest.js';

const quick = process.argv.includes('--quick');
const onlyArg = process.argv.find((a) => a.startsWith('--only'));
const only = onlyArg ? (onlyArg.includes('=') ? onlyArg.split('=')[1] : process.argv[process.argv.indexOf(onlyArg) + 1]).split(',') : undefined;
const want = (name: string): boolean => !only || only.includes(name);

const scenarios: Array<[string, () => Promise<Record<string, unknown>>]> = [
  ['latency', () => latency(quick ? 100 : 1000, quick ? 10 : 50)],
  ['storm', () => storm(quick ? 100 : 500, quick ? 2000 : 10_000, quick ? 4 : 10)],
  ['scale', () => scale(quick ? 1000 : 10_000, 10)],
  ['ingest', () => ingest(quick ? 20_000 : 100_000, 32)],
];

async function main(): Promise<void> {
  const haproxy = execSync('haproxy -v').toString().split('\n')[0];
  const machine = { cores: cpus().length, cpu: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, haproxy };
  console.log(`culm benchmark${quick ? ' (quick)' : ''}: ${JSON.stringify(machine)}`);
  const results: Record<string, unknown> = {};
  for (const [name, run] of scenarios) {
    if (!want(name)) continue;
    const started = performance.now();
    try {
      results[name] = await run();
    } catch (err) {
      results[name] = { error: String(err) };
    }
    console.log(`\n== ${name} (${((performance.now() - started) / 1000).toFixed(0)} s) ==\n${JSON.stringify(results[name], (_k, v) => (typeof v === 'number' && !Number.isInteger(v) ? Math.round(v * 10) / 10 : v), 2)}`);
  }
  const dir = join(new URL('../..', import.meta.url).pathname, 'bench-results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, quick ? 'quick.json' : 'latest.json');
  writeFileSync(file, `${JSON.stringify({ at: new Date().toISOString(), quick, machine, results }, null, 2)}\n`);
  console.log(`\nresults: ${file}`);
  process.exit(0);
}

void main();
