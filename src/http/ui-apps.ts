/**
 * The console's apps list: rows built once per state (cached), then searched (id, ACLs, backend, task hosts),
 * filtered, sorted and cut into pages on each request, so that the page stays one page of rows at 10,000
 * apps and a keystroke filters strings instead of building views. The open app's detail (ui-app-detail.ts)
 * sits right under its row. Everything shown is escaped here.
 */
import { compareText } from '../core/compare.js';
import { normaliseRuleId } from '../core/rules.js';
import type { RouteSource } from '../core/routing.js';
import { appView } from '../core/view.js';
import type { CulmCore } from '../pipeline/types.js';
import { escapeHtml } from './html.js';

/** Apps shown at once: the page stays small at 10,000 apps; search, filters and paging reach the rest. */
export const APPS_PER_PAGE = 100;

/** The filters, each a question about a row; several at once must all hold. */
export const FILTERS = {
  unhealthy: 'a task not healthy',
  'no-serving': 'no serving task',
  'has-rule': 'a REST rule',
  default: 'the default route',
  rejected: 'a rule refused',
} as const;
export type Filter = keyof typeof FILTERS;

export const SORTS = { id: 'id', serving: 'serving tasks (fewest first)', rule: 'rule (rules first, by ACL)' } as const;
export type Sort = keyof typeof SORTS;

export interface AppQuery {
  /** Case-insensitive text searched in the app id, its route's ACLs, its backend and its tasks' hosts. */
  q: string;
  offset: number;
  filters: Filter[];
  sort: Sort;
  /** The app whose detail is open ('' for none). */
  open: string;
}

const isFilter = (f: string): f is Filter => Object.hasOwn(FILTERS, f);
const isSort = (s: string): s is Sort => Object.hasOwn(SORTS, s);

export function appQuery(params: URLSearchParams): AppQuery {
  const offset = Number.parseInt(params.get('offset') ?? '0', 10);
  const filters = [...new Set(params.getAll('filter').flatMap((f) => f.split(',')))].filter(isFilter);
  const sort = params.get('sort') ?? 'id';
  const open = (params.get('open') ?? '').trim().slice(0, 1000);
  return {
    q: (params.get('q') ?? '').trim().slice(0, 200),
    offset: Number.isFinite(offset) && offset > 0 ? offset : 0,
    filters,
    sort: isSort(sort) ? sort : 'id',
    // `open=web` names `/web`, as the REST routes read ids.
    open: open ? normaliseRuleId(open) : '',
  };
}

/** The query as a link's search (`?q=…&filter=…`), without the defaults. */
export function querySearch(query: AppQuery, changes: Partial<AppQuery> = {}): string {
  const q = { ...query, ...changes };
  const params = new URLSearchParams();
  if (q.q) params.set('q', q.q);
  for (const f of q.filters) params.append('filter', f);
  if (q.sort !== 'id') params.set('sort', q.sort);
  if (q.offset) params.set('offset', String(q.offset));
  if (q.open) params.set('open', q.open);
  const text = params.toString();
  return text ? `?${text}` : '';
}

export interface AppRow {
  id: string;
  /** The route's ACLs as shown (a rule's, the labels', or the default). */
  acl: string;
  ruleAcl: string;
  hasRule: boolean;
  source: RouteSource;
  backend: string;
  serving: number;
  total: number;
  /** Tasks of an app with health checks that are not known healthy. */
  unhealthy: number;
  /** Lowercased text the search looks in. */
  text: string;
}

type Rows = { apps: AppRow[]; orphans: Array<{ id: string; acl: string }> };

/**
 * The rows for the same apps and rules are reused for ROWS_FRESH_MS: a search keystroke at 10,000 apps then
 * filters strings instead of building 10,000 views (~100 ms). Serving counts depend on the time too (readiness),
 * hence the bound; any app or rule change is a new state, and new rows.
 */
const ROWS_FRESH_MS = 5000;
const rowsCache = new WeakMap<CulmCore, { apps: unknown; rules: unknown; at: number; rows: Rows; sorted: Map<Sort, AppRow[]> }>();

