/**
 * The operator page (`GET /`, `GET /ui`): one self-contained HTML document, rendered on the server from the
 * same state the API shows. Everything shown is escaped here; the script reads ids from data attributes and
 * writes only with textContent, and a per-response CSP nonce keeps any other script from running.
 */
import { randomBytes } from 'node:crypto';
import { appView } from '../core/view.js';
import type { CulmCore, HistoryRecord } from '../pipeline/types.js';
import { HTML_TYPE, send } from './io.js';
import type { Route } from './router.js';
import { byId } from '../core/compare.js';
import { CLIENT_SCRIPT, CLIENT_STYLE, navLinks, pageHeaders } from './ui-client.js';

const HISTORY_SHOWN = 50;

export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

interface AppRow { id: string; acl: string; ruleAcl: string; hasRule: boolean; backend: string; serving: number; total: number }

type Rows = { apps: AppRow[]; orphans: Array<{ id: string; acl: string }> };

/**
 * The rows for the same apps and rules are reused for ROWS_FRESH_MS: a search keystroke at 10,000 apps then
 * filters strings instead of building 10,000 views (~100 ms). Serving counts depend on the time too (readiness),
 * hence the bound; any app or rule change is a new state, and new rows.
 */
const ROWS_FRESH_MS = 5000;
const rowsCache = new WeakMap<CulmCore, { apps: unknown; rules: unknown; at: number; rows: Rows }>();

function cachedRows(core: CulmCore): Rows {
  const apps = core.state().apps;
  const rules = core.rules();
  const now = Date.now();
  const hit = rowsCache.get(core);
  if (hit && hit.apps === apps && hit.rules === rules && now - hit.at < ROWS_FRESH_MS) return hit.rows;
  const rows = appRows(core);
  rowsCache.set(core, { apps, rules, at: now, rows });
  return rows;
}

function appRows(core: CulmCore): Rows {
  const rules = core.rules();
  const now = Date.now();
  const apps = [...core.state().apps.values()]
    .map((app) => {
      const rule = rules.get(app.id);
      const view = appView(app, rule, now);
      return {
        id: app.id, acl: view.Acl, ruleAcl: rule?.acl ?? '', hasRule: !!rule, backend: view.Backend,
        serving: view.Tasks.length, total: view.AllTasks.length,
      };
    })
    .sort(byId);
  const known = new Set(apps.map((a) => a.id));
  const orphans = [...rules.values()].filter((r) => !known.has(r.id)).map((r) => ({ id: r.id, acl: r.acl }));
  return { apps, orphans };
}

/** Where a refused rule's reason is shown: beside its field, not at the top of a long page. */
const WHY = '<span class="why" role="alert"></span>';

function ruleForm(id: string, acl: string, hasRule: boolean): string {
  const e = escapeHtml;
  return `<form class="rule" data-id="${e(id)}"><input name="acl" value="${e(acl)}" placeholder="path_beg -i ${e(id)}" aria-label="ACL for ${e(id)}">`
    + `<button>Set</button>${hasRule ? '<button type="button" class="del">Delete</button>' : ''}${WHY}</form>`;
}

/** Apps shown at once: the page stays small at 10,000 apps; search and paging reach the rest. */
export const APPS_PER_PAGE = 100;

export interface AppQuery {
  /** Case-insensitive text searched in the app id, its ACL and its backend. */
  q: string;
  offset: number;
}

export function appQuery(params: URLSearchParams): AppQuery {
  const offset = Number.parseInt(params.get('offset') ?? '0', 10);
  return { q: (params.get('q') ?? '').trim().slice(0, 200), offset: Number.isFinite(offset) && offset > 0 ? offset : 0 };
}

function matching(apps: AppRow[], q: string): AppRow[] {
  if (!q) return apps;
  const needle = q.toLowerCase();
  return apps.filter((a) => a.id.toLowerCase().includes(needle) || a.acl.toLowerCase().includes(needle) || a.backend.toLowerCase().includes(needle));
}

function pageLink(q: string, offset: number, label: string): string {
  const params = new URLSearchParams({ ...(q ? { q } : {}), ...(offset ? { offset: String(offset) } : {}) }).toString();
  return `<a class="page" href="/${params ? `?${escapeHtml(params)}` : ''}">${label}</a>`;
}

