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

const HISTORY_SHOWN = 50;

export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

interface AppRow { id: string; acl: string; ruleAcl: string; hasRule: boolean; backend: string; serving: number; total: number }

function appRows(core: CulmCore): { apps: AppRow[]; orphans: Array<{ id: string; acl: string }> } {
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

function appTable(apps: AppRow[]): string {
  const e = escapeHtml;
  if (apps.length === 0) return '<p>No apps known yet.</p>';
  const rows = apps.map((a) => `<tr><td><code>${e(a.id)}</code></td>`
    + `<td><code>${e(a.acl)}</code>${a.hasRule ? '' : ' <small>(default)</small>'}</td>`
    + `<td><code>${e(a.backend)}</code></td>`
    + `<td class="${a.serving === 0 && a.total > 0 ? 'bad' : ''}">${a.serving} / ${a.total}</td>`
    + `<td>${ruleForm(a.id, a.ruleAcl, a.hasRule)}</td></tr>`).join('\n');
  return `<table><thead><tr><th>App</th><th>ACL</th><th>Backend</th><th>Serving / tasks</th><th>Rule</th></tr></thead><tbody>\n${rows}\n</tbody></table>`;
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

const STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222}header{background:#234;color:#fff;padding:.6em 1em;display:flex;gap:1em;align-items:baseline}header a{color:#fff;margin-left:auto}
h1{margin:0;font-size:1.3em}main{padding:0 1em 2em}table{border-collapse:collapse;width:100%;margin:.5em 0}th,td{border-bottom:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}
code{font-size:.95em}input{width:min(22em,100%);font:inherit}.why{color:#b00;flex-basis:100%}.bad{color:#b00;font-weight:bold}.ok{color:#6c6}#msg{color:#b00;min-height:1.4em}form{display:flex;gap:.3em;flex-wrap:wrap}`;

// Plain browser JS; ids come from data attributes and messages are set with textContent, never innerHTML.
// With basic-auth users the browser prompts on the first 401 itself; with a bearer token only, the page asks
// for the token once and keeps it in sessionStorage (this tab only).
const SCRIPT = `const msg=document.getElementById('msg');
async function call(method,id,body,form,retried){msg.textContent='';const why=form&&form.querySelector('.why')||msg;why.textContent='';
 const input=form&&form.elements.namedItem('acl');if(input)input.removeAttribute('aria-invalid');
 const init={method,headers:{}};if(body){init.headers['Content-Type']='application/json';init.body=JSON.stringify(body);}
 const token=sessionStorage.getItem('culm-token');if(token)init.headers.Authorization='Bearer '+token;
 try{const res=await fetch('/api/services/'+encodeURIComponent(id),init);if(res.ok){location.reload();return;}
  if(res.status===401&&!retried&&!/basic/i.test(res.headers.get('WWW-Authenticate')||'')){
   const t=prompt('culm API token (CULM_API_TOKEN)');if(t){sessionStorage.setItem('culm-token',t.trim());return call(method,id,body,form,true);}}
  let text=res.status+' '+res.statusText;try{const j=await res.json();if(j&&j.error)text=j.error.message;}catch(e){}
  why.textContent=text;if(input){input.setAttribute('aria-invalid','true');input.focus();}}catch(e){why.textContent=String(e);}}
document.addEventListener('submit',(ev)=>{const f=ev.target;if(!(f instanceof HTMLFormElement))return;ev.preventDefault();
 const id=f.dataset.id||f.elements.namedItem('id').value;if(!id.trim()){msg.textContent='An app id is needed.';return;}
 call('PUT',id.trim(),{acl:f.elements.namedItem('acl').value},f);});
document.addEventListener('click',(ev)=>{const b=ev.target;if(!(b instanceof HTMLButtonElement)||!b.classList.contains('del')||!b.form)return;
 const id=b.form.dataset.id;if(confirm('Delete the rule for '+id+'?'))call('DELETE',id,undefined,b.form);});`;

export function renderUi(core: CulmCore, version: string, nonce: string): string {
  const { apps, orphans } = appRows(core);
  const { ready } = core.readiness();
  const e = escapeHtml;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>culm</title><style nonce="${e(nonce)}">${STYLE}</style></head>
<body><header><h1>culm</h1><span>${e(version)}</span><span class="${ready ? 'ok' : 'bad'}">${ready ? 'ready' : 'not ready'}</span>
<a href="/">refresh</a></header>
<main><p id="msg" role="status"></p>
<h2>Apps</h2>
${appTable(apps)}
<h2>Set a rule</h2>
<form class="rule"><input name="id" placeholder="/group/app" aria-label="App id"><input name="acl" placeholder="hdr(host) -i app.example.com" aria-label="ACL"><button>Set</button>${WHY}</form>
${orphanTable(orphans)}
<h2>History (applies and rule changes)</h2>
${historyTable(core.history())}
</main><script nonce="${e(nonce)}">${SCRIPT}</script></body></html>
`;
}

export function uiRoutes(core: CulmCore, version: string): Route[] {
  const page = (name: string): Route => ({
    name,
    path: name,
    handlers: {
      GET: ({ res }) => {
        const nonce = randomBytes(16).toString('base64');
        send(res, 200, HTML_TYPE, renderUi(core, version, nonce), {
          'Content-Security-Policy': `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'`,
          'Cache-Control': 'no-store',
          'Referrer-Policy': 'no-referrer',
        });
      },
    },
  });
  return [page('/'), page('/ui')];
}