function cachedRows(core: CulmCore): { rows: Rows; sorted: Map<Sort, AppRow[]> } {
  const apps = core.state().apps;
  const rules = core.rules();
  const now = Date.now();
  const hit = rowsCache.get(core);
  if (hit && hit.apps === apps && hit.rules === rules && now - hit.at < ROWS_FRESH_MS) return hit;
  const fresh = { apps, rules, at: now, rows: appRows(core, now), sorted: new Map<Sort, AppRow[]>() };
  fresh.sorted.set('id', fresh.rows.apps);
  rowsCache.set(core, fresh);
  return fresh;
}

function appRows(core: CulmCore, now: number): Rows {
  const rules = core.rules();
  const policy = core.servePolicy?.();
  const apps = [...core.state().apps.values()]
    .map((app): AppRow => {
      const rule = rules.get(app.id);
      const view = appView(app, rule, now, policy);
      const acl = view.Route.Acls.map((a) => a.Acl).join(' and ');
      const checked = app.healthChecks.length > 0;
      const hosts = [...new Set(view.AllTasks.map((t) => t.Host))].join(' ');
      return {
        id: app.id, acl, ruleAcl: rule?.acl ?? '', hasRule: view.HasRule, source: view.Route.Source, backend: view.Backend,
        serving: view.Tasks.length, total: view.AllTasks.length,
        unhealthy: checked ? view.AllTasks.filter((t) => !t.Alive).length : 0,
        text: `${app.id}\n${acl}\n${view.PortRoutes.map((r) => r.Acl).join('\n')}\n${view.Backend}\n${hosts}`.toLowerCase(),
      };
    })
    .sort((a, b) => compareText(a.id, b.id));
  const known = new Set(apps.map((a) => a.id));
  const orphans = [...rules.values()].filter((r) => !known.has(r.id)).map((r) => ({ id: r.id, acl: r.acl }));
  return { apps, orphans };
}

const SORTERS: Record<Sort, (a: AppRow, b: AppRow) => number> = {
  id: (a, b) => compareText(a.id, b.id),
  serving: (a, b) => a.serving - b.serving || compareText(a.id, b.id),
  rule: (a, b) => Number(b.hasRule) - Number(a.hasRule) || compareText(a.acl, b.acl) || compareText(a.id, b.id),
};

function sortedRows(cache: { rows: Rows; sorted: Map<Sort, AppRow[]> }, sort: Sort): AppRow[] {
  let rows = cache.sorted.get(sort);
  if (!rows) {
    rows = [...cache.rows.apps].sort(SORTERS[sort]);
    cache.sorted.set(sort, rows);
  }
  return rows;
}

/**
 * Apps with a rule refused: the stored rule HAProxy refused at an apply (left out: the app routes by its
 * default), or whose last rule write was refused. From the history (100 records at most) on each request.
 */
export function rejectedRules(core: CulmCore): Map<string, string> {
  const out = new Map<string, string>();
  const last = new Map<string, { refused: boolean; why: string }>();
  for (const h of core.history()) {
    if (h.kind === 'rule' && h.id !== undefined) last.set(h.id, { refused: h.result === 'refused', why: h.error?.message ?? '' });
  }
  for (const [id, { refused, why }] of last) if (refused) out.set(id, `its last rule write was refused: ${why}`);
  for (const id of core.leftOut?.().rules ?? []) out.set(id, 'HAProxy refuses its stored rule: it routes by its default');
  return out;
}

const TESTS: Record<Filter, (row: AppRow, rejected: ReadonlyMap<string, string>) => boolean> = {
  unhealthy: (r) => r.unhealthy > 0,
  'no-serving': (r) => r.serving === 0,
  'has-rule': (r) => r.hasRule,
  default: (r) => r.source === 'default',
  rejected: (r, rejected) => rejected.has(r.id),
};

function matching(rows: AppRow[], query: AppQuery, rejected: ReadonlyMap<string, string>): AppRow[] {
  const needle = query.q.toLowerCase();
  const tests = query.filters.map((f) => TESTS[f]);
  if (!needle && tests.length === 0) return rows;
  return rows.filter((r) => (!needle || r.text.includes(needle)) && tests.every((test) => test(r, rejected)));
}

/** Where a refused rule's reason is shown: beside its field, not at the top of a long page. */
export const WHY = '<span class="why" role="alert"></span>';

