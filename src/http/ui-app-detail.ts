/**
 * The console's detail of one app (the data: app-detail.ts), shown under its row: where each route comes
 * from, each task as Marathon and as HAProxy see it, every server HAProxy has, and the backends' applied
 * lines. Escaped here, like the rest of the page.
 */
import type { RouteSource } from '../core/routing.js';
import { outOfService } from '../haproxy/server-stats.js';
import type { AppDetail, ServerDetail, TaskDetail } from './app-detail.js';
import { escapeHtml as e } from './html.js';

const SOURCES: Record<RouteSource, string> = {
  rule: 'REST rule',
  labels: 'marathon-lb labels',
  default: 'default ACL',
  none: 'none (TCP: its own frontend)',
};

function health(t: TaskDetail): string {
  if (!t.checked) return 'no checks';
  return t.healthy === true ? 'healthy' : t.healthy === false ? '<span class="bad">unhealthy</span>' : '<span class="bad">no result yet</span>';
}

function haproxyCells(s: ServerDetail | null, asked: boolean, serving: boolean): string {
  if (!asked) return '<td>—</td><td>—</td>';
  if (!s) return `<td${serving ? ' class="bad"' : ''}>${serving ? 'missing' : 'not a server'}</td><td>—</td>`;
  const check = s.check ? ` <small>${e(s.check)}${s.checkDetail ? `: ${e(s.checkDetail)}` : ''}</small>` : '';
  return `<td class="hap${outOfService(s.status) ? ' bad' : ''}" data-status="${e(s.status)}">${e(s.status)}${check}</td><td>${e(s.sessions)}</td>`;
}

function routesTable(d: AppDetail): string {
  const rows = d.routes.map((r) => `<tr><td>${r.port}</td><td>${SOURCES[r.source]}</td><td><code>${e(r.backend)}</code></td>`
    + `<td>${r.acls.map((a) => `<code>${e(a.acl)}</code>`).join(' and ') || '—'}</td></tr>`).join('');
  return `<table class="routes"><caption>Routes</caption><thead><tr><th>Port</th><th>From</th><th>Backend</th><th>ACL</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function tasksTable(d: AppDetail): string {
  const main = d.backends[0];
  const named = new Set(d.tasks.map((t) => t.server));
  const rows = d.tasks.map((t) => `<tr data-task="${e(t.id)}"><td><code>${e(t.host)}:${e(t.port)}</code><br><small>${e(t.id)}</small></td>`
    + `<td>${e(t.state.replace(/^TASK_/, ''))}</td><td>${health(t)}</td><td>${t.ready ? 'ready' : '<span class="bad">not ready</span>'}</td>`
    + `<td><code>${e(t.server)}</code></td>${haproxyCells(t.haproxy, d.haproxy.ok, t.serving)}</tr>`);
  // Servers HAProxy still has that no task names (a task gone, its connections draining).
  for (const s of main?.servers ?? []) {
    if (!named.has(s.server)) rows.push(`<tr><td><code>${e(s.address)}</code><br><small>no task</small></td><td>—</td><td>—</td><td>—</td><td><code>${e(s.server)}</code></td>${haproxyCells(s, true, false)}</tr>`);
  }
  const body = rows.length ? rows.join('') : '<tr><td colspan="7">No tasks.</td></tr>';
  return `<table class="tasks"><caption>Tasks: Marathon's view and HAProxy's</caption><thead><tr><th>Task</th><th>State</th><th>Health</th><th>Readiness</th>`
    + `<th>Server</th><th>HAProxy</th><th>Sessions</th></tr></thead><tbody>${body}</tbody></table>`;
}

function backendsConfig(d: AppDetail): string {
  return d.backends.map((b) => `<h4>Applied config: <code>backend ${e(b.name)}</code></h4>`
    + (b.config.length ? `<pre tabindex="0" aria-label="backend ${e(b.name)} as applied">${e(b.config.join('\n'))}</pre>` : '<p>Not in the applied config.</p>')).join('');
}

function notes(d: AppDetail): string {
  const out: string[] = [];
  if (d.notServed) out.push(`Not served here: ${e(d.notServed)}.`);
  if (d.leftOut) out.push('HAProxy refused a config with this app: culm leaves it out until its definition changes.');
  if (d.ruleLeftOut) out.push(`HAProxy refuses its stored rule (<code>${e(d.rule?.Acl ?? '')}</code>): it routes by its default until the rule changes.`);
  if (!d.haproxy.ok) out.push(`HAProxy's view is not available: ${e(d.haproxy.detail)}`);
  return out.map((n) => `<p class="bad">${n}</p>`).join('');
}

/** The detail's HTML, or a short message when there is no such app. */
export function detailHtml(detail: AppDetail | string, closeHref: string): string {
  // Keyed as the row's toggle: once closed, the keyboard focus goes back to it.
  const close = (key: string): string => `<a class="open" href="/${e(closeHref)}" data-key="${e(key)}">close</a>`;
  if (typeof detail === 'string') return `<p class="bad">${e(detail)} ${close('close')}</p>`;
  return `<section aria-label="${e(detail.id)}: routes, tasks and HAProxy's view"><h3><code>${e(detail.id)}</code> ${close(`open:${detail.id}`)}</h3>${notes(detail)}`
    + `<div class="wide">${routesTable(detail)}${tasksTable(detail)}</div>${backendsConfig(detail)}</section>`;
}
