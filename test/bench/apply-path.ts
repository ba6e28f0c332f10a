/**
 * `npx tsx test/bench/apply-path.ts [apps] [tasksPerApp] [rounds]`: the in-memory part of one apply at
 * scale, without HAProxy or Marathon: a task added to one app, then state → view → render (default
 * template) → reasons → runtime diff, timed step by step (median of `rounds`). Finds regressions in the
 * hot path faster than the end-to-end scale scenario, and profiles cleanly with `node --cpu-prof`.
 */
import { buildView } from '../../src/core/view.js';
import { diffViews } from '../../src/core/diff.js';
import { reduce } from '../../src/core/state.js';
import { Renderer } from '../../src/haproxy/render.js';
import { runtimeOps } from '../../src/haproxy/server-diff.js';
import type { Rule } from '../../src/core/model.js';
import { app, stateOf, task, tasks } from '../helpers/builders.js';
import { percentile, table } from './stats.js';

const paths = { HttpBind: '127.0.0.1:18080', StatsSocket: '/tmp/culm.sock', PidFile: '/tmp/culm.pid', OutputPath: '/tmp/culm.cfg' };
const templatePath = new URL('../../templates/haproxy.cfg.eta', import.meta.url).pathname;

export function applyPath(apps: number, tasksPerApp: number, rounds: number): Array<Record<string, string | number>> {
  const list = Array.from({ length: apps }, (_, a) => app(`/app${a}`, tasks(...Array.from({ length: tasksPerApp }, (_, k) => task(31_000 + k, { id: `app${a}.t${k}` })))));
  let state = stateOf(...list);
  const rules = new Map<string, Rule>();
  const renderer = new Renderer(templatePath);

  const time = <T>(fn: () => T): [T, number] => {
    const t0 = performance.now();
    const out = fn();
    return [out, performance.now() - t0];
  };
  const [firstView, firstViewMs] = time(() => buildView(state, rules, paths));
  const [firstText, firstRenderMs] = time(() => renderer.render(firstView));
  let view = firstView;
  let text = firstText;
  const steps: Record<string, number[]> = { reduce: [], view: [], render: [], reasons: [], runtimeDiff: [], total: [] };
  for (let i = 0; i < rounds; i++) {
    const appId = `/app${(i * 997) % apps}`;
    const t0 = performance.now();
    const [next, reduceMs] = time(() => reduce(state, {
      kind: 'task', appId, taskId: `${appId.slice(1)}.new${i}`, state: 'TASK_RUNNING', host: '127.0.0.1', ports: [32_000 + i], ipAddresses: [],
    }, Date.now()).state);
    state = next;
    const [nextView, viewMs] = time(() => buildView(state, rules, paths));
    const [nextText, renderMs] = time(() => renderer.render(nextView));
    const [, reasonsMs] = time(() => diffViews(view, nextView));
    const [ops, runtimeMs] = time(() => runtimeOps(text, nextText));
    if (!ops || ops.length !== 1) throw new Error(`expected one runtime op, got ${JSON.stringify(ops)}`);
    steps.total.push(performance.now() - t0);
    steps.reduce.push(reduceMs);
    steps.view.push(viewMs);
    steps.render.push(renderMs);
    steps.reasons.push(reasonsMs);
    steps.runtimeDiff.push(runtimeMs);
    view = nextView;
    text = nextText;
  }
  return [
    { step: 'first view', ms: firstViewMs, p99: firstViewMs },
    { step: 'first render', ms: firstRenderMs, p99: firstRenderMs },
    ...Object.entries(steps).map(([step, v]) => ({ step: `one change: ${step}`, ms: percentile(v, 50), p99: percentile(v, 99) })),
    { step: `config size (MB)`, ms: text.length / 1e6, p99: text.length / 1e6 },
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [apps, perApp, rounds] = [Number(process.argv[2] ?? 10_000), Number(process.argv[3] ?? 10), Number(process.argv[4] ?? 20)];
  console.log(`apply path, ${apps} apps × ${perApp} tasks, median of ${rounds} changes\n${table(applyPath(apps, perApp, rounds))}`);
}
