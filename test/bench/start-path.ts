/**
 * `npx tsx test/bench/start-path.ts [apps] [rounds] [no-prepare]` (START_PATH_PROFILE=FILE: a CPU profile of
 * the last round after the last byte): culm's part of the full sync at start with the labels
 * scenario's apps (scale.ts labelMix, 10 tasks each, every service port bound), in process, without HAProxy:
 * the emulator's /v2/apps answer is fetched once, then per round: split + map (done while the answer streams),
 * then what follows its last byte: applySnapshot, the applier's first apply (view, render, reasons, side files,
 * hashes, diff record) up to the delivery, and the durable write of the file. Timed step by step (median).
 */
import { rm, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { AppsSplitter } from '../../src/marathon/apps-splitter.js';
import { APPS_PATH } from '../../src/marathon/client.js';
import { AppsMapper } from '../../src/core/marathon-map.js';
import { applySnapshot } from '../../src/core/state.js';
import { emptyState } from '../../src/core/model.js';
import { Applier, newMeasures } from '../../src/pipeline/apply.js';
import { Renderer } from '../../src/haproxy/render.js';
import type { Rule } from '../../src/core/model.js';
import type { HaproxyDelivery } from '../../src/haproxy/delivery.js';
import { writeDurably } from '../../src/fs/atomic.js';
import { silentLogger } from '../../src/log/logger.js';
import { MarathonEmulator } from '../helpers/marathon-emulator.js';
import { labelMix } from './scenarios/scale.js';
import { percentile, table } from './stats.js';

const templatePath = new URL('../../templates/haproxy.cfg.eta', import.meta.url).pathname;
const out = '/tmp/culm-start-path.cfg';

async function answer(apps: number): Promise<Buffer> {
  const m = await MarathonEmulator.start({ version: '1.10', recordEvents: false });
  try {
    for (let a = 0; a < apps; a++) {
      const mixed = labelMix(a);
      m.addApp({ id: `/app${a}`, ...mixed.spec });
      for (let k = 0; k < 10; k++) m.addTask(`/app${a}`, { port: 40_000 + k, ...(mixed.extraPorts ? { extraPorts: mixed.extraPorts } : {}) });
    }
    const res = await fetch(`${m.url}${APPS_PATH}`);
    return Buffer.from(await res.arrayBuffer());
  } finally {
    await m.stop();
  }
}

/** A CPU profile from now on; the function returned writes it to `file`. */
async function startProfile(): Promise<(file: string) => Promise<void>> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return async (file) => {
    const { profile } = await session.post('Profiler.stop');
    await writeFile(file, JSON.stringify(profile));
    session.disconnect();
  };
}

/** `profile`: a file for a CPU profile of the last round's part after the answer's last byte. */
export async function startPath(apps: number, rounds: number, prepare: boolean, profile?: string): Promise<Array<Record<string, string | number>>> {
  const body = await answer(apps);
  const steps: Record<string, number[]> = { 'split + map (streams)': [], applySnapshot: [], render: [], 'apply up to delivery': [], write: [], 'after last byte': [], 'after last byte, CPU': [] };
  let size = 0;
  for (let r = 0; r < rounds; r++) {
    let delivered = '';
    const delivery = { applied: () => undefined, mapOnly: () => false, deliver: async (text: string) => {
      delivered = text;
      return { mode: 'reload', timings: { validateMs: 0, reloadMs: 0 }, runtimeFailed: false };
    } } as unknown as HaproxyDelivery;
    const applier = new Applier(new Renderer(templatePath), delivery, {
      HttpBind: '127.0.0.1:18080', StatsSocket: '/tmp/culm.sock', PidFile: '/tmp/culm.pid', OutputPath: out, ServerStateFile: '/tmp/culm.state',
      User: 'u', Group: 'g', ServeGroups: { groups: [], strict: false, labelRouting: true, servicePortBind: '127.0.0.1' },
    }, silentLogger());
    const rules = new Map<string, Rule>();
    let t = performance.now();
    const mapper = new AppsMapper(undefined, true, prepare ? (app) => applier.prepareView(app, rules) : undefined);
    const splitter = new AppsSplitter((raw) => mapper.add(raw));
    for (let i = 0; i < body.length; i += 65_536) splitter.push(body.subarray(i, i + 65_536));
    splitter.end();
    steps['split + map (streams)'].push(performance.now() - t);
    const profiling = profile && r === rounds - 1 ? await startProfile() : undefined;
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const state = applySnapshot(emptyState(), mapper.result().apps, Date.now());
    steps.applySnapshot.push(performance.now() - t0);
    const measures = newMeasures();
    t = performance.now();
    const rec = await applier.apply(state, rules, measures);
    steps['apply up to delivery'].push(performance.now() - t);
    steps.render.push(measures.renders[0] * 1000);
    if (rec.result !== 'applied') throw new Error(`apply: ${rec.result}`);
    t = performance.now();
    await writeDurably(`${out}.tmp`, delivered);
    steps.write.push(performance.now() - t);
    steps['after last byte'].push(performance.now() - t0);
    const cpu = process.cpuUsage(cpu0);
    steps['after last byte, CPU'].push((cpu.user + cpu.system) / 1000);
    if (profiling) await profiling(profile!);
    size = delivered.length;
  }
  await rm(`${out}.tmp`, { force: true });
  return [
    ...Object.entries(steps).map(([step, v]) => ({ step, ms: percentile(v, 50), best: Math.min(...v) })),
    { step: 'answer / config size (MB)', ms: body.length / 1e6, best: size / 1e6 },
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [apps, rounds] = [Number(process.argv[2] ?? 10_000), Number(process.argv[3] ?? 5)];
  const prepare = process.argv[4] !== 'no-prepare';
  console.log(`start path, ${apps} labelled apps × 10 tasks, median of ${rounds}, views ${prepare ? 'built as apps arrive' : 'built by the apply'}\n${table(await startPath(apps, rounds, prepare, process.env.START_PATH_PROFILE))}`);
}
