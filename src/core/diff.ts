/**
 * What changed between two template contexts, as short human reasons ("app /web added",
 * "backend /web: +2 servers, -1 server", "rule /api changed"). Used in logs, metrics and the apply history.
 */
import type { AppView, TemplateContext } from './view.js';
import { sameRoute, sameRoutes } from './routing.js';
import { byViewId } from './compare.js';
import { settingsChanges } from './backend-settings.js';

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
  // buildView sorts apps by id: one merge pass, no maps (a task change at 10,000 apps compares pointers).
  const old = sortedById(before.Apps);
  const next = sortedById(after.Apps);
  const removed: string[] = [];
  let i = 0;
  let j = 0;
  while (i < old.length || j < next.length) {
    const prev = old[i];
    const app = next[j];
    if (prev === app) {
      i++;
      j++;
      continue; // views are reused while nothing in the app changed
    }
    if (!app || (prev && prev.Id < app.Id)) {
      removed.push(prev.Id);
      i++;
      continue;
    }
    if (!prev || app.Id < prev.Id) {
      reasons.push(`app ${app.Id} added (${plural(app.Tasks.length, 'server')})`);
      j++;
      continue;
    }
    i++;
    j++;
    changes(prev, app, reasons);
  }
  for (const id of removed) reasons.push(after.NotServed?.[id] ? `app ${id} not served: ${after.NotServed[id]}` : `app ${id} removed`);
  if (before.Listeners !== after.Listeners) renewedCerts(before, after, reasons);
  if (reasons.length === 0) reasons.push('template or settings changed');
  if (reasons.length > MAX_REASONS) {
    const more = reasons.length - MAX_REASONS;
    return [...reasons.slice(0, MAX_REASONS), `and ${more} more`];
  }
  return reasons;
}

/** Service-port frontends whose certificate file changed (renewed), the app unchanged. */
function renewedCerts(before: TemplateContext, after: TemplateContext, reasons: string[]): void {
  let stamps: Map<string, string> | undefined;
  for (const l of after.Listeners) {
    if (!l.CertStamp) continue;
    stamps ??= new Map(before.Listeners.filter((x) => x.CertStamp).map((x) => [x.Name, x.CertStamp]));
    const was = stamps.get(l.Name);
    if (was !== undefined && was !== l.CertStamp) reasons.push(`frontend ${l.Name}: certificate ${l.SslCert} changed`);
  }
}

function sortedById(apps: readonly AppView[]): readonly AppView[] {
  for (let i = 1; i < apps.length; i++) {
    if (!(apps[i - 1].Id < apps[i].Id)) return [...apps].sort(byViewId);
  }
  return apps;
}

function changes(prev: AppView, app: AppView, reasons: string[]): void {
  const id = app.Id;
  if (prev.Acl !== app.Acl) reasons.push(`rule ${id} changed`);
  else if ((prev.Route !== app.Route && !sameRoute(prev.Route, app.Route)) || !sameRoutes(prev.PortRoutes, app.PortRoutes)) reasons.push(`labels of ${id} changed (routing)`);
  if (prev.Ports[0].RedirectToHttps !== app.Ports[0].RedirectToHttps) reasons.push(`backend ${id}: redirect to https ${app.Ports[0].RedirectToHttps ? 'on' : 'off'}`);
  if (prev.HealthCheckPath !== app.HealthCheckPath) reasons.push(`backend ${id}: health check changed`);
  for (const b of app.Backends) {
    const was = prev.Backends.find((x) => x.Name === b.Name);
    const changed = was ? settingsChanges(was, b) : [];
    if (was && was.Hsts.length !== b.Hsts.length) changed.push(`HSTS ${b.Hsts.length ? 'on' : 'off'}`);
    if (changed.length) reasons.push(`backend ${b.Name}: ${changed.join(', ')}`);
  }
  for (const l of app.Listeners) {
    const was = prev.Listeners.find((x) => x.Name === l.Name);
    if (was && was.BindLine !== l.BindLine) reasons.push(`frontend ${l.Name}: bind ${l.BindLine}`);
  }
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
