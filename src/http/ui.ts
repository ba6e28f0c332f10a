/**
 * The operator page (`GET /`, `GET /ui`): one self-contained HTML document, rendered on the server from the
 * same state the API shows. Everything shown is escaped here; the script reads ids from data attributes and
 * writes only with textContent, and a per-response CSP nonce keeps any other script from running.
 */
import { randomBytes } from 'node:crypto';
import { errorMessage } from '../core/errors.js';
import type { CulmCore, HistoryRecord } from '../pipeline/types.js';
import { appDetail, type AppDetail } from './app-detail.js';
import { escapeHtml } from './html.js';
import { HTML_TYPE, send } from './io.js';
import type { Route } from './router.js';
import { APPS_SCRIPT, appQuery, appsSection, listControls, orphanTable, querySearch, WHY, type AppQuery } from './ui-apps.js';
import { detailHtml } from './ui-app-detail.js';

import { CLIENT_SCRIPT, CLIENT_STYLE, navLinks, pageHeaders } from './ui-client.js';

export { escapeHtml };

const HISTORY_SHOWN = 50;

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
a{color:#04a}a:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible,pre:focus-visible{outline:3px solid #05f;outline-offset:1px}
fieldset{border:1px solid #ccc;display:flex;flex-wrap:wrap;gap:.2em 1em}fieldset input,select{width:auto}.wide{overflow-x:auto;max-width:100%}tr.opened td{background:#eef3f8}
.fit{width:0;min-width:100%}
.detail td,div.detail{background:#f6f8fa;padding:.5em}caption{text-align:left;font-weight:bold;padding:.3em 0}pre{overflow:auto;max-height:20em;background:#fff;border:1px solid #ddd;padding:.4em;margin:.3em 0}
h3,h4{margin:.4em 0}
${CLIENT_STYLE}`;

// Plain browser JS; ids come from data attributes and messages are set with textContent, never innerHTML.
// The server is the one renderer: a search, a page link, a rule change or a live event re-reads this page
// (fetch, with the search in the URL) and swaps its sections, parsed by DOMParser (whose scripts never run).
// A section where the person has typed something not yet set (or a write is on its way) waits: what they typed
// and the reason beside it stay.
// Credentials and the live stream: see ui-client.ts.
const SCRIPT = `${CLIENT_SCRIPT}
const msg=document.getElementById('msg'),live=document.getElementById('live');
function editing(section){for(const i of section.querySelectorAll('input'))if(i.value!==i.defaultValue)return true;
 return !!section.querySelector('form[data-busy]');}
let refreshing=null,again=false;
function refresh(){if(refreshing){again=true;return refreshing;}
 refreshing=(async()=>{try{const res=await authFetch('/'+location.search);if(!res.ok)return;
  const doc=new DOMParser().parseFromString(await res.text(),'text/html');
  const key=document.activeElement&&document.activeElement.dataset?document.activeElement.dataset.key:undefined;
  for(const id of ['apps','orphans','history']){const next=doc.getElementById(id),cur=document.getElementById(id);
   if(next&&cur&&!editing(cur))cur.replaceWith(document.adoptNode(next));}
  if(key&&(!document.activeElement||document.activeElement===document.body)){const el=document.querySelector('[data-key="'+CSS.escape(key)+'"]');if(el)el.focus();}
 }catch(e){}finally{refreshing=null;if(again){again=false;refresh();}}})();return refreshing;}
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

const NO_QUERY: AppQuery = { q: '', offset: 0, filters: [], sort: 'id', open: '' };

/** `detail`: the open app's (or why there is none to show). */
export function renderUi(core: CulmCore, version: string, nonce: string, query: AppQuery = NO_QUERY, detail?: AppDetail | string): string {
  const { ready } = core.readiness();
  const e = escapeHtml;
  const shown = detail === undefined ? '' : detailHtml(detail, querySearch(query, { open: '' }));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>culm</title><style nonce="${e(nonce)}">${STYLE}</style></head>
<body><header><h1>culm</h1><span>${e(version)}</span><span class="${ready ? 'ok' : 'bad'}">${ready ? 'ready' : 'not ready'}</span>
<span id="live" role="status" data-state="off">live updates off</span>${navLinks('/')}</header>
<main><p id="msg" role="status"></p>
<h2>Apps</h2>
${listControls(query)}
<section id="apps">${appsSection(core, query, shown)}</section>
<h2>Set a rule</h2>
<form class="rule"><input name="id" placeholder="/group/app" aria-label="App id"><input name="acl" placeholder="hdr(host) -i app.example.com" aria-label="ACL"><button>Set</button>${WHY}</form>
<section id="orphans">${orphanTable(core)}</section>
<h2>History (applies and rule changes)</h2>
<section id="history">${historyTable(core.history())}</section>
</main><script nonce="${e(nonce)}">${SCRIPT}\n${APPS_SCRIPT}</script></body></html>
`;
}

/** The open app's detail, or why there is none (no such app); undefined when none is open. */
async function openDetail(core: CulmCore, query: AppQuery): Promise<AppDetail | string | undefined> {
  if (!query.open) return undefined;
  return appDetail(core, query.open).catch((err: unknown) => errorMessage(err));
}

export function uiRoutes(core: CulmCore, version: string): Route[] {
  const page = (name: string): Route => ({
    name,
    path: name,
    handlers: {
      GET: async ({ res, query }) => {
        const nonce = randomBytes(16).toString('base64');
        const q = appQuery(query);
        send(res, 200, HTML_TYPE, renderUi(core, version, nonce, q, await openDetail(core, q)), pageHeaders(nonce));
      },
    },
  });
  return [page('/'), page('/ui')];
}