export function ruleForm(id: string, acl: string, hasRule: boolean): string {
  const e = escapeHtml;
  return `<form class="rule" data-id="${e(id)}"><input name="acl" value="${e(acl)}" placeholder="path_beg -i ${e(id)}" aria-label="ACL for ${e(id)}" aria-describedby="rule-help" data-key="acl:${e(id)}">`
    + `<button data-key="set:${e(id)}">Set</button>${hasRule ? `<button type="button" class="del" data-key="del:${e(id)}">Delete</button>` : ''}${WHY}</form>`;
}

function pageLink(query: AppQuery, offset: number, label: string): string {
  return `<a class="page" href="/${escapeHtml(querySearch(query, { offset }))}">${label}</a>`;
}

const SOURCE_NOTE: Record<RouteSource, string> = { rule: '', labels: ' <small>(labels)</small>', default: ' <small>(default)</small>', none: ' <small>(TCP)</small>' };

function appRow(a: AppRow, query: AppQuery, rejected: ReadonlyMap<string, string>): string {
  const e = escapeHtml;
  const open = query.open === a.id;
  const toggle = querySearch(query, { open: open ? '' : a.id });
  const refused = rejected.get(a.id);
  return `<tr${open ? ' class="opened"' : ''}><td><a class="open" href="/${e(toggle)}" aria-expanded="${open}"${open ? ' aria-controls="detail"' : ''} data-key="open:${e(a.id)}" title="${open ? 'close' : 'open'} its routes, tasks and HAProxy's view"><code>${e(a.id)}</code></a></td>`
    + `<td><code>${e(a.acl)}</code>${SOURCE_NOTE[a.source]}${refused ? ` <span class="bad" title="${e(refused)}">rule refused</span>` : ''}</td>`
    + `<td><code>${e(a.backend)}</code></td>`
    + `<td class="${a.serving === 0 && a.total > 0 ? 'bad' : ''}">${a.serving} / ${a.total}${a.unhealthy ? ` <small class="bad">(${a.unhealthy} unhealthy)</small>` : ''}</td>`
    + `<td>${ruleForm(a.id, a.ruleAcl, a.hasRule)}</td></tr>`;
}

/** What a rule is, with examples and HAProxy's own documentation (a link: the page loads nothing from outside). */
const RULE_HELP = '<p class="help" id="rule-help">A rule is one HAProxy ACL that sends matching requests to the app, '
  + 'instead of its default <code>path_beg -i &lt;id&gt;</code>; an empty field with Delete goes back to the default. Examples: '
  + '<code>path_beg -i /shop</code>, <code>hdr(host) -i shop.example.com</code>, <code>path_reg ^/v[0-9]+/shop</code>. '
  + 'HAProxy checks each rule before it is stored; its reason shows beside the field. '
  + '<a href="https://docs.haproxy.org/2.6/configuration.html#7" rel="noopener noreferrer" target="_blank">HAProxy 2.6: using ACLs</a>.</p>';

/** The controls above the list (outside the section a refresh replaces, so a click is never lost). */
export function listControls(query: AppQuery): string {
  const e = escapeHtml;
  const boxes = (Object.entries(FILTERS) as Array<[Filter, string]>).map(([f, label]) => `<label><input type="checkbox" name="filter" value="${f}"${query.filters.includes(f) ? ' checked' : ''}> ${e(label)}</label>`).join(' ');
  const sorts = (Object.entries(SORTS) as Array<[Sort, string]>).map(([s, label]) => `<option value="${s}"${query.sort === s ? ' selected' : ''}>${e(label)}</option>`).join('');
  return `<div class="controls"><p><label for="q">Search apps (id, ACL, backend, task host)</label> <input type="search" id="q" name="q" value="${e(query.q)}" autocomplete="off"></p>`
    + `<fieldset id="filters"><legend>Only apps with</legend>${boxes}</fieldset>`
    + `<p><label for="sort">Sort by</label> <select id="sort" name="sort">${sorts}</select></p></div>`
    + RULE_HELP;
}

