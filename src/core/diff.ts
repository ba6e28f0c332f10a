/**
 * What changed between two template contexts, as short human reasons ("app /web added",
 * "backend /web: +2 servers, -1 server", "rule /api changed"). Used in logs, metrics and the apply history.
 */
import type { AppView, TemplateContext } from './view.js';

const MAX_REASONS = 20;

function servers(app: AppView): Map<string, string> {
  return new Map(app.Tasks.map((t) => [t.Server, `${t.Host}:${t.Port}`]));
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export function diffViews(before: TemplateContext | undefined, after: TemplateContext): string[] {
  if (!before) return [`initial config: ${plural(after.Apps.length, 'app')}`];
  const reasons: string[] = [];
  const old = new Map(before.Apps.map((a) => [a.Id, a]));
  const next = new Map(after.Apps.map((a) => [a.Id, a]));
  for (const [id, app] of next) {
    const prev = old.get(id);
    if (!prev) {
      reasons.push(`app ${id} added (${plural(app.Tasks.length, 'server')})`);
      continue;
    }
    if (prev === app) continue; // views are reused while nothing in the app changed
    if (prev.Acl !== app.Acl) reasons.push(`rule ${id} changed`);
    if (prev.HealthCheckPath !== app.HealthCheckPath) reasons.push(`backend ${id}: health check changed`);
    const a = servers(prev);
    const b = servers(app);
    let added = 0;
    let removed = 0;
    let moved = 0;
    for (const [name, addr] of b) {
      const was = a.get(name);
      if (was === undefined) added++;
      else if (was !== addr) moved++;
    }
    for (const name of a.keys()) if (!b.has(name)) removed++;
    const parts: string[] = [];
    if (added) parts.push(`+${plural(added, 'server')}`);
    if (removed) parts.push(`-${plural(removed, 'server')}`);
    if (moved) parts.push(`${plural(moved, 'server')} moved`);
    if (parts.length) reasons.push(`backend ${id}: ${parts.join(', ')}`);
  }
  for (const id of old.keys()) if (!next.has(id)) reasons.push(`app ${id} removed`);
  if (reasons.length === 0) reasons.push('template or settings changed');
  if (reasons.length > MAX_REASONS) {
    const more = reasons.length - MAX_REASONS;
    return [...reasons.slice(0, MAX_REASONS), `and ${more} more`];
  }
  return reasons;
}
