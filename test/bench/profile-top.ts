/**
 * `npx tsx test/bench/profile-top.ts FILE.cpuprofile [N]`: the functions that took the most CPU in a V8
 * profile, by self time and by inclusive time (a function and everything it called), as a table.
 */
import { readFileSync } from 'node:fs';
import { table } from './stats.js';

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount: number; children?: number[] }
interface Profile { nodes: Node[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] }

export function topFunctions(profile: Profile, n: number): { self: string; inclusive: string; totalMs: number } {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const c of node.children ?? []) parent.set(c, node.id);
  // Time per sample: the delta to the next sample.
  const selfMs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    selfMs.set(profile.samples[i], (selfMs.get(profile.samples[i]) ?? 0) + dt);
  }
  const label = (node: Node): string => {
    const f = node.callFrame;
    const file = f.url.replace(/^.*\/(node_modules\/)?/, '$1').replace(/^file:\/\//, '');
    return `${f.functionName || '(anonymous)'} ${file}:${f.lineNumber + 1}`;
  };
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let total = 0;
  for (const [id, ms] of selfMs) {
    const node = byId.get(id)!;
    total += ms;
    self.set(label(node), (self.get(label(node)) ?? 0) + ms);
    // Each function once per stack (recursion counted once).
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const l = label(byId.get(at)!);
      if (seen.has(l)) continue;
      seen.add(l);
      inclusive.set(l, (inclusive.get(l) ?? 0) + ms);
    }
  }
  const rows = (m: Map<string, number>): Array<Record<string, string | number>> => [...m]
    .sort((a, b) => b[1] - a[1]).slice(0, n)
    .map(([fn, ms]) => ({ ms: Math.round(ms), '%': Math.round((ms / total) * 1000) / 10, function: fn }));
  return { self: table(rows(self)), inclusive: table(rows(inclusive)), totalMs: total };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const profile = JSON.parse(readFileSync(process.argv[2], 'utf8')) as Profile;
  const n = Number(process.argv[3] ?? 30);
  const top = topFunctions(profile, n);
  console.log(`total sampled: ${Math.round(top.totalMs)} ms\n\n-- self --\n${top.self}\n\n-- inclusive --\n${top.inclusive}`);
}