/** The list's section: the count line with the pager, then the rows; `detail` goes under the open app's row. */
export function appsSection(core: CulmCore, query: AppQuery, detail: string): string {
  const e = escapeHtml;
  const cache = cachedRows(core);
  const all = cache.rows.apps;
  const rejected = rejectedRules(core);
  const found = matching(sortedRows(cache, query.sort), query, rejected);
  const offset = Math.min(query.offset, Math.max(0, found.length - 1));
  const shown = found.slice(offset, offset + APPS_PER_PAGE);
  const narrowed = query.q || query.filters.length > 0;
  const withFilters = query.filters.length ? `with ${query.filters.map((f) => FILTERS[f]).join(', ')}` : '';
  const what = [query.q ? `matching "${e(query.q)}"` : '', withFilters].filter(Boolean).join(' ');
  const count = all.length === 0 ? 'No apps known yet.'
    : found.length === 0 ? `No app ${[query.q ? `matches "${e(query.q)}"` : '', withFilters].filter(Boolean).join(' ')} (of ${all.length}).`
      : `Apps ${offset + 1}–${offset + shown.length} of ${found.length}${narrowed ? ` ${what} (of ${all.length})` : ''}.`;
  const pager = [
    offset > 0 ? pageLink(query, Math.max(0, offset - APPS_PER_PAGE), '← previous') : '',
    offset + APPS_PER_PAGE < found.length ? pageLink(query, offset + APPS_PER_PAGE, 'next →') : '',
  ].filter(Boolean).join(' ');
  let placed = false;
  const rows = shown.map((a) => {
    const row = appRow(a, query, rejected);
    if (a.id !== query.open || !detail) return row;
    placed = true;
    // In a box that does not widen the list (width 0, then the cell's): its tables and config scroll inside it.
    return `${row}\n<tr class="detail" id="detail"><td colspan="5"><div class="fit">${detail}</div></td></tr>`;
  }).join('\n');
  const table = shown.length === 0 ? ''
    : `<div class="wide"><table><thead><tr><th>App</th><th>Route</th><th>Backend</th><th>Serving / tasks</th><th>Rule</th></tr></thead><tbody>\n${rows}\n</tbody></table></div>`;
  // An open app this page does not show (another page, filtered out): its detail above the list.
  const above = detail && !placed ? `<div class="detail" id="detail">${detail}</div>` : '';
  return `<p id="count" role="status">${count} ${pager}</p>${above}${table}`;
}

export function orphanTable(core: CulmCore): string {
  const { orphans } = cachedRows(core).rows;
  if (orphans.length === 0) return '';
  const rows = orphans.map((r) => `<tr><td><code>${escapeHtml(r.id)}</code></td><td>${ruleForm(r.id, r.acl, true)}</td></tr>`).join('\n');
  return `<h2>Rules without an app</h2><table><thead><tr><th>Id</th><th>Rule</th></tr></thead><tbody>\n${rows}\n</tbody></table>`;
}

/**
 * The list's browser code (plain JS, joined to the page's script: it uses its `refresh`). The search, the
 * filters and the sort go into the URL (a link to the view works) and the page re-reads itself; an app's id
 * opens or closes its detail the same way. While a detail is open the page re-reads itself every
 * DETAIL_POLL_MS too: HAProxy's checks change a server's state without any event culm could send.
 */
export const DETAIL_POLL_MS = 2000;
export const APPS_SCRIPT = `const q=document.getElementById('q'),sort=document.getElementById('sort'),filters=document.getElementById('filters');
function setView(changes){const p=new URLSearchParams(location.search);for(const [k,v] of Object.entries(changes)){p.delete(k);
 for(const x of [].concat(v))if(x)p.append(k,x);}p.delete('offset');const s=p.toString();history.replaceState(null,'','/'+(s?'?'+s:''));refresh();}
let searchTimer;
q.addEventListener('input',()=>{clearTimeout(searchTimer);searchTimer=setTimeout(()=>setView({q:q.value.trim()}),30);});
sort.addEventListener('change',()=>setView({sort:sort.value==='id'?'':sort.value}));
filters.addEventListener('change',()=>setView({filter:[...filters.querySelectorAll('input:checked')].map((i)=>i.value)}));
document.addEventListener('click',(ev)=>{const a=ev.target instanceof Element&&ev.target.closest('a.open');if(!a)return;
 ev.preventDefault();history.replaceState(null,'',a.href);refresh();});
setInterval(()=>{if(document.getElementById('detail')&&!document.hidden)refresh();},${DETAIL_POLL_MS});`;