function appTable(all: AppRow[], query: AppQuery): string {
  const e = escapeHtml;
  const found = matching(all, query.q);
  const offset = Math.min(query.offset, Math.max(0, found.length - 1));
  const shown = found.slice(offset, offset + APPS_PER_PAGE);
  const count = all.length === 0 ? 'No apps known yet.'
    : found.length === 0 ? `No app matches "${e(query.q)}" (of ${all.length}).`
      : `Apps ${offset + 1}–${offset + shown.length} of ${found.length}${query.q ? ` matching "${e(query.q)}" (of ${all.length})` : ''}.`;
  const pager = [
    offset > 0 ? pageLink(query.q, Math.max(0, offset - APPS_PER_PAGE), '← previous') : '',
    offset + APPS_PER_PAGE < found.length ? pageLink(query.q, offset + APPS_PER_PAGE, 'next →') : '',
  ].filter(Boolean).join(' ');
  const rows = shown.map((a) => `<tr><td><code>${e(a.id)}</code></td>`
    + `<td><code>${e(a.acl)}</code>${a.hasRule ? '' : ' <small>(default)</small>'}</td>`
    + `<td><code>${e(a.backend)}</code></td>`
    + `<td class="${a.serving === 0 && a.total > 0 ? 'bad' : ''}">${a.serving} / ${a.total}</td>`
    + `<td>${ruleForm(a.id, a.ruleAcl, a.hasRule)}</td></tr>`).join('\n');
  const table = shown.length === 0 ? ''
    : `<table><thead><tr><th>App</th><th>ACL</th><th>Backend</th><th>Serving / tasks</th><th>Rule</th></tr></thead><tbody>\n${rows}\n</tbody></table>`;
  return `<p id="count" role="status">${count} ${pager}</p>${table}`;
}

function orphanTable(orphans: Array<{ id: string; acl: string }>): string {
  if (orphans.length === 0) return '';
  const rows = orphans.map((r) => `<tr><td><code>${escapeHtml(r.id)}</code></td><td>${ruleForm(r.id, r.acl, true)}</td></tr>`).join('\n');
  return `<h2>Rules without an app</h2><table><thead><tr><th>Id</th><th>Rule</th></tr></thead><tbody>\n${rows}\n</tbody></table>`;
}

function historyTable(history: readonly HistoryRecord[]): string {
  const e = escapeHtml;
  if (history.length === 0) return '<p>Nothing applied yet.</p>';
  const rows = [...history].sort((a, b) => b.at - a.at).slice(0, HISTORY_SHOWN).map((h) => {
    const why = h.error ? `${h.error.code}: ${h.error.message}` : h.reasons.join('; ');
    // A rule write's line says who changed what (its reasons); a refused one shows its error after that.
    const text = h.kind === 'rule' ? h.reasons.concat(h.error ? [h.error.code] : []).join('; ') : why;
    const result = h.kind === 'rule' ? `rule ${h.result}` : h.result;
    const ok = h.result === 'applied' || h.result === 'unchanged' || h.result === 'changed';
    return `<tr><td>${e(new Date(h.at).toISOString())}</td><td class="${ok ? '' : 'bad'}">${e(result)}</td>`
      + `<td>${e(Math.round(h.durationMs))} ms</td><td>${e(text)}</td></tr>`;
  }).join('\n');
  return `<table><thead><tr><th>When</th><th>Result</th><th>Took</th><th>Why</th></tr></thead><tbody>\n${rows}\n</tbody></table>`;
}

export const STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222}header{background:#234;color:#fff;padding:.6em 1em;display:flex;gap:1em;align-items:baseline;flex-wrap:wrap}
h1{margin:0;font-size:1.3em}main{padding:0 1em 2em}table{border-collapse:collapse;width:100%;margin:.5em 0}th,td{border-bottom:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}
code{font-size:.95em}input{width:min(22em,100%);font:inherit}.why{color:#b00;flex-basis:100%}.bad{color:#b00;font-weight:bold}.ok{color:#6c6}#msg{color:#b00;min-height:1.4em}form{display:flex;gap:.3em;flex-wrap:wrap}
#live{font-size:.9em}#live[data-state=live]{color:#6c6}#live[data-state=offline]{color:#fb3}#q{width:min(30em,100%)}
${CLIENT_STYLE}`;

// Plain browser JS; ids come from data attributes and messages are set with textContent, never innerHTML.
// The server is the one renderer: a search, a page link, a rule change or a live event re-reads this page
// (fetch, with the search in the URL) and swaps its sections, parsed by DOMParser (whose scripts never run).
// A section where the person has typed something not yet set (or a write is on its way) waits: what they typed
// and the reason beside it stay.
// Credentials and the live stream: see ui-client.ts.
const SCRIPT = `${CLIENT_SCRIPT}
const msg=document.getElementById('msg'),live=document.getElementById('live'),q=document.getElementById('q');
function editing(section){for(const i of section.querySelectorAll('input'))if(i.value!==i.defaultValue)return true;
 return !!section.querySelector('form[data-busy]');}
let refreshing=null,again=false;
function refresh(){if(refreshing){again=true;return refreshing;}
 refreshing=(async()=>{try{const res=await authFetch('/'+location.search);if(!res.ok)return;
  const doc=new DOMParser().parseFromString(await res.text(),'text/html');
  for(const id of ['apps','orphans','history']){const next=doc.getElementById(id),cur=document.getElementById(id);
   if(next&&cur&&!editing(cur))cur.replaceWith(document.adoptNode(next));}
 }catch(e){}finally{refreshing=null;if(again){again=false;refresh();}}})();return refreshing;}
let searchTimer;
q.addEventListener('input',()=>{clearTimeout(searchTimer);searchTimer=setTimeout(()=>{const v=q.value.trim();
 history.replaceState(null,'',v?'/?q='+encodeURIComponent(v):'/');refresh();},60);});
async function call(method,id,body,form,retried){if(form)form.dataset.busy='1';try{await send(method,id,body,form,retried);}finally{if(form)delete form.dataset.busy;}}
async function send(method,id,body,form,retried){msg.textContent='';const why=form&&form.querySelector('.why')||msg;why.textContent='';
 const input=form&&form.elements.namedItem('acl');if(input)input.removeAttribute('aria-invalid');
 const init={method,headers:{}};if(body){init.headers['Content-Type']='application/json';init.body=JSON.stringify(body);}
 try{const res=await authFetch('/api/services/'+encodeURIComponent(id),init);
  if(res.ok){if(input)input.defaultValue=input.value;if(form)delete form.dataset.busy;await refresh();return;}
  let text=res.status+' '+res.statusText;try{const j=await res.json();if(j&&j.error)text=j.error.message;}catch(e){}
  if(res.status===401&&!retried&&await askCredentials(res,sessionStorage.getItem('culm-auth')?text:''))return send(method,id,body,form,true);
  why.textContent=text;if(input){input.setAttribute('aria-invalid','true');input.focus();}}catch(e){why.textContent=String(e);}}
document.addEventListener('submit',(ev)=>{const f=ev.target;if(!(f instanceof HTMLFormElement))return;ev.preventDefault();
 const id=f.dataset.id||f.elements.namedItem('id').value;if(!id.trim()){msg.textContent='An app id is needed.';return;}
 call('PUT',id.trim(),{acl:f.elements.namedItem('acl').value},f);});
document.addEventListener('click',(ev)=>{const b=ev.target;
 if(b instanceof HTMLAnchorElement&&b.classList.contains('page')){ev.preventDefault();history.replaceState(null,'',b.href);refresh();return;}
 if(!(b instanceof HTMLButtonElement)||!b.classList.contains('del')||!b.form)return;
 const id=b.form.dataset.id;if(confirm('Delete the rule for '+id+'?'))call('DELETE',id,undefined,b.form);});
let eventTimer;function changed(){clearTimeout(eventTimer);eventTimer=setTimeout(refresh,250);}
follow(live,changed);`;

export function renderUi(core: CulmCore, version: string, nonce: string, query: AppQuery = { q: '', offset: 0 }): string {
  const { apps, orphans } = cachedRows(core);
  const { ready } = core.readiness();
  const e = escapeHtml;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>culm</title><style nonce="${e(nonce)}">${STYLE}</style></head>
<body><header><h1>culm</h1><span>${e(version)}</span><span class="${ready ? 'ok' : 'bad'}">${ready ? 'ready' : 'not ready'}</span>
<span id="live" role="status" data-state="off">live updates off</span>${navLinks('/')}</header>
<main><p id="msg" role="status"></p>
<h2>Apps</h2>
<p><label for="q">Search apps (id, ACL, backend)</label> <input type="search" id="q" name="q" value="${e(query.q)}" autocomplete="off"></p>
<section id="apps">${appTable(apps, query)}</section>
<h2>Set a rule</h2>
<form class="rule"><input name="id" placeholder="/group/app" aria-label="App id"><input name="acl" placeholder="hdr(host) -i app.example.com" aria-label="ACL"><button>Set</button>${WHY}</form>
<section id="orphans">${orphanTable(orphans)}</section>
<h2>History (applies and rule changes)</h2>
<section id="history">${historyTable(core.history())}</section>
</main><script nonce="${e(nonce)}">${SCRIPT}</script></body></html>
`;
}

export function uiRoutes(core: CulmCore, version: string): Route[] {
  const page = (name: string): Route => ({
    name,
    path: name,
    handlers: {
      GET: ({ res, query }) => {
        const nonce = randomBytes(16).toString('base64');
        send(res, 200, HTML_TYPE, renderUi(core, version, nonce, appQuery(query)), pageHeaders(nonce));
      },
    },
  });
  return [page('/'), page('/ui')];
}
